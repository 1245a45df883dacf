//! Statements: splitting, masking, prepared statements, pipelines, errors,
//! COPY, notices and notifications.

use podwire_record::proto::postgres::PgProtocol;
use podwire_record::Outcome;

use crate::util::{events, run_fixture_with};
use podwire_postgres::PostgresConfig;

#[test]
fn a_multi_statement_query_gives_a_record_per_statement() {
    let events = events("simple");
    let multi: Vec<_> = events[2..6]
        .iter()
        .map(|e| (e.body.operation.as_ref(), e.body.tag.as_deref()))
        .collect();
    assert_eq!(
        multi,
        [
            ("CREATE", Some("CREATE TABLE")),
            ("INSERT", Some("INSERT 0 2")),
            ("UPDATE", Some("UPDATE 1")),
            ("SELECT", Some("SELECT 2")),
        ]
    );
    assert_eq!(events[5].body.rows, Some(2));
    // Each statement's latency starts where the one before it ended.
    assert_eq!(
        events[3].ts.nanos(),
        events[2].ts.nanos() + (events[2].body.latency_ms.unwrap() * 1e6).round() as u64
    );
}

#[test]
fn literals_are_masked_by_default() {
    let events = events("simple");
    assert_eq!(
        events[1].body.statement.as_deref(),
        Some("SELECT ? AS one, ? AS two")
    );
    assert_eq!(
        events[5].body.statement.as_deref(),
        Some("SELECT * FROM t WHERE name IN (?)")
    );
    assert!(events
        .iter()
        .all(|e| !serde_json::to_string(&e.body).unwrap().contains("carl")));
}

#[test]
fn show_secrets_records_statements_verbatim() {
    let config = PostgresConfig {
        show_secrets: true,
        ..PostgresConfig::default()
    };
    let events: Vec<_> = run_fixture_with("simple", &config)
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    assert_eq!(
        events[1].body.statement.as_deref(),
        Some("SELECT 1 AS one, 'x' AS two")
    );
    assert_eq!(
        events[5].body.statement.as_deref(),
        Some("SELECT * FROM t WHERE name IN ('ann', 'carl')")
    );
}

#[test]
fn an_error_carries_sqlstate_and_message() {
    let e = &events("simple")[6].body;
    assert_eq!(e.outcome, Some(Outcome::Error));
    assert_eq!(e.severity.as_deref(), Some("ERROR"));
    let err = e.error.as_ref().unwrap();
    assert_eq!(err.code.as_deref(), Some("42P01"));
    assert_eq!(
        err.message.as_deref(),
        Some("relation \"no_such_table\" does not exist")
    );
}

#[test]
fn notices_are_counted_on_their_statement() {
    let e = &events("simple")[7].body;
    assert_eq!((e.operation.as_ref(), e.notices), ("DO", 1));
}

#[test]
fn prepared_statement_names_resolve_to_their_text() {
    let events = events("pipeline");
    let prepared: Vec<_> = events
        .iter()
        .filter(|e| e.body.statement_name.is_some())
        .collect();
    assert_eq!(prepared.len(), 2);
    for e in prepared {
        assert_eq!(e.body.statement_name.as_deref(), Some("_pg3_0"));
        assert_eq!(
            e.body.statement.as_deref(),
            Some("SELECT v FROM p WHERE id = $1")
        );
        assert_eq!(e.body.protocol, Some(PgProtocol::Extended));
    }
}

#[test]
fn a_pipeline_pairs_in_order_and_stops_at_its_error() {
    let events = events("pipeline");
    let tail: Vec<_> = events[events.len() - 5..]
        .iter()
        .map(|e| {
            (
                e.body.operation.as_ref(),
                e.body.tag.as_deref(),
                e.body.error.as_ref().and_then(|e| e.code.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("INSERT", Some("INSERT 0 1"), None),
            ("INSERT", Some("INSERT 0 1"), None),
            ("SELECT", Some("SELECT 1"), None),
            ("INSERT", Some("INSERT 0 1"), None),
            // The duplicate key; the SELECT after it never ran.
            ("INSERT", None, Some("23505")),
        ]
    );
}

#[test]
fn copy_counts_its_data_both_ways() {
    let events = events("copy");
    let copies: Vec<_> = events
        .iter()
        .filter(|e| e.body.operation == "COPY")
        .map(|e| (e.body.copy_bytes, e.body.rows))
        .collect();
    // "1\tone\n2\ttwo\n3\tthree\n" in, the same table out.
    assert_eq!(copies, [(Some(23), Some(3)), (Some(20), Some(3))]);
}

#[test]
fn notifications_are_records_without_their_payload() {
    let events = events("notify");
    let notes: Vec<_> = events
        .iter()
        .filter(|e| e.body.operation == "NOTIFICATION")
        .collect();
    assert_eq!(notes.len(), 2);
    for n in notes {
        assert_eq!(n.body.channel.as_deref(), Some("jobs"));
        assert!(!serde_json::to_string(&n.body)
            .unwrap()
            .contains("secret payload"));
    }
}
