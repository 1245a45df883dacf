//! Header capture: off, redacted, or verbatim.

use podwire_http::{HeaderCapture, HttpConfig, REDACTED};

use crate::util::{fixture, run, Conv};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn exchange() -> Conv {
    Conv::new()
        .client(
            1,
            b"GET /me HTTP/1.1\r\nHost: h\r\nauthorization: Bearer s3cr3t\r\nCookie: id=42\r\n\
              Proxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n",
        )
        .server(
            2,
            b"HTTP/1.1 200 OK\r\nSet-Cookie: id=43; HttpOnly\r\nContent-Length: 0\r\n\r\n",
        )
}

#[test]
fn redacted_hides_credentials_and_keeps_the_rest() {
    let config = HttpConfig {
        headers: HeaderCapture::Redacted,
        ..HttpConfig::default()
    };
    let run = run(&config, &exchange().steps);
    let http = &run.events[0].http;
    assert_eq!(
        http.request_headers,
        Some(pairs(&[
            ("Host", "h"),
            ("authorization", REDACTED),
            ("Cookie", REDACTED),
            ("Proxy-Authorization", REDACTED),
            ("Accept", "*/*"),
        ]))
    );
    assert_eq!(
        http.response_headers,
        Some(pairs(&[("Set-Cookie", REDACTED), ("Content-Length", "0")]))
    );
}

#[test]
fn all_keeps_credentials_verbatim() {
    let config = HttpConfig {
        headers: HeaderCapture::All,
        ..HttpConfig::default()
    };
    let run = run(&config, &exchange().steps);
    let http = &run.events[0].http;
    let request = http.request_headers.as_deref().unwrap_or_default();
    assert!(request.contains(&("authorization".into(), "Bearer s3cr3t".into())));
    assert!(request.contains(&("Cookie".into(), "id=42".into())));
    let response = http.response_headers.as_deref().unwrap_or_default();
    assert!(response.contains(&("Set-Cookie".into(), "id=43; HttpOnly".into())));
}

#[test]
fn none_is_the_default_and_captures_nothing() {
    let run = exchange().run();
    assert_eq!(run.events[0].http.request_headers, None);
    assert_eq!(run.events[0].http.response_headers, None);
}

#[test]
fn real_curl_headers_are_captured_in_order() {
    let config = HttpConfig {
        headers: HeaderCapture::Redacted,
        ..HttpConfig::default()
    };
    let run = run(&config, &fixture("keepalive"));
    assert_eq!(
        run.events[0].http.request_headers,
        Some(pairs(&[
            ("Host", "127.0.0.1:18781"),
            ("User-Agent", "curl/7.88.1"),
            ("Accept", "*/*"),
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
        ]))
    );
    let response = run.events[0]
        .http
        .response_headers
        .as_deref()
        .unwrap_or_default();
    assert!(response.contains(&("Content-Length".into(), "40".into())));
}
