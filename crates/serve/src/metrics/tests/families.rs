//! Each traffic family: what is counted, in which unit, under which labels.

use super::*;

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
    // The agent's counters come from the telemetry catalogue, set as the
    // agent's threads would.
    use podwire_telemetry::catalogue::*;
    let (cap, tls, rdns) = (
        CaptureCounters::default(),
        TlsCounters::default(),
        ReverseDnsCounters::default(),
    );
    let (c, sm, own, acc, lis, lim) = (
        Capture::default(),
        Sampled::default(),
        OwnCounters::default(),
        AccessCounters::default(),
        ListenerCounters::default(),
        LimitCounters::default(),
    );
    for (a, v) in [
        (&c.packets, 1001),
        (&c.ring_drops, 7),
        (&c.copies, 3),
        (&c.ebpf_events, 55),
        (&c.ebpf_lost, 2),
        (&c.stream_lagged, 4),
        (&sm.tracker_open, 42),
        (&sm.tracker_evicted, 9),
        (&sm.tls_decrypted, 51),
        (&sm.tls_no_key, 52),
        (&sm.tls_auth_failed, 53),
        (&sm.resident_memory, 123_456_789),
        (&sm.not_deferred, 13),
        (&acc.unauthenticated, 21),
        (&acc.forbidden, 22),
        (&acc.unavailable, 23),
        (&lis.refused_busy, 24),
        (&lis.tls_handshake_failures, 25),
        (&lis.certificate_reloads, 26),
        (&lim.rate_limited, 27),
        (&lim.target_too_long, 28),
        (&lim.streams_refused, 29),
        (&lim.streams_dropped_slow, 30),
        (&own.packets, 41),
        (&own.records, 42),
        (&own.captured, 43),
        (&rdns.queries, 30),
        (&rdns.dropped, 2),
        (&cap.active, 1),
        (&cap.started, 6),
        (&cap.refused, 3),
        (&cap.packets, 700),
        (&cap.bytes, 90_000),
        (&cap.dropped, 11),
        (&tls.libraries, 2),
        (&tls.parsed, 61),
        (&tls.untracked, 62),
        (&tls.unattributed, 63),
        (&tls.lost, 64),
    ] {
        c.set(a, v);
    }
    let h = Health {
        telemetry: podwire_telemetry::Snapshot::of(&[
            &c, &sm, &own, &acc, &lis, &lim, &cap, &tls, &rdns,
        ]),
        store: vec![("connection", 10, 2048, 4096, 5), ("dns", 20, 512, 1024, 6)],
        kubernetes: Some(KubeHealth {
            resources: vec![("pods", 12, 2, 1, true), ("nodes", 3, 1, 0, false)],
            objects: vec![("pods", 10), ("addresses", 14)],
            refused_total: 8,
            rewritten_copies_total: 5,
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
