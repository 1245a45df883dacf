//! Suricata's HTTP/2 test captures (shared corpus, `suricata-verify`),
//! committed as fixtures (`tests/data/suricata_*.txt`); expected values
//! from tshark's dissection (`suricata_*.tshark`).

use podwire_http2::{Http2Config, Http2Parser};
use podwire_parse::Status;

use crate::util::{after_heads, connection, fixture, row, run, run_parser, summary, Step};

#[test]
fn http2_continuation_with_an_undefined_flag_on_continuation() {
    // The request's block is HEADERS + 2 CONTINUATION, the first of which
    // has flag 0x1 (undefined for CONTINUATION, to be ignored); the client
    // never ends the stream, the server resets it after answering.
    let run = run(&connection("suricata_continuation"));
    assert_eq!(summary(&run.events), [row(1, "GET", "/tata", 200)]);
    let http = &run.stream(1).http;
    assert_eq!(http.host.as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(http.response_body_bytes, Some(13));
    assert_eq!(run.stats.resets, 1);
    assert_eq!(run.stats.frames_malformed, 0);
}

#[test]
fn http2_errorcode_grpc_calls() {
    // Two connections, to ports 6233 and 8888 (tcp.stream 1 and 0 in the
    // .tshark files): (request messages, response messages, request bytes).
    for (name, (reqs, resps, req_bytes)) in [
        ("suricata_errorcode", (1, 1, 12)),
        ("suricata_errorcode_8888", (1, 1, 12)),
    ] {
        let conns = fixture(name);
        assert_eq!(conns.len(), 1);
        // The 8888 connection is an HTTP/1 CONNECT proxy: HTTP/2 runs in
        // the tunnel after the CONNECT and its 200.
        let steps = if name.ends_with("8888") {
            after_heads(&conns[0])
        } else {
            conns[0].clone()
        };
        let run = run(&steps);
        assert_eq!(
            summary(&run.events),
            [row(1, "POST", "/helloworld.GreeterService/SayHello", 200)]
        );
        let http = &run.stream(1).http;
        let g = http.grpc.as_deref().expect("gRPC");
        assert_eq!(
            (g.service.as_str(), g.method.as_str()),
            ("helloworld.GreeterService", "SayHello")
        );
        assert_eq!((g.status, g.message.as_deref()), (Some(0), Some("OK")));
        assert_eq!((g.request_messages, g.response_messages), (reqs, resps));
        assert_eq!(http.request_body_bytes, req_bytes);
    }
}

#[test]
fn http2_compression_bug_browser_session() {
    let run = run(&connection("suricata_compression_bug"));
    let log = "/log?format=json&hasfast=true";
    assert_eq!(
        summary(&run.events),
        [
            row(
                1,
                "GET",
                "/widget/callout?prid=19027682&pgid=19027681&puid=1421396ff301105b&cce=1&dc=1\
                 &origin=https%3A%2F%2Fwww.google.com&cn=callout&pid=1&spid=538&hl=en",
                200
            ),
            row(3, "POST", log, 200),
            row(5, "POST", log, 200),
            row(7, "POST", log, 200),
            row(9, "POST", "/log?format=json&hasfast=true&authuser=0", 200),
        ]
    );
    let bodies: Vec<_> = [1, 3, 5, 7, 9]
        .iter()
        .map(|&id| {
            (
                run.stream(id).http.request_body_bytes,
                run.stream(id).http.response_body_bytes,
            )
        })
        .collect();
    // The server pads its DATA: tshark's http2.length (the .tshark file)
    // less each padded frame's pad length and pad length byte (`tshark -O
    // http2`): 12047 -> 11425, and 358, 385, 540, 298 -> 131 each.
    assert_eq!(
        bodies,
        [
            (0, Some(11425)),
            (1736, Some(131)),
            (1198, Some(131)),
            (2195, Some(131)),
            (317, Some(131))
        ]
    );
    assert_eq!(run.stream(1).http.host.as_deref(), Some("ogs.google.com"));
    assert_eq!(run.stream(9).http.host.as_deref(), Some("play.google.com"));
    assert_eq!(run.status, Status::Continue);
}

#[test]
fn http2_keywords2_nghttp_upgrade() {
    // nghttp -u: `GET /robots.txt` upgraded (tshark's HTTP dissector shows
    // the request and the 101), then HTTP/2 with the answer on stream 1.
    let steps = connection("suricata_keywords2_upgrade");
    let Step::Data(_, ts, _) = steps[0] else {
        panic!()
    };
    let parser = Http2Parser::after_upgrade(
        &Http2Config::default(),
        "GET",
        Some("nghttp2.org"),
        "/robots.txt",
        ts,
    );
    let run = run_parser(parser, &after_heads(&steps));
    assert_eq!(
        summary(&run.events),
        [
            row(1, "GET", "/robots.txt", 200),
            row(3, "GET", "/humans.txt", 404)
        ]
    );
    assert_eq!(run.stream(1).http.response_body_bytes, Some(62));
    assert_eq!(run.stream(3).http.response_body_bytes, Some(9));
    assert_eq!(run.stream(3).http.host.as_deref(), Some("nghttp2.org"));
}
