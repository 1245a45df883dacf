//! How messages end (RFC 9112 section 6), one rule per test.

use podwire_parse::Status;

use crate::util::{response_bodies, summary, Conv};

#[test]
fn chunked_response_with_extensions_and_trailers_keeps_the_connection_in_sync() {
    let run = Conv::new()
        .client(
            1,
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
        )
        .server(
            2,
            b"4;ext=1\r\nwiki\r\n5 ; a = \"b\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n",
        )
        .server(2, b"0\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n")
        .server(3, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .run();
    assert_eq!(
        summary(&run.events),
        [("GET", "/a", Some(200)), ("GET", "/b", Some(200))]
    );
    // "wiki" + "pedia" + " in\r\n\r\nchunks." (14 bytes: CRLFs inside data count).
    assert_eq!(response_bodies(&run.events), [Some(23), Some(2)]);
    assert_eq!(run.before_finish, 2);
}

#[test]
fn switching_protocols_emits_and_is_done() {
    let run = Conv::new()
        .client(1, b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        .server(2, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
        .client(3, b"\x81\x85\x00\x00\x00\x00hello")
        .run();
    assert_eq!(run.status, Status::Done);
    assert_eq!(summary(&run.events), [("GET", "/ws", Some(101))]);
    assert_eq!(run.events[0].http.response_body_bytes, Some(0));
    assert_eq!(run.before_finish, 1);
}

#[test]
fn connect_answered_2xx_is_a_tunnel() {
    let run = Conv::new()
        .client(
            1,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        )
        .server(2, b"HTTP/1.1 200 Connection established\r\n\r\n")
        .client(3, b"\x16\x03\x01\x00\xc8\x01")
        .run();
    assert_eq!(run.status, Status::Done);
    assert_eq!(
        summary(&run.events),
        [("CONNECT", "example.com:443", Some(200))]
    );
}

#[test]
fn refused_connect_lets_the_client_carry_on() {
    let run = Conv::new()
        .client(
            1,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        )
        .server(
            2,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        )
        .client(
            3,
            b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        )
        .server(4, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(
        summary(&run.events),
        [
            ("CONNECT", "example.com:443", Some(407)),
            ("GET", "http://example.com/", Some(200))
        ]
    );
}

#[test]
fn early_hints_do_not_answer_the_request() {
    let run = Conv::new()
        .client(1, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        )
        .server(5, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        .run();
    assert_eq!(summary(&run.events), [("GET", "/", Some(200))]);
    assert_eq!(
        run.events[0].http.latency_ms,
        Some(4.0),
        "timed to the final response"
    );
}

#[test]
fn no_content_and_not_modified_have_no_body_even_with_a_length() {
    let run = Conv::new()
        .client(
            1,
            b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .server(2, b"HTTP/1.1 204 No Content\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\n\r\n",
        )
        .run();
    assert_eq!(
        summary(&run.events),
        [("DELETE", "/x", Some(204)), ("GET", "/y", Some(304))]
    );
    assert_eq!(response_bodies(&run.events), [Some(0), Some(0)]);
    assert_eq!(run.before_finish, 2);
}

#[test]
fn unknown_transfer_coding_reads_the_response_until_close() {
    let run = Conv::new()
        .client(1, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n0123456789",
        )
        .server(3, b"01234")
        .run();
    assert_eq!(run.before_finish, 0);
    assert_eq!(response_bodies(&run.events), [Some(15)]);
}

#[test]
fn request_without_response_has_no_status_at_finish() {
    let run = Conv::new()
        .client(
            1,
            b"POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
        )
        .run();
    assert_eq!(run.before_finish, 0);
    assert_eq!(summary(&run.events), [("POST", "/slow", None)]);
    let http = &run.events[0].http;
    assert_eq!(
        (
            http.latency_ms,
            http.response_body_bytes,
            http.request_body_bytes
        ),
        (None, None, 4)
    );
}

#[test]
fn response_without_request_is_emitted_alone() {
    // The capture began after the client's request.
    let run = Conv::new()
        .server(1, b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        .client(2, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(3, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [("-", "-", Some(200)), ("GET", "/next", Some(404))]
    );
    assert_eq!(run.stats.orphan_responses, 1);
    let alone = &run.events[0];
    assert_eq!(alone.ts, crate::util::ms(1));
    assert_eq!(alone.http.host, None);
    assert_eq!(alone.http.version, "HTTP/1.0");
    assert_eq!(alone.http.latency_ms, None);
    assert_eq!(alone.http.response_body_bytes, Some(5));
}

#[test]
fn request_body_and_response_may_interleave() {
    // The server answers before the upload is over; the record waits for both.
    let run = Conv::new()
        .client(
            1,
            b"PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234",
        )
        .server(
            2,
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n",
        )
        .client(3, b"56789")
        .run();
    assert_eq!(run.before_finish, 1);
    assert_eq!(summary(&run.events), [("PUT", "/big", Some(413))]);
    assert_eq!(run.events[0].http.request_body_bytes, 10);
}

#[test]
fn record_fields_are_taken_as_sent() {
    let run = Conv::new()
        .client(1, b"OPTIONS * HTTP/1.0\r\nHOST: Example.COM:8080\r\n\r\n")
        .client(1, b"GET /a%20b?q=1&r=%C3%A9#frag HTTP/1.1\r\n\r\n")
        .server(2, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run();
    let [a, b] = &run.events[..] else {
        panic!("two events: {:?}", run.events)
    };
    assert_eq!(
        (a.http.path.as_deref(), a.http.version.as_ref()),
        (Some("*"), "HTTP/1.0")
    );
    assert_eq!(a.http.host.as_deref(), Some("Example.COM:8080"));
    assert_eq!(b.http.path.as_deref(), Some("/a%20b?q=1&r=%C3%A9#frag"));
    assert_eq!(b.http.host, None);
}
