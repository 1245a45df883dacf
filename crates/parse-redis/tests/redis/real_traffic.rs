//! Real conversations (redis-server 7.0 on loopback with redis-cli,
//! redis-benchmark and raw clients, see `tests/data/README.md`), checked
//! against what tshark's RESP dissector reports for the same captures
//! (`tests/data/NAME.tshark`).

use podwire_parse::Status;
use podwire_record::Outcome;
use podwire_redis::RedisConfig;

use crate::util::{assert_latency, connection, errors, fixture, run_with, summary};

fn run(name: &str, index: usize) -> crate::util::Run {
    run_with(&RedisConfig::default(), &connection(name, index))
}

#[test]
fn request_response_session_yields_one_record_per_command() {
    let run = run("basic", 0);
    assert_eq!(run.status, Status::Continue);
    // tshark: 14 command arrays, 14 top-level replies.
    assert_eq!(
        summary(&run.events),
        [
            ("SET", "SET user:1 ?", "simple"),
            ("GET", "GET user:1", "bulk"),
            ("GET", "GET nokey", "null"),
            ("INCR", "INCR visits", "integer"),
            ("RPUSH", "RPUSH list ? ? ?", "integer"),
            ("LRANGE", "LRANGE list ? ?", "array"),
            ("HSET", "HSET user:2 ? ? ? ?", "integer"),
            ("HGETALL", "HGETALL user:2", "array"),
            ("LPUSH", "LPUSH user:1 ?", "error"),
            ("OTHER", "NOSUCHCMD ?", "error"),
            ("CLIENT SETNAME", "CLIENT SETNAME ?", "simple"),
            ("CONFIG GET", "CONFIG GET ?", "array"),
            ("OBJECT ENCODING", "OBJECT ENCODING list", "bulk"),
            ("DEL", "DEL user:1 ?", "integer"),
        ]
    );
    assert_eq!(run.before_finish, 14);
    let e = &run.events;
    assert_eq!(e[0].body.key.as_deref(), Some("user:1"));
    assert_eq!((e[0].body.args, e[0].body.command_bytes), (3, 36));
    // `$5\r\nhello\r\n`, `*3` of three one-letter bulks, HGETALL's four.
    assert_eq!(e[1].body.reply_bytes, Some(11));
    assert_eq!(e[5].body.reply_elements, Some(3));
    assert_eq!(e[5].body.reply_bytes, Some(25));
    assert_eq!(e[7].body.reply_elements, Some(4));
    assert_eq!(e[12].body.key.as_deref(), Some("list"));
    let wrongtype = e[8].body.error.as_ref().unwrap();
    assert_eq!(wrongtype.code.as_deref(), Some("WRONGTYPE"));
    assert_eq!(
        wrongtype.message.as_deref(),
        Some("Operation against a key holding the wrong kind of value")
    );
    assert_eq!(e[8].body.outcome, Some(Outcome::Error));
    assert_eq!(
        e[9].body.error.as_ref().unwrap().code.as_deref(),
        Some("ERR")
    );
    // tshark frame times: 0.210 ms from SET to +OK.
    assert_latency(e[0].body.latency_ms, 0.210);
    assert_eq!(run.stats.commands, 14);
    assert_eq!(run.stats.replies, 14);
}

#[test]
fn redis_cli_connections_are_one_command_each() {
    let runs: Vec<_> = (0..4).map(|i| run("cli_errors", i)).collect();
    let ops: Vec<_> = runs.iter().map(|r| summary(&r.events)[0]).collect();
    assert_eq!(
        ops,
        [
            ("SET", "SET user:1 ?", "simple"),
            ("LPUSH", "LPUSH user:1 ?", "error"),
            ("OTHER", "NOSUCHCMD ?", "error"),
            ("CLIENT LIST", "CLIENT LIST", "bulk"),
        ]
    );
    assert_eq!(errors(&runs[1].events), ["WRONGTYPE"]);
    assert_eq!(errors(&runs[2].events), ["ERR"]);
}

#[test]
fn benchmark_pipelines_pair_every_reply_in_order() {
    // redis-benchmark -P 16 -n 500 -c 1: 32 batches of 16 per test (tshark:
    // 512 arrays and 512 replies per connection), after a connection
    // asking CONFIG GET save / appendonly.
    let conns = fixture("pipeline");
    assert_eq!(conns.len(), 4);
    let config = run_with(&RedisConfig::default(), &conns[0]);
    assert_eq!(
        summary(&config.events),
        [
            ("CONFIG GET", "CONFIG GET ?", "array"),
            ("CONFIG GET", "CONFIG GET ?", "array")
        ]
    );
    let tests = [
        ("SET", "simple", "key:__rand_int__"),
        ("GET", "bulk", "key:__rand_int__"),
        ("LPUSH", "integer", "mylist"),
    ];
    for (conn, (op, reply, key)) in conns[1..].iter().zip(tests) {
        let run = run_with(&RedisConfig::default(), conn);
        assert_eq!(run.events.len(), 512);
        assert_eq!(run.before_finish, 512);
        assert_eq!(run.stats.replies, 512);
        for e in &run.events {
            assert_eq!(e.body.operation, op);
            assert_eq!(e.body.reply_type, Some(reply));
            assert_eq!(e.body.key.as_deref(), Some(key));
            assert_eq!(e.body.outcome, Some(Outcome::Ok));
        }
        // Records come out in capture order.
        assert!(run.events.windows(2).all(|w| w[0].ts <= w[1].ts));
    }
}

#[test]
fn one_write_of_many_commands_pairs_in_order() {
    let run = run("pipelined_mixed", 0);
    let s = summary(&run.events);
    assert_eq!(s.len(), 23);
    assert_eq!(s[0], ("SET", "SET p:0 ?", "simple"));
    assert_eq!(s[10], ("GET", "GET p:0", "bulk"));
    // An inline PING inside the pipeline (tshark shows it as a fragment).
    assert_eq!(s[20], ("PING", "PING", "simple"));
    assert_eq!(s[21], ("INCR", "INCR p:0", "error"));
    assert_eq!(s[22], ("LRANGE", "LRANGE p:list ? ?", "array"));
    assert_eq!(run.events[22].body.reply_elements, Some(0));
    // The value of GET p:3 is `v3`.
    assert_eq!(run.events[13].body.reply_bytes, Some(8));
}

#[test]
fn inline_commands_are_commands() {
    let run = run("inline", 0);
    assert_eq!(
        summary(&run.events),
        [
            ("PING", "PING", "simple"),
            ("SET", "SET greeting ?", "simple"),
            ("GET", "GET greeting", "bulk"),
            ("EXISTS", "EXISTS greeting ?", "integer"),
        ]
    );
    // `ECHO "open` is an unbalanced quote: Redis answers with an error and
    // closes; the parser counts it malformed and drops the error reply.
    assert_eq!(run.stats.malformed, 1);
    assert_eq!(run.stats.orphan_replies, 1);
    assert_eq!(run.events[1].body.command_bytes, 28);
}

#[test]
fn resp3_types_are_named() {
    let run = run("resp3", 0);
    let s = summary(&run.events);
    assert_eq!(s[0], ("HELLO", "HELLO 3", "map"));
    assert_eq!(run.events[0].body.reply_elements, Some(7));
    assert_eq!(s[2], ("HGETALL", "HGETALL h", "map"));
    assert_eq!(run.events[2].body.reply_elements, Some(2));
    assert_eq!(s[4], ("SMEMBERS", "SMEMBERS s", "set"));
    assert_eq!(s[6], ("ZSCORE", "ZSCORE z ?", "double"));
    assert_eq!(s[7], ("GET", "GET missing", "null"));
    // DEBUG PROTOCOL bignum, true, verbatim, attrib, push.
    let debug: Vec<_> = s[8..13].iter().map(|s| s.2).collect();
    assert_eq!(debug, ["bignum", "boolean", "verbatim", "bulk", "bulk"]);
    // The attribute `|1` before the reply is skipped, but counted in its size.
    assert_eq!(run.events[11].body.reply_bytes, Some(93));
    assert_eq!(run.stats.malformed, 0);
}

#[test]
fn resp3_pushes_are_not_replies() {
    let run = run("resp3", 0);
    let s = summary(&run.events);
    // DEBUG PROTOCOL push sends a push, then its reply.
    assert_eq!(run.events[12].body.reply_bytes, Some(47));
    // Client-side caching's invalidation and that push: counted only.
    assert_eq!(run.stats.pushes, 2);
    assert_eq!(s[15], ("SUBSCRIBE", "SUBSCRIBE news", "push"));
    assert_eq!(s[16], ("MESSAGE", "-", "push"));
    let delivery = &run.events[16].body;
    assert_eq!(delivery.channel.as_deref(), Some("news"));
    assert_eq!(delivery.payload_bytes, Some(5));
    assert_eq!(delivery.latency_ms, None);
    // RESP3 lets a subscriber run commands.
    assert_eq!(s[17], ("GET", "GET h2", "null"));
    assert_eq!(s[18], ("UNSUBSCRIBE", "UNSUBSCRIBE", "push"));
    assert_eq!(run.events.len(), 19);
    assert_eq!(run.stats.unpaired_commands + run.stats.orphan_replies, 0);
}

#[test]
fn transactions_record_queued_commands_and_exec_results() {
    let run = run("transaction", 0);
    let s = summary(&run.events);
    assert_eq!(
        s[..5],
        [
            ("MULTI", "MULTI", "simple"),
            ("SET", "SET t ?", "simple"),
            ("INCR", "INCR t", "simple"),
            ("LPUSH", "LPUSH t ?", "simple"),
            ("EXEC", "EXEC", "array"),
        ]
    );
    let queued: Vec<_> = run.events.iter().map(|e| e.body.queued).collect();
    assert_eq!(
        queued,
        [
            false, true, true, true, false, false, false, true, false, false, true, false, false,
            true, false
        ]
    );
    // EXEC ran three commands; LPUSH on a string failed inside it.
    assert_eq!(run.events[4].body.reply_elements, Some(3));
    assert_eq!(run.events[4].body.reply_errors, Some(1));
    assert_eq!(run.events[4].body.outcome, Some(Outcome::Ok));
    // A WATCHed key changed: EXEC's reply is null.
    assert_eq!(s[8], ("EXEC", "EXEC", "null"));
    assert_eq!(s[11], ("DISCARD", "DISCARD", "simple"));
    // A command refused at queue time aborts the transaction.
    assert_eq!(errors(&run.events)[13..], ["ERR", "EXECABORT"]);
}

#[test]
fn pubsub_deliveries_are_records_and_confirmations_answer_subscribe() {
    let run = run("pubsub", 0);
    assert_eq!(
        summary(&run.events),
        [
            ("SUBSCRIBE", "SUBSCRIBE news sport", "array"),
            ("PSUBSCRIBE", "PSUBSCRIBE n*", "array"),
            ("SSUBSCRIBE", "SSUBSCRIBE shard1", "array"),
            ("MESSAGE", "-", "array"),
            ("PMESSAGE", "-", "array"),
            ("MESSAGE", "-", "array"),
            ("SMESSAGE", "-", "array"),
            ("GET", "GET k", "error"),
            ("PING", "PING", "array"),
            ("UNSUBSCRIBE", "UNSUBSCRIBE", "array"),
            ("PUNSUBSCRIBE", "PUNSUBSCRIBE", "array"),
            ("SUNSUBSCRIBE", "SUNSUBSCRIBE shard1", "array"),
        ]
    );
    let e = &run.events;
    // One confirmation per channel; UNSUBSCRIBE of all got two.
    let confirms: Vec<_> = [0, 1, 2, 9, 10, 11]
        .iter()
        .map(|&i| e[i].body.reply_elements)
        .collect();
    assert_eq!(confirms, [2, 1, 1, 2, 1, 1].map(Some));
    assert_eq!(e[4].body.pattern.as_deref(), Some("n*"));
    assert_eq!(e[4].body.channel.as_deref(), Some("news"));
    assert_eq!(e[5].body.payload_bytes, Some(4));
    // tshark: 13 arrays and an error (the GET refused in subscribed mode).
    assert_eq!(run.stats.deliveries, 4);
    assert_eq!(run.stats.replies, 10);
    // The publisher's side.
    let publisher = crate::util::connection("pubsub", 1);
    let run = run_with(&RedisConfig::default(), &publisher);
    assert_eq!(
        run.events[0].body.command.as_deref(),
        Some("PUBLISH news ?")
    );
    assert_eq!(run.events[0].body.channel.as_deref(), Some("news"));
}

#[test]
fn client_reply_off_and_skip_leave_commands_unanswered() {
    let run = run("clientreply", 0);
    let answered: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.body.operation.as_ref(), e.body.reply_type))
        .collect();
    assert_eq!(
        answered,
        [
            ("CLIENT REPLY", None),
            ("SET", None),
            ("GET", Some("bulk")),
            ("CLIENT REPLY", None),
            ("SET", None),
            ("INCR", None),
            ("CLIENT REPLY", Some("simple")),
            ("GET", Some("bulk")),
        ]
    );
    // tshark: two bulk strings and one +OK, nothing else.
    assert_eq!(run.stats.replies, 3);
    assert_eq!(run.stats.unpaired_commands + run.stats.orphan_replies, 0);
}

#[test]
fn big_values_are_counted_not_kept() {
    let run = run("bigvalue", 0);
    assert_eq!(
        summary(&run.events),
        [
            ("SET", "SET big ?", "simple"),
            ("GET", "GET big", "bulk"),
            ("STRLEN", "STRLEN big", "integer"),
        ]
    );
    // 40000 bytes of value: `$40000\r\n` + value + CRLF.
    assert_eq!(run.events[0].body.command_bytes, 40032);
    assert_eq!(run.events[1].body.reply_bytes, Some(40010));
    assert!(!run.events[0].body.truncated);
}

#[test]
fn monitor_output_is_not_a_reply() {
    let run = run("monitor", 0);
    assert_eq!(
        summary(&run.events),
        [("MONITOR", "MONITOR", "simple"), ("PING", "PING", "simple")]
    );
    // tshark: five strings: +OK, three monitor lines (SET, GET, PING), +PONG.
    assert_eq!(run.stats.monitor_lines, 3);
}

#[test]
fn blocking_commands_wait() {
    let run = run("blocking", 0);
    assert_eq!(
        summary(&run.events),
        [
            ("BLPOP", "BLPOP q ?", "null"),
            ("BLPOP", "BLPOP q ?", "array")
        ]
    );
    // Timed out after 0.2 s; served by the other client's LPUSH 0.2 s in.
    let waited = run.events[0].body.latency_ms.unwrap();
    assert!((200.0..400.0).contains(&waited), "{waited}");
    assert_latency(run.events[1].body.latency_ms, 200.594);
}

/// Throughput on the benchmark capture; run with
/// `cargo test --release -p podwire-redis -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let conns = fixture("pipeline");
    let bytes: usize = conns
        .iter()
        .flatten()
        .map(|s| match s {
            crate::util::Step::Data(_, _, b) => b.len(),
            _ => 0,
        })
        .sum();
    let rounds = 500;
    let start = std::time::Instant::now();
    let mut records = 0;
    for _ in 0..rounds {
        for conn in &conns {
            records += run_with(&RedisConfig::default(), conn).events.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} MB/s, {:.0} records/s, {:.1} us per capture",
        (bytes * rounds) as f64 / secs / 1e6,
        records as f64 / secs,
        secs / rounds as f64 * 1e6
    );
}

/// Each command's `key` is the first key Redis itself names for it
/// (`COMMAND GETKEYS`, asked of the same server: `tests/data/keys.getkeys`),
/// for commands whose keys follow a count, a keyword or a subcommand.
/// `MIGRATE host port "" ... KEYS k...` used to give the empty string, the
/// placeholder Redis skips; the words after `AUTH2` are credentials, never
/// the `KEYS` keyword, even when they spell it.
#[test]
fn keys_are_where_redis_command_getkeys_finds_them() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys.getkeys");
    let reference = std::fs::read_to_string(path).expect("keys.getkeys");
    let want: Vec<Option<&str>> = reference
        .lines()
        .map(|l| l.split('\t').next().filter(|k| !k.is_empty()))
        .collect();
    let run = run("keys", 0);
    // tshark: 40 command arrays (MIGRATE three times), 40 replies.
    assert_eq!(run.events.len(), 40);
    assert_eq!(want.len(), run.events.len());
    let got: Vec<Option<&str>> = run.events.iter().map(|e| e.body.key.as_deref()).collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "command {i}: {}", summary(&run.events)[i].1);
    }
    // The AUTH2 credentials stay hidden, the keys shown.
    let migrate: Vec<&str> = summary(&run.events)
        .iter()
        .filter(|s| s.0 == "MIGRATE")
        .map(|s| s.1)
        .collect();
    assert_eq!(migrate[1], "MIGRATE ? ? ? ? ? ? ? ? ? ? mk3");
}
