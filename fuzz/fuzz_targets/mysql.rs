//! Fuzzes podwire-mysql: both directions of a connection, cut into segments
//! and gaps where the input says, through one `MysqlParser`, plus
//! `looks_like_mysql` on the first bytes of each direction.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits); the rest is the traffic,
//! read as a sequence of chunks `DIR LEN_LO LEN_HI BYTES...` (DIR even:
//! server to client, odd: client to server), so the packets of a real
//! conversation (e.g. `crates/parse-mysql/tests/data/*.txt` turned into
//! chunks) stay whole and in order while the fuzzer mutates their contents.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_mysql::{looks_like_mysql, MysqlConfig, MysqlParser};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Outcome, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else {
        return;
    };
    let mut rng = common::Rng::new(seed);
    let r = rng.next();
    let config = MysqlConfig {
        // Small limits in most runs, so the limit paths are reached.
        max_packet_bytes: if r & 1 == 0 {
            (r as usize >> 1) % 300
        } else {
            64 * 1024
        },
        max_prepared_statements: (r as usize >> 10) % 4,
        max_statement_len: if r & 0x2 == 0 {
            1 + (r as usize >> 12) % 64
        } else {
            4096
        },
        max_error_len: (r as usize >> 14) % 100,
        max_pending_commands: 1 + (r as usize >> 16) % 8,
        show_secrets: r & 0x4 == 0,
    };
    let mut parser = if r & 0x8 == 0 {
        MysqlParser::new(&config)
    } else {
        MysqlParser::mid_stream(&config)
    };

    let chunks = chunks(traffic);
    let mut seen = [false; 2];
    let mut events = Vec::new();
    let mut ts = common::START_NS;
    let mut status = Status::Continue;
    for (dir, bytes) in chunks {
        let side = usize::from(dir == Direction::ToServer);
        if !seen[side] {
            seen[side] = true;
            let _ = looks_like_mysql(dir, bytes);
        }
        let mut rest = bytes;
        while status == Status::Continue && !rest.is_empty() {
            let r = rng.next();
            ts = common::next_ts(ts, r);
            if let Some(len) = common::gap_len(r) {
                status = parser.gap(dir, Timestamp(ts), len, &mut events);
                continue;
            }
            let n = 1 + (rng.next() as usize) % 97;
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            status = parser.data(dir, Timestamp(ts), piece, &mut events);
        }
        if status != Status::Continue {
            break;
        }
    }
    common::finish_twice(&mut parser, ts, &mut events);

    for event in &events {
        let m = &event.body;
        assert!(!m.operation.is_empty() && !m.command.is_empty());
        assert_eq!(m.error.is_some(), m.outcome == Some(Outcome::Error));
        if let Some(latency) = m.latency_ms {
            assert!(latency >= 0.0);
        }
        if let Some(s) = &m.statement {
            assert!(s.chars().count() <= config.max_statement_len);
        }
        if let Some(msg) = m.error.as_ref().and_then(|e| e.message.as_ref()) {
            assert!(msg.chars().count() <= config.max_error_len);
        }
    }
});

/// The traffic's chunks: `DIR LEN_LO LEN_HI BYTES`, the last one cut short.
fn chunks(mut traffic: &[u8]) -> Vec<(Direction, &[u8])> {
    let mut out = Vec::new();
    while let [dir, lo, hi, rest @ ..] = traffic {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
        let dir = if dir & 1 == 0 {
            Direction::ToClient
        } else {
            Direction::ToServer
        };
        out.push((dir, &rest[..len]));
        traffic = &rest[len..];
    }
    out
}
