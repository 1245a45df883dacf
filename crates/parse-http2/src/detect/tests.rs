//! Detection against HTTP/2's own starts and other protocols' first bytes.

use super::*;
use podwire_parse::Direction::{ToClient, ToServer};

/// A server's first SETTINGS (nghttpd's) and a WINDOW_UPDATE.
const SERVER_START: &[u8] = &[
    0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100, //
    0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0x0f, 0, 1,
];

#[test]
fn the_preface_and_its_prefixes_are_http2() {
    assert!(looks_like_http2(ToServer, PREFACE));
    assert!(looks_like_http2(ToServer, b"PRI "));
    assert!(looks_like_http2(ToServer, b"PRI * HTTP/2.0\r\n"));
    assert!(!looks_like_http2(ToServer, b"PRI"));
    assert!(!looks_like_http2(ToClient, PREFACE));
    assert!(!looks_like_http2(ToServer, b"PRI * HTTP/1.1\r\n\r\n"));
}

#[test]
fn plausible_frames_are_http2_either_way() {
    assert!(looks_like_http2(ToClient, SERVER_START));
    assert!(looks_like_http2(ToServer, SERVER_START));
    // A HEADERS frame alone, ending with the segment.
    let mut headers = vec![0, 0, 3, 1, 5, 0, 0, 0, 3, 0x82, 0x86, 0x84];
    assert!(looks_like_http2(ToServer, &headers));
    // ... but not with a trailing byte that cannot start a frame.
    headers.extend_from_slice(&[0xff; 9]);
    assert!(!looks_like_http2(ToServer, &headers));
    // A short segment cut inside a long frame is not taken.
    assert!(!looks_like_http2(
        ToClient,
        &[0, 0x10, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3]
    ));
    let mut big = vec![0, 0x10, 0, 0, 0, 0, 0, 0, 1];
    big.resize(1448, 0x41);
    assert!(looks_like_http2(ToClient, &big));
}

#[test]
fn tls_and_http1_are_not_http2() {
    for first in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x11\x22"[..],
        b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"POST /x HTTP/1.1\r\n",
    ] {
        assert!(!looks_like_http2(ToServer, first), "{first:?}");
        assert!(!looks_like_http2(ToClient, first), "{first:?}");
    }
}

#[test]
fn no_dns_over_tcp_query_or_answer_is_http2() {
    let mut query = vec![0, 29, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    let mut answer = query.clone();
    answer[4] = 0x81;
    answer[5] = 0x80;
    for id in 0..=u16::MAX {
        for msg in [&mut query, &mut answer] {
            msg[2..4].copy_from_slice(&id.to_be_bytes());
            assert!(!looks_like_http2(ToServer, msg), "id {id}");
            assert!(!looks_like_http2(ToClient, msg), "id {id}");
        }
    }
}

#[test]
fn postgres_redis_mysql_and_kafka_are_not_http2() {
    let mut startup = vec![0, 0, 0, 0, 0, 3, 0, 0];
    startup.extend_from_slice(b"user\0postgres\0database\0app\0\0");
    startup[3] = startup.len() as u8;
    let mut mysql_greeting = vec![0x4a, 0, 0, 0, 0x0a];
    mysql_greeting.extend_from_slice(b"8.0.36\0\x08\0\0\0abcdefgh\0\xff\xff\xff\x02\0");
    for first in [
        &startup[..],
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
        b"N",
        b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x16",
        b"*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n",
        b"-ERR unknown command\r\n",
        &mysql_greeting,
        b"\x21\x00\x00\x00\x03select @@version_comment limit 1",
        b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00",
    ] {
        assert!(!looks_like_http2(ToServer, first), "{first:?}");
        assert!(!looks_like_http2(ToClient, first), "{first:?}");
    }
    // Kafka requests (size, api key, version, correlation id, client id)
    // and responses (size, correlation id), whatever their sizes and ids.
    for size in 10u32..600 {
        for key in [0u16, 1, 3, 9, 18, 19] {
            for corr in [0u32, 1, 7, 0x0100, 0x1234_5678] {
                let mut req = size.to_be_bytes().to_vec();
                req.extend_from_slice(&key.to_be_bytes());
                req.extend_from_slice(&[0, 3]);
                req.extend_from_slice(&corr.to_be_bytes());
                req.extend_from_slice(b"\x00\x0cadminclient-1\x00");
                req.resize(size as usize + 4, 0);
                let mut resp = size.to_be_bytes().to_vec();
                resp.extend_from_slice(&corr.to_be_bytes());
                resp.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 0]);
                resp.resize(size as usize + 4, 0);
                for msg in [&req, &resp] {
                    assert!(!looks_like_http2(ToServer, msg), "{size} {key} {corr}");
                    assert!(!looks_like_http2(ToClient, msg), "{size} {key} {corr}");
                }
            }
        }
    }
}

#[test]
fn boundaries_are_found_after_a_partial_frame() {
    let mut seg = vec![0xaa; 20];
    seg.extend_from_slice(SERVER_START);
    assert_eq!(find_boundary(&seg, 16384), Some(20));
    assert_eq!(find_boundary(SERVER_START, 16384), Some(0));
    assert_eq!(find_boundary(&[0xaa; 100], 16384), None);
    assert_eq!(find_boundary(&[], 16384), None);
}

/// Segment `n` (in file order) of a fixture in `tests/data`.
fn fixture_segment(text: &str, n: usize) -> (Direction, Vec<u8>) {
    let segs = podwire_parse::fixture::parse(text).unwrap();
    (segs[n].dir, segs[n].bytes.clone())
}

const CURL: &str = include_str!("../../tests/data/curl_prior_knowledge.txt");
const NGHTTP: &str = include_str!("../../tests/data/nghttp_concurrent.txt");
const GRPC: &str = include_str!("../../tests/data/grpc_calls.txt");

#[test]
fn frames_that_show_their_sender() {
    // curl's request HEADERS (`:method GET` by static index 2).
    let (dir, b) = fixture_segment(CURL, 2);
    assert_eq!((dir, sent_by(&b)), (ToServer, Some(ToServer)));
    // nghttpd's SETTINGS ack, then a padded response HEADERS (`:status
    // 200`, index 8) and DATA.
    let (dir, b) = fixture_segment(CURL, 4);
    assert_eq!((dir, sent_by(&b)), (ToClient, Some(ToClient)));
    // nghttpd's PUSH_PROMISE and the pushed responses.
    let (dir, b) = fixture_segment(NGHTTP, 2);
    assert_eq!((dir, sent_by(&b)), (ToClient, Some(ToClient)));
    // A gRPC server's response HEADERS.
    let (dir, b) = fixture_segment(GRPC, 6);
    assert_eq!((dir, sent_by(&b)), (ToClient, Some(ToClient)));
}

#[test]
fn frames_that_do_not_tell_or_disagree() {
    // SETTINGS, WINDOW_UPDATE, PING: either side.
    assert_eq!(sent_by(SERVER_START), None);
    let (_, b) = fixture_segment(GRPC, 4);
    assert_eq!(sent_by(&b), None);
    // grpcio's request starts with `:path` as a new literal name, the next
    // one with dynamic-table entries: neither names its sender.
    let (_, b) = fixture_segment(GRPC, 3);
    assert_eq!(sent_by(&b), None);
    let (_, b) = fixture_segment(GRPC, 8);
    assert_eq!(sent_by(&b), None);
    // A request and a response in one buffer.
    let (_, mut b) = fixture_segment(CURL, 2);
    b.extend(fixture_segment(CURL, 4).1);
    assert_eq!(sent_by(&b), None);
    assert_eq!(sent_by(b""), None);
    assert_eq!(sent_by(b"GET / HTTP/1.1\r\n\r\n"), None);
}
