//! Real exchanges (nginx and curl on loopback, see `tests/data/README.md`),
//! checked against what tshark's HTTP dissector reports for the same capture.

use podwire_parse::Status;

use crate::util::{fixture, response_bodies, run, summary};
use podwire_http::HttpConfig;

const HOST: &str = "127.0.0.1:18781";

fn assert_latency(got: Option<f64>, want_ms: f64) {
    let got = got.expect("a latency");
    assert!(
        (got - want_ms).abs() < 1e-6,
        "latency {got} ms, want {want_ms} ms"
    );
}

#[test]
fn keep_alive_connection_yields_one_record_per_request() {
    let run = run(&HttpConfig::default(), &fixture("keepalive"));
    assert_eq!(run.status, Status::Continue);
    // tshark: method, uri, response code.
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "/index.html", Some(200)),
            ("GET", "/ssi/page.html", Some(200)),
            ("GET", "/nope", Some(404)),
            ("GET", "/gz/big.txt", Some(200)),
            ("GET", "/big.txt", Some(200)),
        ]
    );
    // tshark: http.content_length, or the sum of http.chunk_size (20; 21430).
    assert_eq!(
        response_bodies(&run.events),
        [Some(40), Some(20), Some(153), Some(21430), Some(40000)]
    );
    for e in &run.events {
        assert_eq!(e.http.host.as_deref(), Some(HOST));
        assert_eq!(e.http.version, "HTTP/1.1");
        assert_eq!(e.http.request_body_bytes, 0);
        assert_eq!(e.http.request_headers, None);
        assert_eq!(e.http.response_headers, None);
    }
    // tshark's http.time, for responses whose head and end share a segment
    // (tshark times a response by its last segment, podwire by its first).
    assert_latency(run.events[0].http.latency_ms, 3.105);
    assert_latency(run.events[1].http.latency_ms, 0.206);
    assert_latency(run.events[2].http.latency_ms, 0.089);
    assert_latency(run.events[3].http.latency_ms, 1.107);
    // /big.txt spans two segments: tshark says 0.221 ms, to the second.
    assert_latency(run.events[4].http.latency_ms, 0.134);
    // Every record was out before the connection ended.
    assert_eq!(run.before_finish, 5);
}

#[test]
fn head_responses_announce_a_length_but_carry_no_body() {
    let run = run(&HttpConfig::default(), &fixture("head"));
    assert_eq!(
        summary(&run.events),
        [
            ("HEAD", "/index.html", Some(200)),
            ("HEAD", "/big.txt", Some(200))
        ]
    );
    // tshark reports Content-Length 40 and 40000: not bytes on the wire.
    assert_eq!(response_bodies(&run.events), [Some(0), Some(0)]);
    assert_latency(run.events[0].http.latency_ms, 0.137);
    assert_latency(run.events[1].http.latency_ms, 0.075);
    assert_eq!(run.before_finish, 2);
}

#[test]
fn expect_100_continue_is_interim_and_the_body_follows() {
    let run = run(&HttpConfig::default(), &fixture("expect"));
    // tshark lists the 100 as a response of its own; it answers nothing.
    assert_eq!(summary(&run.events), [("POST", "/upload", Some(201))]);
    let http = &run.events[0].http;
    assert_eq!(http.request_body_bytes, 3000);
    assert_eq!(http.response_body_bytes, Some(7));
    // From the request head's segment to the final response's; tshark's
    // 0.332 ms starts at the body's segment instead.
    assert_latency(http.latency_ms, 0.456);
}

#[test]
fn chunked_request_body_counts_decoded_bytes() {
    let run = run(&HttpConfig::default(), &fixture("chunked_upload"));
    assert_eq!(summary(&run.events), [("POST", "/upload", Some(201))]);
    // tshark: http.chunk_size 3000, 0.
    assert_eq!(run.events[0].http.request_body_bytes, 3000);
    assert_eq!(run.events[0].http.response_body_bytes, Some(7));
    assert_latency(run.events[0].http.latency_ms, 0.246);
}

#[test]
fn not_modified_has_no_body() {
    let run = run(&HttpConfig::default(), &fixture("not_modified"));
    assert_eq!(summary(&run.events), [("GET", "/index.html", Some(304))]);
    assert_eq!(response_bodies(&run.events), [Some(0)]);
    assert_latency(run.events[0].http.latency_ms, 0.075);
    assert_eq!(run.before_finish, 1);
}

#[test]
fn close_delimited_response_ends_with_the_connection() {
    let run = run(&HttpConfig::default(), &fixture("http10_close"));
    assert_eq!(summary(&run.events), [("GET", "/ssi/page.html", Some(200))]);
    let http = &run.events[0].http;
    assert_eq!(http.version, "HTTP/1.0");
    // "start 127.0.0.1 end\n": no length on the wire, the close ends it.
    assert_eq!(http.response_body_bytes, Some(20));
    assert_eq!(run.before_finish, 0, "the body could go on until the close");
    // tshark's 0.145 ms runs to the segment that ended the body (the FIN).
    assert_latency(http.latency_ms, 0.097);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let run = run(&HttpConfig::default(), &fixture("pipelined"));
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "/index.html", Some(200)),
            ("GET", "/ssi/page.html", Some(200)),
            ("HEAD", "/big.txt", Some(200)),
            ("GET", "/missing", Some(404)),
        ]
    );
    // tshark agrees on the first two only: it reads the pipelined HEAD
    // response's Content-Length: 40000 as a body and swallows the 404.
    assert_eq!(
        response_bodies(&run.events),
        [Some(40), Some(23), Some(0), Some(153)]
    );
    assert!(run
        .events
        .iter()
        .all(|e| e.http.host.as_deref() == Some("podwire.test")));
    // All four requests share the client's one segment.
    assert!(run.events.iter().all(|e| e.ts == run.events[0].ts));
    assert_latency(run.events[0].http.latency_ms, 0.193);
}

#[test]
fn every_fixture_parses_without_anomalies() {
    for name in [
        "keepalive",
        "head",
        "expect",
        "chunked_upload",
        "not_modified",
        "http10_close",
        "pipelined",
    ] {
        let run = run(&HttpConfig::default(), &fixture(name));
        assert_eq!(run.stats, Default::default(), "{name}");
        assert_eq!(run.status, podwire_parse::Status::Continue, "{name}");
    }
}
