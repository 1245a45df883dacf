//! Fuzzes podwire-kafka: both directions of a connection, cut into segments
//! and gaps where the input says, through one `KafkaParser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits); the rest is the traffic.
//! The first 4 bytes of the traffic (big-endian) say how long the client's
//! part is, the server's part follows, so a fixture's two directions
//! concatenated behind their split make a meaningful seed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_kafka::{KafkaConfig, KafkaParser};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else { return };
    let (mut client, mut server) = split_directions(traffic);

    let mut state = u32::from(seed) | 1;
    let mut next = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        state >> 8
    };
    let r = next();
    let config = KafkaConfig {
        // Small limits in most runs, so the limit paths are reached.
        max_buffer_bytes: if r & 1 == 0 { 16 + (r as usize >> 1) % 256 } else { 64 * 1024 },
        max_pending_requests: if r & 0x400 == 0 { 1 + (r as usize >> 11) % 4 } else { 64 },
        max_topics: (r as usize >> 4) % 4,
        max_partitions: (r as usize >> 6) % 4,
        max_string_bytes: (r as usize >> 8) % 8,
        ..KafkaConfig::default()
    };
    let mut parser = if r & 0x200 == 0 { KafkaParser::new(&config) } else { KafkaParser::mid_stream(&config) };
    let mut events = Vec::new();
    let mut ts = 1_000_000_000u64;
    let mut status = Status::Continue;
    while status == Status::Continue && !(client.is_empty() && server.is_empty()) {
        let r = next();
        let dir = match (client.is_empty(), server.is_empty()) {
            (false, true) => Direction::ToServer,
            (true, false) => Direction::ToClient,
            _ if r & 1 == 0 => Direction::ToServer,
            _ => Direction::ToClient,
        };
        // Mostly forward in time; now and then backwards, as captures can.
        ts = if r & 0x3e == 0 { ts.saturating_sub(u64::from(r >> 6)) } else { ts + u64::from(r >> 20) };
        if r & 0x1c0 == 0 {
            let len = if r & 0x200 == 0 { u64::from(r >> 12) % 64 } else { u64::from(r >> 10) };
            status = parser.gap(dir, Timestamp(ts), len, &mut events);
            continue;
        }
        let stream = match dir {
            Direction::ToServer => &mut client,
            Direction::ToClient => &mut server,
        };
        let n = 1 + (next() as usize) % 97;
        let (piece, rest) = stream.split_at(n.min(stream.len()));
        *stream = rest;
        status = parser.data(dir, Timestamp(ts), piece, &mut events);
    }
    parser.finish(Timestamp(ts), &mut events);
    let emitted = events.len();
    parser.finish(Timestamp(ts), &mut events);
    assert_eq!(events.len(), emitted, "finish twice emits once");

    for event in &events {
        let k = &event.body;
        assert!(!k.operation.is_empty() && k.operation.len() <= 32);
        assert_eq!(k.outcome.is_some(), k.latency_ms.is_some());
        assert_eq!(k.outcome.is_some(), k.response_bytes.is_some());
        if let Some(latency) = k.latency_ms {
            assert!(latency >= 0.0);
        }
        assert!(k.request_bytes >= 12);
        assert!(k.topics.len() <= config.max_topics);
        for t in &k.topics {
            assert!(t.partitions.len() <= config.max_partitions);
            assert!(t.name.as_ref().is_none_or(|n| n.len() <= config.max_string_bytes));
        }
        assert!(k.client_id.as_ref().is_none_or(|c| c.len() <= config.max_string_bytes));
        let _ = serde_json::to_string(k).expect("serialises");
    }
});

/// The client's bytes (as long as the first 4 bytes say), then the server's.
fn split_directions(traffic: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = traffic.split_first_chunk::<4>() else { return (traffic, &[]) };
    let len = u32::from_be_bytes(*len) as usize;
    rest.split_at(len.min(rest.len()))
}
