//! Fuzzes podwire-http: both directions of a connection, cut into segments
//! and gaps where the input says, through one `HttpParser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits); the rest is the traffic.
//! The traffic is the client's stream up to the first line that starts with
//! `HTTP/1.` and the server's from there, so the committed fixtures
//! (`crates/parse-http/tests/data/*.bin`) are meaningful seeds as they are.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_http::{is_sensitive, HeaderCapture, HttpConfig, HttpParser, REDACTED};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else { return };
    let (client, server) = split_directions(traffic);

    let mut rng = common::Rng::new(seed);
    let r = rng.next();
    let config = HttpConfig {
        // Small limits in most runs, so the limit paths are reached.
        max_head_bytes: if r & 1 == 0 { 64 + (r as usize >> 1) % 512 } else { 16 * 1024 },
        max_pending_requests: if r & 0x400 == 0 { 1 + (r as usize >> 11) % 4 } else { 64 },
        headers: HeaderCapture::Redacted,
    };
    // Now and then as for a connection whose server spoke first (mid-stream).
    let mut parser = if r & 0x200 == 0 { HttpParser::new(&config) } else { HttpParser::mid_stream(&config) };
    let events = common::drive(&mut parser, &mut rng, client, server, 97);

    for event in &events {
        let http = &event.http;
        assert_eq!(http.method.is_some(), http.path.is_some());
        if http.method.is_some() {
            assert_eq!(http.status.is_some(), http.latency_ms.is_some());
        } else {
            // A response seen without its request: no latency, no host.
            assert!(http.status.is_some() && http.latency_ms.is_none() && http.host.is_none());
        }
        assert_eq!(http.status.is_some(), http.response_body_bytes.is_some());
        if let Some(latency) = http.latency_ms {
            assert!(latency >= 0.0);
        }
        assert!(["HTTP/0.9", "HTTP/1.0", "HTTP/1.1"].contains(&http.version.as_ref()));
        for (name, value) in http.request_headers.iter().chain(&http.response_headers).flatten() {
            assert!(!is_sensitive(name) || value == REDACTED, "{name} leaked");
        }
    }
});

/// The client's bytes, then the server's from the first status line.
fn split_directions(traffic: &[u8]) -> (&[u8], &[u8]) {
    if traffic.starts_with(b"HTTP/1.") {
        return (&[], traffic);
    }
    let at = traffic.windows(8).position(|w| w == b"\nHTTP/1.").map_or(traffic.len(), |i| i + 1);
    traffic.split_at(at)
}
