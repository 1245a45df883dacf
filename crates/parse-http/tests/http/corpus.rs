//! Regressions from the third-party capture corpus (`../shared/pcaps`,
//! Suricata's test captures), each named after the capture that showed it.
//!
//! Heads are copied byte for byte from the capture (`tshark -q -z
//! follow,tcp,raw,0`); long bodies are cut short. Each test expects at least
//! the requests and statuses tshark 4.0 shows for that capture
//! (`tshark -r FILE -Y http -T fields -e http.request.method
//! -e http.request.uri -e http.host -e http.response.code`).

use podwire_parse::Status;

use crate::util::{response_bodies, summary, Conv};

const EVADER_GET: &[u8] = b"GET /eicar.txt HTTP/1.1\r\nHost: evader.example.com\r\n\r\n";

/// A connection of the HTTP evader captures: one GET, then `response`.
fn evader(response: &[u8]) -> crate::util::Run {
    Conv::new().client(1, EVADER_GET).server(2, response).run()
}

#[test]
fn http_evader_047_version_1_2_still_reports_status() {
    // 047 HTTP/1.2, 048 HTTP/2.0, 049 HTTP/2.1, 051 HTTP/1.01, 053 HTTP/1.10,
    // 365 HTTP/0.9: httparse only takes HTTP/1.0 and HTTP/1.1.
    for version in ["1.2", "2.0", "2.1", "1.01", "1.10", "0.9"] {
        let response = format!(
            "HTTP/{version} 200 ok\r\nContent-type: application/octet-stream\r\n\
             Content-disposition: attachment; filename=\"eicar.txt\"\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             5\r\nX5O!P\r\n0\r\n\r\n"
        );
        let run = evader(response.as_bytes());
        assert_eq!(
            summary(&run.events),
            [("GET", "/eicar.txt", Some(200))],
            "HTTP/{version}"
        );
        // Still framed: the chunked body was followed to its end.
        assert_eq!(response_bodies(&run.events), [Some(5)], "HTTP/{version}");
        assert_eq!(run.status, Status::Continue, "HTTP/{version}");
    }
}

#[test]
fn http1_noint_status_2xx_reads_as_2_as_in_wireshark() {
    // tshark reads the first three characters of the status as strtoul
    // does: 2XX is 2 (also http-evader-467), 20x is 20 (468), 0200 is 20
    // (472), a tab before the digits is skipped (474: 20).
    let run = Conv::new()
        .client(
            1,
            b"GET /test HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nUser-Agent: curl/7.58.0\r\nAccept: */*\r\n\r\n",
        )
        .server(2, b"HTTP/1.0 2XX OK\nServer: POC\nContent-Length:4\n\ntoto")
        .run();
    assert_eq!(summary(&run.events), [("GET", "/test", Some(2))]);
    assert_eq!(response_bodies(&run.events), [Some(4)]);
    for (status, code) in [("20x", 20), ("0200", 20), ("\t200", 20), ("2040", 204)] {
        let response = format!("HTTP/1.1 {status} ok\r\nContent-length: 4\r\n\r\ntoto");
        let run = evader(response.as_bytes());
        assert_eq!(run.events[0].http.status, Some(code), "{status:?}");
    }
}

#[test]
fn http_evader_094_bare_cr_inside_a_header_line_ends_it() {
    // Wireshark ends a line at a lone CR, so `Transfer-Encoding` is a field
    // of its own and the body is chunked.
    let run = evader(
        b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n\
          Content-disposition: attachment; filename=\"eicar.txt\"\rTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n5\r\nX5O!P\r\n0\r\n\r\n",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(5)]);
}

#[test]
fn http_evader_399_cr_only_line_ends_still_report_status() {
    let run = evader(
        b"HTTP/1.1 200 ok\rContent-type: application/octet-stream\r\
          Content-disposition: attachment; filename=\"eicar.txt\"\rConnection: close\r\
          Yet-another-header: foo\rContent-length: 68\r\n\n\
          X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(68)]);
}

#[test]
fn http_evader_284_lone_cr_after_a_line_end_ends_the_head() {
    // `\r\r\n`: an empty line ended by a lone CR. What follows is body (no
    // framing header came before it, so it runs to the close).
    let run = evader(
        b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n\
          Content-disposition: attachment; filename=\"eicar.txt\"\r\nConnection: close\r\n\
          \r\r\nTransfer-Encoding: chunked\r\nYet-another-header: foo\r\n\r\n4\r\nX5O!\r\n0\r\n\r\n",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(71)]);
}

#[test]
fn http_evader_283_header_name_with_a_space_is_skipped() {
    let run = evader(
        b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n\
          Content-disposition: attachment; filename=\"eicar.txt\"\r\nConnection: close\r\n\
          Foo Bar: foobar\r\nTransfer-Encoding: chunked\r\nYet-another-header: foo\r\n\r\n\
          4\r\nX5O!\r\n0\r\n\r\n",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(4)]);
}

#[test]
fn http_evader_299_obsolete_folding_of_a_field_name_is_skipped() {
    // `Transfer-Encoding` without a colon, folded onto two more lines: not a
    // field Wireshark or podwire can read, so the body runs to the close.
    let run = evader(
        b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n\
          Content-disposition: attachment; filename=\"eicar.txt\"\r\nConnection: close\r\n\
          Transfer-Encoding\r\n :\r\n chunked\r\nYet-another-header: foo\r\n\r\n4\r\nX5O!\r\n",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(9)]);
}

#[test]
fn http_evader_372_tab_after_the_version_still_reports_status() {
    // Tokens are split at spaces only: `HTTP/1.1\t` is the version.
    let run = evader(
        b"HTTP/1.1\t 200 ok\r\nContent-type: application/octet-stream\r\n\
          Connection: close\r\nYet-another-header: foo\r\nContent-length: 4\r\n\r\nX5O!",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(4)]);
}

#[test]
fn http_evader_242_conflicting_content_lengths_still_report_status() {
    // The last Content-Length counts, as in Wireshark.
    let run = evader(
        b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n\
          Content-disposition: attachment; filename=\"eicar.txt\"\r\nConnection: close\r\n\
          Content-length: 68\r\nContent-length: 34\r\n\r\n\
          X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-",
    );
    assert_eq!(summary(&run.events), [("GET", "/eicar.txt", Some(200))]);
    assert_eq!(response_bodies(&run.events), [Some(34)]);
}

#[test]
fn http_multiple_cl_requests_take_the_last_content_length() {
    // /which.php's body is 93 bytes (its last Content-Length), which hides
    // /evil.php inside it; /bad.php follows. tshark shows /which.php and
    // /bad.php.
    let run = Conv::new()
        .client(
            1,
            b"POST /which.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length:11\r\nContent-Length:93\r\n\r\n\
              bar=1&foo=2POST /evil.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length:98\r\n\r\n\
              evilbar=3&evilfoo=4POST /bad.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length:17\r\n\r\n\
              badbar=5&badfoo=6",
        )
        .server(
            2,
            b"HTTP/1.0 501 Unsupported method ('POST')\r\nServer: SimpleHTTP/0.6 Python/3.7.2\r\n\
              Connection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: 3\r\n\r\n...",
        )
        .run();
    assert_eq!(
        summary(&run.events),
        [
            ("POST", "/which.php", Some(501)),
            ("POST", "/bad.php", None)
        ]
    );
    assert_eq!(run.events[0].http.request_body_bytes, 93);
}

#[test]
fn http_uri_spaces_target_ends_at_the_first_space() {
    // tshark: uri "/uri", version "afterspace HTTP/1.1".
    let run = Conv::new()
        .client(
            1,
            b"GET /uri afterspace HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: curl/7.54.0\r\nAccept: */*\r\n\r\n",
        )
        .server(
            2,
            b"HTTP/1.0 400 Bad request syntax ('GET /uri afterspace HTTP/1.1')\r\n\
              Server: SimpleHTTP/0.6 Python/3.7.2\r\nConnection: close\r\n\
              Content-Type: text/html;charset=utf-8\r\nContent-Length: 2\r\n\r\nno",
        )
        .run();
    assert_eq!(summary(&run.events), [("GET", "/uri", Some(400))]);
    let http = &run.events[0].http;
    assert_eq!(
        (http.host.as_deref(), http.version.as_ref()),
        (Some("127.0.0.1:8000"), "HTTP/1.1")
    );
}

#[test]
fn http_missing_protocol_request_line_without_version_is_http_0_9() {
    // The server answers with bytes that are not HTTP at all.
    let run = Conv::new()
        .client(
            1,
            b"GET /gen.php?generate=191636955/-394717567&hwid=-53127817\r\nHost: 5.8.88.25\r\n\
              Connection:keep-alive\r\nAccept-Encoding:gzip, deflate\r\n\r\n\r\n",
        )
        .server(
            2,
            b"xzscxc#$#AzMTax4wGxA5DSBkODw8e3d3PCsADwwXfXdienNreXM=$#$vxxd",
        )
        .run();
    assert_eq!(run.status, Status::Failed);
    assert_eq!(
        summary(&run.events),
        [(
            "GET",
            "/gen.php?generate=191636955/-394717567&hwid=-53127817",
            None
        )]
    );
    let http = &run.events[0].http;
    assert_eq!(
        (http.host.as_deref(), http.version.as_ref()),
        (Some("5.8.88.25"), "HTTP/0.9")
    );
}

#[test]
fn http_chunked_head_with_empty_transfer_coding_elements_is_a_request() {
    // `Transfer-Encoding: ,<tab>chunked,`: empty list elements are skipped,
    // so the final coding is chunked and the request is framed.
    let run = Conv::new()
        .client(
            1,
            b"HEAD /resources/fonts/SourceSansPro-Regular.ttf HTTP/1.1\r\nHost: localhost\r\n\
              Cookie: X-Qlik-Session=13333333-3333-3333-3333-333333333337\r\n\
              Content-Length: 0\r\nTransfer-Encoding: ,\tchunked,\r\n\r\n",
        )
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(
        summary(&run.events),
        [("HEAD", "/resources/fonts/SourceSansPro-Regular.ttf", None)]
    );
    assert_eq!(run.events[0].http.host.as_deref(), Some("localhost"));
}

const VICTOR_CONNECT: &[u8] = b"CONNECT abc:443 HTTP/1.1\r\nUser-Agent: Victor/1.0\r\n\r\n";
const VICTOR_OK: &[u8] = b"HTTP/1.1 200 OK\r\nServer: VictorServer/1.0\r\n\r\n";

#[test]
fn http_connect_simple_http_inside_the_tunnel_is_parsed() {
    // Each message is followed by a stray LF, as in the capture.
    let run = Conv::new()
        .client(1, &[VICTOR_CONNECT, b"\n"].concat())
        .server(2, &[VICTOR_OK, b"\n"].concat())
        .client(3, b"GET / HTTP/1.1\r\nUser-Agent: Victor/1.0\r\n\r\n\n")
        .server(4, VICTOR_OK)
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(
        summary(&run.events),
        [("CONNECT", "abc:443", Some(200)), ("GET", "/", Some(200))]
    );
}

#[test]
fn http_connect_fragmented_request_inside_the_tunnel_is_gathered() {
    let run = Conv::new()
        .client(1, VICTOR_CONNECT)
        .server(2, VICTOR_OK)
        .client(3, b"GE")
        .client(4, b"T / HTTP/1.1\r\nUser-Agent: Victor/1.0\r\n\r\n")
        .server(5, VICTOR_OK)
        .run();
    assert_eq!(
        summary(&run.events),
        [("CONNECT", "abc:443", Some(200)), ("GET", "/", Some(200))]
    );
    assert_eq!(run.events[1].ts, crate::util::ms(3));
}

#[test]
fn http_request_invalid_unframed_body_is_skipped_and_its_400_reported() {
    // A POST without Content-Length whose body follows anyway: Apache
    // answers the POST, then 400 to the body; tshark shows both statuses.
    let run = Conv::new()
        .client(
            1,
            b"POST /index.html HTTP/1.1\r\nHost: 192.168.56.3\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nConnection: keep-alive\r\n\
              Upgrade-Insecure-Requests: 1\r\n\r\nlogin=foo&password=bar3\r\n",
        )
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello",
        )
        .server(
            3,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad",
        )
        .run();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(
        summary(&run.events),
        [("POST", "/index.html", Some(200)), ("-", "-", Some(400))]
    );
    assert_eq!(run.stats.malformed, 1);
}

#[test]
fn http_data_after_09_response_to_an_unfinished_head_is_reported_alone() {
    // `POST abcd12345` never gets its empty line, so it is no request yet
    // (tshark agrees); nginx's 400, with its mixed line ends, is reported.
    let run = Conv::new()
        .client(1, b"POST abcd12345\n")
        .server(
            2,
            b"HTTP/1.1 400 Bad Request\nServer: nginx/1.1.9\nConnection: close\r\n\r\n",
        )
        .client(3, b"USER abab1212 \"zz\" \"yy\" :f6e1 l6e13\n")
        .run();
    assert_eq!(summary(&run.events), [("-", "-", Some(400))]);
    let alone = &run.events[0];
    assert_eq!(alone.ts, crate::util::ms(2));
    assert_eq!(
        (alone.http.latency_ms, alone.http.response_body_bytes),
        (None, Some(0))
    );
}

#[test]
fn http_async_srv_responses_without_requests_are_reported() {
    // Only the server's side was captured.
    let run = Conv::new()
        .server(
            1,
            b"HTTP/1.0 200 OK\r\nServer: Apache\r\nConnection: close\r\nContent-Type: text/html\r\n\
              Content-Length: 12\r\n\r\nHello World!\n",
        )
        .server(
            2,
            b"HTTP/1.0 200 OK\r\nServer: Apache\r\nConnection: close\r\nContent-Type: text/html\r\n\
              Content-Length: 12\r\n\r\nHello People",
        )
        .run_mid_stream();
    assert_eq!(
        summary(&run.events),
        [("-", "-", Some(200)), ("-", "-", Some(200))]
    );
    assert_eq!(run.stats.orphan_responses, 2);
    assert_eq!(run.events[1].ts, crate::util::ms(2));
    assert_eq!(run.events[1].http.version, "HTTP/1.0");
}

#[test]
fn tcp_stream_after_swap_http_start_from_response() {
    // The capture starts with the server's answer; the client's next request
    // is paired as usual.
    let run = Conv::new()
        .server(
            1,
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: Keep-Alive\r\n\r\nHello GCX!\n",
        )
        .client(
            2,
            b"GET /favicon.ico HTTP/1.1\r\nHost: 172.16.9.189\r\nConnection: keep-alive\r\n\r\n",
        )
        .server(
            3,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: Keep-Alive\r\n\r\nnot",
        )
        .run_mid_stream();
    assert_eq!(
        summary(&run.events),
        [("-", "-", Some(200)), ("GET", "/favicon.ico", Some(404))]
    );
    assert_eq!(response_bodies(&run.events), [Some(11), Some(3)]);
}

#[test]
fn mid_stream_client_bytes_inside_a_body_are_skipped() {
    // Joined mid-upload: the client's first bytes are the rest of a body.
    let run = Conv::new()
        .server(1, b"HTTP/1.1 100 Continue\r\n\r\n")
        .client(2, b"rest of an upload")
        .server(3, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        .client(4, b"GET /next HTTP/1.1\r\n\r\n")
        .server(5, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .run_mid_stream();
    assert_eq!(run.status, Status::Continue);
    assert_eq!(
        summary(&run.events),
        [("-", "-", Some(201)), ("GET", "/next", Some(200))]
    );
}
