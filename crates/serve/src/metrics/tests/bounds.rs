//! The caps: pairs, label values and certificates stay bounded whatever the traffic.

use super::*;

// ------------------------------------------------------------- bounds

/// Distinct `(src, dst)` label pairs over every sample that has them.
fn pairs_in(samples: &[Sample]) -> BTreeSet<(String, String)> {
    samples
        .iter()
        .filter_map(|s| Some((s.label("src")?.to_string(), s.label("dst")?.to_string())))
        .collect()
}

#[test]
fn pairs_past_the_cap_are_counted_under_other() {
    let m = metrics(MetricsConfig {
        max_pairs: 3,
        ..MetricsConfig::default()
    });
    let clients = 50;
    for i in 0..clients {
        let client = format!("10.1.0.{}:40000", i + 1);
        m.observe(&conn(&client, "10.0.0.2:80").build());
        m.observe(&dns(
            &client,
            "10.0.0.2:53",
            "A",
            Some("NOERROR"),
            Some(1.0),
        ));
    }
    let (_, s) = scrape(&m);
    let pairs = pairs_in(&s);
    assert!(pairs.len() <= 3 + 1, "{pairs:?}");
    assert!(pairs.contains(&("other".to_string(), "other".to_string())));
    assert_eq!(m.pairs(), 3);
    // Two observations of every client past the first three.
    assert_eq!(
        value(&s, "podwire_metrics_pairs_overflow_total", &[]),
        ((clients - 3) * 2) as f64
    );
    // Nothing is lost: the counts add up over the pairs.
    let total: f64 = matching(&s, "podwire_connections_total", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert_eq!(total, clients as f64);
    assert_eq!(
        value(
            &s,
            "podwire_connections_total",
            &[("src", "other"), ("dst", "other")]
        ),
        (clients - 3) as f64
    );
}

#[test]
fn open_connections_take_no_pair_and_no_overflow() {
    let m = metrics(MetricsConfig {
        max_pairs: 1,
        ..MetricsConfig::default()
    });
    // Seen while open (they are counted when they end).
    for i in 0..5 {
        m.observe(
            &conn(&format!("10.9.0.{}:40000", i + 1), "10.0.0.2:80")
                .close(Close::Open)
                .build(),
        );
    }
    m.observe(&conn("10.1.0.1:40000", "10.0.0.2:80").build());
    let (_, s) = scrape(&m);
    assert_eq!(
        value(&s, "podwire_connections_total", &[("src", "10.1.0.1")]),
        1.0
    );
    assert_eq!(value(&s, "podwire_metrics_pairs_overflow_total", &[]), 0.0);
}

#[test]
fn pair_cap_bounds_k8spacket_series_too() {
    let m = metrics(MetricsConfig {
        max_pairs: 3,
        ..k8spacket()
    });
    for i in 0..50 {
        let client = format!("10.1.0.{}:40000", i + 1);
        m.observe(&conn(&client, "10.0.0.2:443").build());
        m.observe(&tls(
            &client,
            "10.0.0.2:443",
            Some("a.test"),
            Some("TLS 1.3"),
            None,
        ));
    }
    let (_, s) = scrape(&m);
    for family in [
        "k8s_packet_bytes_sent_count",
        "k8s_packet_bytes_received_count",
        "k8s_packet_duration_seconds_count",
        "k8s_packet_tls_record",
    ] {
        let series = matching(&s, family, &[]);
        let pairs: BTreeSet<_> = series
            .iter()
            .map(|x| (x.label("src").unwrap(), x.label("dst").unwrap()))
            .collect();
        assert!(pairs.len() <= 3 + 1, "{family}: {pairs:?}");
        let total: f64 = series.iter().map(|x| x.value).sum();
        assert_eq!(total, 50.0, "{family} still counts every one");
    }
}

/// Upper bounds of distinct values per label name, for every label but the
/// endpoint names (`src`, `dst`, their namespaces) and `domain`. A label
/// not listed fails the test: a new label must state its bound here.
fn label_bounds() -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("proto", 2),
        ("close", 3),
        ("direction", 2),
        ("le", 20),          // the union of the two bucket layouts, +Inf
        ("version", 7),      // 5 names, OTHER, unknown
        ("tls_version", 7),  // the same, k8spacket's name
        ("cipher", 3),       // the one suite fed, OTHER, unknown
        ("cipher_suite", 3), // the same, k8spacket's name
        ("method", 10),      // 9 methods, OTHER
        ("status_class", 7), // 1xx..5xx, other, none
        ("qtype", 17),       // 16 types, OTHER
        ("rcode", 14),       // 12 codes, OTHER, none
        ("ns", 2),
        ("src_name", 1),
        ("dst_name", 1),
        ("src_port", 1),
        ("dst_port", 4),
        ("persistent", 2),
        ("reason", 6), // unauthenticated, forbidden, unavailable, and the limits' three
    ])
}

/// Traffic whose client ports, paths, methods, DNS types, SNI, versions
/// and cipher codes are (nearly) all distinct, between two named workloads.
fn hostile_traffic(rng: &mut Rng, n: u64) -> (Vec<Record>, BTreeSet<u16>) {
    let mut recs = Vec::new();
    let mut ports = BTreeSet::new();
    let servers = [
        "10.0.0.2:5432",
        "10.0.0.2:80",
        "10.0.0.2:53",
        "10.0.0.2:443",
    ];
    for i in 0..n {
        let port = 50_000 + i as u16;
        ports.insert(port);
        let client = format!("10.0.0.1:{port}");
        let server = *rng.pick(&servers);
        let r = match i % 4 {
            0 => {
                let mut b = conn(&client, server)
                    .duration_ms(rng.below(20_000) as f64)
                    .bytes(rng.below(10), rng.below(10))
                    .payload(rng.below(10), rng.below(10))
                    .close(*rng.pick(&[Close::Fin, Close::Rst, Close::Timeout]));
                if rng.chance(1, 3) {
                    b = b.udp();
                }
                b.build()
            }
            1 => {
                let method = format!("XYZZY{}", rng.below(1_000_000));
                let method = *rng.pick(&["GET", "POST", method.as_str()]);
                let mut r = http(
                    &client,
                    server,
                    Some(method),
                    Some(100 + rng.below(900) as u16),
                    Some(1.0),
                );
                if let Body::Http(h) = &mut r.body {
                    h.path = Some(format!("/item/{}?token={}", i, rng.next_u64()));
                }
                r
            }
            2 => {
                let qtype = format!("TYPE{}", 300 + i);
                let rcode = format!("RCODE{}", 24 + i);
                let rcode = *rng.pick(&["NOERROR", rcode.as_str()]);
                dns(&client, server, &qtype, Some(rcode), Some(1.0))
            }
            _ => {
                let sni = format!("h{}.example", rng.next_u64());
                let version = format!("0x{:04x}", 0x0400 + i);
                let draft = format!("TLS 1.3 (draft {})", i % 256);
                let version = *rng.pick(&["TLS 1.3", version.as_str(), draft.as_str()]);
                let code = format!("0x{:04x}", i);
                let cipher = *rng.pick(&["TLS_AES_128_GCM_SHA256", code.as_str()]);
                tls(&client, server, Some(&sni), Some(version), Some(cipher))
                    .with_cert(certificate(&sni, 1_600_000_000, 1_800_000_000))
            }
        };
        recs.push(named(r));
    }
    (recs, ports)
}

#[test]
fn label_values_stay_bounded_whatever_the_traffic() {
    let mut rng = Rng::new(1);
    let (recs, _) = hostile_traffic(&mut rng, 800);
    let m = metrics(k8spacket());
    for r in &recs {
        m.observe(r);
    }
    let (text, s) = scrape(&m);
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for x in &s {
        for (k, v) in &x.labels {
            values.entry(k.as_str()).or_default().insert(v.as_str());
        }
    }
    let bounds = label_bounds();
    let free = ["src", "dst", "src_namespace", "dst_namespace", "domain"];
    for (name, vals) in &values {
        if free.contains(name) {
            continue;
        }
        let bound = bounds
            .get(name)
            .unwrap_or_else(|| panic!("label {name} has no stated bound: {vals:?}"));
        assert!(
            vals.len() <= *bound,
            "label {name}: {} values > {bound}: {vals:?}",
            vals.len()
        );
    }
    // The endpoint labels name the two workloads, nothing else.
    assert_eq!(
        values["src"].iter().filter(|v| **v != "10.0.0.1").count(),
        1
    );
    assert!(!text.contains("/item/"), "a path leaked");
    assert!(!text.contains("token="), "a query string leaked");
    assert!(!text.contains("XYZZY"), "a raw method leaked");
    assert!(!text.contains("TYPE3"), "a raw DNS type leaked");
    assert!(!text.contains("RCODE"), "a raw rcode leaked");
}

#[test]
fn no_client_port_appears_anywhere() {
    let mut rng = Rng::new(2);
    let (mut recs, ports) = hostile_traffic(&mut rng, 400);
    // Unnamed clients too: their label is the address, never ip:port.
    recs.extend(
        (0..40u16)
            .map(|i| conn(&format!("10.3.0.{}:{}", i + 1, 60_000 + i), "10.0.0.2:80").build()),
    );
    let ports: BTreeSet<String> = ports
        .iter()
        .copied()
        .chain((0..40).map(|i| 60_000 + i))
        .map(|p| p.to_string())
        .collect();
    let m = metrics(k8spacket());
    for r in &recs {
        m.observe(r);
    }
    let (text, _) = scrape(&m);
    let leaked: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|tok| ports.contains(*tok))
        .collect();
    assert!(leaked.is_empty(), "client ports in the output: {leaked:?}");
}
