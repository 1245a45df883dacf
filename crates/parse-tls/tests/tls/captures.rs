//! Whole handshakes, one edge case each.

use crate::util::{capture, feed, reframe, run_whole, Capture, CLIENT_TS, SERVER_TS};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Certificate, Timestamp};
use podwire_tls::{TlsConfig, TlsParser};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// OpenSSL's TLS 1.2 + TLS 1.3 client offer, as in every `openssl s_client` fixture.
const OPENSSL_CIPHERS: usize = 31;

#[test]
fn tls12_reports_offer_choice_and_leaf_certificate() {
    let run = run_whole("tls12_cert");
    assert_eq!(run.last_status(), Status::Done);
    let ev = run.only_event();
    assert_eq!(ev.ts, CLIENT_TS);
    assert_eq!(ev.latency_ms, Some(1.5));
    let tls = &ev.tls;
    assert_eq!(tls.sni.as_deref(), Some("test.example"));
    assert_eq!(tls.alpn, strings(&["h2", "http/1.1"]));
    assert_eq!(tls.alpn_selected.as_deref(), Some("h2"));
    assert_eq!(tls.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(
        tls.cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(
        tls.client_versions,
        strings(&["TLS 1.3", "TLS 1.2", "TLS 1.1", "TLS 1.0"])
    );
    assert_eq!(tls.client_ciphers.len(), OPENSSL_CIPHERS);
    assert_eq!(
        tls.client_ciphers.first().map(String::as_str),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert_eq!(
        tls.client_ciphers.last().map(String::as_str),
        Some("TLS_EMPTY_RENEGOTIATION_INFO_SCSV")
    );
    // Values from `openssl x509 -in tests/data/leaf.pem -noout -text -nameopt RFC2253`.
    assert_eq!(
        tls.certificate,
        Some(Certificate {
            subject: "CN=test.example,O=Podwire,C=DE".into(),
            issuer: "CN=Podwire Test Root,O=Podwire Test CA".into(),
            sans: strings(&["test.example", "*.test.example", "127.0.0.1", "::1"]),
            // Nov 22 07:34:49 2026 GMT and Feb 24 07:34:49 2029 GMT.
            not_before: Some(Timestamp::from_parts(1_795_332_889, 0)),
            not_after: Some(Timestamp::from_parts(1_866_612_889, 0)),
            fetched: false,
        })
    );
}

#[test]
fn tls13_has_no_visible_certificate() {
    let run = run_whole("tls13");
    // Reported at the ServerHello: everything after it is encrypted.
    assert_eq!(run.last_status(), Status::Done);
    let tls = &run.only_event().tls;
    assert_eq!(tls.version.as_deref(), Some("TLS 1.3"));
    assert_eq!(tls.cipher.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(tls.certificate, None);
    // Sent in EncryptedExtensions under TLS 1.3.
    assert_eq!(tls.alpn_selected, None);
    assert_eq!(tls.alpn, strings(&["h2", "http/1.1"]));
    assert_eq!(tls.sni.as_deref(), Some("test.example"));
}

#[test]
fn resumed_tls12_session_reports_at_change_cipher_spec() {
    let run = run_whole("tls12_resumed");
    assert_eq!(run.last_status(), Status::Done);
    let tls = &run.only_event().tls;
    assert_eq!(tls.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(
        tls.cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(
        tls.certificate, None,
        "an abbreviated handshake carries no certificate"
    );
}

#[test]
fn hello_retry_request_counts_as_the_server_answer() {
    let run = run_whole("hrr");
    assert_eq!(run.last_status(), Status::Done);
    let ev = run.only_event();
    assert_eq!(ev.latency_ms, Some(1.5));
    assert_eq!(ev.tls.version.as_deref(), Some("TLS 1.3"));
    assert_eq!(ev.tls.cipher.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
}

#[test]
fn client_without_sni_alpn_or_supported_versions() {
    let run = run_whole("no_sni");
    let tls = &run.only_event().tls;
    assert_eq!(tls.sni, None);
    assert!(tls.alpn.is_empty());
    assert_eq!(tls.alpn_selected, None);
    // No supported_versions extension: the legacy field is the offer.
    assert_eq!(tls.client_versions, strings(&["TLS 1.2"]));
    assert_eq!(tls.version.as_deref(), Some("TLS 1.2"));
    assert!(tls.certificate.is_some());
}

#[test]
fn byte_by_byte_gives_the_same_event() {
    for name in ["tls12_cert", "tls13", "tls12_resumed", "hrr", "no_sni"] {
        let whole = run_whole(name);
        let split = feed(&mut TlsParser::default(), &capture(name), 1);
        assert_eq!(split.events, whole.events, "{name}");
        assert_eq!(split.last_status(), Status::Done, "{name}");
    }
}

#[test]
fn messages_spanning_records_give_the_same_event() {
    for name in ["tls12_cert", "tls13", "no_sni"] {
        let cap = capture(name);
        let whole = run_whole(name);
        for size in [1, 7, 100, 1000] {
            let reframed = Capture {
                client: reframe(&cap.client, size),
                server: reframe(&cap.server, size),
            };
            for chunk in [usize::MAX, 3] {
                let run = feed(&mut TlsParser::default(), &reframed, chunk);
                assert_eq!(
                    run.events, whole.events,
                    "{name}, records of {size}, chunks of {chunk}"
                );
            }
        }
    }
}

#[test]
fn client_hello_only_is_reported_at_finish() {
    let cap = capture("tls12_cert");
    let mut parser = TlsParser::default();
    let mut out = Vec::new();
    assert_eq!(
        parser.data(Direction::ToServer, CLIENT_TS, &cap.client, &mut out),
        Status::Continue
    );
    assert!(out.is_empty());
    parser.finish(SERVER_TS, &mut out);
    assert_eq!(out.len(), 1);
    let ev = &out[0];
    assert_eq!(ev.ts, CLIENT_TS);
    assert_eq!(ev.latency_ms, None);
    assert_eq!(ev.tls.sni.as_deref(), Some("test.example"));
    assert_eq!(ev.tls.version, None);
    assert_eq!(ev.tls.cipher, None);
    assert!(ev.tls.ja3.is_some() && ev.tls.ja4.is_some());
    // Nothing more, ever.
    parser.finish(SERVER_TS, &mut out);
    assert_eq!(
        parser.data(Direction::ToClient, SERVER_TS, &cap.server, &mut out),
        Status::Done
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn server_side_alone_is_reported_at_its_hello() {
    let cap = capture("tls12_cert");
    let mut parser = TlsParser::default();
    let mut out = Vec::new();
    assert_eq!(
        parser.gap(Direction::ToServer, CLIENT_TS, 500, &mut out),
        Status::Continue
    );
    assert_eq!(
        parser.data(Direction::ToClient, SERVER_TS, &cap.server, &mut out),
        Status::Done
    );
    let ev = &out[0];
    assert_eq!(ev.ts, SERVER_TS);
    assert_eq!(ev.latency_ms, None);
    assert_eq!(ev.tls.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(ev.tls.sni, None);
    assert_eq!(ev.tls.ja3, None);
    assert!(ev.tls.certificate.is_some());
}

#[test]
fn gap_in_server_stream_reports_what_the_client_said() {
    let cap = capture("tls13");
    let mut parser = TlsParser::default();
    let mut out = Vec::new();
    assert_eq!(
        parser.data(Direction::ToServer, CLIENT_TS, &cap.client, &mut out),
        Status::Continue
    );
    assert_eq!(
        parser.gap(Direction::ToClient, SERVER_TS, 1460, &mut out),
        Status::Done
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].tls.version, None);
    assert_eq!(out[0].tls.sni.as_deref(), Some("test.example"));
}

#[test]
fn gap_after_server_hello_keeps_the_server_choice() {
    let cap = capture("tls12_cert");
    let mut parser = TlsParser::default();
    let mut out = Vec::new();
    parser.data(Direction::ToServer, CLIENT_TS, &cap.client, &mut out);
    // ServerHello record only (5 + 0x4a bytes), then lose the certificate.
    let server_hello = &cap.server[..5 + 0x4a];
    assert_eq!(
        parser.data(Direction::ToClient, SERVER_TS, server_hello, &mut out),
        Status::Continue
    );
    assert_eq!(
        parser.gap(Direction::ToClient, SERVER_TS, 1000, &mut out),
        Status::Done
    );
    assert_eq!(out[0].tls.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(out[0].tls.certificate, None);
}

#[test]
fn non_tls_client_fails_at_once() {
    let mut parser = TlsParser::default();
    let mut out = Vec::new();
    let status = parser.data(
        Direction::ToServer,
        CLIENT_TS,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &mut out,
    );
    assert_eq!(status, Status::Failed);
    parser.finish(CLIENT_TS, &mut out);
    assert!(out.is_empty());
}

#[test]
fn sslv2_compatible_hello_is_not_supported() {
    // An SSLv2-format ClientHello header, as ancient clients sent.
    let hello = [
        0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ];
    let mut out = Vec::new();
    let status = TlsParser::default().data(Direction::ToServer, CLIENT_TS, &hello, &mut out);
    assert_eq!(status, Status::Failed);
}

#[test]
fn handshake_record_without_client_hello_fails() {
    // A well-formed handshake record whose message is a ServerHello.
    let cap = capture("tls12_cert");
    let mut out = Vec::new();
    let status = TlsParser::default().data(Direction::ToServer, CLIENT_TS, &cap.server, &mut out);
    assert_eq!(status, Status::Failed);
}

#[test]
fn certificate_over_the_buffer_limit_fails_but_reports_the_hellos() {
    // The 969-byte Certificate message must be buffered when it arrives in
    // pieces; with a 512-byte limit it cannot be.
    let mut parser = TlsParser::new(&TlsConfig {
        max_handshake_bytes: 512,
    });
    let run = feed(&mut parser, &capture("tls12_cert"), 100);
    assert_eq!(run.last_status(), Status::Failed);
    let tls = &run.only_event().tls;
    assert_eq!(tls.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(tls.certificate, None);
    // Arriving whole, the same message needs no buffer and is read.
    let mut parser = TlsParser::new(&TlsConfig {
        max_handshake_bytes: 512,
    });
    let run = feed(&mut parser, &capture("tls12_cert"), usize::MAX);
    assert!(run.only_event().tls.certificate.is_some());
}
