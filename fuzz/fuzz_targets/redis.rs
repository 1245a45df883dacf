//! Fuzzes podwire-redis: both directions of a connection, cut into segments
//! and gaps where the input says, through one `RedisParser`.
//!
//! Input layout: the last byte seeds the segmentation (split points, which
//! direction goes next, gaps, timestamps, limits); the rest is the traffic.
//! The traffic is the client's stream up to the first line that starts with
//! a reply type byte other than `*` and `$` (`+`, `-`, `:`, `%`, `>`, ...),
//! and the server's from there, so a client's commands followed by a
//! server's replies are meaningful seeds as they are.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use podwire_redis::{RedisConfig, RedisParser};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, traffic)) = data.split_last() else {
        return;
    };
    let (client, server) = split_directions(traffic);

    let mut rng = common::Rng::new(seed);
    let r = rng.next();
    let small = r & 1 == 0;
    let config = RedisConfig {
        // Small limits in most runs, so the limit paths are reached.
        show_secrets: r & 2 == 0,
        max_pending: if small {
            1 + (r as usize >> 2) % 4
        } else {
            1024
        },
        max_buffer_bytes: if small {
            16 + (r as usize >> 4) % 256
        } else {
            4096
        },
        max_depth: if small { 1 + (r as usize >> 6) % 6 } else { 32 },
        max_args: if small { (r as usize >> 8) % 8 } else { 64 },
        max_command_len: if small { (r as usize >> 10) % 64 } else { 256 },
        max_arg_len: if small { (r as usize >> 12) % 32 } else { 128 },
        max_error_len: if small { (r as usize >> 14) % 32 } else { 256 },
    };
    // Now and then as for a connection joined mid-way.
    let mut parser = if r & 0x10000 == 0 {
        RedisParser::new(&config)
    } else {
        RedisParser::mid_stream(&config)
    };
    let events = common::drive(&mut parser, &mut rng, client, server, 97);

    let stats = parser.stats();
    assert!(stats.unpaired_commands <= stats.commands);
    for event in &events {
        let redis = &event.body;
        assert!(!redis.operation.is_empty());
        assert_eq!(redis.outcome.is_some(), redis.latency_ms.is_some());
        if let Some(latency) = redis.latency_ms {
            assert!(latency >= 0.0);
        }
        if let Some(command) = &redis.command {
            // Cut text ends in " ...".
            assert!(command.len() <= config.max_command_len + 4, "{command:?}");
        }
        // AUTH's arguments are never shown, whatever the flags.
        if redis.operation == "AUTH" {
            let command = redis.command.as_deref().unwrap_or("");
            assert!(
                command.split(' ').skip(1).all(|a| a == "?" || a == "..."),
                "{command:?}"
            );
        }
    }
});

/// The client's bytes, then the server's from the first line that starts
/// like a reply and not like a command part.
fn split_directions(traffic: &[u8]) -> (&[u8], &[u8]) {
    let reply = |b: u8| {
        matches!(
            b,
            b'+' | b'-'
                | b':'
                | b'%'
                | b'~'
                | b'>'
                | b'_'
                | b','
                | b'#'
                | b'|'
                | b'='
                | b'!'
                | b'('
        )
    };
    if traffic.first().copied().is_some_and(reply) {
        return (&[], traffic);
    }
    let at = traffic
        .windows(2)
        .position(|w| w[0] == b'\n' && reply(w[1]))
        .map_or(traffic.len(), |i| i + 1);
    traffic.split_at(at)
}
