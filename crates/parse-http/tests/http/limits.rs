//! Bounded memory and failing fast on what is not HTTP.

use podwire_http::HttpConfig;
use podwire_parse::Status;

use crate::util::{run, summary, Conv};

#[test]
fn over_long_head_fails_the_connection() {
    let config = HttpConfig {
        max_head_bytes: 64,
        ..HttpConfig::default()
    };
    let long = format!("X-Filler: {}\r\n", "a".repeat(100));
    let conv = Conv::new()
        .client(1, b"GET /ok HTTP/1.1\r\n\r\n")
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .client(3, b"GET /big HTTP/1.1\r\n")
        .client(3, long.as_bytes());
    let run = run(&config, &conv.steps);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.stats.heads_too_long, 1);
    assert_eq!(summary(&run.events), [("GET", "/ok", Some(200))]);
}

#[test]
fn over_long_head_in_one_segment_fails_too() {
    let config = HttpConfig {
        max_head_bytes: 64,
        ..HttpConfig::default()
    };
    let head = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(100));
    let run = run(&config, &Conv::new().client(1, head.as_bytes()).steps);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.stats.heads_too_long, 1);
}

#[test]
fn first_client_bytes_that_are_not_a_request_fail() {
    let run = Conv::new()
        .client(1, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .run();
    assert_eq!(run.status, Status::Failed);
    assert!(run.events.is_empty());
    let run = Conv::new().client(1, b"SSH-2.0-OpenSSH_9.2\r\n").run();
    assert_eq!(run.status, Status::Failed);
}

#[test]
fn garbage_later_fails_after_emitting_what_was_seen() {
    let run = Conv::new()
        .client(
            1,
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .server(3, b"\x00\x01garbage\r\n\r\n")
        .run();
    assert_eq!(run.status, Status::Failed);
    assert_eq!(
        summary(&run.events),
        [("GET", "/a", Some(200)), ("GET", "/b", None)]
    );
    assert_eq!(run.stats.malformed, 1);
}

#[test]
fn broken_chunk_framing_fails() {
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        )
        .run();
    assert_eq!(run.status, Status::Failed);
    assert_eq!(summary(&run.events), [("GET", "/a", Some(200))]);
    let huge = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
        )
        .run();
    assert_eq!(huge.status, Status::Failed);
}

#[test]
fn request_with_unframeable_body_is_recorded_and_what_follows_skipped() {
    // RFC 9112 6.3: the server answers 400 and closes; the client's bytes
    // after the head cannot be framed.
    let run = Conv::new()
        .client(
            1,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00",
        )
        .server(2, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(summary(&run.events), [("POST", "/", Some(400))]);
    assert_eq!(run.stats.malformed, 1);
}

#[test]
fn too_many_pipelined_requests_emit_the_oldest_unanswered() {
    let config = HttpConfig {
        max_pending_requests: 2,
        ..HttpConfig::default()
    };
    let conv = Conv::new()
        .client(
            1,
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        )
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let run = run(&config, &conv.steps);
    assert_eq!(run.stats.pending_overflows, 1);
    // The response then pairs with /2: the bound trades exactness for memory.
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "/1", None),
            ("GET", "/2", Some(200)),
            ("GET", "/3", None)
        ]
    );
}
