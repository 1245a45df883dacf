//! Pins `write_record` to `serde_json::to_string` byte for byte.

use super::*;
use crate::DnsAnswer;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn ours(rec: &Record) -> String {
    let mut out = b"prefix:".to_vec();
    write_record(&mut out, rec);
    // Appends, never clears what was there.
    assert!(out.starts_with(b"prefix:"));
    String::from_utf8(out.split_off(7)).expect("output is UTF-8")
}

/// The same bytes as serde_json, and (belt and braces) the same parsed value.
#[track_caller]
fn check(rec: &Record) {
    let mine = ours(rec);
    let reference = serde_json::to_string(rec).unwrap();
    assert_eq!(mine, reference, "record: {rec:?}");
    let a: serde_json::Value = serde_json::from_str(&mine).expect("output parses");
    let b: serde_json::Value = serde_json::from_str(&reference).unwrap();
    assert_eq!(a, b);
}

fn v4(s: &str, port: u16) -> Endpoint {
    Endpoint::new(s.parse().unwrap(), port)
}

fn full_identity() -> Box<Identity> {
    Box::new(Identity {
        namespace: Some("prod".into()),
        pod: Some("api-7d9f-x2".into()),
        workload: Some("Deployment/api".into()),
        service: Some("api".into()),
        node: Some("node-1".into()),
        process: Some("nginx".into()),
        pid: Some(4242),
        domain: Some("api.example.com".into()),
    })
}

fn conn_none() -> Connection {
    Connection {
        proto: Transport::Udp,
        first_seen: Timestamp(0),
        last_seen: Timestamp(0),
        duration_ms: 0.0,
        close: Close::Open,
        handshake_rtt_ms: None,
        retransmits: 0,
        client_to_server: DirectionStats::default(),
        server_to_client: DirectionStats::default(),
        handshake_seen: false,
        kernel: None,
    }
}

fn conn_some() -> Connection {
    Connection {
        proto: Transport::Tcp,
        first_seen: Timestamp::from_parts(1_714_564_800, 123_456_789),
        last_seen: Timestamp::from_parts(1_714_564_801, 5),
        duration_ms: 1_000.000_005,
        close: Close::Fin,
        handshake_rtt_ms: Some(0.25),
        retransmits: 3,
        client_to_server: DirectionStats {
            packets: 10,
            bytes: 1500,
            payload_bytes: 900,
        },
        server_to_client: DirectionStats {
            packets: u64::MAX,
            bytes: 1 << 40,
            payload_bytes: 7,
        },
        handshake_seen: true,
        kernel: Some(crate::KernelCounters {
            side: Side::Server,
            bytes_acked: 123,
            bytes_received: 0,
            srtt_ms: Some(0.125),
            retransmits: 1,
        }),
    }
}

fn tls_some() -> Tls {
    Tls {
        sni: Some("example.com".into()),
        alpn: vec!["h2".into(), "http/1.1".into()],
        alpn_selected: Some("h2".into()),
        version: Some("TLS 1.2".into()),
        cipher: Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()),
        client_versions: vec!["TLS 1.3".into(), "TLS 1.2".into()],
        client_ciphers: vec!["TLS_AES_128_GCM_SHA256".into()],
        ja3: Some("771,4865-4866,0-23,29-23,0".into()),
        ja4: Some("t13d1516h2_8daaf6152771_e5627efa2ab1".into()),
        certificate: Some(Certificate {
            subject: "CN=example.com".into(),
            issuer: "CN=Example CA, O=\"Example, Inc.\"".into(),
            sans: vec!["example.com".into(), "*.example.com".into()],
            not_before: Some(Timestamp::from_parts(1_700_000_000, 0)),
            not_after: Some(Timestamp::from_parts(1_731_536_000, 0)),
            fetched: false,
        }),
    }
}

fn http_none() -> Http {
    Http {
        method: Some("GET".into()),
        path: Some("/".into()),
        version: "HTTP/1.1".into(),
        ..Http::default()
    }
}

fn http_some() -> Http {
    Http {
        method: Some("POST".into()),
        host: Some("api.internal:8080".into()),
        path: Some("/v1/items?id=42&q=a%20b".into()),
        version: "HTTP/1.0".into(),
        status: Some(503),
        latency_ms: Some(12.5),
        request_body_bytes: 512,
        response_body_bytes: Some(0),
        request_headers: Some(vec![
            ("Host".into(), "api.internal:8080".into()),
            ("Authorization".into(), "<redacted>".into()),
        ]),
        response_headers: Some(vec![("Content-Length".into(), "0".into())]),
        stream_id: None,
        grpc: None,
    }
}

fn http2_grpc() -> Http {
    Http {
        method: Some("POST".into()),
        host: Some("greeter:50051".into()),
        path: Some("/helloworld.Greeter/SayHello".into()),
        version: "2".into(),
        status: Some(200),
        latency_ms: Some(0.75),
        request_body_bytes: 12,
        response_body_bytes: Some(17),
        stream_id: Some(u32::MAX >> 1),
        grpc: Some(Box::new(crate::Grpc {
            service: "helloworld.Greeter".into(),
            method: "SayHello".into(),
            status: Some(5),
            message: Some("no \"such\" user\n".into()),
            request_messages: 1,
            response_messages: 0,
        })),
        ..Http::default()
    }
}

fn dns_none() -> Dns {
    Dns {
        transport: DnsTransport::Udp,
        id: 0,
        name: String::new(),
        qtype: "A".into(),
        rcode: None,
        answers: vec![],
        latency_ms: None,
    }
}

fn dns_some() -> Dns {
    Dns {
        transport: DnsTransport::Tcp,
        id: u16::MAX,
        name: "example.com".into(),
        qtype: "AAAA".into(),
        rcode: Some("NOERROR".into()),
        answers: vec![
            DnsAnswer {
                name: "example.com".into(),
                rtype: "CNAME".into(),
                ttl: u32::MAX,
                data: "edge.example.net".into(),
            },
            DnsAnswer {
                name: "edge.example.net".into(),
                rtype: "TYPE65".into(),
                ttl: 0,
                data: "\\# 3 010203".into(),
            },
        ],
        latency_ms: Some(0.1),
    }
}

fn all_bodies() -> Vec<Body> {
    let mut http_req_only = http_some();
    http_req_only.response_headers = None;
    let mut http_resp_only = http_some();
    http_resp_only.request_headers = None;
    let mut http_empty_headers = http_some();
    http_empty_headers.request_headers = Some(vec![]);
    http_empty_headers.response_headers = Some(vec![]);
    // A response whose request was never seen.
    let http_no_request = Http {
        version: "HTTP/1.0".into(),
        status: Some(200),
        response_body_bytes: Some(12),
        response_headers: Some(vec![("Server".into(), "x".into())]),
        ..Http::default()
    };
    let mut tls_cert_none_dates = tls_some();
    if let Some(c) = &mut tls_cert_none_dates.certificate {
        c.not_before = None;
        c.not_after = None;
        c.sans.clear();
    }
    vec![
        Body::Connection(conn_none()),
        Body::Connection(conn_some()),
        Body::Tls(Tls::default()),
        Body::Tls(tls_some()),
        Body::Tls(tls_cert_none_dates),
        Body::Http(http_none()),
        Body::Http(http_some()),
        Body::Http(http_req_only),
        Body::Http(http_resp_only),
        Body::Http(http_empty_headers),
        Body::Http(http_no_request),
        Body::Http(http2_grpc()),
        Body::Http(Http {
            stream_id: Some(1),
            ..http_none()
        }),
        Body::Postgres(crate::Postgres::default()),
        Body::Mysql(crate::Mysql {
            operation: "SELECT".into(),
            statement: Some("SELECT * FROM t WHERE id = ?".into()),
            latency_ms: Some(1.25),
            outcome: Some(crate::Outcome::Error),
            error: Some(crate::ProtoError {
                code: Some("1146".into()),
                message: Some("Table 't' doesn't exist".into()),
            }),
            ..Default::default()
        }),
        Body::Redis(crate::Redis::default()),
        Body::Kafka(crate::Kafka::default()),
        Body::Dns(dns_none()),
        Body::Dns(dns_some()),
    ]
}

fn endpoints() -> Vec<Endpoint> {
    let partial = Identity {
        pod: Some("p".into()),
        domain: Some("d.example".into()),
        ..Identity::default()
    };
    vec![
        v4("10.0.0.1", 40000),
        v4("0.0.0.0", 0),
        v4("255.255.255.255", u16::MAX),
        v4("2001:db8::1", 443),
        v4("::", 1),
        v4("::ffff:192.0.2.1", 80),
        v4("fe80::1:2:3:4", 53),
        v4("2001:db8:0:1:1:1:1:1", 8080),
        v4("1001:1002:1003:1004:1005:1006:1007:1008", 9),
        Endpoint {
            identity: Some(full_identity()),
            ..v4("10.1.2.3", 8443)
        },
        Endpoint {
            identity: Some(Box::new(partial)),
            ..v4("2001:db8::2", 443)
        },
        Endpoint {
            identity: Some(Box::default()),
            ..v4("192.168.0.1", 22)
        },
    ]
}

#[test]
fn every_body_variant_with_optional_fields_absent_and_present() {
    let eps = endpoints();
    for (i, body) in all_bodies().into_iter().enumerate() {
        let mut rec = Record::new(
            Timestamp::from_parts(1_714_564_800 + i as u64, 1),
            eps[i % eps.len()].clone(),
            eps[(i + 3) % eps.len()].clone(),
            body,
        );
        check(&rec);
        // Found inside TLS (key logs): the marker, and only then.
        rec.inside_tls = true;
        check(&rec);
    }
}

#[test]
fn every_endpoint_on_both_sides() {
    let eps = endpoints();
    for c in &eps {
        for s in &eps {
            check(&Record::new(
                Timestamp(1),
                c.clone(),
                s.clone(),
                Body::Dns(dns_some()),
            ));
        }
    }
}

#[test]
fn kind_and_version_are_written_as_given() {
    let mut rec = Record::new(
        Timestamp(0),
        v4("1.2.3.4", 1),
        v4("5.6.7.8", 2),
        Body::Http(http_none()),
    );
    rec.kind = "odd \"kind\"\n";
    rec.v = u32::MAX;
    check(&rec);
}

const NASTY: &[&str] = &[
    "",
    "plain",
    "\"",
    "\\",
    "a\"b\\c",
    "\"\"\"\"\"\"\"\"\"\"",
    "\\\\\\\\\\\\\\\\\\",
    "tab\there\nnewline\rcr\u{8}bs\u{c}ff",
    "\u{0}\u{1}\u{2}\u{1f}\u{7f}",
    "GET /a?b=\"c\" HTTP/1.1\r\n",
    "caf\u{e9} \u{65e5}\u{672c} \u{1f600} \u{2028}\u{2029}",
    "0123456789abcdef\"0123456789abcdef\\0123456789abcdef\u{1}",
    "/\u{1f600}\u{1f600}\u{1f600}\"\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\\",
    "</script>",
];

#[test]
fn awkward_strings_in_every_string_field() {
    for s in NASTY {
        let s = s.to_string();
        let id = Identity {
            namespace: Some(s.clone()),
            pod: Some(s.clone()),
            workload: Some(s.clone()),
            service: Some(s.clone()),
            node: Some(s.clone()),
            process: Some(s.clone()),
            pid: Some(u32::MAX),
            domain: Some(s.clone()),
        };
        let client = Endpoint {
            identity: Some(Box::new(id)),
            ..v4("10.0.0.1", 1)
        };
        let server = v4("::1", 2);
        let http = Http {
            method: Some(s.clone()),
            host: Some(s.clone()),
            path: Some(s.clone()),
            version: s.clone().into(),
            request_headers: Some(vec![(s.clone(), s.clone()), (s.clone(), "x".into())]),
            response_headers: Some(vec![("y".into(), s.clone())]),
            ..http_some()
        };
        let tls = Tls {
            sni: Some(s.clone()),
            alpn: vec![s.clone(), s.clone()],
            alpn_selected: Some(s.clone()),
            version: Some(s.clone()),
            cipher: Some(s.clone()),
            client_versions: vec![s.clone()],
            client_ciphers: vec![s.clone(), "x".into()],
            ja3: Some(s.clone()),
            ja4: Some(s.clone()),
            certificate: Some(Certificate {
                subject: s.clone(),
                issuer: s.clone(),
                sans: vec![s.clone(), s.clone()],
                not_before: None,
                not_after: Some(Timestamp(u64::MAX)),
                fetched: false,
            }),
        };
        let dns = Dns {
            name: s.clone(),
            qtype: s.clone(),
            rcode: Some(s.clone()),
            answers: vec![DnsAnswer {
                name: s.clone(),
                rtype: s.clone(),
                ttl: 1,
                data: s.clone(),
            }],
            ..dns_some()
        };
        for body in [Body::Http(http), Body::Tls(tls), Body::Dns(dns)] {
            check(&Record::new(
                Timestamp(7),
                client.clone(),
                server.clone(),
                body,
            ));
        }
    }
}

#[test]
fn every_byte_escapes_like_serde_json() {
    for b in 0u8..=0x7f {
        let s = (b as char).to_string();
        for padded in [s.clone(), format!("abcdefgh{s}ijklmnop"), format!("{s}{s}")] {
            let mut out = Vec::new();
            write_str(&mut out, &padded);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&padded).unwrap(),
                "byte {b:#04x}"
            );
        }
    }
}

/// The eight-at-a-time scan against a byte-by-byte one, for every position
/// of every special byte in strings of every length up to three words, on
/// backgrounds that stress the bit tricks (bytes just above 0x20, next to
/// `"` and `\`, DEL, high bytes).
#[test]
fn chunked_scan_finds_the_first_special_byte() {
    let naive = |b: &[u8]| b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\');
    let specials: Vec<u8> = (0u8..0x20).chain([b'"', b'\\']).collect();
    let backgrounds = [
        b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
    ];
    for len in 0..=24 {
        for &bg in &backgrounds {
            let clean = vec![bg; len];
            assert_eq!(find_escape(&clean), naive(&clean));
            for pos in 0..len {
                for &sp in &specials {
                    let mut v = clean.clone();
                    v[pos] = sp;
                    assert_eq!(
                        find_escape(&v),
                        Some(pos),
                        "len {len} bg {bg:#x} sp {sp:#x}"
                    );
                    // A second special later on must not hide the first.
                    if pos + 1 < len {
                        v[len - 1] = b'"';
                        assert_eq!(find_escape(&v), Some(pos));
                    }
                }
            }
        }
    }
}

#[test]
fn floats_format_as_serde_json() {
    let values = [
        0.0,
        -0.0,
        1.0,
        1.5,
        0.1,
        0.2 + 0.1,
        1e-7,
        123456.789,
        1e15,
        1e16,
        1e17,
        1e21,
        1e22,
        123_456_789_012_345_680.0,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        1e300,
        -2.5e-5,
        0.001,
        0.0001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for &x in &values {
        let mut c = conn_some();
        c.duration_ms = x;
        c.handshake_rtt_ms = Some(x);
        check(&Record::new(
            Timestamp(0),
            v4("1.1.1.1", 1),
            v4("2.2.2.2", 2),
            Body::Connection(c),
        ));
        let mut out = Vec::new();
        write_f64(&mut out, x);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&x).unwrap()
        );
    }
}

fn display(ts: Timestamp) -> String {
    let mut out = Vec::new();
    write_timestamp(&mut out, ts);
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with('"') && s.ends_with('"'), "{s}");
    s[1..s.len() - 1].to_string()
}

#[test]
fn timestamps_equal_display() {
    const DAY: u64 = 86_400 * 1_000_000_000;
    let mut values = vec![
        0,
        1,
        999_999_999,
        1_000_000_000,
        u64::MAX,
        u64::MAX - 1,
        u64::MAX / DAY * DAY,
        Timestamp::from_parts(951_782_400, 0).0, // 2000-02-29
        Timestamp::from_parts(68_169_600, 0).0,  // 1972-02-29
        Timestamp::from_parts(4_107_456_000, 0).0, // 2100-02-28
        Timestamp::from_parts(4_107_542_400, 0).0, // 2100-03-01
        Timestamp::from_parts(13_574_563_200, 0).0, // 2400-02-29
    ];
    // Both ends of every day the type can express (1970 to 2554).
    let mut day = 0u64;
    while let Some(start) = day.checked_mul(DAY) {
        values.push(start);
        values.push(start.saturating_add(DAY - 1));
        day += 1;
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..100_000 {
        values.push(rng.next());
    }
    for v in values {
        let ts = Timestamp(v);
        assert_eq!(display(ts), ts.to_string(), "nanos {v}");
    }
    assert_eq!(display(Timestamp(0)), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(
        display(Timestamp(u64::MAX)),
        "2554-07-21T23:34:33.709551615Z"
    );
    assert_eq!(
        display(Timestamp::from_parts(951_782_400, 1)),
        "2000-02-29T00:00:00.000000001Z"
    );
    assert_eq!(
        display(Timestamp::from_parts(4_107_542_399, 0)),
        "2100-02-28T23:59:59.000000000Z"
    );
    assert_eq!(
        display(Timestamp::from_parts(4_107_542_400, 0)),
        "2100-03-01T00:00:00.000000000Z"
    );
    assert_eq!(
        display(Timestamp::from_parts(13_574_563_200, 0)),
        "2400-02-29T00:00:00.000000000Z"
    );
}

#[test]
fn addresses_equal_display() {
    let mut rng = XorShift(12345);
    let check_ep = |ip: IpAddr, port: u16| {
        let ep = Endpoint::new(ip, port);
        let mut out = Vec::new();
        write_endpoint(&mut out, &ep);
        let mine = String::from_utf8(out).unwrap();
        assert_eq!(mine, serde_json::to_string(&ep).unwrap());
        assert_eq!(mine, format!("{{\"ip\":\"{ip}\",\"port\":{port}}}"));
    };
    for pos in 0..4 {
        for o in 0..=255u8 {
            let mut octets = [1, 22, 133, 4];
            octets[pos] = o;
            check_ep(IpAddr::V4(Ipv4Addr::from(octets)), u16::from(o));
        }
    }
    check_ep(IpAddr::V4(Ipv4Addr::BROADCAST), u16::MAX);
    check_ep(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    for _ in 0..20_000 {
        check_ep(
            IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
            rng.next() as u16,
        );
        check_ep(IpAddr::V6(random_v6(&mut rng)), rng.next() as u16);
    }
}

#[test]
fn integers_equal_serde_json() {
    let check_int = |v: u64| {
        let mut out = Vec::new();
        write_u64(&mut out, v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    };
    for v in 0..=200_000 {
        check_int(v);
    }
    let mut p = 1u64;
    while let Some(next) = p.checked_mul(10) {
        for v in [p - 1, p, p + 1, next - 1] {
            check_int(v);
        }
        p = next;
    }
    check_int(u64::MAX);
    let mut rng = XorShift(777);
    for _ in 0..100_000 {
        check_int(rng.next());
        check_int(rng.next() >> rng.below(64));
    }
}

/// Clean strings of every length around the small-copy cut-offs, with an
/// escape at every position too.
#[test]
fn strings_of_every_length() {
    let text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for len in 0..=text.len() {
        let s = &text[..len];
        let mut out = Vec::new();
        write_str(&mut out, s);
        assert_eq!(String::from_utf8(out).unwrap(), format!("\"{s}\""));
        for pos in 0..len {
            let mut t = s.to_string();
            t.replace_range(pos..pos + 1, "\n");
            let mut out = Vec::new();
            write_str(&mut out, &t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Pseudo-random records.

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn u64(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(10),
            1 => self.below(100_000),
            2 => [0, 1, u64::MAX, u64::MAX - 1, 1 << 53, (1 << 53) + 1][self.below(6) as usize],
            _ => self.next(),
        }
    }

    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.next()), // anything, NaN and infinities too
            1 => self.below(10_000_000) as f64 / 1000.0,
            2 => self.below(1 << 20) as f64,
            3 => (self.below(1_000_000) as f64) * 1e-9,
            4 => self.next() as f64 * 1e10,
            _ => [0.0, -0.0, 0.1, 1e-7, 1e16, 1e21, f64::MAX, 5e-324][self.below(8) as usize],
        }
    }

    fn string(&mut self) -> String {
        const POOL: &[&str] = &[
            "a",
            "Z",
            "0",
            "/",
            "?",
            "=",
            "&",
            "-",
            ".",
            " ",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{0}",
            "\u{1}",
            "\u{1b}",
            "\u{1f}",
            "\u{7f}",
            "\u{e9}",
            "\u{65e5}",
            "\u{1f600}",
            "\u{2028}",
            "abcdefgh",
            "/api/v1/",
            "example.com",
        ];
        let len = match self.below(4) {
            0 => 0,
            1 => self.below(4),
            2 => self.below(20),
            _ => self.below(80),
        };
        // Mostly clean text, so long clean runs occur too.
        let dirty = self.below(3) == 0;
        (0..len)
            .map(|_| {
                let i = if dirty {
                    self.below(POOL.len() as u64)
                } else {
                    self.below(10)
                };
                POOL[i as usize]
            })
            .collect()
    }

    fn opt_string(&mut self) -> Option<String> {
        self.coin().then(|| self.string())
    }

    fn strings(&mut self) -> Vec<String> {
        (0..self.below(4)).map(|_| self.string()).collect()
    }

    fn ts(&mut self) -> Timestamp {
        if self.coin() {
            Timestamp(self.next())
        } else {
            Timestamp(1_700_000_000_000_000_000 + self.below(1 << 50))
        }
    }
}

fn random_v6(rng: &mut XorShift) -> Ipv6Addr {
    // Zero runs of every length and position, IPv4-mapped and -compatible forms.
    let mut segs = [0u16; 8];
    for s in &mut segs {
        *s = if rng.below(3) == 0 {
            0
        } else {
            rng.next() as u16
        };
    }
    match rng.below(6) {
        0 => Ipv4Addr::from(rng.next() as u32).to_ipv6_mapped(),
        1 => Ipv4Addr::from(rng.next() as u32).to_ipv6_compatible(),
        2 => Ipv6Addr::from(segs.map(|s| s & 0xf)),
        _ => Ipv6Addr::from(segs),
    }
}

fn random_endpoint(rng: &mut XorShift) -> Endpoint {
    let ip = if rng.coin() {
        IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
    } else {
        IpAddr::V6(random_v6(rng))
    };
    let identity = rng.coin().then(|| {
        Box::new(Identity {
            namespace: rng.opt_string(),
            pod: rng.opt_string(),
            workload: rng.opt_string(),
            service: rng.opt_string(),
            node: rng.opt_string(),
            process: rng.opt_string(),
            pid: rng.coin().then(|| rng.next() as u32),
            domain: rng.opt_string(),
        })
    });
    Endpoint {
        ip,
        port: rng.next() as u16,
        identity,
    }
}

fn random_headers(rng: &mut XorShift) -> Option<Vec<(String, String)>> {
    rng.coin().then(|| {
        (0..rng.below(5))
            .map(|_| (rng.string(), rng.string()))
            .collect()
    })
}

fn random_error(rng: &mut XorShift) -> Option<crate::ProtoError> {
    rng.coin().then(|| crate::ProtoError {
        code: rng.opt_string(),
        message: rng.opt_string(),
    })
}

fn random_outcome(rng: &mut XorShift) -> Option<crate::Outcome> {
    [None, Some(crate::Outcome::Ok), Some(crate::Outcome::Error)][rng.below(3) as usize]
}

fn opt_u64(rng: &mut XorShift) -> Option<u64> {
    rng.coin().then(|| rng.u64())
}

fn opt_f64(rng: &mut XorShift) -> Option<f64> {
    rng.coin().then(|| rng.f64())
}

/// Any value of a signed integer type, negative ones included.
fn signed(rng: &mut XorShift) -> i64 {
    rng.next() as i64 >> rng.below(64)
}

fn random_request_body(rng: &mut XorShift) -> Body {
    use crate::proto::kafka::{KafkaPartition, KafkaTopic};
    use crate::proto::postgres::PgProtocol;
    match rng.below(4) {
        0 => Body::Postgres(crate::Postgres {
            operation: rng.string().into(),
            statement: rng.opt_string(),
            truncated: rng.coin(),
            statement_name: rng.opt_string(),
            protocol: [None, Some(PgProtocol::Simple), Some(PgProtocol::Extended)]
                [rng.below(3) as usize],
            database: rng.opt_string().map(Into::into),
            user: rng.opt_string().map(Into::into),
            application: rng.opt_string().map(Into::into),
            backend_pid: rng.coin().then(|| rng.next() as u32),
            latency_ms: opt_f64(rng),
            outcome: random_outcome(rng),
            error: random_error(rng),
            severity: rng.opt_string(),
            tag: rng.opt_string(),
            rows: opt_u64(rng),
            copy_bytes: opt_u64(rng),
            notices: rng.next() as u32,
            channel: rng.opt_string(),
            auth: rng.opt_string(),
        }),
        1 => Body::Mysql(crate::Mysql {
            operation: rng.string(),
            command: rng.string(),
            statement: rng.opt_string(),
            truncated: rng.coin(),
            statement_id: rng.coin().then(|| rng.next() as u32),
            user: rng.opt_string(),
            database: rng.opt_string(),
            server_version: rng.opt_string(),
            latency_ms: opt_f64(rng),
            outcome: random_outcome(rng),
            error: random_error(rng),
            sqlstate: rng.opt_string(),
            results: rng.coin().then(|| rng.next() as u32),
            columns: opt_u64(rng),
            rows: opt_u64(rng),
            affected_rows: opt_u64(rng),
            warnings: rng.coin().then(|| rng.next() as u16),
            infile_bytes: opt_u64(rng),
        }),
        2 => Body::Redis(crate::Redis {
            operation: rng.string().into(),
            command: rng.opt_string(),
            key: rng.opt_string(),
            channel: rng.opt_string(),
            pattern: rng.opt_string(),
            args: rng.u64(),
            command_bytes: rng.u64(),
            queued: rng.coin(),
            latency_ms: opt_f64(rng),
            outcome: random_outcome(rng),
            error: random_error(rng),
            reply_type: [None, Some("bulk"), Some("a \"b\"\n")][rng.below(3) as usize],
            reply_bytes: opt_u64(rng),
            reply_elements: opt_u64(rng),
            reply_errors: opt_u64(rng),
            payload_bytes: opt_u64(rng),
            truncated: rng.coin(),
        }),
        _ => Body::Kafka(crate::Kafka {
            operation: rng.string(),
            latency_ms: opt_f64(rng),
            outcome: random_outcome(rng),
            error: random_error(rng),
            api_key: signed(rng) as i16,
            api_version: signed(rng) as i16,
            correlation_id: signed(rng) as i32,
            client_id: rng.opt_string(),
            acks: rng.coin().then(|| signed(rng) as i16),
            topics: (0..rng.below(3))
                .map(|_| KafkaTopic {
                    name: rng.opt_string(),
                    id: rng.opt_string(),
                    records: opt_u64(rng),
                    record_bytes: opt_u64(rng),
                    partitions: (0..rng.below(3))
                        .map(|_| KafkaPartition {
                            partition: signed(rng) as i32,
                            records: opt_u64(rng),
                            record_bytes: opt_u64(rng),
                            error: rng.opt_string(),
                        })
                        .collect(),
                })
                .collect(),
            records: opt_u64(rng),
            record_bytes: opt_u64(rng),
            request_bytes: rng.u64(),
            response_bytes: opt_u64(rng),
            truncated: rng.coin(),
        }),
    }
}

fn random_body(rng: &mut XorShift) -> Body {
    if rng.coin() {
        return random_request_body(rng);
    }
    match rng.below(4) {
        0 => Body::Connection(Connection {
            proto: if rng.coin() {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            first_seen: rng.ts(),
            last_seen: rng.ts(),
            duration_ms: rng.f64(),
            close: [Close::Fin, Close::Rst, Close::Timeout, Close::Open][rng.below(4) as usize],
            handshake_rtt_ms: rng.coin().then(|| rng.f64()),
            retransmits: rng.u64(),
            client_to_server: DirectionStats {
                packets: rng.u64(),
                bytes: rng.u64(),
                payload_bytes: rng.u64(),
            },
            server_to_client: DirectionStats {
                packets: rng.u64(),
                bytes: rng.u64(),
                payload_bytes: rng.u64(),
            },
            handshake_seen: rng.coin(),
            kernel: rng.coin().then(|| crate::KernelCounters {
                side: if rng.coin() {
                    Side::Client
                } else {
                    Side::Server
                },
                bytes_acked: rng.u64(),
                bytes_received: rng.u64(),
                srtt_ms: rng.coin().then(|| rng.f64()),
                retransmits: rng.u64(),
            }),
        }),
        1 => Body::Tls(Tls {
            sni: rng.opt_string(),
            alpn: rng.strings(),
            alpn_selected: rng.opt_string(),
            version: rng.opt_string(),
            cipher: rng.opt_string(),
            client_versions: rng.strings(),
            client_ciphers: rng.strings(),
            ja3: rng.opt_string(),
            ja4: rng.opt_string(),
            certificate: rng.coin().then(|| Certificate {
                subject: rng.string(),
                issuer: rng.string(),
                sans: rng.strings(),
                not_before: rng.coin().then(|| rng.ts()),
                not_after: rng.coin().then(|| rng.ts()),
                fetched: rng.coin(),
            }),
        }),
        2 => Body::Http(Http {
            method: rng.opt_string(),
            host: rng.opt_string(),
            path: rng.opt_string(),
            version: rng.string().into(),
            status: rng.coin().then(|| rng.next() as u16),
            latency_ms: rng.coin().then(|| rng.f64()),
            request_body_bytes: rng.u64(),
            response_body_bytes: rng.coin().then(|| rng.u64()),
            request_headers: random_headers(rng),
            response_headers: random_headers(rng),
            stream_id: rng.coin().then(|| rng.next() as u32),
            grpc: rng.coin().then(|| {
                Box::new(crate::Grpc {
                    service: rng.string(),
                    method: rng.string(),
                    status: rng.coin().then(|| rng.next() as u32),
                    message: rng.opt_string(),
                    request_messages: rng.u64(),
                    response_messages: rng.u64(),
                })
            }),
        }),
        _ => Body::Dns(Dns {
            transport: if rng.coin() {
                DnsTransport::Udp
            } else {
                DnsTransport::Tcp
            },
            id: rng.next() as u16,
            name: rng.string(),
            qtype: rng.string(),
            rcode: rng.opt_string(),
            answers: (0..rng.below(4))
                .map(|_| DnsAnswer {
                    name: rng.string(),
                    rtype: rng.string(),
                    ttl: rng.next() as u32,
                    data: rng.string(),
                })
                .collect(),
            latency_ms: rng.coin().then(|| rng.f64()),
        }),
    }
}

fn random_record(rng: &mut XorShift) -> Record {
    let ts = rng.ts();
    let client = random_endpoint(rng);
    let server = random_endpoint(rng);
    let mut rec = Record::new(ts, client, server, random_body(rng));
    rec.inside_tls = rng.ts().0.is_multiple_of(3);
    rec
}

#[test]
fn random_records_match_serde_json() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    // Also as a stream: appending many records to one buffer, as jsonl does.
    let mut stream = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..10_000 {
        let rec = random_record(&mut rng);
        check(&rec);
        write_record(&mut stream, &rec);
        stream.push(b'\n');
        serde_json::to_writer(&mut reference, &rec).unwrap();
        reference.push(b'\n');
    }
    assert!(stream == reference);
}

// ---------------------------------------------------------------------------
// Throwaway timing: `cargo test -p podwire-record --release --lib -- --ignored
// --nocapture json_speed`.

fn representative_http(i: u64) -> Record {
    Record::new(
        Timestamp(1_714_564_800_000_000_000 + i * 1_234_567),
        Endpoint::new(
            IpAddr::V4(Ipv4Addr::new(10, 244, (i % 7) as u8, (i % 250) as u8)),
            40_000 + (i % 20_000) as u16,
        ),
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 12)), 8080),
        Body::Http(Http {
            method: Some("GET".into()),
            host: Some("api.default.svc.cluster.local:8080".into()),
            path: Some(format!(
                "/api/v1/items/{}?fields=name,price&page=2",
                i % 1000
            )),
            version: "HTTP/1.1".into(),
            status: Some(200),
            latency_ms: Some(1.0 + (i % 997) as f64 / 1000.0),
            request_body_bytes: 0,
            response_body_bytes: Some(1024 + i % 4096),
            request_headers: None,
            response_headers: None,
            stream_id: None,
            grpc: None,
        }),
    )
}

fn representative_connection(i: u64) -> Record {
    let first = Timestamp(1_714_564_800_000_000_000 + i * 9_876_543);
    Record::new(
        first,
        Endpoint::new(
            IpAddr::V4(Ipv4Addr::new(10, 244, 1, (i % 250) as u8)),
            30_000 + (i % 30_000) as u16,
        ),
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 12)), 8080),
        Body::Connection(Connection {
            proto: Transport::Tcp,
            first_seen: first,
            last_seen: Timestamp(first.0 + 5_000_000 + i * 1_001),
            duration_ms: first.millis_until(Timestamp(first.0 + 5_000_000 + i * 1_001)),
            close: Close::Fin,
            handshake_rtt_ms: Some(0.05 + (i % 100) as f64 / 1e4),
            retransmits: i % 3,
            client_to_server: DirectionStats {
                packets: 10 + i % 50,
                bytes: 1_000 + i % 100_000,
                payload_bytes: 500 + i % 90_000,
            },
            server_to_client: DirectionStats {
                packets: 12 + i % 40,
                bytes: 20_000 + i % 1_000_000,
                payload_bytes: 19_000 + i % 900_000,
            },
            handshake_seen: true,
            kernel: None,
        }),
    )
}

/// CPU time of this thread in ns (Linux schedstat), else wall time: the
/// machine this runs on is often shared.
fn cpu_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| START.get_or_init(Instant::now).elapsed().as_nanos() as u64)
}

#[test]
#[ignore = "timing, not a test; run in release with --nocapture"]
fn json_speed() {
    use std::hint::black_box;

    fn time(label: &str, recs: &[Record]) {
        const FLUSH: usize = 256 << 10;
        let mut buf = Vec::with_capacity(FLUSH + 4096);
        let mut best = [f64::MAX; 2];
        let mut bytes = 0;
        let rounds = std::env::var("JSON_SPEED_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(15);
        for _ in 0..rounds {
            let t = cpu_ns();
            for r in recs {
                serde_json::to_writer(&mut buf, r).unwrap();
                buf.push(b'\n');
                if buf.len() >= FLUSH {
                    black_box(&buf);
                    buf.clear();
                }
            }
            best[0] = best[0].min((cpu_ns() - t) as f64 / recs.len() as f64);
            buf.clear();
            bytes = 0;
            let t = cpu_ns();
            for r in recs {
                write_record(&mut buf, r);
                buf.push(b'\n');
                if buf.len() >= FLUSH {
                    bytes += buf.len();
                    black_box(&buf);
                    buf.clear();
                }
            }
            best[1] = best[1].min((cpu_ns() - t) as f64 / recs.len() as f64);
            bytes += buf.len();
            buf.clear();
        }
        println!(
            "{label}: {} bytes/record; serde_json {:.1} ns/record, write_record {:.1} ns/record, {:.2}x",
            bytes / recs.len(),
            best[0],
            best[1],
            best[0] / best[1]
        );
    }

    let http: Vec<Record> = (0..400_000).map(representative_http).collect();
    let conns: Vec<Record> = (0..80_000).map(representative_connection).collect();
    for r in http.iter().take(1000).chain(conns.iter().take(1000)) {
        check(r);
    }
    time("http x400k", &http);
    time("connection x80k", &conns);
}
