//! Fuzzes podwire-http2: both directions of a connection, cut into segments
//! and gaps where the input says, through one `Http2Parser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits, the constructor); the rest
//! is the traffic. The traffic is the client's stream up to the first
//! server SETTINGS frame header that follows the client's own (`00 00 xx 04
//! 00 00 00 00 00` after the preface's SETTINGS) and the server's from
//! there, so a client stream followed by a server stream, as in the
//! committed fixtures (`crates/parse-http2/tests/data/*.txt`), is a
//! meaningful seed.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_http2::{is_sensitive, HeaderCapture, Http2Config, Http2Parser, REDACTED};
use podwire_record::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else {
        return;
    };
    let (client, server) = split_directions(traffic);

    let mut rng = common::Rng::new(seed);
    let r = rng.next();
    let small = r & 1 == 0;
    let config = Http2Config {
        // Small limits in most runs, so the limit paths are reached.
        max_streams: if small {
            1 + (r as usize >> 1) % 4
        } else {
            256
        },
        max_header_block_bytes: if small {
            16 + (r as usize >> 3) % 256
        } else {
            64 * 1024
        },
        max_table_size: if small {
            (r as usize >> 5) % 512
        } else {
            64 * 1024
        },
        max_frame_buffer_bytes: if small {
            8 + (r as usize >> 7) % 512
        } else {
            64 * 1024
        },
        max_resync_bytes: if small { 1024 } else { 1 << 20 },
        max_grpc_message_chars: (r as usize >> 9) % 64,
        headers: HeaderCapture::Redacted,
    };
    let mut parser = match (r >> 12) % 3 {
        0 => Http2Parser::new(&config),
        1 => Http2Parser::mid_stream(&config),
        _ => Http2Parser::after_upgrade(&config, "GET", Some("h"), "/", Timestamp(1)),
    };
    let events = common::drive(&mut parser, &mut rng, client, server, 197);

    for event in &events {
        let http = &event.http;
        assert_eq!(http.version, "2");
        assert!(http.stream_id.is_some_and(|id| id != 0));
        if let Some(latency) = http.latency_ms {
            assert!(latency >= 0.0);
        }
        if let Some(g) = &http.grpc {
            if let Some(m) = &g.message {
                assert!(m.chars().count() <= config.max_grpc_message_chars);
            }
        }
        for (name, value) in http
            .request_headers
            .iter()
            .chain(&http.response_headers)
            .flatten()
        {
            assert!(!name.starts_with(':'), "pseudo-header {name} in a list");
            assert!(!is_sensitive(name) || value == REDACTED, "{name} leaked");
        }
    }
});

/// The client's bytes, then the server's from the first SETTINGS frame
/// header after the client's first one.
fn split_directions(traffic: &[u8]) -> (&[u8], &[u8]) {
    let settings =
        |w: &[u8]| w.len() == 9 && w[0] == 0 && w[3] == 4 && w[4] == 0 && w[5..] == [0, 0, 0, 0];
    let first = traffic.windows(9).position(settings);
    let at = first
        .and_then(|f| {
            traffic
                .get(f + 9..)?
                .windows(9)
                .position(settings)
                .map(|p| f + 9 + p)
        })
        .unwrap_or(traffic.len());
    traffic.split_at(at)
}
