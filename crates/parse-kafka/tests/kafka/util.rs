//! Replaying conversations into a parser, and building Kafka messages by
//! hand for cases a real client and broker will not produce on demand.

#![allow(dead_code)]

use std::path::PathBuf;

use podwire_kafka::{KafkaConfig, KafkaEvent, KafkaParser, KafkaStats};
use podwire_parse::{fixture, Direction, Status};
use podwire_record::Timestamp;

pub use podwire_parse::Direction::{ToClient, ToServer};

pub use podwire_parse::fixture::Step;

/// What the parser made of a conversation.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<KafkaEvent>,
    pub status: Status,
    pub stats: KafkaStats,
    /// How many events had been emitted before `finish`.
    pub before_finish: usize,
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

/// Builds conversations; times in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Conv {
    pub steps: Vec<Step>,
}

impl Conv {
    pub fn new() -> Self {
        Conv::default()
    }

    pub fn client(mut self, at_ms: u64, bytes: &[u8]) -> Self {
        self.steps
            .push(Step::Data(ToServer, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn server(mut self, at_ms: u64, bytes: &[u8]) -> Self {
        self.steps
            .push(Step::Data(ToClient, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn gap(mut self, dir: Direction, len: u64) -> Self {
        self.steps.push(Step::Gap(dir, len));
        self
    }

    pub fn run(&self) -> Run {
        run(KafkaParser::new(&KafkaConfig::default()), &self.steps)
    }

    pub fn run_with(&self, config: &KafkaConfig) -> Run {
        run(KafkaParser::new(config), &self.steps)
    }

    pub fn run_mid_stream(&self) -> Run {
        run(
            KafkaParser::mid_stream(&KafkaConfig::default()),
            &self.steps,
        )
    }
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run(mut parser: KafkaParser, steps: &[Step]) -> Run {
    let fed = fixture::feed(&mut parser, steps);
    Run {
        events: fed.events,
        status: fed.status,
        stats: parser.stats(),
        before_finish: fed.before_finish,
    }
}

/// The same conversation with every data step cut into single bytes.
pub fn bytewise(steps: &[Step]) -> Vec<Step> {
    fixture::rechunk(steps, 1)
}

/// A committed fixture's connections, each as steps.
pub fn fixture_streams(name: &str) -> Vec<Vec<Step>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let segments = fixture::parse(&text).expect("fixture");
    fixture::by_stream(segments)
        .into_iter()
        .map(|segs| {
            segs.into_iter()
                .map(|s| Step::Data(s.dir, s.ts, s.bytes))
                .collect()
        })
        .collect()
}

/// Every event of every connection of a fixture.
pub fn fixture_events(name: &str) -> Vec<KafkaEvent> {
    fixture_streams(name)
        .iter()
        .flat_map(|steps| run(KafkaParser::new(&KafkaConfig::default()), steps).events)
        .collect()
}

// --- Building messages --------------------------------------------------

/// A message: its body behind a 4-byte size.
pub fn msg(parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut m = (body.len() as i32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

/// Request header v1, or v2 (with an empty tagged-field section).
pub fn req_header(key: i16, version: i16, corr: i32, client: &str, v2: bool) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(key.to_be_bytes());
    h.extend(version.to_be_bytes());
    h.extend(corr.to_be_bytes());
    h.extend(str16(client));
    if v2 {
        h.push(0);
    }
    h
}

/// Response header v0, or v1 (with an empty tagged-field section).
pub fn resp_header(corr: i32, v1: bool) -> Vec<u8> {
    let mut h = corr.to_be_bytes().to_vec();
    if v1 {
        h.push(0);
    }
    h
}

pub fn str16(s: &str) -> Vec<u8> {
    let mut v = (s.len() as i16).to_be_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

pub fn compact_str(s: &str) -> Vec<u8> {
    let mut v = vec![(s.len() + 1) as u8];
    v.extend(s.as_bytes());
    v
}

pub fn i16b(v: i16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn i32b(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// A v2 record batch of `records` records and `len` bytes in all (at least
/// 61); the payload is zeros.
pub fn batch_v2(records: i32, len: usize) -> Vec<u8> {
    let len = len.max(61);
    let mut b = vec![0u8; len];
    b[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
    b[16] = 2;
    b[57..61].copy_from_slice(&records.to_be_bytes());
    b
}

/// A Produce v3..v8 request body: one topic, partitions with record sets.
pub fn produce_v3_body(acks: i16, topic: &str, parts: &[(i32, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![0xff, 0xff];
    b.extend(i16b(acks));
    b.extend(i32b(30_000));
    b.extend(i32b(1));
    b.extend(str16(topic));
    b.extend(i32b(parts.len() as i32));
    for (p, records) in parts {
        b.extend(i32b(*p));
        b.extend(i32b(records.len() as i32));
        b.extend(records);
    }
    b
}

/// A Produce v3..v4 response body: one topic, (partition, error) pairs.
pub fn produce_v3_response(topic: &str, parts: &[(i32, i16)]) -> Vec<u8> {
    let mut b = i32b(1);
    b.extend(str16(topic));
    b.extend(i32b(parts.len() as i32));
    for (p, err) in parts {
        b.extend(i32b(*p));
        b.extend(i16b(*err));
        b.extend([0u8; 16]); // base_offset, log_append_time
    }
    b.extend(i32b(0)); // throttle_time_ms
    b
}
