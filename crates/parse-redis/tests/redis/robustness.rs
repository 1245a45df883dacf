//! Whatever the input and however it is cut, the parser neither panics nor
//! changes its mind; what is not Redis is refused early.

use podwire_parse::{Direction, Status};
use podwire_redis::{looks_like_redis, RedisConfig, RedisParser};

use crate::util::{bytewise, fixture, run, run_with, Conv, Step};

const FIXTURES: [&str; 13] = [
    "auth",
    "basic",
    "bigvalue",
    "blocking",
    "cli_errors",
    "clientreply",
    "inline",
    "monitor",
    "pipeline",
    "pipelined_mixed",
    "pubsub",
    "resp3",
    "transaction",
];

#[test]
fn byte_by_byte_is_the_same_as_whole_segments() {
    for name in FIXTURES
        .iter()
        .filter(|&&n| n != "pipeline" && n != "bigvalue")
    {
        for steps in fixture(name) {
            let whole = run_with(&RedisConfig::default(), &steps);
            let bytes = run_with(&RedisConfig::default(), &bytewise(&steps));
            assert_eq!(whole.events, bytes.events, "{name}");
            assert_eq!(whole.stats, bytes.stats, "{name}");
        }
    }
}

#[test]
fn every_fixture_connection_is_recognised_from_its_first_bytes() {
    for name in FIXTURES {
        for (i, steps) in fixture(name).into_iter().enumerate() {
            // Starts with an unknown command: RESP framing alone is not enough.
            if (name, i) == ("cli_errors", 2) {
                continue;
            }
            let first = steps.iter().find_map(|s| match s {
                Step::Data(Direction::ToServer, _, bytes) => Some(bytes),
                _ => None,
            });
            if let Some(first) = first {
                assert!(looks_like_redis(Direction::ToServer, first), "{name}");
            }
        }
    }
}

#[test]
fn what_is_not_redis_fails_at_once() {
    for first in [
        &b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x0a",
        b"*1\r\n:5\r\n",
    ] {
        let run = Conv::new().client(0, first).run();
        assert_eq!(run.status, Status::Failed, "{first:?}");
        assert!(run.events.is_empty());
    }
    // `GET / HTTP/1.1` is a valid inline GET to Redis: only detection,
    // which the tracker asks first, refuses it.
    assert!(!looks_like_redis(
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n"
    ));
}

#[test]
fn garbage_after_a_good_start_is_skipped() {
    let run = Conv::new()
        .client(0, b"PING\r\n")
        .server(1, b"+PONG\r\n")
        .client(2, b"*2\r\n:1\r\n")
        .client(3, b"PING\r\n")
        .server(4, b"-ERR Protocol error: expected '$', got ':'\r\n")
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(run.stats.malformed, 1);
    assert_eq!(run.events.len(), 2);
}

#[test]
fn truncated_input_emits_what_was_seen_at_finish() {
    let run = Conv::new()
        .client(0, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGE")
        .server(1, b"$5\r\nhel")
        .run();
    assert_eq!(run.before_finish, 0);
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].body.outcome, None);
}

#[test]
fn pseudo_random_input_never_panics() {
    // A fixed xorshift stream: RESP-ish bytes, cut anywhere, with gaps.
    let alphabet = b"*$+-:_,#!=(%~>|.;?\r\n0123456789-SETGETabc ";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let mut steps = Vec::new();
        for i in 0..40 {
            let r = next();
            let dir = if r & 1 == 0 {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            if r & 0xf0 == 0 {
                steps.push(Step::Gap(dir, (r >> 8) % 300));
                continue;
            }
            let len = (r >> 8) as usize % 40;
            let bytes = (0..len)
                .map(|_| alphabet[next() as usize % alphabet.len()])
                .collect();
            steps.push(Step::Data(dir, crate::util::ms(i), bytes));
        }
        let config = RedisConfig {
            max_pending: 1 + round % 4,
            max_depth: 1 + round % 5,
            max_buffer_bytes: 8 + round,
            max_args: round % 6,
            max_command_len: round % 40,
            max_arg_len: round % 20,
            max_error_len: round % 30,
            show_secrets: round % 2 == 0,
        };
        let parser = if round % 3 == 0 {
            RedisParser::mid_stream(&config)
        } else {
            RedisParser::new(&config)
        };
        let _ = run(parser, &steps);
    }
}
