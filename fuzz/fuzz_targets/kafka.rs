//! Fuzzes podwire-kafka: both directions of a connection, cut into segments
//! and gaps where the input says, through one `KafkaParser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits); the rest is the traffic.
//! The first 4 bytes of the traffic (big-endian) say how long the client's
//! part is, the server's part follows, so a fixture's two directions
//! concatenated behind their split make a meaningful seed.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_kafka::{KafkaConfig, KafkaParser};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else { return };
    let (client, server) = split_directions(traffic);

    let mut rng = common::Rng::new(seed);
    let r = rng.next();
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
    let events = common::drive(&mut parser, &mut rng, client, server, 97);

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
