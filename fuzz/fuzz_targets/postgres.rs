//! Fuzzes podwire-postgres: both directions of a connection, cut into
//! segments and gaps where the input says, through one `PostgresParser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits, masking, mid-stream or
//! not); the rest is the traffic: the client's stream up to the first
//! `\n--server--\n`, the server's after it (all client when there is none).
//! The checks are the parser's promises: records are well formed and
//! serialise, statements and error messages are within their limits, and
//! finishing twice emits nothing more.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_parse::Direction;
use podwire_postgres::{looks_like_postgres, PostgresConfig, PostgresParser};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else {
        return;
    };
    let (client, server) = split_directions(traffic);
    let _ = looks_like_postgres(Direction::ToServer, client);
    let _ = looks_like_postgres(Direction::ToClient, server);

    let mut rng = common::Rng::new(seed);
    let r = rng.next();
    let config = PostgresConfig {
        // Small limits in most runs, so the limit paths are reached.
        max_message_bytes: if r & 1 == 0 {
            16 + (r as usize >> 1) % 256
        } else {
            64 * 1024
        },
        max_pending_requests: if r & 0x400 == 0 {
            1 + (r as usize >> 11) % 4
        } else {
            256
        },
        max_prepared_statements: 1 + (r as usize >> 3) % 3,
        max_statement_len: (r as usize >> 5) % 100,
        max_error_len: (r as usize >> 7) % 50,
        max_statements_per_query: 1 + (r as usize >> 9) % 4,
        show_secrets: r & 0x800 != 0,
    };
    let mut parser = if r & 0x200 == 0 {
        PostgresParser::new(&config)
    } else {
        PostgresParser::mid_stream(&config)
    };
    let events = common::drive(&mut parser, &mut rng, client, server, 97);

    for event in &events {
        let b = &event.body;
        assert!(!b.operation.is_empty());
        if let Some(stmt) = &b.statement {
            assert!(stmt.chars().count() <= config.max_statement_len);
        }
        if let Some(latency) = b.latency_ms {
            assert!(latency >= 0.0);
        }
        assert_eq!(
            b.outcome == Some(podwire_record::Outcome::Error),
            b.error.is_some()
        );
        if let Some(message) = b.error.as_ref().and_then(|e| e.message.as_ref()) {
            assert!(message.chars().count() <= config.max_error_len);
        }
        serde_json::to_string(b).expect("serialises");
    }
});

/// The client's bytes, then the server's after the marker.
fn split_directions(traffic: &[u8]) -> (&[u8], &[u8]) {
    const MARK: &[u8] = b"\n--server--\n";
    match traffic.windows(MARK.len()).position(|w| w == MARK) {
        Some(at) => (&traffic[..at], &traffic[at + MARK.len()..]),
        None => (traffic, &[]),
    }
}
