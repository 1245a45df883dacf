//! Fuzzes podwire-dns: one message parse, the TCP framer over arbitrary
//! segmentation, and the pairer over a run of messages.
//!
//! Input layout: byte 0 seeds the TCP split points and directions; the rest
//! is the payload. The payload is parsed whole (as one UDP datagram), fed to
//! a `DnsTcpParser` in pieces, and cut into 2-byte-length-prefixed messages
//! that go through a small `DnsPairer` (4 slots, so eviction runs).

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_dns::{looks_like_dns, parse, DnsConfig, DnsPairer, DnsTcpParser, MAX_ANSWERS};
use podwire_parse::{Direction, StreamParser};
use podwire_record::{DnsTransport, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, payload)) = data.split_first() else {
        return;
    };

    // One datagram.
    let parsed = parse(payload);
    if let Ok(msg) = &parsed {
        assert!(msg.answers.len() <= MAX_ANSWERS);
    }
    if looks_like_dns(payload) {
        assert!(parsed.is_ok(), "looks_like_dns accepted what parse rejects");
    }

    // The same bytes as a TCP stream, cut where the seed says. A small
    // buffer limit exercises the oversized-message path too.
    let config = DnsConfig {
        max_pending: 4,
        timeout_ns: 1_000,
        max_tcp_buffer: 2 + 512,
    };
    let mut tcp = DnsTcpParser::new(&config);
    let mut events = Vec::new();
    let mut rest = payload;
    let mut state = seed as u32 | 1;
    let mut ts = 0u64;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = 1 + (state >> 16) as usize % 97;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        let dir = if state & 0x100 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        ts += (state >> 24) as u64 * 10;
        if state & 0x7000 == 0 {
            tcp.gap(dir, Timestamp(ts), n as u64, &mut events);
        }
        tcp.data(dir, Timestamp(ts), piece, &mut events);
        rest = tail;
    }
    tcp.finish(Timestamp(ts), &mut events);

    // The payload as a run of length-prefixed messages through the pairer.
    let mut pairer = DnsPairer::new(&config, DnsTransport::Udp);
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0u64;
    while rest.len() >= 2 {
        let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let (msg, tail) = rest[2..].split_at(len);
        if let Ok(m) = parse(msg) {
            pairer.message((i % 3) as u8, Timestamp(i * 300), m, &mut out);
            assert!(pairer.pending() <= 4);
        }
        pairer.expire(Timestamp(i * 300), &mut out);
        rest = tail;
        i += 1;
    }
    pairer.drain(&mut out);
    assert_eq!(pairer.pending(), 0);
});
