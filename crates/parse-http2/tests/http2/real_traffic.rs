//! Whole connections captured from real programs (`tests/data/regen.sh`).
//!
//! Every expected method, path, status and body size was copied from
//! tshark's HTTP/2 dissection of the same capture (`NAME.tshark`, made by
//! `tests/data/tshark_summary.py`), except where noted: tshark's DATA
//! sizes include padding, which records leave out.

use podwire_http2::{Http2Config, Http2Parser};
use podwire_parse::Status;
use podwire_record::Timestamp;

use crate::util::{after_heads, connection, rechunk, row, run, run_parser, summary, Step};

#[test]
fn curl_prior_knowledge_one_get() {
    let run = run(&connection("curl_prior_knowledge"));
    assert_eq!(summary(&run.events), [row(1, "GET", "/index.html", 200)]);
    let http = &run.stream(1).http;
    assert_eq!(http.version, "2");
    assert_eq!(http.host.as_deref(), Some("127.0.0.1:18912"));
    // tshark: 22 bytes of DATA, nghttpd -b 16 padded it; the file is 6.
    assert_eq!(http.response_body_bytes, Some(6));
    assert_eq!(http.request_body_bytes, 0);
    assert!(http.grpc.is_none() && http.request_headers.is_none());
    // Frames 8 and 12 of the capture.
    assert_eq!(run.stream(1).ts, Timestamp(1_796_625_932_830_213_000));
    assert_eq!(http.latency_ms, Some(0.251));
    assert_eq!(run.stats.blocks_undecodable, 0);
    assert_eq!(run.stats.blocks_with_unknown_fields, 0);
}

#[test]
fn nghttp_concurrent_streams_and_a_push() {
    let run = run(&connection("nghttp_concurrent"));
    assert_eq!(
        summary(&run.events),
        [
            row(2, "GET", "/style.css", 200),
            row(13, "GET", "/index.html", 200),
            row(15, "GET", "/big.txt", 200),
            row(17, "GET", "/missing", 404),
            row(19, "GET", "/style.css", 200),
        ]
    );
    let bodies: Vec<_> = [2, 13, 15, 17, 19]
        .iter()
        .map(|&id| run.stream(id).http.response_body_bytes)
        .collect();
    assert_eq!(
        bodies,
        [Some(20), Some(6), Some(30000), Some(148), Some(20)]
    );
    for e in &run.events {
        assert_eq!(e.http.host.as_deref(), Some("127.0.0.1:18911"));
        assert!(e.http.latency_ms.is_some_and(|l| l >= 0.0));
    }
    // The pushed stream starts at its PUSH_PROMISE, with the responses.
    assert!(run.stream(2).ts > run.stream(13).ts);
    assert_eq!(run.status, Status::Continue);
}

#[test]
fn nghttp_padding_and_a_header_block_in_continuation() {
    let steps = connection("nghttp_padding_continuation");
    let run = run(&steps);
    assert_eq!(
        summary(&run.events),
        [
            row(2, "GET", "/style.css", 200),
            row(13, "POST", "/index.html", 200)
        ]
    );
    // tshark: 52 bytes of DATA with pad length 31: 20 of content.
    assert_eq!(run.stream(13).http.request_body_bytes, 20);
    assert_eq!(run.stream(13).http.response_body_bytes, Some(6));
    assert_eq!(run.stats.blocks_undecodable, 0);
}

#[test]
fn nghttp_lowered_table_size_is_followed() {
    // tshark 4.0 cannot decode these responses; nghttp's own log of the
    // headers it decoded (`nghttp_table_size.nghttp`) is the reference.
    let run = run(&connection("nghttp_table_size"));
    assert_eq!(
        summary(&run.events),
        [
            row(13, "GET", "/style.css", 200),
            row(15, "GET", "/missing", 404)
        ]
    );
    assert_eq!(run.stream(15).http.response_body_bytes, Some(148));
}

#[test]
fn results_do_not_depend_on_segmentation() {
    for name in [
        "nghttp_concurrent",
        "nghttp_padding_continuation",
        "grpc_calls",
    ] {
        let steps = connection(name);
        let whole = run(&steps);
        for n in [1, 7, 100] {
            let cut = run(&rechunk(&steps, n));
            assert_eq!(
                cut.events.len(),
                whole.events.len(),
                "{name} in pieces of {n}"
            );
            for (a, b) in whole.events.iter().zip(&cut.events) {
                assert_eq!(a.http.method, b.http.method, "{name} {n}");
                assert_eq!(a.http.status, b.http.status, "{name} {n}");
                assert_eq!(
                    a.http.response_body_bytes, b.http.response_body_bytes,
                    "{name} {n}"
                );
                assert_eq!(a.http.grpc, b.http.grpc, "{name} {n}");
            }
        }
    }
}

#[test]
fn curl_h2c_upgrade_continues_on_stream_1() {
    let steps = connection("curl_upgrade");
    let Step::Data(_, upgrade_ts, _) = steps[0] else {
        panic!()
    };
    let parser = Http2Parser::after_upgrade(
        &Http2Config::default(),
        "GET",
        Some("127.0.0.1:18914"),
        "/index.html",
        upgrade_ts,
    );
    let run = run_parser(parser, &after_heads(&steps));
    assert_eq!(
        summary(&run.events),
        [
            row(1, "GET", "/index.html", 200),
            row(3, "GET", "/second", 200)
        ]
    );
    assert_eq!(run.stream(1).http.response_body_bytes, Some(26));
    assert_eq!(run.stream(3).http.response_body_bytes, Some(22));
    assert_eq!(run.stream(3).http.host.as_deref(), Some("127.0.0.1:18914"));
    assert!(run.stream(1).http.latency_ms.is_some());
}

#[test]
fn every_captured_connection_is_detected_from_either_side() {
    for name in [
        "curl_prior_knowledge",
        "nghttp_concurrent",
        "nghttp_padding_continuation",
        "nghttp_table_size",
        "grpc_calls",
        "suricata_continuation",
        "suricata_compression_bug",
    ] {
        for dir in [crate::util::ToServer, crate::util::ToClient] {
            let first = connection(name).into_iter().find_map(|s| match s {
                Step::Data(d, _, b) if d == dir => Some(b),
                _ => None,
            });
            let first = first.expect("bytes each way");
            assert!(
                podwire_http2::looks_like_http2(dir, &first),
                "{name} {dir:?}"
            );
        }
    }
}
