//! Inputs no parser should trip on: cut anywhere, fed byte by byte,
//! garbage. None may panic, and none may yield a record that is not there.

use podwire_kafka::{KafkaConfig, KafkaParser};
use podwire_parse::Status;

use crate::util::*;

fn exchange() -> (Vec<u8>, Vec<u8>) {
    let produce = msg(&[
        &req_header(0, 3, 9, "p", false),
        &produce_v3_body(1, "t", &[(0, batch_v2(4, 300)), (2, batch_v2(1, 61))]),
    ]);
    let resp = msg(&[
        &resp_header(9, false),
        &produce_v3_response("t", &[(0, 0), (2, 0)]),
    ]);
    (produce, resp)
}

/// Cut into single bytes, a conversation reads the same.
#[test]
fn bytewise_feeding_reads_the_same() {
    let (req, resp) = exchange();
    let conv = Conv::new().client(0, &req).server(3, &resp);
    let whole = conv.run();
    let bytes = run(
        KafkaParser::new(&KafkaConfig::default()),
        &bytewise(&conv.steps),
    );
    assert_eq!(whole.events, bytes.events);
    assert_eq!(whole.events[0].body.records, Some(5));
}

/// A request cut at every point: a record only when the header was read,
/// marked truncated unless the request was whole; never a panic.
#[test]
fn truncated_input_at_every_point() {
    let (req, _) = exchange();
    for cut in 0..req.len() {
        let run = Conv::new().client(0, &req[..cut]).run();
        // Size (4) and header through the client id (2+2+4+2+1).
        if cut < 15 {
            assert!(run.events.is_empty(), "cut {cut}");
        } else {
            assert_eq!(run.events.len(), 1, "cut {cut}");
            assert!(run.events[0].body.truncated, "cut {cut}");
            assert_eq!(run.events[0].body.outcome, None);
        }
    }
}

/// Bytes that are not Kafka: the parser gives up, records nothing.
#[test]
fn garbage_fails_the_connection_without_records() {
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0xff; 40][..],
        &[0, 0, 0, 2, 0, 0][..],
    ] {
        let run = Conv::new().client(0, garbage).server(1, garbage).run();
        assert_eq!(run.status, Status::Failed, "{garbage:?}");
        assert!(run.events.is_empty());
    }
}

/// Pseudo-random bytes in random pieces with gaps, through every limit:
/// no panic, and every record has a known name or a bounded one.
#[test]
fn pseudo_random_input_never_panics() {
    let (req, resp) = exchange();
    let mut state = 0x2545_f491_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for round in 0..300 {
        let mut conv = Conv::new();
        for i in 0..20u64 {
            let r = next();
            let mut piece = if r & 1 == 0 {
                req.clone()
            } else {
                resp.clone()
            };
            // Flip a few bytes.
            for _ in 0..(r >> 1) % 4 {
                let at = next() as usize % piece.len();
                piece[at] = next() as u8;
            }
            let cut = next() as usize % piece.len();
            let piece = &piece[..cut];
            conv = match r >> 8 & 7 {
                0 => conv.gap(
                    if r & 2 == 0 { ToServer } else { ToClient },
                    u64::from(r >> 20),
                ),
                1..=4 => conv.client(i, piece),
                _ => conv.server(i, piece),
            };
        }
        let config = KafkaConfig {
            max_buffer_bytes: if round % 2 == 0 { 16 } else { 1 << 16 },
            max_pending_requests: 1 + round % 3,
            max_topics: round % 2,
            ..KafkaConfig::default()
        };
        let run = conv.run_with(&config);
        for e in &run.events {
            assert!(!e.body.operation.is_empty());
            if let Some(l) = e.body.latency_ms {
                assert!(l >= 0.0);
            }
        }
        let mid = run_mid(&conv);
        assert!(mid.events.iter().all(|e| e.body.request_bytes >= 12));
    }
}

fn run_mid(conv: &Conv) -> Run {
    conv.run_mid_stream()
}
