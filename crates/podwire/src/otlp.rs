//! `--otlp-*`: records out to an OpenTelemetry collector, for `podwire
//! read` and `podwire agent` alike (the same exporter, `podwire-otlp`, fed
//! by both pipelines' sinks).
//!
//! This module holds what the library leaves to the binary: the flags,
//! their validation, and the transport: OTLP/HTTP POSTs with hyper's
//! HTTP/1.1 client over a fresh connection per batch (batches are large and
//! few), TLS by rustls against `--otlp-ca` (else the system bundle), the
//! agent's own sockets registered so it never observes its own exports.

use crate::agent::{own_connect, Own};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use podwire_otlp::metrics::Temporality;
use podwire_otlp::{Config, Exporter, LogRecords, Response, Signal, Transport, TransportError};
use rustls::pki_types::ServerName;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// The CA bundle used for `https://` endpoints without `--otlp-ca`.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The largest answer body read from a collector.
const MAX_ANSWER: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtlpSignal {
    Traces,
    Metrics,
    Logs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtlpLogs {
    /// Connection records only.
    Connections,
    /// Every record.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtlpTemporality {
    Cumulative,
    Delta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtlpCompression {
    Gzip,
    None,
}

/// How records travel (the names of `OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
pub enum OtlpProtocol {
    /// OTLP/HTTP, protobuf bodies, HTTP/1.1 (collectors listen on 4318).
    #[value(name = "http/protobuf")]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC over HTTP/2 (collectors listen on 4317).
    #[value(name = "grpc")]
    #[serde(rename = "grpc")]
    Grpc,
}

/// OpenTelemetry export: flags, environment variables, and the agent's
/// config file's `[otlp]` table (keys without the `otlp-` prefix).
#[derive(Args, Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtlpArgs {
    /// Send records to this OTLP/HTTP endpoint (protobuf): spans to
    /// `URL/v1/traces`, metrics to `/v1/metrics`, logs to `/v1/logs`
    /// (`http://` or `https://`) [off].
    #[arg(long, env = "PODWIRE_OTLP_ENDPOINT", value_name = "URL")]
    #[serde(rename = "endpoint")]
    pub otlp_endpoint: Option<String>,

    /// `http/protobuf` (URL/v1/traces, ...) or `grpc` (the collector
    /// services' Export methods over HTTP/2) [http/protobuf].
    #[arg(long, env = "PODWIRE_OTLP_PROTOCOL", value_enum)]
    #[serde(rename = "protocol")]
    pub otlp_protocol: Option<OtlpProtocol>,

    /// A header sent with every export, `NAME=VALUE` (e.g.
    /// `authorization=Bearer ...`); repeatable, comma-separated in the
    /// environment.
    #[arg(
        long,
        env = "PODWIRE_OTLP_HEADERS",
        value_name = "NAME=VALUE",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(rename = "headers", default)]
    pub otlp_header: Vec<String>,

    /// Headers sent with every export from a file, one `NAME=VALUE` a line
    /// (`#` comments), read at start: keeps credentials out of the command
    /// line and the config file (e.g. a Kubernetes Secret's file).
    #[arg(long, env = "PODWIRE_OTLP_HEADERS_FILE", value_name = "FILE")]
    #[serde(rename = "headers-file")]
    pub otlp_headers_file: Option<PathBuf>,

    /// Trust these certificate authorities (PEM) for an `https://`
    /// endpoint [the system's bundle].
    #[arg(long, env = "PODWIRE_OTLP_CA", value_name = "FILE")]
    #[serde(rename = "ca")]
    pub otlp_ca: Option<PathBuf>,

    /// Which signals to send [traces,metrics,logs].
    #[arg(long, env = "PODWIRE_OTLP_SIGNALS", value_enum, value_delimiter = ',')]
    #[serde(rename = "signals", default)]
    pub otlp_signals: Vec<OtlpSignal>,

    /// Which records become log records [connections].
    #[arg(long, env = "PODWIRE_OTLP_LOGS", value_enum)]
    #[serde(rename = "logs")]
    pub otlp_logs: Option<OtlpLogs>,

    /// Metric temporality [cumulative].
    #[arg(long, env = "PODWIRE_OTLP_TEMPORALITY", value_enum)]
    #[serde(rename = "temporality")]
    pub otlp_temporality: Option<OtlpTemporality>,

    /// Body compression [none].
    #[arg(long, env = "PODWIRE_OTLP_COMPRESSION", value_enum)]
    #[serde(rename = "compression")]
    pub otlp_compression: Option<OtlpCompression>,

    /// Export requests held while the collector is slow or away, KiB; the
    /// oldest are dropped beyond it, and counted [16384].
    #[arg(long, env = "PODWIRE_OTLP_QUEUE_KIB", value_name = "KIB")]
    #[serde(rename = "queue-kib")]
    pub otlp_queue_kib: Option<usize>,

    /// Spans (or log records) per request [1024].
    #[arg(long, env = "PODWIRE_OTLP_BATCH", value_name = "N")]
    #[serde(rename = "batch")]
    pub otlp_batch: Option<usize>,

    /// Longest a partial batch waits, milliseconds [1000].
    #[arg(long, env = "PODWIRE_OTLP_BATCH_MS", value_name = "MS")]
    #[serde(rename = "batch-ms")]
    pub otlp_batch_ms: Option<u64>,

    /// How often metrics are sent, milliseconds [10000].
    #[arg(long, env = "PODWIRE_OTLP_METRICS_MS", value_name = "MS")]
    #[serde(rename = "metrics-ms")]
    pub otlp_metrics_ms: Option<u64>,

    /// Longest wait for one export request, milliseconds [10000].
    #[arg(long, env = "PODWIRE_OTLP_TIMEOUT_MS", value_name = "MS")]
    #[serde(rename = "timeout-ms")]
    pub otlp_timeout_ms: Option<u64>,
}

impl OtlpArgs {
    /// These settings over `file`'s (the agent's config file): a flag or
    /// variable given wins, a list given replaces the file's.
    pub fn or(self, file: OtlpArgs) -> OtlpArgs {
        fn list<T>(x: Vec<T>, y: Vec<T>) -> Vec<T> {
            if x.is_empty() {
                y
            } else {
                x
            }
        }
        OtlpArgs {
            otlp_endpoint: self.otlp_endpoint.or(file.otlp_endpoint),
            otlp_protocol: self.otlp_protocol.or(file.otlp_protocol),
            otlp_header: list(self.otlp_header, file.otlp_header),
            otlp_headers_file: self.otlp_headers_file.or(file.otlp_headers_file),
            otlp_ca: self.otlp_ca.or(file.otlp_ca),
            otlp_signals: list(self.otlp_signals, file.otlp_signals),
            otlp_logs: self.otlp_logs.or(file.otlp_logs),
            otlp_temporality: self.otlp_temporality.or(file.otlp_temporality),
            otlp_compression: self.otlp_compression.or(file.otlp_compression),
            otlp_queue_kib: self.otlp_queue_kib.or(file.otlp_queue_kib),
            otlp_batch: self.otlp_batch.or(file.otlp_batch),
            otlp_batch_ms: self.otlp_batch_ms.or(file.otlp_batch_ms),
            otlp_metrics_ms: self.otlp_metrics_ms.or(file.otlp_metrics_ms),
            otlp_timeout_ms: self.otlp_timeout_ms.or(file.otlp_timeout_ms),
        }
    }

    /// Whether any setting but the endpoint is given.
    fn any_setting(&self) -> bool {
        !self.otlp_header.is_empty()
            || self.otlp_protocol.is_some()
            || self.otlp_headers_file.is_some()
            || self.otlp_ca.is_some()
            || !self.otlp_signals.is_empty()
            || self.otlp_logs.is_some()
            || self.otlp_temporality.is_some()
            || self.otlp_compression.is_some()
            || self.otlp_queue_kib.is_some()
            || self.otlp_batch.is_some()
            || self.otlp_batch_ms.is_some()
            || self.otlp_metrics_ms.is_some()
            || self.otlp_timeout_ms.is_some()
    }
}

/// The `NAME=VALUE` lines of a headers file; blank lines and `#` comments
/// skipped. Errors name the line, never its value.
fn headers_file(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        anyhow::ensure!(line.contains('='), "line {}: expected NAME=VALUE", i + 1);
        out.push(line.to_string());
    }
    Ok(out)
}

/// Where and how to post.
struct Target {
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// `host:port` to resolve at every connection (names may move).
    authority: String,
    base_path: String,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    timeout: Duration,
    /// OTLP/gRPC over HTTP/2, else OTLP/HTTP over HTTP/1.1.
    grpc: bool,
}

/// The HTTP transport (see the module comment).
struct HttpTransport {
    target: Target,
    own: Option<Arc<Own>>,
    rt: tokio::runtime::Runtime,
}

/// Starts the exporter the flags ask for; `None` without `--otlp-endpoint`.
/// `own`: the agent's registry of its own connections.
pub fn start(
    args: &OtlpArgs,
    local_node: Option<String>,
    own: Option<Arc<Own>>,
) -> Result<Option<Exporter>> {
    let Some(url) = &args.otlp_endpoint else {
        // Settings without an endpoint are a mistake worth a word (the
        // endpoint may come from the config file, so clap cannot tell).
        anyhow::ensure!(
            !args.any_setting(),
            "OTLP settings given without an endpoint (--otlp-endpoint)"
        );
        return Ok(None);
    };
    let target = target(url, args).with_context(|| format!("--otlp-endpoint {url}"))?;
    let signals = if args.otlp_signals.is_empty() {
        vec![OtlpSignal::Traces, OtlpSignal::Metrics, OtlpSignal::Logs]
    } else {
        args.otlp_signals.clone()
    };
    let queue_kib = args.otlp_queue_kib.unwrap_or(16 << 10);
    anyhow::ensure!(queue_kib >= 1, "--otlp-queue-kib must be at least 1");
    let batch = args.otlp_batch.unwrap_or(1024);
    anyhow::ensure!(
        (1..=100_000).contains(&batch),
        "--otlp-batch must be 1 to 100000"
    );
    let cfg = Config {
        traces: signals.contains(&OtlpSignal::Traces),
        metrics: signals.contains(&OtlpSignal::Metrics),
        logs: match (signals.contains(&OtlpSignal::Logs), args.otlp_logs) {
            (false, _) => LogRecords::Off,
            (true, Some(OtlpLogs::All)) => LogRecords::All,
            (true, _) => LogRecords::Connections,
        },
        temporality: match args.otlp_temporality {
            Some(OtlpTemporality::Delta) => Temporality::Delta,
            _ => Temporality::Cumulative,
        },
        queue_bytes: queue_kib.saturating_mul(1 << 10),
        batch_items: batch,
        batch_interval: Duration::from_millis(args.otlp_batch_ms.unwrap_or(1000).clamp(10, 60_000)),
        metrics_interval: Duration::from_millis(
            args.otlp_metrics_ms.unwrap_or(10_000).clamp(100, 3_600_000),
        ),
        gzip: args.otlp_compression == Some(OtlpCompression::Gzip),
        local_node,
        ..Config::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("OTLP client runtime")?;
    let transport = HttpTransport { target, own, rt };
    let exporter = Exporter::start(cfg, transport).context("starting the OTLP thread")?;
    Ok(Some(exporter))
}

fn target(url: &str, args: &OtlpArgs) -> Result<Target> {
    let grpc = args.otlp_protocol == Some(OtlpProtocol::Grpc);
    let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        anyhow::bail!("the URL must start with http:// or https://");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    anyhow::ensure!(!authority.is_empty(), "no host in the URL");
    // `[v6]:port`, `host:port`, or a host alone (the scheme's port).
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            (h, p.parse::<u16>().with_context(|| format!("port {p:?}"))?)
        }
        _ => (authority, if https { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = if https {
        let ca = args
            .otlp_ca
            .clone()
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CA));
        let alpn: &[u8] = if grpc { b"h2" } else { b"http/1.1" };
        let connector = crate::tls_client::connector_for(&ca, alpn)
            .with_context(|| format!("CA {}", ca.display()))?;
        let name = ServerName::try_from(host.to_string())
            .with_context(|| format!("server name {host:?}"))?;
        Some((connector, name))
    } else {
        None
    };
    let mut lines = args.otlp_header.clone();
    if let Some(file) = &args.otlp_headers_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--otlp-headers-file {}", file.display()))?;
        lines.extend(
            headers_file(&text)
                .with_context(|| format!("--otlp-headers-file {}", file.display()))?,
        );
    }
    let mut headers = Vec::new();
    for h in &lines {
        let (k, v) = h
            .split_once('=')
            // Never the text itself: it may be a credential.
            .context("an OTLP header is not NAME=VALUE")?;
        let name = hyper::header::HeaderName::from_bytes(k.trim().as_bytes())
            .with_context(|| format!("--otlp-header name {k:?}"))?;
        let mut value =
            hyper::header::HeaderValue::from_str(v.trim()).context("--otlp-header value")?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(Target {
        tls,
        authority: if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        },
        base_path: path.trim_end_matches('/').to_string(),
        headers,
        timeout: Duration::from_millis(args.otlp_timeout_ms.unwrap_or(10_000).clamp(100, 120_000)),
        grpc,
    })
}

impl Transport for HttpTransport {
    fn post(
        &mut self,
        signal: Signal,
        body: &[u8],
        gzip: bool,
    ) -> Result<Response, TransportError> {
        let t = &self.target;
        let addr: SocketAddr = t
            .authority
            .to_socket_addrs()
            .map_err(|e| TransportError(format!("resolving {}: {e}", t.authority)))?
            .next()
            .ok_or_else(|| TransportError(format!("{} has no address", t.authority)))?;
        let path = if t.grpc {
            podwire_otlp::grpc::method_path(signal)
        } else {
            signal.path()
        };
        let path = format!("{}{path}", t.base_path);
        let body = Bytes::copy_from_slice(body);
        let own = self.own.clone();
        let fut = async move {
            let (stream, _guard) = own_connect(own.as_ref(), addr)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let _ = stream.set_nodelay(true);
            match &t.tls {
                None if t.grpc => exchange_grpc(stream, t, "http", &path, body, gzip).await,
                None => exchange(stream, t, &path, body, gzip).await,
                Some((connector, name)) => {
                    let tls = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?;
                    if t.grpc {
                        exchange_grpc(tls, t, "https", &path, body, gzip).await
                    } else {
                        exchange(tls, t, &path, body, gzip).await
                    }
                }
            }
        };
        self.rt
            .block_on(async { tokio::time::timeout(t.timeout, fut).await })
            .map_err(|_| TransportError("timed out".into()))?
            .map_err(TransportError)
    }
}

async fn exchange<S>(
    stream: S,
    t: &Target,
    path: &str,
    body: Bytes,
    gzip: bool,
) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let mut req = hyper::Request::post(path)
        .header(hyper::header::HOST, t.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/x-protobuf");
    if gzip {
        req = req.header(hyper::header::CONTENT_ENCODING, "gzip");
    }
    let req = request(req, t, body)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Read the answer (a partial-success message, or an error) so the
    // connection ends cleanly; its content is not needed.
    let _ = Limited::new(resp.into_body(), MAX_ANSWER).collect().await;
    conn.abort();
    Ok(Response {
        status,
        retry_after,
    })
}

/// `req` with the configured headers (`--otlp-header`) and `body`.
fn request(
    mut req: hyper::http::request::Builder,
    t: &Target,
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    for (k, v) in &t.headers {
        req = req.header(k, v);
    }
    req.body(Full::new(body))
        .map_err(|e| format!("request: {e}"))
}

/// One OTLP/gRPC export over a fresh HTTP/2 connection: the request in
/// gRPC's frame (`grpc-encoding: gzip` when compressed), the answer's
/// `grpc-status` from its trailers (or headers, when the server answered
/// with headers alone) mapped by `podwire_otlp::grpc::response`.
async fn exchange_grpc<S>(
    stream: S,
    t: &Target,
    scheme: &str,
    path: &str,
    body: Bytes,
    gzip: bool,
) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let mut req = hyper::Request::post(format!("{scheme}://{}{path}", t.authority))
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .header(hyper::header::TE, "trailers");
    if gzip {
        req = req.header("grpc-encoding", "gzip");
    }
    let framed = Bytes::from(podwire_otlp::grpc::frame(&body, gzip));
    let req = request(req, t, framed)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let http_status = resp.status().as_u16();
    let headers = resp.headers().clone();
    // The body is an ExportServiceResponse (a partial success at most);
    // the status comes after it, in the trailers.
    let trailers = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("answer: {e}"))?
        .trailers()
        .cloned();
    conn.abort();
    let get = |name: &str| {
        trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .or_else(|| headers.get(name))
            .map(|v| v.as_bytes().to_vec())
    };
    let status = get("grpc-status");
    let status = status.as_deref().and_then(|s| std::str::from_utf8(s).ok());
    let details = get("grpc-status-details-bin");
    Ok(podwire_otlp::grpc::response(
        http_status,
        status,
        details.as_deref(),
    ))
}

/// The exporter's counters, for `/metrics` and `/api/v1/status`.
pub fn health(e: &Exporter) -> podwire_serve::metrics::OtlpHealth {
    use std::sync::atomic::Ordering::Relaxed;
    let st = e.stats();
    podwire_serve::metrics::OtlpHealth {
        signals: Signal::ALL
            .iter()
            .map(|&s| {
                let c = st.signal(s);
                podwire_serve::metrics::OtlpSignalHealth {
                    signal: s.name(),
                    queued_total: c.queued.load(Relaxed),
                    sent_total: c.sent.load(Relaxed),
                    dropped_queue_full_total: c.dropped_queue_full.load(Relaxed),
                    dropped_rejected_total: c.dropped_rejected.load(Relaxed),
                    dropped_shutdown_total: c.dropped_shutdown.load(Relaxed),
                    requests_ok_total: c.requests_ok.load(Relaxed),
                    requests_failed_total: c.requests_failed.load(Relaxed),
                    retries_total: c.retries.load(Relaxed),
                }
            })
            .collect(),
        series_dropped_total: st.series_dropped.load(Relaxed),
        queue_bytes: st.queue_bytes.load(Relaxed),
        queue_budget_bytes: e.queue_budget() as u64,
    }
}

/// The exporter's part of `/api/v1/status` (docs/openapi.json,
/// `OtlpStatus`): the same counters as [`health`], per signal.
pub fn status(e: &Exporter) -> serde_json::Value {
    let h = health(e);
    let signals: serde_json::Map<String, serde_json::Value> = h
        .signals
        .iter()
        .map(|s| {
            let v = serde_json::json!({
                "queued": s.queued_total,
                "sent": s.sent_total,
                "retried": s.retries_total,
                "dropped_queue_full": s.dropped_queue_full_total,
                "dropped_rejected": s.dropped_rejected_total,
                "dropped_shutdown": s.dropped_shutdown_total,
                "requests_ok": s.requests_ok_total,
                "requests_failed": s.requests_failed_total,
            });
            (s.signal.to_string(), v)
        })
        .collect();
    serde_json::json!({
        "signals": signals,
        "queue_bytes": h.queue_bytes,
        "queue_budget_bytes": h.queue_budget_bytes,
        "metric_series_dropped": h.series_dropped_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_headers_file_gives_name_value_lines_and_its_errors_hide_values() {
        let h = headers_file("# tenant\nauthorization=Bearer abc\n\n x-tenant = a=b \n").unwrap();
        assert_eq!(h, ["authorization=Bearer abc", "x-tenant = a=b"]);
        let e = headers_file("authorization: Bearer s3cret\n").unwrap_err();
        assert_eq!(e.to_string(), "line 1: expected NAME=VALUE");
    }

    #[test]
    fn headers_from_the_file_join_the_flags_and_are_sensitive() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("headers");
        std::fs::write(&file, "authorization=Bearer from-file\n").unwrap();
        let args = OtlpArgs {
            otlp_header: vec!["x-tenant=a".into()],
            otlp_headers_file: Some(file),
            ..OtlpArgs::default()
        };
        let t = target("http://collector:4318/base/", &args).unwrap();
        let h: Vec<(&str, &str)> = t
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            h,
            [("x-tenant", "a"), ("authorization", "Bearer from-file")]
        );
        assert!(t.headers.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(
            (t.authority.as_str(), t.base_path.as_str()),
            ("collector:4318", "/base")
        );
        let bad = OtlpArgs {
            otlp_header: vec!["Bearer s3cret".into()],
            ..OtlpArgs::default()
        };
        let e = format!("{:#}", target("http://c:4318", &bad).err().unwrap());
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn settings_without_an_endpoint_are_refused() {
        let args = OtlpArgs {
            otlp_compression: Some(OtlpCompression::Gzip),
            ..OtlpArgs::default()
        };
        assert!(start(&args, None, None).is_err());
        assert!(start(&OtlpArgs::default(), None, None).unwrap().is_none());
    }
}
