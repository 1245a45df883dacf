//! The exporter's delivery against an in-process transport that answers
//! as a collector would (status codes, Retry-After, refused connections),
//! and the mapping of records to spans.

use super::*;
use podwire_record::{Dns, DnsTransport, Endpoint, Http, Identity, Postgres, Timestamp};
use proto::ExportTraceServiceRequest;
use std::sync::mpsc;

/// Answers with the statuses given, in order (then 200), and reports each
/// request's signal and decoded item count.
struct Scripted {
    answers: Vec<Result<Response, TransportError>>,
    seen: mpsc::Sender<(Signal, Vec<u8>)>,
}

impl Transport for Scripted {
    fn post(&mut self, s: Signal, body: &[u8], gzip: bool) -> Result<Response, TransportError> {
        let body = if gzip {
            miniz_oxide::inflate::decompress_to_vec(&body[10..body.len() - 8]).expect("gzip")
        } else {
            body.to_vec()
        };
        let answer = if self.answers.is_empty() {
            Ok(Response {
                status: 200,
                retry_after: None,
            })
        } else {
            self.answers.remove(0)
        };
        if matches!(answer, Ok(Response { status: 200, .. })) {
            let _ = self.seen.send((s, body));
        }
        answer
    }
}

fn status(code: u16) -> Result<Response, TransportError> {
    Ok(Response {
        status: code,
        retry_after: None,
    })
}

fn http(ts: u64, status: u16, latency_ms: f64) -> Record {
    Record::new(
        Timestamp(ts),
        Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        Endpoint::new("10.0.0.2".parse().unwrap(), 8080),
        Body::Http(Http {
            method: Some("GET".into()),
            path: Some("/a/b?secret=1".into()),
            version: "HTTP/1.1".into(),
            status: Some(status),
            latency_ms: Some(latency_ms),
            ..Http::default()
        }),
    )
}

fn cfg() -> Config {
    Config {
        gzip: true,
        batch_items: 2,
        batch_interval: Duration::from_millis(20),
        metrics_interval: Duration::from_secs(3600),
        max_backoff: Duration::from_millis(200),
        ..Config::default()
    }
}

fn spans_in(body: &[u8]) -> usize {
    ExportTraceServiceRequest::decode(body)
        .expect("decodes")
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[test]
fn retries_503_and_network_errors_then_delivers_everything() {
    let (tx, rx) = mpsc::channel();
    let t = Scripted {
        answers: vec![
            status(503),
            Err(TransportError("connection refused".into())),
            status(429),
        ],
        seen: tx,
    };
    let e = Exporter::start(cfg(), t).unwrap();
    e.export(&[http(1, 200, 1.0), http(2, 200, 1.0), http(3, 500, 1.0)]);
    e.shutdown(Duration::from_secs(10));
    let spans: usize = rx
        .try_iter()
        .filter(|(s, _)| *s == Signal::Traces)
        .map(|(_, b)| spans_in(&b))
        .sum();
    assert_eq!(spans, 3);
    let st = e.stats().signal(Signal::Traces);
    assert_eq!(st.sent.load(Ordering::Relaxed), 3);
    assert_eq!(st.retries.load(Ordering::Relaxed), 3);
    assert_eq!(st.dropped_queue_full.load(Ordering::Relaxed), 0);
}

#[test]
fn a_refused_batch_is_dropped_and_counted_not_retried() {
    let (tx, rx) = mpsc::channel();
    let t = Scripted {
        answers: vec![status(400)],
        seen: tx,
    };
    let e = Exporter::start(cfg(), t).unwrap();
    e.export(&[http(1, 200, 1.0), http(2, 200, 1.0), http(3, 200, 1.0)]);
    e.shutdown(Duration::from_secs(10));
    let st = e.stats().signal(Signal::Traces);
    assert_eq!(st.dropped_rejected.load(Ordering::Relaxed), 2);
    assert_eq!(st.sent.load(Ordering::Relaxed), 1);
    assert_eq!(
        st.queued.load(Ordering::Relaxed),
        3,
        "every span queued once"
    );
    assert_eq!(st.retries.load(Ordering::Relaxed), 0);
    let traces = rx.try_iter().filter(|(s, _)| *s == Signal::Traces).count();
    assert_eq!(traces, 1, "the one accepted batch of spans");
}

#[test]
fn retry_after_is_honoured() {
    let (tx, rx) = mpsc::channel();
    let t = Scripted {
        answers: vec![Ok(Response {
            status: 503,
            retry_after: Some(Duration::from_millis(150)),
        })],
        seen: tx,
    };
    let mut c = cfg();
    c.max_backoff = Duration::from_secs(5);
    let e = Exporter::start(c, t).unwrap();
    let began = Instant::now();
    e.export(&[http(1, 200, 1.0), http(2, 200, 1.0)]);
    let (_, body) = rx.recv_timeout(Duration::from_secs(5)).expect("delivered");
    // What the collector asks for is a minimum: jitter never shortens it.
    assert!(
        began.elapsed() >= Duration::from_millis(150),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(spans_in(&body), 2);
    e.shutdown(Duration::from_secs(1));
}

/// Shutting down skips podwire's own backoff, not the collector's asked
/// delay: the last try waits for it within the shutdown's time.
#[test]
fn shutdown_still_waits_for_the_delay_the_collector_asked() {
    let (tx, rx) = mpsc::channel();
    let t = Scripted {
        answers: vec![Ok(Response {
            status: 429,
            // Longer than podwire's own first backoff (500 ms, jittered).
            retry_after: Some(Duration::from_millis(1500)),
        })],
        seen: tx,
    };
    let mut c = cfg();
    c.max_backoff = Duration::from_secs(5);
    c.batch_items = 1;
    let e = Exporter::start(c, t).unwrap();
    let began = Instant::now();
    e.export(&[http(1, 200, 1.0)]);
    // The first try (refused) goes out at once; stop during the wait.
    std::thread::sleep(Duration::from_millis(200));
    e.shutdown(Duration::from_secs(5));
    let (_, body) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("delivered at shutdown");
    assert!(
        began.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(spans_in(&body), 1);
}

#[test]
fn a_collector_that_never_answers_costs_only_the_queue_and_counts_the_rest() {
    let (tx, _rx) = mpsc::channel();
    let t = Scripted {
        answers: (0..10_000)
            .map(|_| Err(TransportError("down".into())))
            .collect(),
        seen: tx,
    };
    let mut c = cfg();
    c.queue_bytes = 2048;
    c.gzip = false;
    let e = Exporter::start(c, t).unwrap();
    let records: Vec<Record> = (0..200).map(|i| http(i, 200, 1.0)).collect();
    for chunk in records.chunks(10) {
        e.export(chunk);
        assert!(e.stats().queue_bytes.load(Ordering::Relaxed) <= 2048);
    }
    e.shutdown(Duration::from_millis(300));
    let st = e.stats().signal(Signal::Traces);
    let dropped =
        st.dropped_queue_full.load(Ordering::Relaxed) + st.dropped_shutdown.load(Ordering::Relaxed);
    assert_eq!(st.sent.load(Ordering::Relaxed), 0);
    assert_eq!(dropped, 200, "every span counted");
    assert_eq!(st.queued.load(Ordering::Relaxed), 200);
    assert!(
        st.dropped_shutdown.load(Ordering::Relaxed) > 0,
        "the queue held some"
    );
}

#[test]
fn histograms_count_every_timed_request_into_semconv_buckets() {
    let (tx, rx) = mpsc::channel();
    let t = Scripted {
        answers: vec![],
        seen: tx,
    };
    let e = Exporter::start(cfg(), t).unwrap();
    e.export(&[
        http(1, 200, 3.0),
        http(2, 200, 300.0),
        http(3, 200, 20_000.0),
    ]);
    e.shutdown(Duration::from_secs(5));
    let metrics: Vec<proto::ExportMetricsServiceRequest> = rx
        .try_iter()
        .filter(|(s, _)| *s == Signal::Metrics)
        .map(|(_, b)| proto::ExportMetricsServiceRequest::decode(&b[..]).unwrap())
        .collect();
    assert_eq!(metrics.len(), 1);
    let m = &metrics[0].resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(m.name, "http.server.request.duration");
    assert_eq!(m.unit, "s");
    let Some(proto::MetricData::Histogram(h)) = &m.data else {
        panic!("a histogram")
    };
    let p = &h.data_points[0];
    assert_eq!(p.count, 3);
    // 0.003 s in (0, 0.005], 0.3 s in (0.25, 0.5], 20 s above 10.
    assert_eq!(p.bucket_counts[0], 1);
    assert_eq!(p.bucket_counts[7], 1);
    assert_eq!(p.bucket_counts[14], 1);
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(p.max, Some(20.0));
}

#[test]
fn local_sides_choose_kind_and_resource() {
    let mut rec = http(1, 404, 2.0);
    let (sides, n) = span::sides(&rec, Some("node-a"));
    assert_eq!(
        (sides[0], n),
        (Some(span::Side::Server), 1),
        "neither known: SERVER"
    );
    rec.client.identity = Some(Box::new(Identity {
        process: Some("curl".into()),
        ..Identity::default()
    }));
    let (sides, n) = span::sides(&rec, Some("node-a"));
    assert_eq!((sides[0], n), (Some(span::Side::Client), 1));
    rec.server.identity = Some(Box::new(Identity {
        namespace: Some("shop".into()),
        pod: Some("web-1".into()),
        workload: Some("Deployment/web".into()),
        node: Some("node-a".into()),
        ..Identity::default()
    }));
    let (_, n) = span::sides(&rec, Some("node-a"));
    assert_eq!(n, 2, "both local: two spans");
    let (_, n) = span::sides(&rec, Some("node-b"));
    assert_eq!(n, 1, "a pod on another node is not local");
    let res = span::resource(&rec.server);
    let get = |k: &str| {
        res.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        get("service.name"),
        Some(proto::KeyValueKind::String("web".into()))
    );
    assert_eq!(
        get("k8s.deployment.name"),
        Some(proto::KeyValueKind::String("web".into()))
    );
    // A 404 fails the client, not the server.
    let (client_span, _) = span::span(&rec, span::Side::Client).unwrap();
    let (server_span, _) = span::span(&rec, span::Side::Server).unwrap();
    assert_eq!(
        client_span.status.map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(server_span.status, None);
    assert_eq!(client_span.kind, proto::SpanKind::Client as i32);
    let path = server_span
        .attributes
        .iter()
        .find(|a| a.key == "url.path")
        .and_then(|a| a.value.clone());
    assert_eq!(
        path,
        Some(proto::str_value("/a/b")),
        "the query is left out"
    );
    assert_eq!(server_span.end_time_unix_nano, 1 + 2_000_000);
}

use proto::StatusCode;

#[test]
fn database_and_dns_spans_follow_the_conventions() {
    let pg = Record::new(
        Timestamp(10),
        Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        Endpoint::new("10.0.0.3".parse().unwrap(), 5432),
        Body::Postgres(Postgres {
            operation: "SELECT".into(),
            statement: Some("SELECT * FROM t WHERE id = ?".into()),
            database: Some("shop".into()),
            outcome: Some(podwire_record::Outcome::Error),
            error: Some(podwire_record::ProtoError {
                code: Some("42P01".into()),
                message: Some("relation does not exist".into()),
            }),
            latency_ms: Some(1.0),
            ..Postgres::default()
        }),
    );
    let (s, obs) = span::span(&pg, span::Side::Server).unwrap();
    assert_eq!(s.name, "SELECT shop");
    assert_eq!(s.status.map(|s| s.code), Some(StatusCode::Error as i32));
    let has = |k: &str, v: &str| {
        s.attributes
            .iter()
            .any(|a| a.key == k && a.value == Some(proto::str_value(v)))
    };
    assert!(has("db.system.name", "postgresql"));
    assert!(has("db.query.text", "SELECT * FROM t WHERE id = ?"));
    assert!(has("db.response.status_code", "42P01"));
    assert_eq!(obs.unwrap().metric, "db.client.operation.duration");

    let dns = Record::new(
        Timestamp(10),
        Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        Endpoint::new("10.0.0.53".parse().unwrap(), 53),
        Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: "example.com".into(),
            qtype: "AAAA".into(),
            rcode: Some("SERVFAIL".into()),
            answers: vec![],
            latency_ms: None,
        }),
    );
    let (s, obs) = span::span(&dns, span::Side::Client).unwrap();
    assert_eq!(s.name, "DNS AAAA");
    assert_eq!(s.status.map(|s| s.code), Some(StatusCode::Error as i32));
    assert!(obs.is_none(), "no latency, no observation");
    assert_eq!(s.start_time_unix_nano, s.end_time_unix_nano);
}

#[test]
fn connection_records_are_not_spans_but_log_records_and_counters() {
    let conn = Record::new(
        Timestamp(5),
        Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        Endpoint::new("10.0.0.2".parse().unwrap(), 80),
        Body::Connection(podwire_record::Connection {
            proto: podwire_record::Transport::Tcp,
            first_seen: Timestamp(5),
            last_seen: Timestamp(9),
            duration_ms: 0.000004,
            close: podwire_record::Close::Fin,
            handshake_rtt_ms: None,
            retransmits: 0,
            client_to_server: podwire_record::DirectionStats {
                packets: 3,
                bytes: 200,
                payload_bytes: 10,
            },
            server_to_client: Default::default(),
            handshake_seen: true,
            kernel: None,
        }),
    );
    assert!(span::span(&conn, span::Side::Server).is_none());
    let log = logs::log_record(&conn, 99);
    let get = |k: &str| {
        log.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
    };
    assert_eq!(get("client_to_server.bytes"), Some(proto::int_value(200)));
    assert_eq!(get("close"), Some(proto::str_value("fin")));
    assert_eq!(get("handshake_rtt_ms"), None, "nulls are left out");
    assert_eq!(log.time_unix_nano, 5);
    assert_eq!(log.event_name, "podwire.connection");
}
