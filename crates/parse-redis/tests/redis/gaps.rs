//! Lost bytes and connections joined mid-way: resynchronise, and never pair
//! a reply with the wrong command.

use podwire_redis::{RedisConfig, RedisParser};

use crate::util::{connection, run, summary, Conv, Step, ToClient, ToServer};

#[test]
fn a_gap_inside_a_value_keeps_sync() {
    let run = Conv::new()
        .client(0, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n01")
        .gap(ToServer, 5)
        .client(1, b"789\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .server(2, b"+OK\r\n$10\r\n0123456789\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [("SET", "SET k ?", "simple"), ("GET", "GET k", "bulk")]
    );
    assert_eq!(run.events[0].body.command_bytes, 37);
    assert_eq!(run.stats.desyncs, 0);
}

#[test]
fn a_lost_reply_leaves_its_command_unanswered_not_misanswered() {
    let run = Conv::new()
        .client(0, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        .gap(ToClient, 7)
        .client(2, b"*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n")
        .server(3, b":5\r\n")
        .client(4, b"*2\r\n$3\r\nGET\r\n$1\r\nc\r\n")
        .server(5, b"$1\r\nz\r\n")
        .run();
    let outcomes: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.body.operation.as_ref(), e.body.reply_type))
        .collect();
    // GET a's reply was lost; INCR b was sent before the server was seen
    // again, so its reply cannot be told from GET a's; GET c is paired.
    assert_eq!(
        outcomes,
        [("GET", None), ("INCR", None), ("GET", Some("bulk"))]
    );
    assert_eq!(run.stats.desyncs, 1);
    assert_eq!(run.stats.unpaired_commands, 2);
    assert_eq!(run.stats.orphan_replies, 1);
}

#[test]
fn a_server_gap_with_nothing_owed_keeps_pairing() {
    let run = Conv::new()
        .client(0, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        .server(1, b"$1\r\nx\r\n")
        .gap(ToClient, 100)
        .client(2, b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        .server(3, b"$1\r\ny\r\n")
        .run();
    let types: Vec<_> = run.events.iter().map(|e| e.body.reply_type).collect();
    assert_eq!(types, [Some("bulk"), Some("bulk")]);
}

#[test]
fn a_lost_command_resyncs_at_the_next_one() {
    let run = Conv::new()
        .client(0, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSE")
        .gap(ToServer, 20)
        .client(1, b"garbage\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        .server(2, b"$1\r\nx\r\n+OK\r\n$1\r\ny\r\n")
        .client(3, b"*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n")
        .server(4, b":1\r\n")
        .run();
    let got: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.body.command.as_deref().unwrap(), e.body.reply_type))
        .collect();
    assert_eq!(
        got,
        [("GET a", None), ("GET b", None), ("DEL b", Some("integer"))]
    );
    assert_eq!(run.stats.skipped_bytes, 9);
}

#[test]
fn mid_stream_join_pairs_nothing_until_a_quiet_point() {
    // The benchmark's SET connection, joined after its first 40 segments:
    // the client stream starts at a pipeline's start, the server stream
    // may be mid-batch.
    let steps = connection("pipeline", 1);
    let joined: Vec<Step> = steps[40..].to_vec();
    let run = run(RedisParser::mid_stream(&RedisConfig::default()), &joined);
    let answered = run
        .events
        .iter()
        .filter(|e| e.body.outcome.is_some())
        .count();
    let unanswered = run.events.len() - answered;
    // Every record is a SET with +OK or none; none got another's reply.
    assert!(run.events.iter().all(|e| e.body.operation == "SET"));
    assert!(run
        .events
        .iter()
        .all(|e| e.body.reply_type.is_none() || e.body.reply_type == Some("simple")));
    assert_eq!(unanswered as u64, run.stats.unpaired_commands);
    // 192 commands after the join: the first batch of 16 goes unanswered,
    // the other 11 batches pair.
    assert_eq!(unanswered, 16);
    assert_eq!(answered, 176);
    assert_eq!(run.stats.malformed, 0);
}

#[test]
fn mid_stream_join_inside_a_value_skips_to_a_message() {
    let run = run(
        RedisParser::mid_stream(&RedisConfig::default()),
        &Conv::new()
            .client(0, b"lue-of-a-set\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
            .server(1, b"ld-reply\r\n$1\r\nx\r\n")
            .client(2, b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
            .server(3, b"$1\r\ny\r\n")
            .steps,
    );
    let got: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.body.command.as_deref().unwrap(), e.body.reply_type))
        .collect();
    assert_eq!(got, [("GET a", None), ("GET b", Some("bulk"))]);
}

#[test]
fn deliveries_are_recognised_on_a_joined_subscriber() {
    let run = run(
        RedisParser::mid_stream(&RedisConfig::default()),
        &Conv::new()
            .server(0, b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
            .steps,
    );
    assert_eq!(summary(&run.events), [("MESSAGE", "-", "array")]);
}
