//! Every buffer and queue is bounded, and what a limit cuts is counted.

use podwire_parse::Direction::{ToClient, ToServer};
use podwire_record::Timestamp;

use crate::util::{run, run_fixture_with, steps, streams, Step};
use podwire_postgres::{PostgresConfig, PostgresParser};

fn query(sql: &str) -> Vec<u8> {
    let mut m = vec![b'Q'];
    m.extend(((sql.len() + 5) as u32).to_be_bytes());
    m.extend(sql.as_bytes());
    m.push(0);
    m
}

#[test]
fn long_statements_are_cut_and_marked() {
    let config = PostgresConfig {
        max_statement_len: 20,
        ..PostgresConfig::default()
    };
    let runs = run_fixture_with("simple", &config);
    let e = &runs[0].events[2].body;
    assert_eq!(e.statement.as_deref(), Some("CREATE TEMP TABLE t "));
    assert!(e.truncated);
    assert!(runs[0].stats.statements_truncated >= 1);
}

#[test]
fn a_message_over_the_buffer_limit_is_read_from_its_prefix() {
    let config = PostgresConfig {
        max_message_bytes: 64,
        ..PostgresConfig::default()
    };
    let sql = format!("SELECT '{}' AS big", "x".repeat(10_000));
    let s = vec![
        Step::Data(ToServer, Timestamp(1), query(&sql)),
        Step::Data(
            ToClient,
            Timestamp(2),
            b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I".to_vec(),
        ),
    ];
    let r = run(PostgresParser::mid_stream(&config), &s);
    assert_eq!(r.events.len(), 1);
    let b = &r.events[0].body;
    assert_eq!(b.statement.as_deref(), Some("SELECT ?"));
    assert!(b.truncated);
    assert_eq!(r.stats.oversized_messages, 1);
}

#[test]
fn a_deep_pipeline_overflows_into_unanswered_records() {
    let config = PostgresConfig {
        max_pending_requests: 4,
        ..PostgresConfig::default()
    };
    let mut client = Vec::new();
    for _ in 0..10 {
        client.extend(query("SELECT 1"));
    }
    let mut server = Vec::new();
    for _ in 0..10 {
        server.extend(b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I");
    }
    let s = vec![
        Step::Data(ToServer, Timestamp(1), client),
        Step::Data(ToClient, Timestamp(2), server),
    ];
    let r = run(PostgresParser::mid_stream(&config), &s);
    assert_eq!(r.events.len(), 10);
    let answered = r.events.iter().filter(|e| e.body.outcome.is_some()).count();
    assert_eq!(answered, 4);
    assert_eq!(r.stats.pending_overflows, 6);
    assert_eq!(r.stats.unanswered, 6);
}

#[test]
fn prepared_statements_are_bounded() {
    let config = PostgresConfig {
        max_prepared_statements: 2,
        ..PostgresConfig::default()
    };
    let segs = &streams("pgbench_prepared")[1];
    let r = run(PostgresParser::new(&config), &steps(segs));
    assert_eq!(r.stats.prepared_overflows, 5);
    // Forgotten ones are still recorded, by name and tag.
    assert_eq!(
        r.events
            .iter()
            .filter(|e| e.body.statement_name.is_some())
            .count(),
        140
    );
    assert!(
        r.events
            .iter()
            .filter(|e| e.body.statement.is_some())
            .count()
            < 140
    );
}
