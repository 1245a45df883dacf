//! Inputs no conforming peer sends: the parser must neither panic nor
//! report what was not there.

use podwire_http2::{Http2Config, Http2Parser, PREFACE};
use podwire_parse::StreamParser;
use podwire_record::Timestamp;

use crate::util::{connection, run, run_mid_stream, Step, ToClient, ToServer};

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn truncated_connections_are_fine_at_every_length() {
    let steps = connection("grpc_calls");
    let bytes: Vec<(bool, Vec<u8>)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Data(d, _, b) => Some((*d == ToServer, b.clone())),
            _ => None,
        })
        .collect();
    let total: usize = bytes.iter().map(|(_, b)| b.len()).sum();
    for keep in (0..total).step_by(37) {
        let mut left = keep;
        let mut cut = Vec::new();
        for (client, b) in &bytes {
            let n = left.min(b.len());
            left -= n;
            let dir = if *client { ToServer } else { ToClient };
            cut.push(Step::Data(dir, Timestamp(1), b[..n].to_vec()));
        }
        let run = run(&cut);
        assert!(run.events.len() <= 6);
    }
}

#[test]
fn random_bytes_and_flipped_bits_never_panic() {
    let steps = connection("grpc_calls");
    let mut rng = Lcg(7);
    for round in 0..300 {
        let mut mutated = steps.clone();
        for _ in 0..(1 + rng.next() % 8) {
            let i = (rng.next() as usize) % mutated.len();
            if let Step::Data(_, _, b) = &mut mutated[i] {
                if !b.is_empty() {
                    let at = (rng.next() as usize) % b.len();
                    b[at] ^= 1 << (rng.next() % 8);
                }
            }
        }
        let a = run(&mutated);
        let b = run_mid_stream(&mutated);
        for e in a.events.iter().chain(&b.events) {
            assert_eq!(e.http.version, "2", "round {round}");
            assert!(e.http.stream_id.is_some());
        }
    }
    for round in 0..200 {
        let len = (rng.next() % 3000) as usize;
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut client = PREFACE.to_vec();
        client.extend_from_slice(&garbage);
        for steps in [
            vec![Step::Data(ToServer, Timestamp(1), client)],
            vec![Step::Data(ToClient, Timestamp(1), garbage.clone())],
        ] {
            run(&steps);
            let r = run_mid_stream(&steps);
            assert!(r.events.is_empty(), "round {round}: {:?}", r.events);
        }
    }
}

#[test]
fn endless_garbage_while_resyncing_gives_up() {
    let config = Http2Config {
        max_resync_bytes: 10_000,
        ..Default::default()
    };
    let mut parser = Http2Parser::mid_stream(&config);
    let mut out = Vec::new();
    let chunk = [0xffu8; 1000];
    let mut status = podwire_parse::Status::Continue;
    for _ in 0..20 {
        status = parser.data(ToClient, Timestamp(1), &chunk, &mut out);
    }
    assert_eq!(status, podwire_parse::Status::Failed);
}

#[test]
fn gaps_of_any_size_anywhere_never_panic() {
    let steps = connection("nghttp_padding_continuation");
    let mut rng = Lcg(11);
    for _ in 0..100 {
        let mut cut = steps.clone();
        for _ in 0..3 {
            let i = (rng.next() as usize) % cut.len();
            let dir = if rng.next() & 1 == 0 {
                ToServer
            } else {
                ToClient
            };
            cut.insert(i, Step::Gap(dir, rng.next() % 40000));
        }
        let r = run(&cut);
        for e in &r.events {
            assert!(e.http.stream_id.is_some());
        }
    }
}
