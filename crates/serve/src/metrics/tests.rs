use super::*;
use crate::testutil::*;
use std::collections::{BTreeMap, BTreeSet};

// ------------------------------------------------------ exposition checker

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A sample value as the text formats write it: a decimal or exponent
/// float, `+Inf`, `-Inf` or `NaN` (not Rust's `inf`).
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    let ok_mantissa = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let ok_exponent = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if ok_mantissa && ok_exponent {
        s.parse().ok()
    } else {
        None
    }
}

/// `name{labels} value`, label values unescaped.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            if !labels.is_empty() {
                rest = rest
                    .strip_prefix(',')
                    .ok_or("expected `,` between labels")?;
            }
            let eq = rest.find('=').ok_or("label without `=`")?;
            let key = &rest[..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[close + 1..];
            if labels.iter().any(|(k, _): &(String, String)| k == key) {
                return Err(format!("label {key} twice"));
            }
            labels.push((key.to_string(), value));
        }
    }
    let v = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = parse_value(v).ok_or_else(|| format!("bad value {v:?}"))?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The suffixes a sample may add to its family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" | "gaugehistogram" => {
            &["_bucket", "_sum", "_count", "_created", "_gsum", "_gcount"]
        }
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    }
}

/// Checks that every line of `text` is valid OpenMetrics text and returns
/// its samples; panics naming the first bad line.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "must end with `# EOF`");
    let lines: Vec<&str> = text.lines().collect();
    let mut samples = Vec::new();
    let mut families = BTreeSet::new();
    // The family being described: name, type, and the metadata seen.
    let mut family: Option<(String, Option<String>, BTreeSet<String>)> = None;
    let mut seen = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let bad = |why: &str| -> ! { panic!("line {}: {why}: {line:?}", i + 1) };
        if *line == "# EOF" {
            if i + 1 != lines.len() {
                bad("`# EOF` before the end");
            }
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let arg = parts.next().filter(|a| !a.is_empty());
            if !["HELP", "TYPE", "UNIT"].contains(&kind) {
                bad("comment is not HELP, TYPE, UNIT or EOF");
            }
            if !is_metric_name(name) {
                bad("bad family name");
            }
            if family.as_ref().is_none_or(|f| f.0 != name) {
                if !families.insert(name.to_string()) {
                    bad("family described twice");
                }
                family = Some((name.to_string(), None, BTreeSet::new()));
            }
            let f = family.as_mut().unwrap();
            if !f.2.insert(kind.to_string()) {
                bad("repeated metadata");
            }
            let arg = arg.unwrap_or_else(|| bad("metadata without a value"));
            match kind {
                "TYPE" => {
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                    ];
                    if !known.contains(&arg) {
                        bad("unknown TYPE");
                    }
                    f.1 = Some(arg.to_string());
                }
                "UNIT" if !name.ends_with(&format!("_{arg}")) => {
                    bad("a family with a unit must end in it")
                }
                _ => {}
            }
            continue;
        }
        let s = parse_sample(line).unwrap_or_else(|e| bad(&e));
        let Some((fname, Some(kind), _)) = &family else {
            bad("sample outside a typed family")
        };
        let belongs = suffixes(kind)
            .iter()
            .any(|suffix| s.name == format!("{fname}{suffix}"));
        if !belongs {
            bad(&format!("sample not of family {fname} ({kind})"));
        }
        let mut key = s.labels.clone();
        key.sort();
        if !seen.insert((s.name.clone(), key)) {
            bad("sample repeated");
        }
        samples.push(s);
    }
    samples
}

#[test]
fn checker_rejects_what_is_not_exposition_text() {
    let good = "# HELP a_total A.\n# TYPE a counter\n";
    let bad = [
        "a_total 1\n# EOF\n",                                  // no family
        "# HELP a A.\n# TYPE a counter\na_total 1\n",          // no EOF
        "# HELP a A.\n# TYPE a counter\na 1\n# EOF\n",         // counter without _total
        "# HELP a A.\n# TYPE a counter\na_total inf\n# EOF\n", // Rust's infinity
        "# HELP a A.\n# TYPE a counter\na_total{x=\"1\"} 1 2 3\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\\qb\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\"b\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\nb\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\n# EOF\n# HELP b B.\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\n# NOTE a x\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\n# UNIT a seconds\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\n# HELP a A.\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n# EOF\n",
    ];
    for text in bad {
        let r = std::panic::catch_unwind(|| parse_exposition(text));
        assert!(r.is_err(), "accepted {text:?}");
    }
    let ok = format!("{good}a_total{{x=\"q\\\"\\\\\\n\"}} 1.5e3\n# EOF\n");
    let s = parse_exposition(&ok);
    assert_eq!(s[0].label("x"), Some("q\"\\\n"));
    assert_eq!(s[0].value, 1500.0);
}

// ------------------------------------------------------------- helpers

fn metrics(cfg: MetricsConfig) -> Metrics {
    Metrics::new(cfg)
}

fn k8spacket() -> MetricsConfig {
    MetricsConfig {
        k8spacket: true,
        ..MetricsConfig::default()
    }
}

/// The text and its samples, checked.
fn scrape(m: &Metrics) -> (String, Vec<Sample>) {
    let text = m.encode(&Health::default());
    let samples = parse_exposition(&text);
    (text, samples)
}

fn matching<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .collect()
}

/// The one sample `name` with (at least) `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let m = matching(samples, name, labels);
    assert_eq!(m.len(), 1, "samples {name} {labels:?}: {m:?}");
    m[0].value
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5432";

/// The client is a pod of Deployment/api in prod, the server one of
/// StatefulSet/db in data.
fn named(rec: Record) -> Record {
    rec.client_id(id().ns("prod").pod("api-7d9f").workload("Deployment/api"))
        .server_id(id().ns("data").pod("db-0").workload("StatefulSet/db"))
}

const PAIR: [(&str, &str); 4] = [
    ("src_namespace", "prod"),
    ("src", "api"),
    ("dst_namespace", "data"),
    ("dst", "db"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    PAIR.iter().chain(extra).copied().collect()
}

// ------------------------------------------------------------- families

#[test]
fn an_empty_registry_is_valid_exposition() {
    for cfg in [MetricsConfig::default(), k8spacket()] {
        let (_, samples) = scrape(&metrics(cfg));
        assert_eq!(
            value(&samples, "podwire_metrics_pairs_overflow_total", &[]),
            0.0
        );
    }
}

#[test]
fn connections_total_counts_ended_connections_by_how_they_ended() {
    let m = metrics(MetricsConfig::default());
    for close in [
        Close::Fin,
        Close::Fin,
        Close::Rst,
        Close::Timeout,
        Close::Open,
    ] {
        m.observe(&named(conn(CLIENT, SERVER).close(close).build()));
    }
    let (_, s) = scrape(&m);
    let n = |close| {
        value(
            &s,
            "podwire_connections_total",
            &with(&[("close", close), ("proto", "tcp")]),
        )
    };
    assert_eq!(n("fin"), 2.0);
    assert_eq!(n("rst"), 1.0);
    assert_eq!(n("timeout"), 1.0);
    // Open connections are counted when they end, not before.
    assert!(matching(&s, "podwire_connections_total", &[("close", "open")]).is_empty());
    let total: f64 = matching(&s, "podwire_connections_total", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert_eq!(total, 4.0);
}

#[test]
fn connections_are_labelled_by_transport() {
    let m = metrics(MetricsConfig::default());
    m.observe(&named(conn(CLIENT, SERVER).build()));
    m.observe(&named(conn(CLIENT, SERVER).udp().build()));
    m.observe(&named(conn(CLIENT, SERVER).udp().build()));
    let (_, s) = scrape(&m);
    assert_eq!(
        value(&s, "podwire_connections_total", &with(&[("proto", "tcp")])),
        1.0
    );
    assert_eq!(
        value(&s, "podwire_connections_total", &with(&[("proto", "udp")])),
        2.0
    );
}

#[test]
fn connection_bytes_total_sums_frame_bytes_by_direction() {
    let m = metrics(MetricsConfig::default());
    let flows = [(100, 2000), (3, 40), (0, 7)];
    for (up, down) in flows {
        m.observe(&named(
            conn(CLIENT, SERVER).bytes(up, down).payload(1, 1).build(),
        ));
    }
    let (_, s) = scrape(&m);
    let up: u64 = flows.iter().map(|f| f.0).sum();
    let down: u64 = flows.iter().map(|f| f.1).sum();
    let b = |d| {
        value(
            &s,
            "podwire_connection_bytes_total",
            &with(&[("direction", d)]),
        )
    };
    assert_eq!(b("client_to_server"), up as f64);
    assert_eq!(b("server_to_client"), down as f64);
}

#[test]
fn connection_duration_histogram_observes_seconds() {
    let m = metrics(MetricsConfig::default());
    let durations_ms = [2500.0, 500.0, 0.5, 70_000.0, 10_000.0];
    for ms in durations_ms {
        m.observe(&named(conn(CLIENT, SERVER).duration_ms(ms).build()));
    }
    let (_, s) = scrape(&m);
    let name = "podwire_connection_duration_seconds";
    let secs: Vec<f64> = durations_ms.iter().map(|ms| ms / 1e3).collect();
    assert_eq!(
        value(&s, &format!("{name}_count"), &PAIR),
        secs.len() as f64
    );
    assert!(close_to(
        value(&s, &format!("{name}_sum"), &PAIR),
        secs.iter().sum()
    ));
    // Buckets are cumulative: each counts the observations at most `le`.
    let buckets = matching(&s, &format!("{name}_bucket"), &PAIR);
    assert!(buckets.len() >= 2);
    for b in buckets {
        let le = parse_value(b.label("le").unwrap()).unwrap();
        let want = secs.iter().filter(|x| **x <= le).count() as f64;
        assert_eq!(b.value, want, "bucket le={le}");
    }
}

#[test]
fn handshake_rtt_histogram_observes_seconds_when_the_handshake_was_seen() {
    let m = metrics(MetricsConfig::default());
    m.observe(&named(conn(CLIENT, SERVER).rtt_ms(0.3).build()));
    m.observe(&named(conn(CLIENT, SERVER).rtt_ms(1.5).build()));
    m.observe(&named(conn(CLIENT, SERVER).build()));
    let (_, s) = scrape(&m);
    assert_eq!(
        value(&s, "podwire_tcp_handshake_rtt_seconds_count", &PAIR),
        2.0
    );
    assert!(close_to(
        value(&s, "podwire_tcp_handshake_rtt_seconds_sum", &PAIR),
        0.0018
    ));
}

#[test]
fn retransmits_count_the_larger_of_packets_and_kernel_on_tcp_only() {
    let m = metrics(MetricsConfig::default());
    m.observe(&named(conn(CLIENT, SERVER).retransmits(3).build()));
    m.observe(&named(
        conn(CLIENT, SERVER)
            .retransmits(1)
            .kernel_retransmits(5)
            .build(),
    ));
    m.observe(&named(conn(CLIENT, SERVER).udp().retransmits(100).build()));
    let (_, s) = scrape(&m);
    assert_eq!(value(&s, "podwire_tcp_retransmits_total", &PAIR), 3.0 + 5.0);
}

#[test]
fn http_requests_are_counted_by_status_class() {
    let m = metrics(MetricsConfig::default());
    let statuses = [
        Some(101),
        Some(200),
        Some(204),
        Some(302),
        Some(404),
        Some(499),
        Some(503),
        Some(999),
        None,
    ];
    for st in statuses {
        m.observe(&named(http(CLIENT, SERVER, Some("GET"), st, Some(1.0))));
    }
    let (_, s) = scrape(&m);
    let n = |class| {
        value(
            &s,
            "podwire_http_requests_total",
            &with(&[("method", "GET"), ("status_class", class)]),
        )
    };
    assert_eq!(n("1xx"), 1.0);
    assert_eq!(n("2xx"), 2.0);
    assert_eq!(n("3xx"), 1.0);
    assert_eq!(n("4xx"), 2.0);
    assert_eq!(n("5xx"), 1.0);
    assert_eq!(n("other"), 1.0);
    assert_eq!(n("none"), 1.0);
}

#[test]
fn http_methods_off_the_standard_list_are_other() {
    let m = metrics(MetricsConfig::default());
    for method in [Some("GET"), Some("XYZZY"), Some("get"), Some("PATCH"), None] {
        m.observe(&named(http(CLIENT, SERVER, method, Some(200), None)));
    }
    let (_, s) = scrape(&m);
    let n = |method| {
        value(
            &s,
            "podwire_http_requests_total",
            &with(&[("method", method)]),
        )
    };
    assert_eq!(n("GET"), 1.0);
    assert_eq!(n("PATCH"), 1.0);
    assert_eq!(n("OTHER"), 3.0);
}

#[test]
fn http_latency_is_observed_in_seconds_for_answered_requests_only() {
    let m = metrics(MetricsConfig::default());
    m.observe(&named(http(
        CLIENT,
        SERVER,
        Some("GET"),
        Some(200),
        Some(12.0),
    )));
    m.observe(&named(http(
        CLIENT,
        SERVER,
        Some("GET"),
        Some(500),
        Some(250.0),
    )));
    m.observe(&named(http(CLIENT, SERVER, Some("GET"), None, Some(99.0))));
    let (_, s) = scrape(&m);
    let labels = with(&[("method", "GET")]);
    assert_eq!(
        value(&s, "podwire_http_request_duration_seconds_count", &labels),
        2.0
    );
    assert!(close_to(
        value(&s, "podwire_http_request_duration_seconds_sum", &labels),
        0.262
    ));
}

#[test]
fn dns_requests_fold_unknown_qtypes_and_rcodes_into_other() {
    let m = metrics(MetricsConfig::default());
    let queries = [
        ("A", Some("NOERROR")),
        ("A", Some("NOERROR")),
        ("AAAA", Some("NXDOMAIN")),
        ("TYPE65", Some("NOERROR")),
        ("a", Some("NOERROR")),
        ("SRV", Some("RCODE23")),
        ("A", None),
    ];
    for (qtype, rcode) in queries {
        m.observe(&named(dns(CLIENT, SERVER, qtype, rcode, Some(1.0))));
    }
    let (_, s) = scrape(&m);
    let n = |qtype, rcode| {
        value(
            &s,
            "podwire_dns_requests_total",
            &with(&[("qtype", qtype), ("rcode", rcode)]),
        )
    };
    assert_eq!(n("A", "NOERROR"), 2.0);
    assert_eq!(n("AAAA", "NXDOMAIN"), 1.0);
    assert_eq!(n("OTHER", "NOERROR"), 2.0);
    assert_eq!(n("SRV", "OTHER"), 1.0);
    assert_eq!(n("A", "none"), 1.0);
}

#[test]
fn dns_latency_is_observed_in_seconds_for_answered_queries_only() {
    let m = metrics(MetricsConfig::default());
    m.observe(&named(dns(CLIENT, SERVER, "A", Some("NOERROR"), Some(2.0))));
    m.observe(&named(dns(
        CLIENT,
        SERVER,
        "A",
        Some("SERVFAIL"),
        Some(3.0),
    )));
    m.observe(&named(dns(CLIENT, SERVER, "A", None, Some(5000.0))));
    let (_, s) = scrape(&m);
    assert_eq!(
        value(&s, "podwire_dns_request_duration_seconds_count", &PAIR),
        2.0
    );
    assert!(close_to(
        value(&s, "podwire_dns_request_duration_seconds_sum", &PAIR),
        0.005
    ));
}

#[test]
fn tls_versions_and_ciphers_fold_into_other_or_unknown() {
    let m = metrics(MetricsConfig::default());
    let suite = "TLS_AES_128_GCM_SHA256";
    let handshakes = [
        (Some("TLS 1.3"), Some(suite)),
        (
            Some("TLS 1.2"),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        ),
        (Some("TLS 1.3 (draft 28)"), Some(suite)),
        (Some("0x0305"), Some("0x0a0a")),
        (None, None),
    ];
    for (version, cipher) in handshakes {
        m.observe(&named(tls(
            CLIENT,
            SERVER,
            Some("db.test"),
            version,
            cipher,
        )));
    }
    let (_, s) = scrape(&m);
    let n = |version, cipher| {
        value(
            &s,
            "podwire_tls_handshakes_total",
            &with(&[("version", version), ("cipher", cipher)]),
        )
    };
    assert_eq!(n("TLS 1.3", suite), 1.0);
    assert_eq!(n("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), 1.0);
    assert_eq!(n("OTHER", suite), 1.0);
    assert_eq!(n("OTHER", "OTHER"), 1.0);
    assert_eq!(n("unknown", "unknown"), 1.0);
}

#[test]
fn tls_cipher_names_that_are_not_iana_like_fold_into_other() {
    let m = metrics(MetricsConfig::default());
    let long = format!("TLS_{}", "X".repeat(100));
    for cipher in ["AES128-SHA", long.as_str()] {
        m.observe(&named(tls(
            CLIENT,
            SERVER,
            None,
            Some("TLS 1.2"),
            Some(cipher),
        )));
    }
    let (_, s) = scrape(&m);
    let n = value(
        &s,
        "podwire_tls_handshakes_total",
        &with(&[("cipher", "OTHER")]),
    );
    assert_eq!(n, 2.0);
}

#[test]
fn certificate_expiry_is_the_latest_not_after_in_unix_seconds() {
    let m = metrics(MetricsConfig::default());
    let hs =
        |not_after| {
            named(tls(CLIENT, SERVER, Some("db.test"), Some("TLS 1.2"), None))
                .with_cert(certificate("db.test", 1_600_000_000, not_after))
        };
    m.observe(&hs(1_750_000_000));
    m.observe(&hs(1_790_000_000));
    // TLS 1.3 hides the certificate: nothing to replace it with.
    m.observe(&named(tls(
        CLIENT,
        SERVER,
        Some("db.test"),
        Some("TLS 1.3"),
        None,
    )));
    let (_, s) = scrape(&m);
    let v = value(
        &s,
        "podwire_tls_certificate_expiry_timestamp_seconds",
        &[
            ("dst_namespace", "data"),
            ("dst", "db"),
            ("domain", "db.test"),
        ],
    );
    assert_eq!(v, 1_790_000_000.0);
}

#[test]
fn certificates_past_the_cap_are_counted_not_exported() {
    let m = metrics(MetricsConfig {
        max_certificates: 2,
        ..MetricsConfig::default()
    });
    for domain in ["a.test", "b.test", "c.test", "d.test", "a.test"] {
        m.observe(&named(
            tls(CLIENT, SERVER, Some(domain), Some("TLS 1.2"), None).with_cert(certificate(
                domain,
                1_600_000_000,
                1_800_000_000,
            )),
        ));
    }
    let (_, s) = scrape(&m);
    let exported: BTreeSet<_> =
        matching(&s, "podwire_tls_certificate_expiry_timestamp_seconds", &[])
            .iter()
            .map(|x| x.label("domain").unwrap().to_string())
            .collect();
    assert_eq!(exported, BTreeSet::from(["a.test".into(), "b.test".into()]));
    assert_eq!(
        value(&s, "podwire_metrics_certificates_overflow_total", &[]),
        2.0
    );
}

#[test]
fn endpoint_labels_name_workloads_not_pods() {
    let cases: [(Id, (&str, &str)); 7] = [
        (
            id().ns("prod")
                .pod("api-7d9f")
                .workload("Deployment/api")
                .service("api-svc"),
            ("prod", "api"),
        ),
        (
            id().ns("prod").pod("api-7d9f").service("api-svc"),
            ("prod", "api-svc"),
        ),
        (
            id().ns("prod").pod("job-x").process("python"),
            ("prod", "job-x"),
        ),
        (id().process("curl").domain("example.com"), ("", "curl")),
        (id().domain("example.com"), ("", "example.com")),
        (id().ns("prod"), ("prod", "10.0.0.1")),
        (id(), ("", "10.0.0.1")),
    ];
    for (identity, (ns, name)) in cases {
        let identity: podwire_record::Identity = identity.into();
        let mut e = ep("10.0.0.1:40000");
        e.identity = Some(Box::new(identity.clone()));
        let (got_ns, got_name) = endpoint_label(&e);
        assert_eq!((&*got_ns, &*got_name), (ns, name), "{identity:?}");
    }
    // An IPv4-mapped address is labelled as IPv4.
    let (_, name) = endpoint_label(&ep("[::ffff:10.0.0.1]:40000"));
    assert_eq!(&*name, "10.0.0.1");
}

#[test]
fn agent_health_is_exported() {
    let m = metrics(MetricsConfig::default());
    let h = Health {
        packets_total: 1001,
        packets_dropped_total: 7,
        packets_duplicate_total: 3,
        ebpf_events_total: 55,
        ebpf_events_lost_total: 2,
        tracked_connections: 42,
        tracker_evicted_total: 9,
        tls_decrypted_total: 51,
        tls_no_key_total: 52,
        tls_auth_failed_total: 53,
        store: vec![("connection", 10, 2048, 4096, 5), ("dns", 20, 512, 1024, 6)],
        resident_memory_bytes: 123_456_789,
        stream_lagged_total: 4,
        requests_not_deferred_total: 13,
        kubernetes: Some(KubeHealth {
            resources: vec![("pods", 12, 2, 1, true), ("nodes", 3, 1, 0, false)],
            objects: vec![("pods", 10), ("addresses", 14)],
            refused_total: 8,
            rewritten_copies_total: 5,
        }),
        reverse_dns: Some((30, 2)),
        captures: Some(CaptureHealth {
            active: 1,
            started_total: 6,
            refused_total: 3,
            packets_total: 700,
            bytes_total: 90_000,
            dropped_total: 11,
        }),
        api: ApiHealth {
            unauthenticated_total: 21,
            forbidden_total: 22,
            unavailable_total: 23,
            connections_refused_total: 24,
            tls_handshake_failures_total: 25,
            certificate_reloads_total: 26,
            rate_limited_total: 27,
            target_too_long_total: 28,
            streams_refused_total: 29,
            streams_dropped_slow_total: 30,
        },
        own_left_out: OwnLeftOut {
            packets_total: 41,
            records_total: 42,
            capture_packets_total: 43,
        },
        tls_plaintext: Some(TlsPlaintextHealth {
            libraries: 2,
            calls_total: 61,
            untracked_total: 62,
            unattributed_total: 63,
            lost_total: 64,
        }),
        otlp: Some(OtlpHealth {
            signals: vec![OtlpSignalHealth {
                signal: "traces",
                queued_total: 50,
                sent_total: 51,
                dropped_queue_full_total: 52,
                dropped_rejected_total: 53,
                dropped_shutdown_total: 54,
                requests_ok_total: 55,
                requests_failed_total: 56,
                retries_total: 57,
            }],
            series_dropped_total: 58,
            queue_bytes: 59,
            queue_budget_bytes: 60,
        }),
    };
    let s = parse_exposition(&m.encode(&h));
    for (outcome, want) in [
        ("parsed", 61.0),
        ("untracked", 62.0),
        ("unattributed", 63.0),
        ("lost", 64.0),
    ] {
        let name = "podwire_tls_plaintext_calls_total";
        assert_eq!(value(&s, name, &[("outcome", outcome)]), want, "{outcome}");
    }
    assert_eq!(value(&s, "podwire_tls_plaintext_libraries", &[]), 2.0);
    let tr = [("signal", "traces")];
    assert_eq!(value(&s, "podwire_otlp_items_queued_total", &tr), 50.0);
    assert_eq!(value(&s, "podwire_otlp_items_sent_total", &tr), 51.0);
    for (reason, want) in [("queue_full", 52.0), ("rejected", 53.0), ("shutdown", 54.0)] {
        let l = [("signal", "traces"), ("reason", reason)];
        assert_eq!(value(&s, "podwire_otlp_items_dropped_total", &l), want);
    }
    for (result, want) in [("ok", 55.0), ("failed", 56.0)] {
        let l = [("signal", "traces"), ("result", result)];
        assert_eq!(value(&s, "podwire_otlp_requests_total", &l), want);
    }
    assert_eq!(value(&s, "podwire_otlp_retries_total", &tr), 57.0);
    assert_eq!(
        value(&s, "podwire_otlp_metric_series_dropped_total", &[]),
        58.0
    );
    assert_eq!(value(&s, "podwire_otlp_queue_bytes", &[]), 59.0);
    assert_eq!(value(&s, "podwire_otlp_queue_budget_bytes", &[]), 60.0);
    for (reason, want) in [
        ("unauthenticated", 21.0),
        ("forbidden", 22.0),
        ("unavailable", 23.0),
    ] {
        let name = "podwire_api_requests_refused_total";
        assert_eq!(value(&s, name, &[("reason", reason)]), want, "{reason}");
    }
    for (name, want) in [
        ("podwire_capture_packets_total", 1001.0),
        ("podwire_capture_packets_dropped_total", 7.0),
        ("podwire_capture_packets_duplicate_total", 3.0),
        ("podwire_ebpf_events_total", 55.0),
        ("podwire_sniff_active", 1.0),
        ("podwire_sniff_started_total", 6.0),
        ("podwire_sniff_refused_total", 3.0),
        ("podwire_sniff_packets_total", 700.0),
        ("podwire_sniff_bytes_total", 90_000.0),
        ("podwire_sniff_dropped_packets_total", 11.0),
        ("podwire_ebpf_events_lost_total", 2.0),
        ("podwire_tracked_connections", 42.0),
        ("podwire_tracker_evicted_connections_total", 9.0),
        ("podwire_tls_decrypted_connections_total", 51.0),
        ("podwire_tls_no_key_connections_total", 52.0),
        ("podwire_tls_auth_failed_records_total", 53.0),
        ("podwire_resident_memory_bytes", 123_456_789.0),
        ("podwire_stream_lagged_records_total", 4.0),
        ("podwire_requests_not_deferred_total", 13.0),
        ("podwire_kubernetes_refused_objects_total", 8.0),
        ("podwire_kubernetes_rewritten_copies_total", 5.0),
        ("podwire_reverse_dns_queries_total", 30.0),
        ("podwire_reverse_dns_dropped_total", 2.0),
        ("podwire_api_connections_refused_total", 24.0),
        ("podwire_api_tls_handshake_failures_total", 25.0),
        ("podwire_api_certificate_reloads_total", 26.0),
        ("podwire_api_streams_dropped_slow_total", 30.0),
        ("podwire_own_packets_left_out_total", 41.0),
        ("podwire_own_records_left_out_total", 42.0),
        ("podwire_own_capture_packets_left_out_total", 43.0),
    ] {
        assert_eq!(value(&s, name, &[]), want, "{name}");
    }
    for (table, records, bytes, budget, dropped) in [
        ("connection", 10.0, 2048.0, 4096.0, 5.0),
        ("dns", 20.0, 512.0, 1024.0, 6.0),
    ] {
        let t = [("table", table)];
        assert_eq!(
            value(&s, "podwire_store_dropped_records_total", &t),
            dropped
        );
        assert_eq!(value(&s, "podwire_store_records", &t), records);
        assert_eq!(value(&s, "podwire_store_bytes", &t), bytes);
        assert_eq!(value(&s, "podwire_store_budget_bytes", &t), budget);
    }
    for (res, events, lists, errors, synced) in
        [("pods", 12.0, 2.0, 1.0, 1.0), ("nodes", 3.0, 1.0, 0.0, 0.0)]
    {
        let r = [("resource", res)];
        assert_eq!(
            value(&s, "podwire_kubernetes_watch_events_total", &r),
            events
        );
        assert_eq!(value(&s, "podwire_kubernetes_lists_total", &r), lists);
        assert_eq!(
            value(&s, "podwire_kubernetes_watch_errors_total", &r),
            errors
        );
        assert_eq!(value(&s, "podwire_kubernetes_synced", &r), synced);
    }
    assert_eq!(
        value(&s, "podwire_kubernetes_objects", &[("kind", "addresses")]),
        14.0
    );
}

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
