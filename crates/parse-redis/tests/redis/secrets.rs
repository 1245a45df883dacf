//! Arguments are masked by default and credentials always.

use podwire_redis::RedisConfig;

use crate::util::{connection, run_with, summary, Conv};

fn shown() -> RedisConfig {
    RedisConfig {
        show_secrets: true,
        ..RedisConfig::default()
    }
}

/// Every string a record holds.
fn strings(run: &crate::util::Run) -> String {
    run.events
        .iter()
        .map(|e| serde_json::to_string(&e.body).unwrap())
        .collect()
}

#[test]
fn credentials_are_never_recorded_whatever_the_flags() {
    let steps = connection("auth", 0);
    for config in [RedisConfig::default(), shown()] {
        let run = run_with(&config, &steps);
        let text = strings(&run);
        for secret in ["s3cret", "wrong", "hunter2", "bobpass", "default"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(run.events.len(), 9);
    }
    let run = run_with(&shown(), &steps);
    let commands: Vec<_> = summary(&run.events).iter().map(|s| s.1).collect();
    assert_eq!(
        commands,
        [
            "GET x",
            "AUTH ?",
            "AUTH ?",
            "HELLO 3 AUTH ? ? SETNAME app",
            "CONFIG SET masterauth ?",
            "MIGRATE 127.0.0.1 63790 \"\" 0 1000 AUTH ? KEYS nokey",
            "ACL SETUSER bob on ? ~* +@all",
            "AUTH ? ?",
            "SET owner bob",
        ]
    );
    // The server's answers to the wrong password and before AUTH.
    let codes = crate::util::errors(&run.events);
    assert_eq!(codes[..2], ["NOAUTH", "WRONGPASS"]);
}

#[test]
fn masked_by_default_the_key_stays() {
    let run = run_with(&RedisConfig::default(), &connection("auth", 0));
    let commands: Vec<_> = summary(&run.events).iter().map(|s| s.1).collect();
    assert_eq!(commands[3], "HELLO 3 AUTH ? ? SETNAME ?");
    assert_eq!(commands[4], "CONFIG SET ? ?");
    assert_eq!(commands[8], "SET owner ?");
    assert_eq!(run.events[8].body.key.as_deref(), Some("owner"));
}

#[test]
fn shown_arguments_are_quoted_like_redis_cli() {
    let conv = Conv::new()
        .client(
            0,
            b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$3\r\na b\r\n$2\r\n\x00\xff\r\n",
        )
        .server(1, b":1\r\n")
        .client(2, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
        .server(3, b"+OK\r\n");
    let run = crate::util::run(podwire_redis::RedisParser::new(&shown()), &conv.steps);
    assert_eq!(
        run.events[0].body.command.as_deref(),
        Some(r#"HSET h "a b" "\x00\xff""#)
    );
    assert_eq!(run.events[1].body.command.as_deref(), Some(r#"SET k """#));
}

#[test]
fn renamed_or_unknown_commands_show_no_arguments() {
    // `rename-command AUTH xyz` would make an unknown name carry a password.
    let conv = Conv::new()
        .client(0, b"*2\r\n$3\r\nXYZ\r\n$6\r\nsecret\r\n")
        .server(1, b"+OK\r\n");
    let run = crate::util::run(podwire_redis::RedisParser::new(&shown()), &conv.steps);
    assert_eq!(summary(&run.events), [("OTHER", "XYZ ?", "simple")]);
}

#[test]
fn long_commands_and_keys_are_cut_and_counted() {
    let key = "k".repeat(300);
    let cmd = format!("*3\r\n$3\r\nSET\r\n$300\r\n{key}\r\n$1\r\nv\r\n");
    let conv = Conv::new().client(0, cmd.as_bytes()).server(1, b"+OK\r\n");
    let config = RedisConfig {
        max_arg_len: 16,
        max_command_len: 24,
        ..RedisConfig::default()
    };
    let run = crate::util::run(podwire_redis::RedisParser::new(&config), &conv.steps);
    let body = &run.events[0].body;
    assert_eq!(body.key.as_deref(), Some("kkkkkkkkkkkkkkkk..."));
    assert_eq!(body.command.as_deref(), Some("SET kkkkkkkkkkkkkkkk... ..."));
    assert!(body.truncated);
    assert_eq!(run.stats.truncated, 1);
}
