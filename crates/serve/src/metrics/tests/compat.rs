//! Escaping of names off the wire, and k8spacket's metric names.

use super::*;

// ------------------------------------------------------------- escaping

#[test]
fn label_values_are_escaped() {
    // A process may name itself anything; a name seen in SNI is off the wire.
    let weird = "we\"ird\\name\nx";
    for cfg in [MetricsConfig::default(), k8spacket()] {
        let m = metrics(cfg);
        m.observe(&conn(CLIENT, SERVER).build().client_id(id().process(weird)));
        m.observe(
            &tls(CLIENT, SERVER, Some(weird), Some("TLS 1.2"), None)
                .server_id(id().domain(weird))
                .with_cert(certificate("x", 1_600_000_000, 1_800_000_000)),
        );
        let (_, s) = scrape(&m);
        assert_eq!(
            value(&s, "podwire_connections_total", &[("src", weird)]),
            1.0
        );
        assert_eq!(
            value(&s, "podwire_tls_handshakes_total", &[("dst", weird)]),
            1.0
        );
        assert_eq!(
            value(
                &s,
                "podwire_tls_certificate_expiry_timestamp_seconds",
                &[("dst", weird), ("domain", weird)]
            ),
            1_800_000_000.0
        );
    }
}

// ------------------------------------------------------------- k8spacket

fn k8s_conn_labels_of(src_name: &str, persistent: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ns", "prod".into()),
        ("src", "10.0.0.1".into()),
        ("src_name", src_name.into()),
        ("src_port", "dynamic".into()),
        ("dst", "10.0.0.2".into()),
        ("dst_name", "10.0.0.2".into()),
        ("dst_port", "80".into()),
        ("persistent", persistent.into()),
    ]
}

fn as_refs<'a>(l: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    l.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn k8spacket_names_are_off_by_default() {
    let m = metrics(MetricsConfig::default());
    m.observe(&conn(CLIENT, "10.0.0.2:80").build());
    m.observe(
        &tls(
            CLIENT,
            "10.0.0.2:443",
            Some("a.test"),
            Some("TLS 1.2"),
            None,
        )
        .with_cert(certificate("a.test", 1, 2)),
    );
    let (text, _) = scrape(&m);
    assert!(!text.contains("k8s_packet"));
}

#[test]
fn k8spacket_summaries_observe_payload_bytes_and_seconds_per_closed_connection() {
    let m = metrics(k8spacket());
    let client = id().ns("prod").pod("api-1").workload("Deployment/api");
    let rec = |ms: f64, up: u64, down: u64| {
        conn("10.0.0.1:41234", "10.0.0.2:80")
            .duration_ms(ms)
            .bytes(up * 10, down * 10)
            .payload(up, down)
    };
    for b in [
        rec(2500.0, 100, 1000),
        rec(500.0, 20, 30),
        rec(1000.0, 5, 5).close(Close::Rst),
        rec(12_000.0, 1, 2),
        // Neither UDP flows nor connections still open.
        rec(1000.0, 7, 7).udp(),
        rec(1000.0, 9, 9).close(Close::Open),
    ] {
        m.observe(&b.build().client_id(client.clone()));
    }
    let (_, s) = scrape(&m);
    let short = k8s_conn_labels_of("api", "false");
    let long = k8s_conn_labels_of("api", "true");
    let (short, long) = (as_refs(&short), as_refs(&long));
    // 2500 + 500 + 1000 ms short-lived; 12 s persistent (threshold 10 s).
    assert_eq!(value(&s, "k8s_packet_bytes_sent_sum", &short), 125.0);
    assert_eq!(value(&s, "k8s_packet_bytes_sent_count", &short), 3.0);
    assert_eq!(value(&s, "k8s_packet_bytes_received_sum", &short), 1035.0);
    assert_eq!(value(&s, "k8s_packet_bytes_received_count", &short), 3.0);
    assert_eq!(value(&s, "k8s_packet_duration_seconds_sum", &short), 4.0);
    assert_eq!(value(&s, "k8s_packet_duration_seconds_count", &short), 3.0);
    assert_eq!(value(&s, "k8s_packet_bytes_sent_sum", &long), 1.0);
    assert_eq!(value(&s, "k8s_packet_duration_seconds_sum", &long), 12.0);
    let series = matching(&s, "k8s_packet_duration_seconds_count", &[]);
    assert_eq!(series.len(), 2, "{series:?}");
}

#[test]
fn k8spacket_duration_is_in_seconds() {
    let m = metrics(k8spacket());
    m.observe(
        &conn("10.0.0.1:41234", "10.0.0.2:80")
            .duration_ms(2500.0)
            .build()
            .client_id(id().ns("prod").pod("api-1")),
    );
    let (_, s) = scrape(&m);
    let l = k8s_conn_labels_of("api-1", "false");
    assert_eq!(
        value(&s, "k8s_packet_duration_seconds_sum", &as_refs(&l)),
        2.5
    );
}

#[test]
fn k8spacket_namespace_is_the_servers_when_the_client_has_none() {
    let m = metrics(k8spacket());
    m.observe(
        &conn("203.0.113.9:41234", "10.0.0.2:80")
            .build()
            .server_id(id().ns("web").pod("front-1").workload("Deployment/front")),
    );
    let (_, s) = scrape(&m);
    let x = matching(&s, "k8s_packet_bytes_sent_count", &[]);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].label("ns"), Some("web"));
    assert_eq!(x[0].label("src_name"), Some("203.0.113.9"));
    assert_eq!(x[0].label("dst_name"), Some("front"));
    assert_eq!(x[0].label("src_port"), Some("dynamic"));
}

#[test]
fn k8spacket_tls_record_and_certificate_expiry() {
    let m = metrics(k8spacket());
    let hs = || {
        tls(
            "10.0.0.1:41234",
            "10.0.0.2:8443",
            Some("api.test"),
            Some("TLS 1.2"),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        )
        .client_id(id().ns("prod").pod("api-1"))
    };
    m.observe(&hs().with_cert(certificate("api.test", 1_600_000_000, 1_750_000_000)));
    m.observe(&hs().with_cert(certificate("api.test", 1_600_000_000, 1_760_000_000)));
    m.observe(&hs());
    let (_, s) = scrape(&m);
    let labels = [
        ("ns", "prod"),
        ("src", "10.0.0.1"),
        ("src_name", "api-1"),
        ("dst", "10.0.0.2"),
        ("dst_name", "10.0.0.2"),
        ("dst_port", "8443"),
        ("domain", "api.test"),
        ("tls_version", "TLS 1.2"),
        ("cipher_suite", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ];
    assert_eq!(value(&s, "k8s_packet_tls_record", &labels), 3.0);
    let x = matching(&s, "k8s_packet_tls_record", &[]);
    assert_eq!(x[0].labels.len(), labels.len());
    assert_eq!(
        value(
            &s,
            "k8s_packet_tls_cert_expiry",
            &[
                ("dst", "10.0.0.2"),
                ("dst_port", "8443"),
                ("domain", "api.test")
            ]
        ),
        1_760_000_000.0
    );
}
