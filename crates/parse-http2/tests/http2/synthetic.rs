//! One protocol feature each, on frames built by hand (RFC 9113 section 6).

use podwire_http2::{HeaderCapture, Http2Config, Http2Parser, PREFACE, REDACTED};
use podwire_parse::Status;

use crate::util::{frame, ms, row, run, run_parser, summary, Step, ToClient, ToServer};

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const PADDED: u8 = 8;
const PRIORITY_FLAG: u8 = 0x20;

/// `GET /` for www.example.com, the first block of RFC 7541 C.3.
const GET_ROOT: &[u8] = b"\x82\x86\x84\x41\x0fwww.example.com";
/// The same request once `:authority` is in the table (C.3.2, no
/// cache-control): `:authority` is dynamic index 62.
const GET_ROOT_AGAIN: &[u8] = b"\x82\x86\x84\xbe";
/// `:status: 200`.
const OK: &[u8] = b"\x88";

fn client_start() -> Vec<u8> {
    let mut b = PREFACE.to_vec();
    b.extend(frame(SETTINGS, 0, 0, &[]));
    b
}

fn c(at: u64, bytes: Vec<u8>) -> Step {
    Step::Data(ToServer, ms(at), bytes)
}

fn s(at: u64, bytes: Vec<u8>) -> Step {
    Step::Data(ToClient, ms(at), bytes)
}

fn get(stream: u32, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, END_HEADERS | END_STREAM, stream, block)
}

fn ok(stream: u32, body: &[u8]) -> Vec<u8> {
    let mut b = frame(HEADERS, END_HEADERS, stream, OK);
    b.extend(frame(DATA, END_STREAM, stream, body));
    b
}

#[test]
fn an_exchange_is_emitted_when_both_sides_end_it() {
    let steps = [
        c(1, [client_start(), get(1, GET_ROOT)].concat()),
        s(2, [frame(SETTINGS, 0, 0, &[]), ok(1, b"hello")].concat()),
    ];
    let mut parser = Http2Parser::new(&Http2Config::default());
    let mut out = Vec::new();
    for step in &steps {
        let Step::Data(dir, ts, b) = step else {
            unreachable!()
        };
        assert_eq!(
            podwire_parse::StreamParser::data(&mut parser, *dir, *ts, b, &mut out),
            Status::Continue
        );
    }
    assert_eq!(summary(&out), [row(1, "GET", "/", 200)]);
    let http = &out[0].http;
    assert_eq!(http.host.as_deref(), Some("www.example.com"));
    assert_eq!(http.response_body_bytes, Some(5));
    assert_eq!(http.latency_ms, Some(1.0));
    assert_eq!(out[0].ts, ms(1));
}

#[test]
fn the_dynamic_table_carries_over_between_requests() {
    let run = run(&[
        c(
            1,
            [client_start(), get(1, GET_ROOT), get(3, GET_ROOT_AGAIN)].concat(),
        ),
        s(2, [ok(1, b""), ok(3, b"")].concat()),
    ]);
    assert_eq!(run.stream(3).http.host.as_deref(), Some("www.example.com"));
}

#[test]
fn rst_stream_emits_the_stream_as_seen() {
    let run = run(&[
        c(1, [client_start(), get(1, GET_ROOT)].concat()),
        s(2, frame(RST_STREAM, 0, 1, &[0, 0, 0, 8])),
    ]);
    assert_eq!(summary(&run.events), [row(1, "GET", "/", 0)]);
    assert_eq!(run.events[0].http.response_body_bytes, None);
    assert_eq!(run.stats.resets, 1);
}

#[test]
fn goaway_emits_the_streams_it_refuses() {
    let mut parser = Http2Parser::new(&Http2Config::default());
    let mut out = Vec::new();
    let steps = [
        c(
            1,
            [
                client_start(),
                get(1, GET_ROOT),
                get(3, GET_ROOT_AGAIN),
                get(5, GET_ROOT_AGAIN),
            ]
            .concat(),
        ),
        s(
            2,
            [
                frame(HEADERS, END_HEADERS, 1, OK),
                frame(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]),
            ]
            .concat(),
        ),
    ];
    for step in &steps {
        let Step::Data(dir, ts, b) = step else {
            unreachable!()
        };
        podwire_parse::StreamParser::data(&mut parser, *dir, *ts, b, &mut out);
    }
    assert_eq!(
        summary(&out),
        [row(3, "GET", "/", 0), row(5, "GET", "/", 0)]
    );
    assert_eq!(parser.stats().goaways, 1);
}

#[test]
fn a_header_block_split_across_continuation_frames() {
    let block = [GET_ROOT, b"\x40\x03foo\x03bar"].concat();
    for cut in 1..block.len() {
        let (a, rest) = block.split_at(cut);
        let (b, d) = rest.split_at(rest.len() / 2);
        let mut bytes = client_start();
        bytes.extend(frame(HEADERS, END_STREAM, 1, a));
        bytes.extend(frame(CONTINUATION, 0, 1, b));
        bytes.extend(frame(CONTINUATION, END_HEADERS, 1, d));
        let run = run(&[c(1, bytes), s(2, ok(1, b""))]);
        assert_eq!(
            summary(&run.events),
            [row(1, "GET", "/", 200)],
            "cut at {cut}"
        );
    }
}

#[test]
fn padding_and_priority_fields_are_skipped() {
    let mut headers = vec![3u8]; // pad length
    headers.extend_from_slice(&[0x80, 0, 0, 0, 15]); // exclusive dependency on 0, weight
    headers.extend_from_slice(GET_ROOT);
    headers.extend_from_slice(&[0, 0, 0]);
    let mut data = vec![10u8];
    data.extend_from_slice(b"body");
    data.extend_from_slice(&[0; 10]);
    let run = run(&[
        c(
            1,
            [
                client_start(),
                frame(HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 1, &headers),
            ]
            .concat(),
        ),
        c(2, frame(DATA, END_STREAM | PADDED, 1, &data)),
        s(3, ok(1, b"")),
    ]);
    assert_eq!(summary(&run.events), [row(1, "GET", "/", 200)]);
    assert_eq!(run.events[0].http.request_body_bytes, 4);
}

#[test]
fn control_and_unknown_frames_are_passed_over() {
    let mut bytes = client_start();
    bytes.extend(frame(PING, 0, 0, &[1; 8]));
    bytes.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    bytes.extend(frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 16]));
    bytes.extend(frame(0x10, 0, 1, b"priority-update-ish"));
    bytes.extend(frame(0xa, 0, 0, b"\x00\x00altsvc"));
    bytes.extend(get(1, GET_ROOT));
    let run = run(&[c(1, bytes), s(2, ok(1, b"x"))]);
    assert_eq!(summary(&run.events), [row(1, "GET", "/", 200)]);
    assert_eq!(run.stats.frames_malformed, 0);
}

#[test]
fn interim_responses_start_the_latency_and_the_final_one_sets_the_status() {
    let run = run(&[
        c(1, [client_start(), get(1, GET_ROOT)].concat()),
        // :status 100 as a literal with indexed name 8.
        s(3, frame(HEADERS, END_HEADERS, 1, b"\x08\x03100")),
        s(7, ok(1, b"")),
    ]);
    assert_eq!(summary(&run.events), [row(1, "GET", "/", 200)]);
    assert_eq!(run.events[0].http.latency_ms, Some(2.0));
}

#[test]
fn the_oldest_stream_goes_when_too_many_are_open() {
    let config = Http2Config {
        max_streams: 2,
        ..Default::default()
    };
    let run = run_parser(
        Http2Parser::new(&config),
        &[c(
            1,
            [
                client_start(),
                get(1, GET_ROOT),
                get(3, GET_ROOT_AGAIN),
                get(5, GET_ROOT_AGAIN),
            ]
            .concat(),
        )],
    );
    assert_eq!(run.stats.streams_evicted, 1);
    assert_eq!(run.events.len(), 3);
    assert_eq!(run.events[0].http.stream_id, Some(1));
}

#[test]
fn headers_follow_podwire_http_rules() {
    let block = [GET_ROOT, b"\x40\x06cookie\x03s=1\x40\x01x\x01y"].concat();
    let steps = [
        c(1, [client_start(), get(1, &block)].concat()),
        s(2, ok(1, b"")),
    ];
    let capture = |headers| {
        let config = Http2Config {
            headers,
            ..Default::default()
        };
        run_parser(Http2Parser::new(&config), &steps).events[0]
            .http
            .clone()
    };
    assert_eq!(capture(HeaderCapture::None).request_headers, None);
    let redacted = capture(HeaderCapture::Redacted).request_headers.unwrap();
    assert_eq!(
        redacted,
        [("cookie".into(), REDACTED.into()), ("x".into(), "y".into())]
    );
    let all = capture(HeaderCapture::All);
    assert_eq!(all.request_headers.unwrap()[0].1, "s=1");
    assert_eq!(all.response_headers, Some(vec![]));
}

#[test]
fn a_table_size_update_in_a_block_is_applied() {
    // The client's SETTINGS allow a 64-byte table; the server's encoder
    // says so (0x3f 0x21) and inserts an entry that fits.
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0, 64]));
    client.extend(get(1, GET_ROOT));
    client.extend(get(3, GET_ROOT_AGAIN));
    let run = run(&[
        c(1, client),
        s(2, frame(HEADERS, END_HEADERS, 1, b"\x3f\x21\x48\x03204")),
        s(3, frame(DATA, END_STREAM, 1, b"")),
        s(4, frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\xbe")),
    ]);
    assert_eq!(
        summary(&run.events),
        [row(1, "GET", "/", 204), row(3, "GET", "/", 204)]
    );
}

#[test]
fn a_client_without_the_preface_fails() {
    let run = run(&[c(1, b"GET / HTTP/1.1\r\n\r\n".to_vec())]);
    assert_eq!(run.status, Status::Failed);
    assert!(run.events.is_empty());
}

#[test]
fn finish_emits_what_is_pending_once() {
    let steps = [c(1, [client_start(), get(1, GET_ROOT)].concat())];
    let mut parser = Http2Parser::new(&Http2Config::default());
    let mut out = Vec::new();
    let Step::Data(dir, ts, b) = &steps[0] else {
        unreachable!()
    };
    podwire_parse::StreamParser::data(&mut parser, *dir, *ts, b, &mut out);
    podwire_parse::StreamParser::finish(&mut parser, ms(5), &mut out);
    podwire_parse::StreamParser::finish(&mut parser, ms(5), &mut out);
    assert_eq!(summary(&out), [row(1, "GET", "/", 0)]);
}
