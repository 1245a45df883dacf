use super::*;
use crate::testutil::*;
use serde_json::Value;

fn all(records: &[Record]) -> Vec<(TlsConnection, TlsDetails)> {
    collect(records.iter(), &GraphQuery::default())
}

fn hello(client: &str, server: &str, sni: &str, version: &str) -> Record {
    tls(
        client,
        server,
        Some(sni),
        Some(version),
        Some("TLS_AES_128_GCM_SHA256"),
    )
}

/// FNV-1a, 32 bits, written from its definition.
fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

#[test]
fn reference_fnv1a_matches_the_published_vectors() {
    assert_eq!(fnv1a(b""), 0x811c_9dc5);
    assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
}

#[test]
fn pair_id_is_fnv1a_of_source_dash_destination() {
    for (src, dst) in [
        ("10.0.0.1", "10.0.0.2"),
        ("2001:db8::1", "10.0.0.2"),
        ("", ""),
    ] {
        let want = fnv1a(format!("{src}-{dst}").as_bytes()).to_string();
        assert_eq!(pair_id(src, dst), want);
    }
}

#[test]
fn pair_id_is_stable_and_directed() {
    let a = pair_id("10.0.0.1", "10.0.0.2");
    assert_eq!(a, pair_id("10.0.0.1", "10.0.0.2"));
    assert_ne!(a, pair_id("10.0.0.2", "10.0.0.1"));
    assert!(a.chars().all(|c| c.is_ascii_digit()));
}

#[test]
fn one_row_per_address_pair_keeping_the_newest_handshake() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "old.test", "TLS 1.2").at(1000),
        hello("10.0.0.1:40001", "10.0.0.2:8443", "new.test", "TLS 1.3").at(3000),
        hello("10.0.0.1:40002", "10.0.0.2:443", "mid.test", "TLS 1.2").at(2000),
        hello("10.0.0.1:40003", "10.0.0.3:443", "other.test", "TLS 1.3").at(500),
    ];
    let rows = all(&recs);
    assert_eq!(rows.len(), 2);
    let (row, details) = rows
        .iter()
        .find(|r| r.0.dst == "10.0.0.2")
        .expect("the 10.0.0.2 pair");
    assert_eq!(row.id, pair_id("10.0.0.1", "10.0.0.2"));
    assert_eq!(row.last_seen, at(3000));
    assert_eq!(row.domain, "new.test");
    assert_eq!(row.used_tls_version, "TLS 1.3");
    // Ports are not part of the pair; the newest one shows.
    assert_eq!(row.dst_port, 8443);
    assert_eq!(details.port, 8443);
    assert_eq!(details.id, row.id);
}

#[test]
fn rows_are_newest_first() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "a.test", "TLS 1.3").at(1000),
        hello("10.0.0.1:40000", "10.0.0.3:443", "b.test", "TLS 1.3").at(3000),
        hello("10.0.0.1:40000", "10.0.0.4:443", "c.test", "TLS 1.3").at(2000),
    ];
    let order: Vec<_> = all(&recs).into_iter().map(|r| r.0.domain).collect();
    assert_eq!(order, ["b.test", "c.test", "a.test"]);
}

#[test]
fn a_tls13_handshake_keeps_the_certificate_of_an_older_tls12_one() {
    let old = hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2")
        .at(1000)
        .with_cert(certificate("api.test", 1_690_000_000, 1_790_000_000));
    let new = hello("10.0.0.1:40001", "10.0.0.2:443", "api.test", "TLS 1.3").at(2000);
    // In either order of arrival.
    for recs in [[old.clone(), new.clone()], [new.clone(), old.clone()]] {
        let rows = all(&recs);
        assert_eq!(rows.len(), 1);
        let (row, d) = &rows[0];
        assert_eq!(row.used_tls_version, "TLS 1.3");
        assert_eq!(row.last_seen, at(2000));
        assert_eq!(d.used_tls_version, "TLS 1.3");
        let c = &d.certificate;
        assert_eq!(c.not_before, Some(Timestamp::from_parts(1_690_000_000, 0)));
        assert_eq!(c.not_after, Some(Timestamp::from_parts(1_790_000_000, 0)));
        assert_eq!(c.last_scrape, Some(at(1000)));
    }
}

#[test]
fn a_newer_certificate_replaces_an_older_one() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2")
            .at(2000)
            .with_cert(certificate("api.test", 1_700_000_000, 1_800_000_000)),
        hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2")
            .at(1000)
            .with_cert(certificate("api.test", 1_600_000_000, 1_700_000_000)),
    ];
    let rows = all(&recs);
    let c = &rows[0].1.certificate;
    assert_eq!(c.not_after, Some(Timestamp::from_parts(1_800_000_000, 0)));
    assert_eq!(c.last_scrape, Some(at(2000)));
}

#[test]
fn a_tls13_pair_has_no_certificate() {
    let rows = all(&[hello(
        "10.0.0.1:40000",
        "10.0.0.2:443",
        "api.test",
        "TLS 1.3",
    )]);
    assert_eq!(rows[0].1.certificate, CertificateInfo::default());
    let v = serde_json::to_value(&rows[0].1).unwrap();
    for k in ["notBefore", "notAfter", "serverChain", "lastScrape"] {
        assert_eq!(v["certificate"][k], Value::Null, "{k}");
    }
}

#[test]
fn details_show_what_the_client_offered_and_the_certificate_chain() {
    let mut r = hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.3")
        .with_cert(certificate("api.test", 1_690_000_000, 1_790_000_000));
    if let Body::Tls(t) = &mut r.body {
        t.client_versions = vec!["TLS 1.3".into(), "TLS 1.2".into()];
        t.client_ciphers = vec![
            "TLS_AES_128_GCM_SHA256".into(),
            "TLS_CHACHA20_POLY1305_SHA256".into(),
        ];
    }
    let rows = all(&[r]);
    let d = &rows[0].1;
    assert_eq!(d.domain, "api.test");
    assert_eq!(d.dst, "10.0.0.2");
    assert_eq!(d.client_tls_versions, ["TLS 1.3", "TLS 1.2"]);
    assert_eq!(
        d.client_cipher_suites,
        ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]
    );
    assert_eq!(d.used_cipher_suite, "TLS_AES_128_GCM_SHA256");
    let chain = d.certificate.server_chain.as_deref().unwrap();
    for part in ["api.test", "Test CA", "www.api.test"] {
        assert!(chain.contains(part), "{part} in {chain:?}");
    }
}

#[test]
fn rows_name_their_ends() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "db.test", "TLS 1.3")
            .client_id(id().ns("prod").pod("api-1").workload("Deployment/api"))
            .server_id(id().domain("db.test")),
        hello(
            "[::ffff:10.0.0.5]:40000",
            "10.0.0.6:443",
            "x.test",
            "TLS 1.3",
        ),
    ];
    let rows = all(&recs);
    let named = &rows.iter().find(|r| r.0.dst == "10.0.0.2").unwrap().0;
    assert_eq!(named.src, "10.0.0.1");
    assert_eq!(named.src_name, "api-1");
    assert_eq!(named.src_namespace, "prod");
    assert_eq!(named.dst_name, "db.test");
    // Unnamed ends are their (canonical) addresses; no namespace is "".
    let unnamed = &rows.iter().find(|r| r.0.dst == "10.0.0.6").unwrap().0;
    assert_eq!(unnamed.src, "10.0.0.5");
    assert_eq!(unnamed.src_name, "10.0.0.5");
    assert_eq!(unnamed.dst_name, "10.0.0.6");
    assert_eq!(unnamed.src_namespace, "");
    assert_eq!(unnamed.id, pair_id("10.0.0.5", "10.0.0.6"));
}

#[test]
fn a_handshake_without_a_server_hello_has_empty_version_and_cipher() {
    let rows = all(&[tls("10.0.0.1:40000", "10.0.0.2:443", None, None, None)]);
    let row = &rows[0].0;
    assert_eq!(row.used_tls_version, "");
    assert_eq!(row.used_cipher_suite, "");
    assert_eq!(row.domain, "");
}

#[test]
fn records_other_than_tls_are_ignored() {
    let recs = [
        conn("10.0.0.1:40000", "10.0.0.2:443").build(),
        http(
            "10.0.0.1:40000",
            "10.0.0.2:80",
            Some("GET"),
            Some(200),
            None,
        ),
        dns("10.0.0.1:40000", "10.0.0.2:53", "A", None, None),
    ];
    assert!(all(&recs).is_empty());
}

#[test]
fn from_and_to_select_handshakes_by_time_inclusively() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "a.test", "TLS 1.3").at(1000),
        hello("10.0.0.1:40000", "10.0.0.3:443", "b.test", "TLS 1.3").at(2000),
        hello("10.0.0.1:40000", "10.0.0.4:443", "c.test", "TLS 1.3").at(3000),
    ];
    let q = GraphQuery::parse(&format!("from={}&to={}", BASE_MS + 2000, BASE_MS + 3000)).unwrap();
    let domains: Vec<_> = collect(recs.iter(), &q)
        .into_iter()
        .map(|r| r.0.domain)
        .collect();
    assert_eq!(domains, ["c.test", "b.test"]);
}

#[test]
fn namespace_include_and_exclude_apply_to_tls_rows() {
    let recs = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "a.test", "TLS 1.3")
            .client_id(id().ns("prod").pod("api-1")),
        hello("10.0.0.5:40000", "10.0.0.6:443", "b.test", "TLS 1.3")
            .client_id(id().ns("staging").pod("web-1")),
    ];
    let domains = |query: &str| -> Vec<String> {
        let q = GraphQuery::parse(query).unwrap();
        collect(recs.iter(), &q)
            .into_iter()
            .map(|r| r.0.domain)
            .collect()
    };
    assert_eq!(domains("namespace=^prod$"), ["a.test"]);
    assert_eq!(domains("include=web-1"), ["b.test"]);
    assert_eq!(domains(r"exclude=10\.0\.0\.2"), ["b.test"]);
}

#[test]
fn merging_agents_rows_does_not_depend_on_their_order() {
    let a = [
        hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2")
            .at(1000)
            .with_cert(certificate("api.test", 1_690_000_000, 1_790_000_000)),
        hello("10.0.0.1:40000", "10.0.0.3:443", "x.test", "TLS 1.3").at(5000),
    ];
    let b = [
        hello("10.0.0.1:40001", "10.0.0.2:443", "api.test", "TLS 1.3").at(2000),
        hello("10.0.0.1:40000", "10.0.0.3:443", "x.test", "TLS 1.2").at(4000),
    ];
    let merged = |first: &[Record], second: &[Record]| {
        let mut by_pair = FxHashMap::default();
        for (row, d) in all(first).into_iter().chain(all(second)) {
            merge_into(&mut by_pair, row, d);
        }
        let mut v: Vec<_> = by_pair.into_values().collect();
        v.sort_by(|x, y| x.0.id.cmp(&y.0.id));
        v
    };
    let ab = merged(&a, &b);
    assert_eq!(ab, merged(&b, &a));
    let mut every: Vec<_> = all(&[a, b].concat());
    every.sort_by(|x, y| x.0.id.cmp(&y.0.id));
    assert_eq!(ab, every);
}

// ---------------------------------------------------------------- JSON

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(|s| s.as_str()).collect();
    k.sort();
    k
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort();
    v
}

#[test]
fn row_json_has_the_contracts_field_names() {
    let rows = all(&[hello(
        "10.0.0.1:40000",
        "10.0.0.2:443",
        "api.test",
        "TLS 1.3",
    )]);
    let v = serde_json::to_value(&rows[0].0).unwrap();
    assert_eq!(
        keys(&v),
        sorted(vec![
            "id",
            "src",
            "srcName",
            "srcNamespace",
            "dst",
            "dstName",
            "dstPort",
            "domain",
            "usedTLSVersion",
            "usedCipherSuite",
            "lastSeen",
        ])
    );
    assert_eq!(v["dstPort"], 443);
    assert!(v["dstPort"].is_u64());
    assert_eq!(v["usedTLSVersion"], "TLS 1.3");
    assert_eq!(v["usedCipherSuite"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(v["lastSeen"], at(0).to_string());
}

#[test]
fn details_json_has_the_contracts_field_names() {
    let rows = all(&[
        hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2").with_cert(certificate(
            "api.test",
            1_690_000_000,
            1_790_000_000,
        )),
    ]);
    let v = serde_json::to_value(&rows[0].1).unwrap();
    assert_eq!(
        keys(&v),
        sorted(vec![
            "id",
            "domain",
            "dst",
            "port",
            "clientTLSVersions",
            "clientCipherSuites",
            "usedTLSVersion",
            "usedCipherSuite",
            "certificate",
        ])
    );
    assert!(v["port"].is_u64());
    assert!(v["clientTLSVersions"].is_array());
    assert!(v["clientCipherSuites"].is_array());
    assert_eq!(
        keys(&v["certificate"]),
        sorted(vec!["notBefore", "notAfter", "serverChain", "lastScrape"])
    );
    // `date -u -d @1790000000`, in the record schema's RFC 3339 form.
    assert_eq!(
        v["certificate"]["notAfter"],
        "2026-09-21T14:13:20.000000000Z"
    );
}

#[test]
fn rows_and_details_survive_a_json_round_trip() {
    let rows = all(&[
        hello("10.0.0.1:40000", "10.0.0.2:443", "api.test", "TLS 1.2")
            .at(1234)
            .with_cert(certificate("api.test", 1_690_000_000, 1_790_000_000))
            .client_id(id().ns("prod").pod("api-1")),
        hello("10.0.0.1:40000", "10.0.0.3:443", "x.test", "TLS 1.3").at(99),
    ]);
    for (row, d) in rows {
        let back: TlsConnection =
            serde_json::from_str(&serde_json::to_string(&row).unwrap()).unwrap();
        assert_eq!(back, row);
        let back: TlsDetails = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
