//! Where segments split a stream must not change what comes out.

use podwire_http::{HeaderCapture, HttpConfig};

use crate::util::{bytewise, fixture, run, Conv};

const FIXTURES: [&str; 7] = [
    "keepalive",
    "head",
    "expect",
    "chunked_upload",
    "not_modified",
    "http10_close",
    "pipelined",
];

#[test]
fn byte_by_byte_feeding_gives_identical_events() {
    let config = HttpConfig {
        headers: HeaderCapture::All,
        ..HttpConfig::default()
    };
    for name in FIXTURES {
        let steps = fixture(name);
        let whole = run(&config, &steps);
        let bytes = run(&config, &bytewise(&steps));
        assert_eq!(bytes.events, whole.events, "{name}");
        assert_eq!(bytes.status, whole.status, "{name}");
    }
}

#[test]
fn byte_by_byte_chunked_with_extensions_and_trailers() {
    let conv = Conv::new()
        .client(
            1,
            b"POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .client(
            1,
            b"3;name=value;quoted=\"a;b\"\r\nabc\r\n10 \r\n0123456789abcdef\r\n",
        )
        .client(1, b"0;last\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        );
    let whole = conv.run();
    assert_eq!(whole.events.len(), 1);
    assert_eq!(whole.events[0].http.request_body_bytes, 19);
    assert_eq!(whole.events[0].http.response_body_bytes, Some(5));
    let bytes = run(&HttpConfig::default(), &bytewise(&conv.steps));
    assert_eq!(bytes.events, whole.events);
}

#[test]
fn head_split_across_segments_keeps_its_first_segment_time() {
    let run = Conv::new()
        .client(10, b"GET /split HT")
        .client(11, b"TP/1.1\r\nHost: h\r")
        .client(12, b"\n\r\n")
        .server(15, b"HTTP/1.1 204 No Content\r\n\r\n")
        .run();
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].ts, crate::util::ms(10));
    assert_eq!(run.events[0].http.latency_ms, Some(5.0));
}
