//! OpenTelemetry export against a receiver built from the official protocol
//! definitions (`tests/data/otlp_receiver.py`, PyPI `opentelemetry-proto`
//! in `target/test-data/venv-otlp`, installed by scripts/test.sh; skipped
//! without it unless `PODWIRE_REQUIRE_OTLP` is set, as CI does).
//!
//! `podwire read --otlp-endpoint` of the committed captures: one span per
//! request record with the name, kind, times, status and attributes the
//! record implies, as many requests as tshark finds, histogram counts equal
//! to the requests; a collector answering 503, and one that is down while
//! the queue overflows: what the queue held arrives, the rest is counted.
//! The agent in the lab: `otlp_live` in `lab`-style namespaces with curl.

use crate::util::{data_dir, podwire, target_dir, tshark_fields};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The receiver's Python, when installed.
pub fn python() -> Option<PathBuf> {
    let py = target_dir().join("test-data/venv-otlp/bin/python");
    if py.exists() {
        return Some(py);
    }
    assert!(
        std::env::var_os("PODWIRE_REQUIRE_OTLP").is_none(),
        "PODWIRE_REQUIRE_OTLP is set but {} is missing",
        py.display()
    );
    None
}

/// A running receiver: its port and what it logged.
pub struct Receiver {
    child: Option<Child>,
    pub port: u16,
    pub out: PathBuf,
    dir: PathBuf,
    py: PathBuf,
    args: Vec<String>,
}

impl Receiver {
    /// Starts a receiver on `port` (0: any) logging into `dir/out.jsonl`.
    pub fn start(py: &Path, dir: &Path, port: u16) -> Receiver {
        Receiver::start_with(py, dir, port, &[])
    }

    /// The same with more arguments (`--grpc`, `--mode MODE`).
    pub fn start_with(py: &Path, dir: &Path, port: u16, args: &[&str]) -> Receiver {
        let port_file = dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let out = dir.join("out.jsonl");
        let child = Command::new(py)
            .arg(data_dir().join("otlp_receiver.py"))
            .arg("--out")
            .arg(&out)
            .arg("--port-file")
            .arg(&port_file)
            .args(["--port", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the OTLP receiver");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the OTLP receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Receiver {
            child: Some(child),
            port,
            out,
            dir: dir.to_path_buf(),
            py: py.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the receiver (the port stays this receiver's for `restart`).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let again = Receiver::start_with(&self.py, &self.dir, self.port, &args);
        *self = again;
    }

    /// Changes how it answers: `ok`, `503`, `429`, `discard`.
    pub fn mode(&self, mode: &str) {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", "--data", mode])
            .arg(format!("{}/control", self.url()))
            .output()
            .expect("curl");
        assert!(out.status.success(), "setting the receiver's mode");
    }

    /// Every logged request.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The decoded requests of one signal that were accepted.
    pub fn accepted(&self, signal: &str) -> Vec<Value> {
        let reqs = self.requests();
        for r in &reqs {
            assert!(
                r.get("error").is_none(),
                "the receiver could not decode: {r}"
            );
        }
        reqs.into_iter()
            .filter(|r| r["signal"] == signal && r["status"] == 200)
            .map(|r| r["request"].clone())
            .collect()
    }

    /// Every span received, with its resource's attributes.
    pub fn spans(&self) -> Vec<(Value, Value)> {
        let mut out = Vec::new();
        for req in self.accepted("traces") {
            for rs in req["resource_spans"].as_array().into_iter().flatten() {
                let res = attrs(&rs["resource"]["attributes"]);
                for ss in rs["scope_spans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        out.push((res.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }

    /// Histogram data points by metric name: (metric, resource, point).
    pub fn histogram_points(&self) -> Vec<(String, Value, Value)> {
        let mut out = Vec::new();
        for req in self.accepted("metrics") {
            for rm in req["resource_metrics"].as_array().into_iter().flatten() {
                let res = attrs(&rm["resource"]["attributes"]);
                for sm in rm["scope_metrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        let name = m["name"].as_str().unwrap_or_default().to_string();
                        for p in m["histogram"]["data_points"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            out.push((name.clone(), res.clone(), p.clone()));
                        }
                    }
                }
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// OTLP attributes as a JSON object of plain values.
pub fn attrs(list: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for kv in list.as_array().into_iter().flatten() {
        let v = &kv["value"];
        let plain = if let Some(s) = v.get("string_value") {
            s.clone()
        } else if let Some(i) = v.get("int_value") {
            // 64-bit integers come as strings in protobuf's JSON.
            Value::from(i.as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1))
        } else if let Some(b) = v.get("bool_value") {
            b.clone()
        } else if let Some(d) = v.get("double_value") {
            d.clone()
        } else {
            v.clone()
        };
        m.insert(kv["key"].as_str().unwrap_or_default().to_string(), plain);
    }
    Value::Object(m)
}

/// A 64-bit integer field of protobuf's JSON.
pub fn u64_of(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

/// An RFC 3339 time of the records as nanoseconds since the epoch.
pub fn ns(ts: &Value) -> u64 {
    let t = humantime::parse_rfc3339(ts.as_str().expect("ts")).expect("RFC 3339");
    t.duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

/// `podwire read --format jsonl FILE --otlp-endpoint URL ARGS...`: the
/// records written and the run's standard error.
fn read_to(file: &Path, url: &str, args: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(podwire())
        .args(["read", "--format", "jsonl", "--threads", "2"])
        .arg(file)
        .args(["--otlp-endpoint", url, "--otlp-metrics-ms", "100"])
        .args(args)
        .output()
        .expect("podwire read");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "podwire read failed: {stderr}");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect();
    (records, stderr)
}

fn is_request(r: &Value) -> bool {
    !matches!(r["type"].as_str(), Some("connection" | "tls"))
}

/// The span name, status and attributes a request record implies, per the
/// semantic conventions (the mapping documented in docs/otlp.md).
fn expected(r: &Value) -> (String, bool, Vec<(&'static str, Value)>) {
    let mut a: Vec<(&'static str, Value)> = vec![
        ("server.port", r["server"]["port"].clone()),
        ("client.address", r["client"]["ip"].clone()),
        ("network.peer.address", r["client"]["ip"].clone()),
    ];
    match r["type"].as_str().unwrap_or_default() {
        "http" => {
            if let Some(g) = r.get("grpc").filter(|g| !g.is_null()) {
                a.push(("rpc.system", "grpc".into()));
                a.push(("rpc.service", g["service"].clone()));
                a.push(("rpc.method", g["method"].clone()));
                if !g["status"].is_null() {
                    a.push(("rpc.grpc.status_code", g["status"].clone()));
                }
                let code = g["status"].as_u64();
                let err = matches!(code, Some(2 | 4 | 12 | 13 | 14 | 15));
                let name = format!(
                    "{}/{}",
                    g["service"].as_str().unwrap_or_default(),
                    g["method"].as_str().unwrap_or_default()
                );
                return (name, err, a);
            }
            let method = r["method"].as_str().unwrap_or("HTTP").to_string();
            if !r["method"].is_null() {
                a.push(("http.request.method", r["method"].clone()));
            }
            if let Some(p) = r["path"].as_str() {
                a.push(("url.path", p.split('?').next().unwrap_or(p).into()));
            }
            if !r["status"].is_null() {
                a.push(("http.response.status_code", r["status"].clone()));
            }
            let err = r["status"].as_u64().is_some_and(|s| s >= 500);
            (method, err, a)
        }
        "dns" => {
            a.push(("dns.question.name", r["name"].clone()));
            let err = r["rcode"]
                .as_str()
                .is_some_and(|c| c != "NOERROR" && c != "NXDOMAIN");
            (
                format!("DNS {}", r["qtype"].as_str().unwrap_or_default()),
                err,
                a,
            )
        }
        t @ ("postgres" | "mysql") => {
            let system = if t == "postgres" {
                "postgresql"
            } else {
                "mysql"
            };
            a.push(("db.system.name", system.into()));
            a.push(("db.operation.name", r["operation"].clone()));
            if !r["statement"].is_null() {
                a.push(("db.query.text", r["statement"].clone()));
            }
            if let Some(c) = r["error"]["code"].as_str() {
                a.push(("db.response.status_code", c.into()));
            }
            let op = r["operation"].as_str().unwrap_or_default();
            let name = match r["database"].as_str() {
                Some(db) => format!("{op} {db}"),
                None => op.to_string(),
            };
            (name, r["outcome"] == "error", a)
        }
        other => panic!("no expectation for {other} records"),
    }
}

/// Each request record has exactly one span from the capture, matching it
/// (see [`expected`]); returns the spans.
fn check_spans(records: &[Value], rx: &Receiver) -> Vec<(Value, Value)> {
    let requests: Vec<&Value> = records.iter().filter(|r| is_request(r)).collect();
    let mut spans = rx.spans();
    assert_eq!(spans.len(), requests.len(), "one span per request record");
    let all = spans.clone();
    for r in &requests {
        let start = ns(&r["ts"]);
        let cport = r["client"]["port"].as_i64();
        let (name, err, want) = expected(r);
        let i = spans
            .iter()
            .position(|(_, s)| {
                u64_of(&s["start_time_unix_nano"]) == start
                    && attrs(&s["attributes"])["client.port"].as_i64() == cport
                    && s["name"] == name.as_str()
            })
            .unwrap_or_else(|| panic!("no span {name:?} at {} for {r}", r["ts"]));
        let (res, s) = spans.swap_remove(i);
        assert_eq!(s["kind"], "SPAN_KIND_SERVER", "{r}");
        let latency_ns = r["latency_ms"]
            .as_f64()
            .map(|ms| (ms * 1e6) as u64)
            .unwrap_or(0);
        let end = u64_of(&s["end_time_unix_nano"]);
        assert!(
            end.abs_diff(start + latency_ns) <= 1,
            "end {end} for a start {start} and {latency_ns} ns"
        );
        let status = s["status"]["code"].as_str().unwrap_or("STATUS_CODE_UNSET");
        assert_eq!(
            status,
            if err {
                "STATUS_CODE_ERROR"
            } else {
                "STATUS_CODE_UNSET"
            },
            "{r}"
        );
        let got = attrs(&s["attributes"]);
        for (k, v) in want {
            assert_eq!(got[k], v, "{k} of {r}");
        }
        assert_eq!(
            s["trace_id"].as_str().map(str::len),
            Some(24),
            "16-byte trace id"
        );
        assert_eq!(
            s["span_id"].as_str().map(str::len),
            Some(12),
            "8-byte span id"
        );
        assert_eq!(
            res["service.name"], "unknown_service",
            "no identity in a capture"
        );
    }
    all
}

/// Histogram counts: one observation per request record with a latency,
/// summed over every point of the metric.
fn histogram_count(rx: &Receiver, metric: &str) -> u64 {
    // Cumulative temporality: the last export holds everything; take the
    // points of the last request that has this metric.
    let points = rx.histogram_points();
    let last_time = points
        .iter()
        .filter(|(m, _, _)| m == metric)
        .map(|(_, _, p)| u64_of(&p["time_unix_nano"]))
        .max();
    points
        .iter()
        .filter(|(m, _, p)| m == metric && Some(u64_of(&p["time_unix_nano"])) == last_time)
        .map(|(_, _, p)| {
            let buckets: u64 = p["bucket_counts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(u64_of)
                .sum();
            assert_eq!(buckets, u64_of(&p["count"]), "buckets sum to the count");
            u64_of(&p["count"])
        })
        .sum()
}

fn setup(test: &str) -> Option<(PathBuf, tempfile::TempDir)> {
    let Some(py) = python() else {
        podwire_lab::skip::skipped(
            test,
            "opentelemetry-proto is not installed (scripts/test.sh)",
        );
        return None;
    };
    Some((py, tempfile::tempdir().expect("temp dir")))
}

#[test]
fn read_exports_http1_requests_as_spans_and_histograms_as_tshark_counts_them() {
    let Some((py, dir)) = setup("otlp http1") else {
        return;
    };
    let rx = Receiver::start(&py, dir.path(), 0);
    let pcap = data_dir().join("http.pcap");
    let (records, stderr) = read_to(&pcap, &rx.url(), &["--otlp-compression", "gzip"]);
    check_http_pcap_export(&pcap, &records, &stderr, &rx);
}

/// OTLP/gRPC to the official generated services (grpcio): the same spans,
/// histograms and log records as over HTTP; each signal's first export is
/// answered UNAVAILABLE (retryable) and arrives on the next try; headers
/// as metadata, the messages gzip-compressed.
#[test]
fn read_exports_over_grpc_to_the_collector_services_retrying_unavailable() {
    let Some((py, dir)) = setup("otlp grpc") else {
        return;
    };
    let rx = Receiver::start_with(
        &py,
        dir.path(),
        0,
        &["--grpc", "--mode", "unavailable-once"],
    );
    let pcap = data_dir().join("http.pcap");
    let (records, stderr) = read_to(
        &pcap,
        &rx.url(),
        &[
            "--otlp-protocol",
            "grpc",
            "--otlp-compression",
            "gzip",
            "--otlp-header",
            "authorization=Bearer grpc-token",
        ],
    );
    check_http_pcap_export(&pcap, &records, &stderr, &rx);
    let reqs = rx.requests();
    for signal in ["traces", "metrics", "logs"] {
        let answers: Vec<&Value> = reqs
            .iter()
            .filter(|r| r["signal"] == signal)
            .map(|r| &r["status"])
            .collect();
        assert_eq!(
            answers.first(),
            Some(&&Value::from("UNAVAILABLE")),
            "{signal}"
        );
        assert!(
            answers.contains(&&Value::from(200)),
            "{signal}: {answers:?}"
        );
    }
    // grpcio keeps `grpc-encoding` to itself: that the compressed frames
    // decoded at all says it inflated them (gRPC refuses a compressed
    // frame in an encoding it does not know).
    for r in reqs.iter().filter(|r| r["status"] == 200) {
        assert_eq!(r["headers"]["authorization"], "Bearer grpc-token");
    }
}

/// RESOURCE_EXHAUSTED is retried only when the collector says when
/// (RetryInfo), as the OTLP specification has it: without, the batch is
/// refused once and counted; with, it arrives on the next try.
#[test]
fn grpc_resource_exhausted_is_retried_only_with_retry_info() {
    let Some((py, dir)) = setup("otlp grpc exhausted") else {
        return;
    };
    let pcap = data_dir().join("http.pcap");
    let args = [
        "--otlp-protocol",
        "grpc",
        "--otlp-signals",
        "traces",
        "--otlp-batch",
        "100000",
    ];
    let rx = Receiver::start_with(&py, dir.path(), 0, &["--grpc", "--mode", "exhausted"]);
    let (records, stderr) = read_to(&pcap, &rx.url(), &args);
    let requests = records.iter().filter(|r| is_request(r)).count();
    assert!(requests > 0);
    assert!(
        stderr.contains(&format!("traces 0 sent, {requests} dropped")),
        "{stderr}"
    );
    let tries = rx.requests().len();
    assert_eq!(tries, 1, "one batch, one try, no retry");
    drop(rx);

    let dir = tempfile::tempdir().expect("temp dir");
    let rx = Receiver::start_with(&py, dir.path(), 0, &["--grpc", "--mode", "exhausted-retry"]);
    let started = Instant::now();
    let (records, stderr) = read_to(&pcap, &rx.url(), &args);
    let spans = check_spans(&records, &rx);
    assert!(
        stderr.contains(&format!("traces {} sent, 0 dropped", spans.len())),
        "{stderr}"
    );
    let statuses: Vec<Value> = rx.requests().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        [Value::from("RESOURCE_EXHAUSTED"), Value::from(200)]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RetryInfo's 1 s was waited"
    );
}

/// `http.pcap` exported: one span per request (see [`check_spans`]), as
/// many as tshark finds, histogram counts equal to the timed requests, a
/// log record per connection with its fields, nothing dropped.
fn check_http_pcap_export(pcap: &Path, records: &[Value], stderr: &str, rx: &Receiver) {
    let spans = check_spans(records, rx);
    let tshark_requests = tshark_fields(pcap, Some("http.request"), &["frame.number"]).len();
    assert!(tshark_requests > 0);
    let with_method = spans
        .iter()
        .filter(|(_, s)| attrs(&s["attributes"]).get("http.request.method").is_some())
        .count();
    assert_eq!(
        with_method, tshark_requests,
        "spans of requests tshark sees"
    );
    let timed = records
        .iter()
        .filter(|r| r["type"] == "http" && r["latency_ms"].is_number())
        .count() as u64;
    assert_eq!(histogram_count(rx, "http.server.request.duration"), timed);
    // Connection records arrive as log records, fields as attributes.
    let conns: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "connection")
        .collect();
    let logs: Vec<Value> = rx
        .accepted("logs")
        .iter()
        .flat_map(|req| {
            req["resource_logs"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|rl| rl["scope_logs"].as_array().into_iter().flatten())
                .flat_map(|sl| sl["log_records"].as_array().into_iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(logs.len(), conns.len());
    for c in conns {
        let l = logs
            .iter()
            .find(|l| u64_of(&l["time_unix_nano"]) == ns(&c["ts"]))
            .expect("a log record per connection");
        let a = attrs(&l["attributes"]);
        assert_eq!(a["client.port"], c["client"]["port"]);
        assert_eq!(a["server_to_client.bytes"], c["server_to_client"]["bytes"]);
        assert_eq!(a["close"], c["close"]);
        assert_eq!(l["body"]["string_value"], "connection");
    }
    assert!(
        stderr.contains(&format!("traces {} sent, 0 dropped", spans.len())),
        "{stderr}"
    );
}

#[test]
fn read_exports_dns_queries_as_spans() {
    let Some((py, dir)) = setup("otlp dns") else {
        return;
    };
    let rx = Receiver::start(&py, dir.path(), 0);
    let pcap = data_dir().join("dns.pcap");
    let (records, _) = read_to(&pcap, &rx.url(), &["--otlp-compression", "none"]);
    let spans = check_spans(&records, &rx);
    let queries = tshark_fields(&pcap, Some("dns.flags.response == 0"), &["frame.number"]).len();
    assert_eq!(spans.len(), queries, "one span per query tshark sees");
    let timed = records
        .iter()
        .filter(|r| r["latency_ms"].is_number())
        .count() as u64;
    assert_eq!(histogram_count(&rx, "dns.lookup.duration"), timed);
}

#[test]
fn read_exports_grpc_calls_with_rpc_attributes() {
    let Some((py, dir)) = setup("otlp grpc") else {
        return;
    };
    let rx = Receiver::start(&py, dir.path(), 0);
    let pcap = data_dir().join("../../../parse-http2/tests/data/grpc_calls.pcap");
    let (records, _) = read_to(&pcap, &rx.url(), &[]);
    let spans = check_spans(&records, &rx);
    let grpc = records.iter().filter(|r| r["grpc"].is_object()).count();
    assert!(grpc > 0, "the capture has gRPC calls");
    let rpc_spans = spans
        .iter()
        .filter(|(_, s)| attrs(&s["attributes"])["rpc.system"] == "grpc")
        .count();
    assert_eq!(rpc_spans, grpc);
    // tshark (told the port is HTTP/2): one call per request :path.
    let port = records[0]["server"]["port"].as_u64().expect("port");
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", &format!("tcp.port=={port},http2")])
        .args([
            "-Y",
            "http2.headers.path",
            "-T",
            "fields",
            "-e",
            "http2.headers.path",
        ])
        .output()
        .expect("tshark");
    let calls: usize = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(',').filter(|p| p.starts_with('/')).count())
        .sum();
    assert_eq!(rpc_spans, calls, "spans of the calls tshark sees");
    let timed = records
        .iter()
        .filter(|r| r["grpc"].is_object() && r["latency_ms"].is_number())
        .count() as u64;
    assert_eq!(histogram_count(&rx, "rpc.server.call.duration"), timed);
}

#[test]
fn read_exports_postgres_statements_masked_with_db_attributes() {
    let Some((py, dir)) = setup("otlp postgres") else {
        return;
    };
    let rx = Receiver::start(&py, dir.path(), 0);
    let pcap = data_dir().join("../../../parse-postgres/tests/data/simple.pcap");
    let (records, _) = read_to(&pcap, &rx.url(), &[]);
    let spans = check_spans(&records, &rx);
    assert!(records.iter().any(|r| r["type"] == "postgres"));
    for (_, s) in &spans {
        let a = attrs(&s["attributes"]);
        if let Some(q) = a["db.query.text"].as_str() {
            assert!(!q.contains('\''), "a literal left in {q}");
        }
    }
    let timed = records
        .iter()
        .filter(|r| r["type"] == "postgres" && r["latency_ms"].is_number())
        .count() as u64;
    assert_eq!(histogram_count(&rx, "db.client.operation.duration"), timed);
}

#[test]
fn a_collector_answering_503_gets_everything_once_it_recovers() {
    let Some((py, dir)) = setup("otlp 503") else {
        return;
    };
    let rx = Receiver::start(&py, dir.path(), 0);
    rx.mode("503");
    let url = rx.url();
    let pcap = data_dir().join("http.pcap");
    let reader = std::thread::spawn(move || read_to(&pcap, &url, &["--otlp-signals", "traces"]));
    // The first tries meet 503s (with Retry-After: 1), then it recovers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rx.requests().iter().any(|r| r["status"] == 503) {
        assert!(Instant::now() < deadline, "no export reached the receiver");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    rx.mode("ok");
    let (records, stderr) = reader.join().expect("reader");
    let spans = check_spans(&records, &rx);
    assert!(!spans.is_empty());
    assert!(
        stderr.contains(&format!("traces {} sent, 0 dropped", spans.len())),
        "{stderr}"
    );
    assert!(rx.accepted("metrics").is_empty(), "metrics were turned off");
}

#[test]
fn a_collector_that_is_down_gets_what_the_queue_held_and_the_rest_is_counted() {
    let Some((py, dir)) = setup("otlp down") else {
        return;
    };
    let mut rx = Receiver::start(&py, dir.path(), 0);
    rx.stop();
    let url = rx.url();
    let pcap = data_dir().join("dns.pcap");
    // One span per request, a queue of 2 KiB: most batches cannot wait.
    let reader = std::thread::spawn(move || {
        read_to(
            &pcap,
            &url,
            &[
                "--otlp-signals",
                "traces",
                "--otlp-batch",
                "1",
                "--otlp-queue-kib",
                "2",
                "--otlp-compression",
                "none",
            ],
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    rx.restart();
    let (records, stderr) = reader.join().expect("reader");
    let requests = records.iter().filter(|r| is_request(r)).count();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("otlp: "))
        .unwrap_or_else(|| panic!("no otlp summary in {stderr}"));
    let num = |after: &str| -> usize {
        let rest = &line[line.find(after).expect(after) + after.len()..];
        rest.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    let sent = num("traces ");
    let dropped = num("sent, ");
    let received = rx.spans().len();
    assert_eq!(received, sent, "every span counted as sent arrived");
    assert_eq!(
        sent + dropped,
        requests,
        "each span sent or counted: {line}"
    );
    assert!(dropped > 0, "the queue overflowed: {line}");
    assert!(sent > 0, "what the queue held arrived: {line}");
}

/// The agent tests' lab: a cluster whose `client` pod (StatefulSet
/// `client`) and `web` pod (`web_objects` of its address) the fake API
/// server names, all on the agent's node; a receiver; an agent exporting
/// to it every 200 ms (metrics every 500 ms unless `otlp` says) with
/// `otlp` flags added;
/// with `--otlp-protocol grpc` among them, the receiver serves OTLP/gRPC.
/// Dropped in field order: the agent first, the lab lock last.
struct LiveLab {
    agent: podwire_lab::agent::Agent,
    rx: Receiver,
    _api: podwire_lab::kubeapi::FakeApiServer,
    c: podwire_lab::scenario::Cluster,
    dir: tempfile::TempDir,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl LiveLab {
    fn start(
        test: &str,
        tools: &[&str],
        web_objects: impl FnOnce(std::net::IpAddr) -> Vec<Value>,
        otlp: &[&str],
    ) -> Option<LiveLab> {
        use crate::kube::{pod, start_agent, synced, wait_until, NODE, TOOLS};
        use podwire_lab::skip::require_lab;
        let needs: Vec<&str> = TOOLS.iter().chain(tools).copied().collect();
        if let Err(skip) = require_lab(&needs) {
            skip.report(test);
            return None;
        }
        let (py, dir) = setup(test)?;
        let lock = crate::util::lab_lock();
        let c = podwire_lab::scenario::Cluster::start().expect("start the lab cluster");
        let api = podwire_lab::kubeapi::FakeApiServer::start().expect("fake API server");
        api.apply(serde_json::json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}]}}));
        for o in web_objects(c.web.ip(false)) {
            api.apply(o);
        }
        let client = c.client.ip(false);
        api.apply(pod(
            "client-0",
            &[client],
            Some(("StatefulSet", "client")),
            None,
        ));
        let grpc = otlp.windows(2).any(|w| w == ["--otlp-protocol", "grpc"]);
        let rx_args: &[&str] = if grpc { &["--grpc"] } else { &[] };
        let rx = Receiver::start_with(&py, dir.path(), 0, rx_args);
        let (url, netns) = (rx.url(), format!("/run/netns/{}", c.lab.switch_ns()));
        let mut args = vec![
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--otlp-endpoint",
            &url,
            "--otlp-batch-ms",
            "200",
        ];
        if !otlp.contains(&"--otlp-metrics-ms") {
            args.extend(["--otlp-metrics-ms", "500"]);
        }
        args.extend(otlp);
        let agent = start_agent(&api, dir.path(), &args);
        wait_until("every resource listed", &agent, 20, || synced(&agent));
        Some(LiveLab {
            agent,
            rx,
            _api: api,
            c,
            dir,
            _lock: lock,
        })
    }
}

/// `web` as the pod of Deployment `web` (through ReplicaSet `web-5f7d`).
fn web_deployment(web: std::net::IpAddr) -> Vec<Value> {
    use crate::kube::{pod, replicaset};
    vec![
        replicaset("web-5f7d", "web"),
        pod(
            "web-5f7d-aaaaa",
            &[web],
            Some(("ReplicaSet", "web-5f7d")),
            Some("5f7d"),
        ),
    ]
}

/// The agent in the lab, named through the fake API server, exporting to
/// the receiver: curl's requests arrive as a SERVER span (web's resource)
/// and a CLIENT span (the client pod's resource) each, both pods being on
/// the agent's node; delta histograms count them; the receiver stopped for
/// 30 s and started again gets what the queue held, the rest is counted.
#[test]
fn agent_exports_curl_requests_with_kubernetes_resources_and_survives_a_receiver_outage() {
    use crate::kube::{wait_until, NODE};
    use podwire_lab::clients::{self, CurlOptions, Transfer};
    use podwire_lab::scenario::HTTP_PORT;

    let Some(mut lab) = LiveLab::start(
        "agent_exports_curl_requests_with_kubernetes_resources",
        &[],
        web_deployment,
        &[
            "--otlp-temporality",
            "delta",
            "--otlp-header",
            "authorization=Bearer lab-token",
            "--otlp-batch",
            "1",
            "--otlp-queue-kib",
            "16",
            "--otlp-signals",
            "traces,metrics",
            // Metric batches share the queue with spans: few of them, so
            // that during the outage spans are what the queue holds.
            "--otlp-metrics-ms",
            "2000",
        ],
    ) else {
        return;
    };
    let LiveLab {
        ref c,
        ref agent,
        ref mut rx,
        ..
    } = lab;
    let (web, client) = (c.web.ip(false), c.client.ip(false));

    let curl = |n: usize| {
        let target = format!("http://{web}:{HTTP_PORT}/small.txt?q=1");
        let transfers: Vec<Transfer> = (0..n).map(|_| Transfer::get(target.clone())).collect();
        let r = clients::curl(&c.client, &transfers, &CurlOptions::default()).expect("curl");
        assert!(r.iter().all(|t| t.code == 200));
    };
    let ours = |rx: &Receiver, kind: &str| -> Vec<(Value, Value)> {
        rx.spans()
            .into_iter()
            .filter(|(_, s)| {
                s["kind"] == kind && attrs(&s["attributes"])["url.path"] == "/small.txt"
            })
            .collect()
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    curl(5);
    wait_until("10 spans", agent, 30, || {
        ours(rx, "SPAN_KIND_SERVER").len() >= 5 && ours(rx, "SPAN_KIND_CLIENT").len() >= 5
    });
    let server = ours(rx, "SPAN_KIND_SERVER");
    let client_spans = ours(rx, "SPAN_KIND_CLIENT");
    assert_eq!((server.len(), client_spans.len()), (5, 5));
    let stored = agent.json("/api/v1/http?limit=100").expect("records");
    let mut stored_ts: Vec<u64> = stored
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| ns(&r["ts"]))
        .collect();
    stored_ts.sort();
    for (res, s) in &server {
        assert_eq!(res["k8s.pod.name"], "web-5f7d-aaaaa", "{res}");
        assert_eq!(res["k8s.namespace.name"], "shop");
        assert_eq!(res["k8s.deployment.name"], "web");
        assert_eq!(res["k8s.node.name"], NODE);
        assert_eq!(res["service.name"], "web");
        assert_eq!(s["name"], "GET");
        let a = attrs(&s["attributes"]);
        assert_eq!(a["http.request.method"], "GET");
        assert_eq!(a["http.response.status_code"], 200);
        assert_eq!(a["client.address"], client.to_string());
        assert_eq!(a["network.peer.address"], client.to_string());
        assert_eq!(a["server.address"], web.to_string());
        assert_eq!(a["server.port"], i64::from(HTTP_PORT));
        let (start, end) = (
            u64_of(&s["start_time_unix_nano"]),
            u64_of(&s["end_time_unix_nano"]),
        );
        assert!(
            start >= started && end >= start,
            "{start}..{end} after {started}"
        );
        assert!(
            stored_ts.binary_search(&start).is_ok(),
            "the span starts at its record's ts"
        );
        assert!(s["status"]["code"].is_null(), "a 200 is no error");
    }
    for (res, s) in &client_spans {
        assert_eq!(res["k8s.pod.name"], "client-0", "{res}");
        assert_eq!(res["k8s.statefulset.name"], "client");
        assert_eq!(res["service.name"], "client");
        assert_eq!(
            attrs(&s["attributes"])["network.peer.address"],
            web.to_string()
        );
    }
    // Delta histograms: the points of every export add up to the requests.
    let count = |rx: &Receiver, metric: &str| -> u64 {
        rx.histogram_points()
            .iter()
            .filter(|(m, _, p)| {
                m == metric && attrs(&p["attributes"])["http.request.method"] == "GET"
            })
            .map(|(_, _, p)| u64_of(&p["count"]))
            .sum()
    };
    wait_until("histograms", agent, 10, || {
        count(rx, "http.server.request.duration") >= 5
            && count(rx, "http.client.request.duration") >= 5
    });
    assert_eq!(count(rx, "http.server.request.duration"), 5);
    assert_eq!(count(rx, "http.client.request.duration"), 5);
    let auth = rx
        .requests()
        .iter()
        .all(|r| r["status"] != 200 || r["headers"]["authorization"] == "Bearer lab-token");
    assert!(auth, "--otlp-header on every export");

    // The receiver goes away for 30 s while requests go on; it comes
    // back. The queue (16 KiB, one span per request) holds a few dozen
    // spans: those arrive, the rest is counted. The second burst comes
    // near the end: metric exports go on filling the queue too, oldest
    // out first, while the exporter waits out its backoff (up to 30 s)
    // after the receiver is back; with metrics every 500 ms and the burst
    // half-way, they left no span to arrive in 2 of 5 runs.
    rx.stop();
    curl(30);
    std::thread::sleep(Duration::from_secs(27));
    curl(30);
    std::thread::sleep(Duration::from_secs(3));
    let metric = |name: &str| crate::kube::metric(agent, name);
    assert!(
        metric("podwire_otlp_retries_total{signal=\"traces\"}") >= 1.0,
        "the agent retried while the receiver was away"
    );
    let queued = metric("podwire_otlp_queue_bytes");
    assert!(
        queued > 0.0 && queued <= 16384.0,
        "queue {queued} within its budget"
    );
    rx.restart();
    wait_until("the queue drained", agent, 60, || {
        metric("podwire_otlp_queue_bytes") == 0.0
    });
    let dropped =
        metric("podwire_otlp_items_dropped_total{signal=\"traces\",reason=\"queue_full\"}");
    let sent = metric("podwire_otlp_items_sent_total{signal=\"traces\"}");
    let received = rx.spans().len();
    assert_eq!(sent, received as f64, "every span counted as sent arrived");
    assert!(dropped > 0.0, "the queue overflowed during 30 s");
    let after = ours(rx, "SPAN_KIND_SERVER").len() + ours(rx, "SPAN_KIND_CLIENT").len() - 10;
    println!("outage: {after} spans arrived after it, {dropped} dropped, {sent} sent in all");
    assert!(after > 0, "what the queue held arrived");
    assert_eq!(
        after as f64 + dropped,
        120.0,
        "each of the outage's 120 spans arrived or was counted"
    );
    assert_eq!(metric("podwire_otlp_queue_budget_bytes"), 16384.0);
    // /api/v1/status says the same, with the keys docs/openapi.json lists.
    let status = agent.json("/api/v1/status").expect("status");
    let otlp = &status["otlp"];
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("openapi.json"),
    )
    .expect("openapi JSON");
    let required = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["required"]
            .as_array()
            .expect("required keys")
            .iter()
            .filter_map(|k| k.as_str().map(String::from))
            .collect()
    };
    for k in required("OtlpStatus") {
        assert!(!otlp[&k].is_null(), "otlp.{k} in {otlp}");
    }
    for signal in ["traces", "metrics", "logs"] {
        for k in required("OtlpSignalStatus") {
            assert!(
                otlp["signals"][signal][&k].is_u64(),
                "otlp.signals.{signal}.{k} in {otlp}"
            );
        }
    }
    let traces = &otlp["signals"]["traces"];
    assert_eq!(traces["sent"].as_f64(), Some(sent));
    assert_eq!(traces["dropped_queue_full"].as_f64(), Some(dropped));
    assert_eq!(
        traces["queued"].as_f64(),
        Some(sent + dropped),
        "every queued span sent or dropped: {traces}"
    );
    assert!(traces["retried"].as_u64() >= Some(1), "{traces}");
    assert_eq!(otlp["queue_budget_bytes"], 16384);
    let rss = crate::kube::metric(agent, "podwire_resident_memory_bytes");
    assert!(
        rss > 0.0 && rss < 256.0 * 1024.0 * 1024.0,
        "agent RSS {rss}"
    );
}

/// psql against PostgreSQL in the lab, the agent exporting: each statement
/// a database span named `{operation} {database}`, the failing one with an
/// error status and its SQLSTATE, literals masked; the operation histogram
/// counts the statements.
#[test]
fn agent_exports_psql_statements_as_database_spans() {
    use crate::kube::{pod, wait_until};
    use crate::protocols::{pg_bin, run, wait_port, Postgres, PG_PORT};

    let test = "agent_exports_psql_statements_as_database_spans";
    if pg_bin("initdb").is_none() {
        podwire_lab::skip::skipped(test, "PostgreSQL server programs not installed");
        return;
    }
    let db = |web| vec![pod("db-0", &[web], Some(("StatefulSet", "db")), None)];
    let Some(lab) = LiveLab::start(test, &[], db, &[]) else {
        return;
    };
    let LiveLab {
        ref c,
        ref agent,
        ref rx,
        ref dir,
        ..
    } = lab;
    let web = c.web.ip(false);
    let _pg = Postgres::start(&c.web, &dir.path().join("pg"));
    wait_port(&c.web, PG_PORT);
    let out = run(c.client.command("psql").args([
        "-h",
        &web.to_string(),
        "-p",
        &PG_PORT.to_string(),
        "-U",
        "postgres",
        "-X",
        "-A",
        "-t",
        "-c",
        "SELECT 41 + 1",
        "-c",
        "SELECT * FROM missing WHERE id = 7",
    ]));
    assert!(out.contains("42"), "psql: {out}");
    let selects = |rx: &Receiver| -> Vec<(Value, Value)> {
        rx.spans()
            .into_iter()
            .filter(|(_, s)| s["kind"] == "SPAN_KIND_SERVER" && s["name"] == "SELECT postgres")
            .collect()
    };
    wait_until("two SELECT spans", agent, 30, || selects(rx).len() >= 2);
    let spans = selects(rx);
    assert_eq!(spans.len(), 2);
    let texts: Vec<String> = spans
        .iter()
        .map(|(res, s)| {
            assert_eq!(res["k8s.pod.name"], "db-0");
            assert_eq!(res["k8s.statefulset.name"], "db");
            assert_eq!(res["service.name"], "db");
            let a = attrs(&s["attributes"]);
            assert_eq!(a["db.system.name"], "postgresql");
            assert_eq!(a["db.operation.name"], "SELECT");
            assert_eq!(a["db.namespace"], "postgres");
            assert_eq!(a["server.port"], i64::from(PG_PORT));
            let failed = s["status"]["code"] == "STATUS_CODE_ERROR";
            assert_eq!(failed, a["db.response.status_code"] == "42P01", "{s}");
            a["db.query.text"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert!(texts.iter().any(|t| t == "SELECT ? + ?"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t == "SELECT * FROM missing WHERE id = ?"),
        "{texts:?}"
    );
    // The CLIENT side too: psql runs in a pod on this node.
    let client_spans = rx
        .spans()
        .into_iter()
        .filter(|(res, s)| s["kind"] == "SPAN_KIND_CLIENT" && res["k8s.pod.name"] == "client-0")
        .filter(|(_, s)| s["name"] == "SELECT postgres")
        .count();
    assert_eq!(client_spans, 2);
    // Cumulative: each export's points for SELECT (one series per error
    // status) add up to the statements so far.
    wait_until("the histogram", agent, 10, || {
        let mut by_export: std::collections::BTreeMap<u64, u64> = Default::default();
        for (m, res, p) in rx.histogram_points() {
            if m == "db.client.operation.duration"
                && res["k8s.pod.name"] == "db-0"
                && attrs(&p["attributes"])["db.operation.name"] == "SELECT"
            {
                *by_export.entry(u64_of(&p["time_unix_nano"])).or_default() += u64_of(&p["count"]);
            }
        }
        by_export.values().last() == Some(&2)
    });
}

/// Python grpcio's calls against a live agent (`tests/data/grpc_echo.py`,
/// as in the protocols lab test), exported over OTLP/gRPC to the official
/// collector services: each call arrives as a SERVER span under
/// web's resource and a CLIENT span under the client pod's, named
/// `{service}/{method}`, with the gRPC status the client got; the failing
/// call (NOT_FOUND) is an error for the client and not for the server, by
/// the conventions; every span lies within the time the client took; the
/// call-duration histograms count the calls per method.
#[test]
fn agent_exports_grpc_calls_as_rpc_spans_and_histograms() {
    use crate::kube::wait_until;
    use crate::protocols::{grpc_server, grpcio, GrpcClient};
    use std::collections::BTreeMap;

    const GRPC_PORT: u16 = 50051;
    let test = "agent_exports_grpc_calls_as_rpc_spans_and_histograms";
    let Some(lab) = LiveLab::start(
        test,
        &["python3"],
        web_deployment,
        &[
            "--otlp-protocol",
            "grpc",
            "--otlp-temporality",
            "delta",
            "--otlp-signals",
            "traces,metrics",
        ],
    ) else {
        return;
    };
    if !grpcio(test) {
        return;
    }
    let LiveLab {
        ref c,
        ref agent,
        ref rx,
        ..
    } = lab;
    let ip = c.web.ip(false).to_string();
    let script = data_dir().join("grpc_echo.py");
    let _server = grpc_server(&c.web, &ip, GRPC_PORT);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    };
    let before = now();
    let client = GrpcClient::start(&c.client, &script, &ip, GRPC_PORT);
    // The warm-up call, then phase two's, as the client saw them.
    let calls: Vec<(String, u64)> = std::iter::once(("Unary".to_string(), 0))
        .chain(client.calls().iter().map(|c| {
            (
                c["method"].as_str().unwrap_or_default().to_string(),
                c["code"].as_u64().unwrap_or(u64::MAX),
            )
        }))
        .collect();
    let after = now();
    assert!(
        calls.iter().any(|(_, code)| *code != 0),
        "a call failed: {calls:?}"
    );

    let rpc = |kind: &str| -> Vec<(Value, Value)> {
        let mut v: Vec<(Value, Value)> = rx
            .spans()
            .into_iter()
            .filter(|(_, s)| s["kind"] == kind && attrs(&s["attributes"])["rpc.system"] == "grpc")
            .collect();
        v.sort_by_key(|(_, s)| u64_of(&s["start_time_unix_nano"]));
        v
    };
    let n = calls.len();
    wait_until("a span per call and side", agent, 30, || {
        rpc("SPAN_KIND_SERVER").len() >= n && rpc("SPAN_KIND_CLIENT").len() >= n
    });
    for (kind, pod_name, error_codes) in [
        (
            "SPAN_KIND_SERVER",
            "web-5f7d-aaaaa",
            &[2u64, 4, 12, 13, 14, 15][..],
        ),
        ("SPAN_KIND_CLIENT", "client-0", &[][..]),
    ] {
        let spans = rpc(kind);
        assert_eq!(spans.len(), n, "{kind}: one span per call");
        // One connection, one call at a time: spans in start order are the
        // calls in the order made.
        for ((res, s), (method, code)) in spans.iter().zip(&calls) {
            assert_eq!(res["k8s.pod.name"], pod_name, "{res}");
            assert_eq!(s["name"], format!("lab.Echo/{method}"), "{s}");
            let a = attrs(&s["attributes"]);
            assert_eq!(a["rpc.service"], "lab.Echo");
            assert_eq!(a["rpc.method"], method.as_str());
            assert_eq!(a["rpc.grpc.status_code"], *code, "{s}");
            assert_eq!(a["server.address"], ip.as_str());
            assert_eq!(a["server.port"], i64::from(GRPC_PORT));
            let error = if kind == "SPAN_KIND_CLIENT" {
                *code != 0
            } else {
                error_codes.contains(code)
            };
            assert_eq!(
                s["status"]["code"] == "STATUS_CODE_ERROR",
                error,
                "{kind} {method} code {code}: {s}"
            );
            let (start, end) = (
                u64_of(&s["start_time_unix_nano"]),
                u64_of(&s["end_time_unix_nano"]),
            );
            assert!(
                before <= start && start <= end && end <= after,
                "{start}..{end} outside the client's {before}..{after}"
            );
        }
    }
    // Delta histograms: every export's points add up to the calls, per
    // method and side.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (m, _) in &calls {
        *want.entry(m.clone()).or_default() += 1;
    }
    let counts = |metric: &str| -> BTreeMap<String, u64> {
        let mut got = BTreeMap::new();
        for (m, _, p) in rx.histogram_points() {
            let a = attrs(&p["attributes"]);
            if m == metric && a["rpc.system"] == "grpc" {
                let method = a["rpc.method"].as_str().unwrap_or_default().to_string();
                *got.entry(method).or_default() += u64_of(&p["count"]);
            }
        }
        got
    };
    wait_until("the histograms", agent, 10, || {
        counts("rpc.server.call.duration") == want && counts("rpc.client.call.duration") == want
    });
    println!("grpc: {n} calls, {n} SERVER and {n} CLIENT spans, histograms {want:?}");
}
