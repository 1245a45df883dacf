//! Fuzzes podwire-tls: a TlsParser over two arbitrary byte streams, cut and
//! interleaved at arbitrary points, with gaps.
//!
//! Input layout: byte 0 seeds split points, directions and gaps; byte 1 picks
//! the handshake buffer limit (small values exercise the over-limit path);
//! bytes 2..4 are a big-endian length `n`: the next `n` bytes (clamped) are
//! the client's stream, the rest the server's. A good seed corpus is each
//! fixture of `crates/parse-tls/tests/data` laid out that way:
//! `[seed, 0xff, len(client) as u16 BE] ++ client.bin ++ server.bin`.
//!
//! Checked: no panic, at most one event per connection, and a settled
//! connection stays settled.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::Timestamp;
use podwire_tls::{looks_like_tls, TlsConfig, TlsParser};

fuzz_target!(|data: &[u8]| {
    let [seed, limit, len_hi, len_lo, payload @ ..] = data else {
        return;
    };
    let client_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo])).min(payload.len());
    let (mut client, mut server) = payload.split_at(client_len);
    let _ = looks_like_tls(client);

    let max_handshake_bytes = if *limit == 0xff {
        64 * 1024
    } else {
        usize::from(*limit) * 16
    };
    let mut parser = TlsParser::new(&TlsConfig {
        max_handshake_bytes,
    });
    let mut events = Vec::new();
    let mut settled: Option<Status> = None;
    let mut state = u32::from(*seed) | 1;
    let mut ts = 0u64;
    while !client.is_empty() || !server.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let to_server = server.is_empty() || (!client.is_empty() && state & 0x100 == 0);
        let (dir, rest) = if to_server {
            (Direction::ToServer, &mut client)
        } else {
            (Direction::ToClient, &mut server)
        };
        let n = (1 + (state >> 16) as usize % 257).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        *rest = tail;
        ts += u64::from(state >> 24) * 10;
        let status = if state & 0x7000 == 0 {
            parser.gap(dir, Timestamp(ts), n as u64, &mut events)
        } else {
            parser.data(dir, Timestamp(ts), piece, &mut events)
        };
        if let Some(before) = settled {
            assert_eq!(status, before, "a settled connection changed its mind");
        } else if status != Status::Continue {
            settled = Some(status);
        }
        assert!(events.len() <= 1, "more than one event for one connection");
    }
    parser.finish(Timestamp(ts), &mut events);
    parser.finish(Timestamp(ts), &mut events);
    assert!(events.len() <= 1, "more than one event for one connection");
});
