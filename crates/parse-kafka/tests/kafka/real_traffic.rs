//! Real traffic: kafka-python 3.0.12 and librdkafka (confluent-kafka 2.16.2)
//! clients against a stand-in broker, captured with tcpdump (see
//! `tests/data/README.md`). Every API key, version, correlation id, client
//! id, topic, partition and error code asserted here was cross-checked with
//! tshark 4.0's kafka dissector where it dissects the version (it does not
//! show topics of Produce v9+ or Fetch v12+); record counts with what the
//! clients reported producing and consuming.

use podwire_kafka::{KafkaConfig, KafkaParser};
use podwire_record::proto::kafka::KafkaTopic;
use podwire_record::{Kafka, Outcome};

use crate::util::*;

/// (operation, version, correlation id) of each record.
fn ops(events: &[podwire_kafka::KafkaEvent]) -> Vec<(&str, i16, i32)> {
    events
        .iter()
        .map(|e| {
            (
                e.body.operation.as_str(),
                e.body.api_version,
                e.body.correlation_id,
            )
        })
        .collect()
}

/// A topic's name and its partitions' (index, records).
type TopicCounts<'a> = (&'a str, Vec<(i32, Option<u64>)>);

/// Each topic's name and partition counts.
fn topics(k: &Kafka) -> Vec<TopicCounts<'_>> {
    k.topics
        .iter()
        .map(|t: &KafkaTopic| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition, p.records))
                .collect();
            (t.name.as_deref().unwrap_or("?"), parts)
        })
        .collect()
}

/// kafka-python's producer: ApiVersions v4 (flexible request, v0 response
/// header), Metadata v13, Produce v9 (flexible) with acks=1: 5 records to
/// `orders` (partitions 0 and 1), 3 to `events`.
#[test]
fn produce_flexible_versions_with_counts_per_partition() {
    let events = fixture_events("produce_flex.txt");
    assert_eq!(
        ops(&events),
        [
            ("ApiVersions", 4, 1),
            ("Metadata", 13, 2),
            ("ApiVersions", 4, 1),
            ("Metadata", 13, 2),
            ("Produce", 9, 3),
            ("Metadata", 13, 4),
            ("Produce", 9, 5),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.body.outcome == Some(Outcome::Ok) && !e.body.truncated));
    assert!(events
        .iter()
        .all(|e| e.body.client_id.as_deref() == Some("podwire-producer")));
    let orders = &events[4].body;
    assert_eq!(orders.acks, Some(1));
    assert_eq!(
        topics(orders),
        [("orders", vec![(0, Some(3)), (1, Some(2))])]
    );
    assert_eq!((orders.records, orders.record_bytes), (Some(5), Some(202)));
    let ev = &events[6].body;
    assert_eq!(topics(ev), [("events", vec![(0, Some(3))])]);
    assert_eq!(ev.request_bytes, 158);
    assert_eq!(ev.response_bytes, Some(57));
}

/// acks=0: the broker never answers; the Produce records are emitted
/// without outcome as soon as the request is read, not at the end.
#[test]
fn acks_zero_produce_is_emitted_without_response() {
    let streams = fixture_streams("produce_acks0.txt");
    let run = run(KafkaParser::new(&KafkaConfig::default()), &streams[1]);
    let produces: Vec<_> = run.events.iter().filter(|e| e.body.api_key == 0).collect();
    assert_eq!(produces.len(), 2);
    for p in &produces {
        assert_eq!(
            (p.body.acks, p.body.outcome, p.body.latency_ms),
            (Some(0), None, None)
        );
        assert!(!p.body.truncated);
    }
    assert_eq!(produces[0].body.records, Some(5));
    assert_eq!(produces[1].body.records, Some(3));
    assert_eq!(run.before_finish, run.events.len());
    assert_eq!(run.stats.unanswered, 0);
}

/// kafka-python's consumer: ListOffsets v11, then Fetch v12 (flexible)
/// returning every record produced so far (the client consumed 40).
#[test]
fn fetch_flexible_counts_records_from_the_response() {
    let events = fixture_events("fetch_flex.txt");
    let fetch = events.iter().find(|e| e.body.api_key == 1).expect("fetch");
    let k = &fetch.body;
    assert_eq!((k.api_version, k.correlation_id), (12, 4));
    assert_eq!(
        topics(k),
        [
            ("orders", vec![(0, Some(15)), (1, Some(10))]),
            ("events", vec![(0, Some(15))])
        ]
    );
    assert_eq!(k.records, Some(40));
    assert_eq!(k.outcome, Some(Outcome::Ok));
}

/// The same consumer with the broker capped at Fetch v11 (not flexible):
/// tshark dissects it and shows the same topics, partitions and errors.
#[test]
fn fetch_classic_matches_tshark() {
    let events = fixture_events("fetch_classic.txt");
    let fetch = events.iter().find(|e| e.body.api_key == 1).expect("fetch");
    let k = &fetch.body;
    assert_eq!((k.api_version, k.correlation_id), (11, 4));
    assert_eq!(
        topics(k),
        [
            ("orders", vec![(0, Some(3)), (1, Some(2))]),
            ("events", vec![(0, Some(3))])
        ]
    );
    // The client consumed 8.
    assert_eq!(k.records, Some(8));
    let list = events
        .iter()
        .find(|e| e.body.api_key == 2)
        .expect("list offsets");
    assert_eq!(
        (list.body.operation.as_str(), list.body.api_version),
        ("ListOffsets", 5)
    );
}

/// librdkafka asks ApiVersions v3; the broker answers UNSUPPORTED_VERSION
/// (in a v0 body under a v0 header) and the client retries with v0, then
/// pipelines two Produce v10 requests before either response.
#[test]
fn librdkafka_downgrades_api_versions_and_pipelines_produce() {
    let events = fixture_events("rdkafka_downgrade.txt");
    let first = &events[0].body;
    assert_eq!(
        (first.operation.as_str(), first.api_version),
        ("ApiVersions", 3)
    );
    assert_eq!(first.outcome, Some(Outcome::Error));
    assert_eq!(
        first.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("UNSUPPORTED_VERSION")
    );
    assert_eq!(
        (events[1].body.api_version, events[1].body.outcome),
        (0, Some(Outcome::Ok))
    );
    let produces: Vec<_> = events.iter().filter(|e| e.body.api_key == 0).collect();
    assert_eq!(produces.len(), 2);
    assert_eq!(topics(&produces[0].body), [("rd", vec![(0, Some(2))])]);
    assert_eq!(topics(&produces[1].body), [("rd", vec![(1, Some(2))])]);
    assert!(produces.iter().all(|p| p.body.outcome == Some(Outcome::Ok)));
}

/// librdkafka with the broker capped at Produce v7: tshark shows topic
/// `rd`, partitions 0 and 1, acks 1, error 0, as the records do.
#[test]
fn produce_classic_matches_tshark() {
    let events = fixture_events("produce_classic.txt");
    let produces: Vec<_> = events.iter().filter(|e| e.body.api_key == 0).collect();
    assert_eq!(produces.len(), 2);
    assert_eq!(
        (
            produces[0].body.api_version,
            produces[0].body.correlation_id
        ),
        (7, 2)
    );
    assert_eq!(topics(&produces[0].body), [("rd", vec![(0, Some(2))])]);
    assert_eq!(topics(&produces[1].body), [("rd", vec![(1, Some(2))])]);
    assert_eq!(produces[0].body.acks, Some(1));
}

/// Metadata v13 for a topic the broker does not have: named and timed; the
/// per-topic UNKNOWN_TOPIC_OR_PARTITION tshark shows is not read (Metadata
/// has no top-level error code).
#[test]
fn metadata_is_named_and_timed() {
    let events = fixture_events("metadata_error.txt");
    let meta: Vec<_> = events.iter().filter(|e| e.body.api_key == 3).collect();
    assert_eq!(meta.len(), 4);
    assert!(meta
        .iter()
        .all(|m| m.body.api_version == 13 && m.body.latency_ms.is_some()));
}

/// Every fixture reads the same fed one byte at a time.
#[test]
fn fixtures_read_the_same_bytewise() {
    for f in [
        "produce_flex.txt",
        "fetch_flex.txt",
        "rdkafka_downgrade.txt",
        "produce_acks0.txt",
    ] {
        for steps in fixture_streams(f) {
            let whole = run(KafkaParser::new(&KafkaConfig::default()), &steps);
            let bytes = run(KafkaParser::new(&KafkaConfig::default()), &bytewise(&steps));
            assert_eq!(whole.events, bytes.events, "{f}");
        }
    }
}

/// Joined after the first request: the first response is an orphan, the
/// rest reads as usual.
#[test]
fn mid_stream_join_on_a_real_connection() {
    let steps = fixture_streams("produce_flex.txt").remove(1);
    // Drop the first request (ApiVersions).
    let run = run(
        KafkaParser::mid_stream(&KafkaConfig::default()),
        &steps[1..],
    );
    assert_eq!(run.stats.orphan_responses, 1);
    assert_eq!(
        ops(&run.events),
        [
            ("Metadata", 13, 2),
            ("Produce", 9, 3),
            ("Metadata", 13, 4),
            ("Produce", 9, 5)
        ]
    );
}

/// A real Kafka-compatible broker: tansu 0.6.0 (crates.io, `cargo install
/// tansu --features dynostore`, in-memory storage) with kafka-python
/// creating a topic, producing 20 messages and consuming them back
/// (`client_tansu.py`). Per API key the requests equal tshark's count of
/// the same capture (`-Y 'kafka.request_key && !kafka.response_frame'`):
/// ApiVersions 6, Metadata 5, CreateTopics 1, InitProducerId 1, Produce 1,
/// ListOffsets 1, Fetch 7; every one answered, none an error.
#[test]
fn a_real_broker_answers_every_request_as_tshark_counts_them() {
    let events = fixture_events("tansu_broker.txt");
    let mut per_key = std::collections::BTreeMap::new();
    for e in &events {
        *per_key.entry(e.body.operation.as_str()).or_insert(0) += 1;
        assert_eq!(e.body.outcome, Some(Outcome::Ok), "{e:?}");
        assert!(e.body.latency_ms.is_some(), "answered: {e:?}");
    }
    assert_eq!(
        per_key.into_iter().collect::<Vec<_>>(),
        [
            ("ApiVersions", 6),
            ("CreateTopics", 1),
            ("Fetch", 7),
            ("InitProducerId", 1),
            ("ListOffsets", 1),
            ("Metadata", 5),
            ("Produce", 1),
        ]
    );
    let produce = events
        .iter()
        .find(|e| e.body.api_key == 0)
        .expect("produce");
    assert_eq!(
        topics(&produce.body),
        [("podwire-real", vec![(0, Some(20))])]
    );
    assert_eq!(produce.body.acks, Some(-1));
    // What the consumer read back: the 20 messages, over its fetches.
    let fetched: u64 = events
        .iter()
        .filter(|e| e.body.api_key == 1)
        .filter_map(|e| e.body.records)
        .sum();
    assert_eq!(fetched, 20);
}
