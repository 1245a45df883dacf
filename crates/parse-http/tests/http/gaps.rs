//! Bytes missing from the capture: stay in sync where lengths allow it,
//! otherwise resynchronise and never pair a response with the wrong request.

use crate::util::{response_bodies, summary, Conv, ToClient, ToServer};

#[test]
fn gap_inside_a_response_body_of_known_length_stays_in_sync() {
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .gap(ToClient, 980)
        .server(3, b"0123456789")
        .client(4, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(5, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .run();
    assert_eq!(
        summary(&run.events),
        [("GET", "/a", Some(200)), ("GET", "/b", Some(200))]
    );
    assert_eq!(response_bodies(&run.events), [Some(1000), Some(2)]);
    assert_eq!(run.stats.desyncs, 0);
}

#[test]
fn gap_inside_chunk_data_stays_in_sync() {
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc",
        )
        .gap(ToClient, 250)
        .server(3, b"xyz\r\n0\r\n\r\n")
        .run();
    assert_eq!(response_bodies(&run.events), [Some(256)]);
    assert_eq!(run.before_finish, 1);
    assert_eq!(run.stats.desyncs, 0);
}

#[test]
fn gap_inside_a_request_body_stays_in_sync() {
    let run = Conv::new()
        .client(
            1,
            b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .gap(ToServer, 90)
        .client(2, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(3, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        .server(4, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [("POST", "/up", Some(201)), ("GET", "/next", Some(200))]
    );
    assert_eq!(run.events[0].http.request_body_bytes, 100);
}

#[test]
fn gap_in_a_response_head_gives_up_on_that_response_and_resyncs() {
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(2, b"HTTP/1.1 200 OK\r\nContent-")
        .gap(ToClient, 40)
        .server(3, b"rest of /a's body, not a status line")
        .client(4, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(5, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [("GET", "/a", None), ("GET", "/b", Some(404))]
    );
    assert_eq!(run.stats.desyncs, 1);
    assert_eq!(run.before_finish, 2);
}

#[test]
fn gap_in_a_request_head_resyncs_at_the_next_request() {
    // Keep-alive: /lost's head is missing; its response has nobody to pair
    // with and is reported alone.
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .client(3, b"GET /lo")
        .gap(ToServer, 20)
        .client(3, b"ng tail of the lost head\r\n\r\n")
        .server(
            4,
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
        )
        .client(5, b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(6, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "/a", Some(200)),
            ("-", "-", Some(500)),
            ("GET", "/c", Some(200))
        ]
    );
    assert_eq!(run.stats.orphan_responses, 1);
}

#[test]
fn after_lost_pipelined_requests_later_ones_are_not_guessed() {
    // /b is lost while /a still waits: whether the next responses answer /b
    // or /c cannot be known, so /c gets no status rather than /b's, and the
    // responses are reported alone.
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .gap(ToServer, 28)
        .client(2, b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(3, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .server(4, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        .server(5, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .client(6, b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(7, b"HTTP/1.1 204 No Content\r\n\r\n")
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("GET", "/a", Some(200)),
            ("GET", "/c", None),
            ("-", "-", Some(403)),
            ("-", "-", Some(200)),
            ("GET", "/d", Some(204))
        ]
    );
    assert_eq!(run.stats.unpaired_requests, 1);
}

#[test]
fn gap_longer_than_the_body_loses_sync() {
    let run = Conv::new()
        .client(1, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(2, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        .gap(ToClient, 500)
        .server(3, b"whatever follows")
        .run();
    // The response was seen; only its body's end was not.
    assert_eq!(summary(&run.events), [("GET", "/a", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(5)]);
    assert_eq!(run.stats.desyncs, 1);
}

#[test]
fn false_start_after_a_gap_keeps_looking() {
    let run = Conv::new()
        .gap(ToServer, 100)
        .client(1, b"GET in the middle of some body\x00\x01")
        .client(2, b"GET /real HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(3, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run();
    assert_eq!(run.status, podwire_parse::Status::Continue);
    assert_eq!(summary(&run.events), [("GET", "/real", Some(200))]);
}
