//! Lost bytes, joining mid-stream, and input that is not PostgreSQL.

use podwire_parse::{Direction, Status};
use podwire_record::Timestamp;

use crate::util::{run, steps, streams, summary, Step};
use podwire_postgres::{PostgresConfig, PostgresParser};

fn config() -> PostgresConfig {
    PostgresConfig::default()
}

#[test]
fn joining_mid_stream_records_what_follows() {
    let segs = &streams("pgbench_prepared")[1];
    let whole = run(PostgresParser::new(&config()), &steps(segs));
    // Drop the startup, the Parses and the first transactions.
    let joined = run(PostgresParser::mid_stream(&config()), &steps(&segs[40..]));
    assert!(joined.events.len() > 50);
    // Every record from the join on is one of the whole run's, in order,
    // with its statement known by name only.
    let tail = summary(&whole.events[whole.events.len() - joined.events.len()..]);
    let got = summary(&joined.events);
    for (g, w) in got.iter().zip(&tail) {
        assert_eq!(
            g.split(' ').next(),
            w.split(' ').next(),
            "operation from the tag"
        );
    }
    assert!(joined
        .events
        .iter()
        .all(|e| e.body.statement.is_none() && e.body.statement_name.is_some()));
    assert!(joined.events.iter().all(|e| e.body.user.is_none()));
}

#[test]
fn joining_inside_a_message_skips_to_the_next_start() {
    let segs = &streams("simple")[0];
    let mut s = steps(segs);
    // Cut the first two bytes off every remaining segment's first message.
    if let Some(Step::Data(_, _, bytes)) = s.get_mut(0) {
        bytes.drain(..2);
    }
    let r = run(PostgresParser::mid_stream(&config()), &s);
    assert!(r.events.iter().all(|e| e.body.operation != "OTHER"));
    assert!(r.stats.resync_skipped_bytes > 0);
}

#[test]
fn a_client_gap_loses_only_its_requests() {
    let segs = &streams("pgbench_simple")[1];
    let mut s = steps(segs);
    // Replace one client segment (a whole Query) with a gap.
    let i = s.iter().position(|st| matches!(st, Step::Data(Direction::ToServer, _, b) if b.starts_with(b"Q") && b.len() > 60)).unwrap() + 14;
    let len = match &s[i] {
        Step::Data(Direction::ToServer, _, b) => b.len() as u64,
        other => panic!("{other:?}"),
    };
    s[i] = Step::Gap(Direction::ToServer, len);
    let r = run(PostgresParser::new(&config()), &s);
    let statements = r
        .events
        .iter()
        .filter(|e| e.body.protocol.is_some())
        .count();
    assert_eq!(statements, 139);
    assert!(r.events.iter().all(|e| e.body.outcome.is_some()));
    assert_eq!(r.stats.desyncs, 1);
}

#[test]
fn a_server_gap_leaves_its_requests_unanswered() {
    let segs = &streams("pgbench_extended")[1];
    let mut s = steps(segs);
    let i = s
        .iter()
        .position(|st| matches!(st, Step::Data(Direction::ToClient, ..)))
        .unwrap()
        + 30;
    let len = match &s[i] {
        Step::Data(Direction::ToClient, _, b) => b.len() as u64,
        other => panic!("{other:?}"),
    };
    s[i] = Step::Gap(Direction::ToClient, len);
    let r = run(PostgresParser::new(&config()), &s);
    let statements: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.body.protocol.is_some())
        .collect();
    assert_eq!(statements.len(), 140);
    let unanswered = statements
        .iter()
        .filter(|e| e.body.outcome.is_none())
        .count();
    assert!((1..=2).contains(&unanswered), "{unanswered}");
    assert_eq!(r.stats.unanswered as usize, unanswered);
}

#[test]
fn garbage_first_bytes_fail_the_connection() {
    let s = vec![Step::Data(
        Direction::ToServer,
        Timestamp(1),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    )];
    let r = run(PostgresParser::new(&config()), &s);
    assert_eq!(r.status, Status::Failed);
    assert!(r.events.is_empty());
}

#[test]
fn garbage_mid_connection_is_skipped_not_recorded() {
    let segs = &streams("simple")[0];
    let mut s = steps(segs);
    let at = s.len() / 2;
    s.insert(
        at,
        Step::Data(Direction::ToServer, Timestamp(1), vec![0xff; 300]),
    );
    s.insert(
        at,
        Step::Data(
            Direction::ToClient,
            Timestamp(1),
            b"\x01\x02garbage".to_vec(),
        ),
    );
    let r = run(PostgresParser::new(&config()), &s);
    assert!(r.stats.malformed >= 1);
    assert!(
        r.events.iter().all(|e| [
            "STARTUP",
            "SELECT",
            "CREATE",
            "INSERT",
            "UPDATE",
            "DO",
            "PREPARE",
            "EXECUTE",
            "DEALLOCATE"
        ]
        .contains(&e.body.operation.as_ref())),
        "{:#?}",
        summary(&r.events)
    );
}

#[test]
fn truncated_input_emits_what_was_asked() {
    let segs = &streams("simple")[0];
    let s = steps(segs);
    // The capture ends after the client's second Query, before its answer.
    let cut = s
        .iter()
        .enumerate()
        .filter(
            |(_, st)| matches!(st, Step::Data(Direction::ToServer, _, b) if b.starts_with(b"Q")),
        )
        .nth(1)
        .unwrap()
        .0;
    let r = run(PostgresParser::new(&config()), &s[..=cut]);
    let last: Vec<_> = r
        .events
        .iter()
        .rev()
        .take(4)
        .map(|e| (e.body.operation.as_ref(), e.body.outcome))
        .collect();
    assert_eq!(
        last,
        [
            ("SELECT", None),
            ("UPDATE", None),
            ("INSERT", None),
            ("CREATE", None)
        ]
    );
}
