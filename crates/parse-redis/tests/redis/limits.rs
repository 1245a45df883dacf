//! Every buffer has a limit, and hitting one costs records, not memory.

use podwire_parse::Status;
use podwire_redis::{RedisConfig, RedisParser};

use crate::util::{run, summary, Conv};

fn with(config: RedisConfig, conv: Conv) -> crate::util::Run {
    run(RedisParser::new(&config), &conv.steps)
}

#[test]
fn deep_pipelines_emit_the_oldest_unanswered_and_skip_its_reply() {
    let config = RedisConfig {
        max_pending: 2,
        ..RedisConfig::default()
    };
    let run = with(
        config,
        Conv::new()
            .client(0, b"GET a\r\nGET b\r\nGET c\r\n")
            .server(1, b"$1\r\nA\r\n$1\r\nB\r\n$1\r\nC\r\n"),
    );
    let got: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.body.command.as_deref().unwrap(), e.body.reply_bytes))
        .collect();
    assert_eq!(
        got,
        [("GET a", None), ("GET b", Some(7)), ("GET c", Some(7))]
    );
    assert_eq!(run.stats.pending_overflows, 1);
    assert_eq!(run.stats.orphan_replies, 1);
}

#[test]
fn nesting_deeper_than_the_limit_is_malformed() {
    let config = RedisConfig {
        max_depth: 3,
        ..RedisConfig::default()
    };
    let run = with(
        config,
        Conv::new()
            .client(0, b"PING\r\nPING\r\n")
            .server(1, b"*1\r\n*1\r\n*1\r\n:1\r\n")
            .server(2, b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
    );
    assert_eq!(run.events[0].body.reply_type, Some("array"));
    assert_eq!(run.events[1].body.reply_type, None);
    assert_eq!(run.stats.malformed, 1);
}

#[test]
fn many_arguments_are_counted_but_only_the_first_read() {
    let mut cmd = b"*1001\r\n$4\r\nMSET\r\n".to_vec();
    for i in 0..500 {
        cmd.extend_from_slice(format!("$4\r\nk{i:03}\r\n$1\r\nv\r\n").as_bytes());
    }
    let config = RedisConfig {
        max_args: 4,
        ..RedisConfig::default()
    };
    let run = with(config, Conv::new().client(0, &cmd).server(1, b"+OK\r\n"));
    assert_eq!(
        summary(&run.events),
        [("MSET", "MSET k000 ? ? ...", "simple")]
    );
    assert_eq!(run.events[0].body.args, 1001);
    assert_eq!(run.events[0].body.command_bytes, cmd.len() as u64);
}

#[test]
fn a_huge_value_streams_through_a_small_buffer() {
    let config = RedisConfig {
        max_buffer_bytes: 64,
        ..RedisConfig::default()
    };
    let mut conv = Conv::new().client(0, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000000\r\n");
    for i in 0..1000 {
        conv = conv.client(1 + i, &[b'x'; 10_000]);
    }
    conv = conv
        .client(2000, b"\r\n")
        .server(2001, b"+OK\r\n")
        .client(2002, b"GET k\r\n")
        .server(2003, b"$10000000\r\n");
    for i in 0..1000 {
        conv = conv.server(2004 + i, &[b'x'; 10_000]);
    }
    conv = conv.server(3004, b"\r\n");
    let run = with(config, conv);
    assert_eq!(run.events[0].body.command_bytes, 10_000_033);
    assert_eq!(run.events[1].body.reply_bytes, Some(10_000_013));
}

#[test]
fn an_endless_inline_line_fails_a_new_connection() {
    let mut conv = Conv::new();
    for i in 0..10 {
        conv = conv.client(i, &[b'a'; 10_000]);
    }
    let run = with(RedisConfig::default(), conv);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.stats.malformed, 1);
}
