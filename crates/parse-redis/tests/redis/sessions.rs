//! Framing and pairing edge cases, on synthetic conversations.

use podwire_record::Outcome;

use crate::util::{summary, Conv};

#[test]
fn pipelined_replies_pair_in_order() {
    let run = Conv::new()
        .client(
            0,
            b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\nPING\r\n",
        )
        .server(5, b"$1\r\nx\r\n:7\r\n")
        .server(6, b"+PONG\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "GET a", "bulk"),
            ("INCR", "INCR b", "integer"),
            ("PING", "PING", "simple")
        ]
    );
    assert_eq!(run.events[2].body.latency_ms, Some(6.0));
}

#[test]
fn command_names_are_case_insensitive() {
    let run = Conv::new()
        .client(
            0,
            b"*2\r\n$3\r\nget\r\n$1\r\na\r\n*3\r\n$6\r\nclient\r\n$7\r\nsetName\r\n$1\r\nx\r\n",
        )
        .server(1, b"$-1\r\n+OK\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "GET a", "null"),
            ("CLIENT SETNAME", "CLIENT SETNAME ?", "simple")
        ]
    );
}

#[test]
fn unknown_subcommands_are_the_container_alone() {
    let run = Conv::new()
        .client(0, b"*2\r\n$6\r\nCLIENT\r\n$5\r\nBOGUS\r\n")
        .server(1, b"-ERR unknown subcommand 'BOGUS'\r\n")
        .run();
    assert_eq!(summary(&run.events), [("CLIENT", "CLIENT ?", "error")]);
}

#[test]
fn nested_aggregates_attributes_and_streams() {
    let run = Conv::new()
        .client(
            0,
            b"*1\r\n$4\r\nTIME\r\n*1\r\n$4\r\nTIME\r\n*1\r\n$4\r\nTIME\r\n*1\r\n$4\r\nTIME\r\n",
        )
        // A map of arrays of maps.
        .server(
            1,
            b"%2\r\n+a\r\n*2\r\n%1\r\n+x\r\n:1\r\n_\r\n+b\r\n~1\r\n,1.5\r\n",
        )
        // An attribute inside an array, before its second element.
        .server(2, b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3\r\n:2\r\n")
        // A streamed string.
        .server(3, b"$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;0\r\n")
        // A streamed array with an error inside.
        .server(4, b"*?\r\n:1\r\n-ERR x\r\n.\r\n")
        .run();
    let types: Vec<_> = summary(&run.events).iter().map(|s| s.2).collect();
    assert_eq!(types, ["map", "array", "bulk", "array"]);
    let elements: Vec<_> = run.events.iter().map(|e| e.body.reply_elements).collect();
    assert_eq!(elements, [Some(2), Some(2), None, Some(2)]);
    assert_eq!(run.events[3].body.reply_errors, Some(1));
    assert_eq!(run.events[2].body.reply_bytes, Some(30));
    assert_eq!(run.stats.malformed, 0);
}

#[test]
fn subscribe_to_nothing_is_one_error() {
    let run = Conv::new()
        .client(0, b"*1\r\n$9\r\nSUBSCRIBE\r\n*1\r\n$4\r\nPING\r\n")
        .server(
            1,
            b"-ERR wrong number of arguments for 'subscribe' command\r\n+PONG\r\n",
        )
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("SUBSCRIBE", "SUBSCRIBE", "error"),
            ("PING", "PING", "simple")
        ]
    );
}

#[test]
fn hello_with_an_error_keeps_resp2() {
    // Still RESP2: a `message` array after SUBSCRIBE is a delivery.
    let run = Conv::new()
        .client(
            0,
            b"*2\r\n$5\r\nHELLO\r\n$1\r\n4\r\n*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n",
        )
        .server(1, b"-NOPROTO unsupported protocol version\r\n")
        .server(2, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")
        .server(3, b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("HELLO", "HELLO 4", "error"),
            ("SUBSCRIBE", "SUBSCRIBE c", "array"),
            ("MESSAGE", "-", "array")
        ]
    );
}

#[test]
fn a_message_shaped_reply_outside_subscriptions_is_a_reply() {
    let run = Conv::new()
        .client(
            0,
            b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n",
        )
        .server(1, b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n")
        .run();
    assert_eq!(summary(&run.events), [("LRANGE", "LRANGE l ? ?", "array")]);
}

#[test]
fn client_reply_skip_then_reset() {
    let run = Conv::new()
        .client(
            0,
            b"CLIENT REPLY SKIP\r\nSET a 1\r\nGET a\r\nCLIENT REPLY OFF\r\nRESET\r\nGET a\r\n",
        )
        .server(1, b"$1\r\n1\r\n+RESET\r\n$1\r\n1\r\n")
        .run();
    // RESET turns replies back on, and is answered even while they were off.
    let outcomes: Vec<_> = run.events.iter().map(|e| e.body.outcome).collect();
    let ok = Some(Outcome::Ok);
    assert_eq!(outcomes, [None, None, ok, None, ok, ok]);
    assert_eq!(run.stats.unpaired_commands + run.stats.orphan_replies, 0);
}

#[test]
fn errors_are_cut_at_the_configured_length() {
    let config = podwire_redis::RedisConfig {
        max_error_len: 8,
        ..Default::default()
    };
    let steps = Conv::new()
        .client(0, b"PING\r\n")
        .server(1, b"-ERR this is a long message\r\n")
        .steps;
    let run = crate::util::run(podwire_redis::RedisParser::new(&config), &steps);
    let error = run.events[0].body.error.as_ref().unwrap();
    assert_eq!(error.code.as_deref(), Some("ERR"));
    assert_eq!(error.message.as_deref(), Some("this is ..."));
    assert!(run.events[0].body.truncated);
}

#[test]
fn eval_and_xread_keys_are_found() {
    let run = Conv::new()
        .client(
            0,
            b"EVAL \"return 1\" 1 mykey arg\r\nXREAD COUNT 2 STREAMS s1 0\r\nEVAL x 0\r\n",
        )
        .server(1, b":1\r\n*-1\r\n:1\r\n")
        .run();
    let keys: Vec<_> = run.events.iter().map(|e| e.body.key.as_deref()).collect();
    assert_eq!(keys, [Some("mykey"), Some("s1"), None]);
    assert_eq!(
        run.events[0].body.command.as_deref(),
        Some("EVAL ? ? mykey ?")
    );
}
