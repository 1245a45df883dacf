//! Lost bytes and connections joined mid-stream.

use podwire_mysql::{MysqlConfig, MysqlParser};
use podwire_parse::Direction::{ToClient, ToServer};
use podwire_parse::Status;
use podwire_record::Outcome;

use crate::util::*;

fn mid_stream(steps: &[Step]) -> Run {
    run_parser(MysqlParser::mid_stream(&MysqlConfig::default()), steps)
}

/// `steps` with step `i` (data) replaced by a gap of its length.
fn lose(steps: &[Step], i: usize) -> Vec<Step> {
    let mut steps = steps.to_vec();
    let Step::Data(dir, _, bytes) = &steps[i] else {
        panic!("not data")
    };
    steps[i] = Step::Gap(*dir, bytes.len() as u64);
    steps
}

#[test]
fn joined_after_the_login() {
    // Greeting, login and its OK not seen.
    let r = mid_stream(&fixture("pymysql")[3..]);
    let ops: Vec<_> = r.bodies().iter().map(|b| b.operation.as_str()).collect();
    assert_eq!(
        ops,
        ["SET", "SET", "SELECT", "UPDATE", "COMMIT", "PING", "QUIT"]
    );
    assert!(r
        .bodies()
        .iter()
        .all(|b| b.user.is_none() && b.server_version.is_none()));
    assert_eq!(r.bodies()[2].rows, Some(4));
}

#[test]
fn joined_inside_a_response() {
    // The first segment seen is the answer to an unseen query: skipped
    // until a command is seen, then paired as usual.
    let steps = &fixture("use_db")[4..];
    assert!(matches!(steps[0], Step::Data(ToClient, ..)));
    let r = mid_stream(steps);
    let ops: Vec<_> = r
        .bodies()
        .iter()
        .map(|b| (b.operation.as_str(), b.outcome))
        .collect();
    assert_eq!(
        ops,
        [
            ("INIT_DB", Some(Outcome::Ok)),
            ("SELECT", Some(Outcome::Ok)),
            ("QUIT", None)
        ]
    );
    assert!(r.stats.resync_skipped_bytes > 0);
}

#[test]
fn a_lost_command_leaves_its_answer_unpaired() {
    // The query of `error` lost: its ERR has no command to go to.
    let r = run(&lose(&fixture("error"), 3));
    assert_eq!(
        r.summary(),
        vec![("CONNECT", "CONNECT", None), ("QUIT", "QUIT", None)]
    );
    assert_eq!(r.stats.desyncs, 1);
    assert_eq!(r.stats.unexpected_packets, 1);
}

#[test]
fn a_lost_response_is_recorded_without_outcome() {
    // use_db: the first SELECT's result set lost; INIT_DB's OK is where the
    // server's stream is picked up again.
    let r = run(&lose(&fixture("use_db"), 4));
    let ops: Vec<_> = r
        .bodies()
        .iter()
        .map(|b| (b.operation.as_str(), b.outcome))
        .collect();
    assert_eq!(
        ops,
        [
            ("CONNECT", Some(Outcome::Ok)),
            ("SELECT", None),
            ("INIT_DB", Some(Outcome::Ok)),
            ("SELECT", Some(Outcome::Ok)),
            ("QUIT", None)
        ]
    );
    assert_eq!(r.bodies()[3].rows, Some(1));
    assert_eq!(r.stats.desyncs, 1);
}

#[test]
fn a_gap_inside_a_packet_keeps_sync() {
    // Lose 10 bytes inside the second packet (a column definition) of the
    // query's result set: the rows are still counted.
    let mut steps = fixture("query");
    let Step::Data(dir, ts, bytes) = steps[4].clone() else {
        panic!()
    };
    assert_eq!(dir, ToClient);
    let first_len = usize::from(bytes[0]) + 4;
    let at = first_len + 4 + 5;
    steps.splice(
        4..5,
        [
            Step::Data(dir, ts, bytes[..at].to_vec()),
            Step::Gap(dir, 10),
            Step::Data(dir, ts, bytes[at + 10..].to_vec()),
        ],
    );
    let r = run(&steps);
    let q = r.bodies()[1];
    assert_eq!(
        (q.columns, q.rows, q.outcome),
        (Some(3), Some(2), Some(Outcome::Ok))
    );
    assert_eq!((r.stats.gaps_in_sync, r.stats.desyncs), (1, 0));
}

#[test]
fn a_gap_in_a_compressed_connection_ends_the_parse() {
    let r = run(&lose(&fixture("compress"), 3));
    assert_eq!(r.status, Status::Done);
    assert_eq!(r.stats.desyncs, 1);
    assert_eq!(r.summary(), vec![("CONNECT", "CONNECT", None)]);
}

#[test]
fn a_gap_at_the_greeting_falls_back_to_mid_stream() {
    let steps = lose(&fixture("query"), 0);
    let r = run(&steps);
    // The login is picked up (it starts like one), the rest follows.
    let ops: Vec<_> = r.bodies().iter().map(|b| b.operation.as_str()).collect();
    assert_eq!(ops, ["CONNECT", "SELECT", "QUIT"]);
    assert_eq!(r.bodies()[1].rows, Some(2));
    let _ = ToServer;
}
