//! Never panic, whatever arrives: truncations, corruptions, garbage.

use crate::util::{capture, CLIENT_TS, SERVER_TS};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_tls::{TlsConfig, TlsParser};

/// A tiny deterministic generator, so failures reproduce without a seed file.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Feeds both streams in random-sized pieces, interleaved at random, with
/// random gaps if asked, then finishes; returns the number of events.
fn drive(client: &[u8], server: &[u8], rng: &mut XorShift, limit: usize, gaps: bool) -> usize {
    let mut parser = TlsParser::new(&TlsConfig {
        max_handshake_bytes: limit,
    });
    let mut out = Vec::new();
    let (mut c, mut s) = (client, server);
    while !c.is_empty() || !s.is_empty() {
        let to_server = s.is_empty() || (!c.is_empty() && rng.below(2) == 0);
        let (dir, rest, ts) = if to_server {
            (Direction::ToServer, &mut c, CLIENT_TS)
        } else {
            (Direction::ToClient, &mut s, SERVER_TS)
        };
        let n = 1 + rng.below(rest.len().min(300));
        let (piece, tail) = rest.split_at(n);
        *rest = tail;
        let status = if gaps && rng.below(50) == 0 {
            parser.gap(dir, ts, n as u64, &mut out)
        } else {
            parser.data(dir, ts, piece, &mut out)
        };
        if status != Status::Continue {
            break;
        }
    }
    parser.finish(SERVER_TS, &mut out);
    assert!(out.len() <= 1, "at most one event per connection");
    out.len()
}

#[test]
fn every_truncation_of_every_fixture() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for name in ["tls12_cert", "tls13", "tls12_resumed", "hrr", "no_sni"] {
        let cap = capture(name);
        for cut in 0..cap.client.len() {
            drive(&cap.client[..cut], &cap.server, &mut rng, 64 * 1024, false);
        }
        for cut in 0..cap.server.len() {
            let events = drive(&cap.client, &cap.server[..cut], &mut rng, 64 * 1024, false);
            assert_eq!(events, 1, "{name}: server stream cut at {cut}");
        }
    }
}

#[test]
fn corrupted_fixtures() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for name in ["tls12_cert", "tls13", "tls12_resumed", "hrr", "no_sni"] {
        let cap = capture(name);
        for _ in 0..2000 {
            let (mut client, mut server) = (cap.client.clone(), cap.server.clone());
            for _ in 0..1 + rng.below(4) {
                let target = if rng.below(2) == 0 {
                    &mut client
                } else {
                    &mut server
                };
                let i = rng.below(target.len());
                target[i] = rng.next() as u8;
            }
            let limit = 1 + rng.below(4096);
            drive(&client, &server, &mut rng, limit, true);
        }
    }
}

#[test]
fn random_garbage_after_a_valid_record_header() {
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    for _ in 0..5000 {
        let mut client = vec![22, 3, 1];
        let mut server = vec![22, 3, 3];
        for stream in [&mut client, &mut server] {
            let len = rng.below(600);
            stream.extend((0..len).map(|_| rng.next() as u8));
        }
        drive(&client, &server, &mut rng, 64 * 1024, true);
    }
}
