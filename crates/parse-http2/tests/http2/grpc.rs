//! gRPC calls captured from Python grpcio (`tests/data/grpc_lab.py`), with
//! tshark's HTTP/2 and gRPC dissection as the reference (`grpc_calls.tshark`).

use crate::util::{connection, row, run, summary};

#[test]
fn every_kind_of_call_with_status_and_message_counts() {
    let run = run(&connection("grpc_calls"));
    assert_eq!(
        summary(&run.events),
        [
            row(1, "POST", "/lab.Echo/Unary", 200),
            row(3, "POST", "/lab.Echo/Unary", 200),
            row(5, "POST", "/lab.Echo/ServerStream", 200),
            row(7, "POST", "/lab.Echo/ClientStream", 200),
            row(9, "POST", "/lab.Echo/Bidi", 200),
            row(11, "POST", "/lab.Echo/ServerStream", 200),
        ]
    );
    // (stream, method, grpc-status, requests, responses, request bytes,
    // response bytes)
    let expected = [
        (1, "Unary", Some(0), 1, 1, 10, 15),
        (3, "Unary", Some(5), 1, 0, 9, 0),
        (5, "ServerStream", Some(0), 1, 5, 6, 55),
        (7, "ClientStream", Some(0), 4, 1, 30, 17),
        (9, "Bidi", Some(0), 3, 3, 18, 27),
        // Cancelled by the client after two responses: RST_STREAM, no
        // trailers.
        (11, "ServerStream", None, 1, 2, 7, 22),
    ];
    for (id, method, status, reqs, resps, req_bytes, resp_bytes) in expected {
        let http = &run.stream(id).http;
        let g = http.grpc.as_deref().expect("a gRPC call");
        assert_eq!(g.service, "lab.Echo", "stream {id}");
        assert_eq!(g.method, method, "stream {id}");
        assert_eq!(g.status, status, "stream {id}");
        assert_eq!(
            (g.request_messages, g.response_messages),
            (reqs, resps),
            "stream {id}"
        );
        assert_eq!(http.request_body_bytes, req_bytes, "stream {id}");
        assert_eq!(http.response_body_bytes, Some(resp_bytes), "stream {id}");
    }
    // Trailers-only response: status and message in the one HEADERS;
    // tshark shows it percent-encoded.
    let failed = run.stream(3).http.grpc.as_deref().unwrap();
    assert_eq!(
        failed.message.as_deref(),
        Some("no such thing: caf\u{e9} 50%")
    );
    assert_eq!(
        run.stream(1)
            .http
            .grpc
            .as_deref()
            .unwrap()
            .message
            .as_deref(),
        Some("")
    );
    assert_eq!(run.stats.resets, 1);
    // Frames 10 and 14.
    assert_eq!(run.stream(1).http.latency_ms, Some(25.725));
}

/// grpcio's messages in single DATA frames of up to 20005 bytes, allowed by
/// the 4 MiB `SETTINGS_MAX_FRAME_SIZE` each side announced (the server
/// first, before the client's preface): counted as tshark counts them
/// (`grpc_large.tshark`). The binary's test `conformance` replays the same
/// capture through the tracker, which once dropped those server SETTINGS.
#[test]
fn messages_in_frames_over_16384_bytes_after_settings_raised_the_limit() {
    let run = run(&connection("grpc_large"));
    assert_eq!(run.stats.frames_malformed + run.stats.desyncs, 0);
    // (stream, method, requests, responses, request bytes, response bytes)
    let expected = [
        (1, "Unary", 1, 1, 20005, 20010),
        (3, "ClientStream", 3, 1, 18115, 20),
        (5, "Bidi", 1, 1, 17005, 17008),
    ];
    assert_eq!(run.events.len(), expected.len());
    for (id, method, reqs, resps, req_bytes, resp_bytes) in expected {
        let http = &run.stream(id).http;
        let g = http.grpc.as_deref().expect("a gRPC call");
        assert_eq!(
            (g.method.as_str(), g.status),
            (method, Some(0)),
            "stream {id}"
        );
        assert_eq!(
            (g.request_messages, g.response_messages),
            (reqs, resps),
            "stream {id}"
        );
        assert_eq!(http.request_body_bytes, req_bytes, "stream {id}");
        assert_eq!(http.response_body_bytes, Some(resp_bytes), "stream {id}");
    }
}

#[test]
fn long_messages_are_cut() {
    let config = podwire_http2::Http2Config {
        max_grpc_message_chars: 8,
        ..Default::default()
    };
    let run = crate::util::run_parser(
        podwire_http2::Http2Parser::new(&config),
        &connection("grpc_calls"),
    );
    let g = run.stream(3).http.grpc.as_deref().unwrap();
    assert_eq!(g.message.as_deref(), Some("no such "));
}
