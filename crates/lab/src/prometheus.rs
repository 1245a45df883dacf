//! A real Prometheus server scraping podwire, and `promtool` as the linter of
//! its metrics.
//!
//! podwire's `/metrics` is only right if Prometheus itself reads it the way we
//! mean: the scrape is healthy, every series lands under the name and labels a
//! dashboard would query, and the values add up. [`Prometheus::start`] runs
//! the distribution's `prometheus` binary from a private temporary directory
//! (config, TSDB, log) on a free loopback port with one scrape job, `podwire`,
//! and kills it when dropped. Tests then wait for the targets to be scraped
//! ([`Prometheus::wait_for_targets_up`], [`Prometheus::wait_for_scrape_after`])
//! and ask PromQL instant queries ([`Prometheus::query`]).
//!
//! [`promtool_check_metrics`] runs `promtool check metrics`, the lint the
//! Prometheus project applies to exposition text. Note that it reads only the
//! classic text format (0.0.4), not OpenMetrics.
//!
//! Tests skip, with [`require_prometheus`], where the binaries are missing.

use crate::cmd::{describe, drain, wait_deadline};
use crate::process::Proc;
use crate::skip::{find_tool, Skip};
use crate::{http, Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long Prometheus may take to answer `/-/ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The scrape job every target is in (its `job` label).
pub const JOB: &str = "podwire";

/// How many lines of Prometheus's log errors quote.
const LOG_TAIL_LINES: usize = 25;

/// Ok when `prometheus` and `promtool` are installed, else the reason to skip
/// (`prometheus not installed`).
pub fn require_prometheus() -> Result<(), Skip> {
    let missing: Vec<&str> = ["prometheus", "promtool"]
        .into_iter()
        .filter(|t| find_tool(t).is_none())
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        ["promtool"] => Err(Skip("promtool not installed".into())),
        _ => Err(Skip("prometheus not installed".into())),
    }
}

/// One sample of an instant query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// All labels, `__name__` included when the result keeps it.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.labels.get("__name__").map_or("", String::as_str);
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        write!(f, "{name}{{{}}} {}", labels.join(","), self.value)
    }
}

/// One scrape target as `/api/v1/targets` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The `instance` label (`host:port`, as configured).
    pub instance: String,
    pub scrape_url: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    /// Why the last scrape failed; empty when it did not.
    pub last_error: String,
    /// When the last scrape started; `None` before the first one.
    pub last_scrape: Option<SystemTime>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} health {}", self.scrape_url, self.health)?;
        match self.last_scrape {
            None => write!(f, ", never scraped")?,
            Some(t) => {
                let ago = SystemTime::now().duration_since(t).unwrap_or_default();
                write!(f, ", last scrape {:.1} s ago", ago.as_secs_f64())?;
            }
        }
        if !self.last_error.is_empty() {
            write!(f, ", last error: {}", self.last_error)?;
        }
        Ok(())
    }
}

/// A Prometheus server scraping `targets`, killed (and its directory removed)
/// when dropped.
#[derive(Debug)]
pub struct Prometheus {
    proc: Proc,
    addr: SocketAddr,
    targets: Vec<SocketAddr>,
    /// Config, TSDB and log; removed after the process is gone.
    dir: tempfile::TempDir,
}

/// How Prometheus reaches its targets beyond plain HTTP.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// A bearer token file, sent with every scrape (`authorization`).
    pub bearer_token_file: Option<std::path::PathBuf>,
    /// HTTPS, verifying against this CA file, for this server name.
    pub https: Option<(std::path::PathBuf, String)>,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://TARGET/metrics` for every target
    /// every `scrape_interval` (job [`JOB`]), on a free port of 127.0.0.1,
    /// and waits (up to [`READY_TIMEOUT`]) until it is ready.
    pub fn start(targets: &[SocketAddr], scrape_interval: Duration) -> Result<Prometheus> {
        Prometheus::start_with(targets, scrape_interval, &Scrape::default())
    }

    /// [`start`](Self::start), scraping as `scrape` says (a token, HTTPS).
    pub fn start_with(
        targets: &[SocketAddr],
        scrape_interval: Duration,
        scrape: &Scrape,
    ) -> Result<Prometheus> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-prometheus")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", "/tmp", e))?;
        let config = dir.path().join("prometheus.yml");
        let mut text = config_text(targets, scrape_interval);
        if let Some((ca, name)) = &scrape.https {
            text.push_str(&format!(
                "    scheme: https\n    tls_config:\n      ca_file: '{}'\n      server_name: '{name}'\n",
                ca.display()
            ));
        }
        if let Some(file) = &scrape.bearer_token_file {
            text.push_str(&format!(
                "    authorization:\n      type: Bearer\n      credentials_file: '{}'\n",
                file.display()
            ));
        }
        std::fs::write(&config, text).map_err(|e| Error::io("write", &config, e))?;
        // The port is free when we look, and could be taken before Prometheus
        // binds it; try again with another one if that happens.
        let log = dir.path().join("prometheus.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let addr = free_port()?;
            let mut cmd = Command::new("prometheus");
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--storage.tsdb.retention.time=1h");
            let mut proc = Proc::spawn("prometheus", cmd, &log)?;
            match wait_ready(&mut proc, addr) {
                Ok(()) => {
                    return Ok(Prometheus {
                        proc,
                        addr,
                        targets: targets.to_vec(),
                        dir,
                    })
                }
                Err(e) => {
                    kill(&mut proc);
                    if attempt >= 3 || !proc.log().contains("address already in use") {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Where Prometheus's web UI and API listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for messages.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The temporary directory (config, `data/`, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything Prometheus logged so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// The last lines of Prometheus's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.proc)
    }

    /// `GET /api/v1/...`: the `data` of a `"status": "success"` answer.
    fn api(&self, path: &str) -> Result<Value> {
        let (status, body) = http::get(self.addr, path)?;
        let json: Value = serde_json::from_str(&body).map_err(|e| {
            Error::parse(
                "prometheus",
                format!("GET {path}: status {status}: {e}: {body}"),
            )
        })?;
        if json["status"] != "success" {
            return Err(Error::parse(
                "prometheus",
                format!(
                    "GET {path}: status {status}: {}: {}",
                    json["errorType"].as_str().unwrap_or("?"),
                    json["error"].as_str().unwrap_or(&body)
                ),
            ));
        }
        Ok(json["data"].clone())
    }

    /// The active targets (`/api/v1/targets`).
    pub fn targets(&self) -> Result<Vec<Target>> {
        let data = self.api("/api/v1/targets?state=active")?;
        let bad = || Error::parse("prometheus", format!("/api/v1/targets: {data}"));
        let active = data["activeTargets"].as_array().ok_or_else(bad)?;
        active
            .iter()
            .map(|t| {
                let text = |v: &Value| v.as_str().unwrap_or("").to_string();
                let last_scrape = t["lastScrape"]
                    .as_str()
                    .map(parse_rfc3339)
                    .transpose()
                    .map_err(|e| Error::parse("prometheus", format!("lastScrape: {e}: {t}")))?
                    .flatten();
                Ok(Target {
                    instance: text(&t["labels"]["instance"]),
                    scrape_url: text(&t["scrapeUrl"]),
                    health: text(&t["health"]),
                    last_error: text(&t["lastError"]),
                    last_scrape,
                })
            })
            .collect()
    }

    /// Waits until every configured target has been scraped successfully
    /// (health `up`) and that scrape's samples can be queried. The error
    /// lists every target with its last error.
    pub fn wait_for_targets_up(&self, timeout: Duration) -> Result<()> {
        self.wait_for_scrapes(timeout, None)
    }

    /// Waits until every target has been scraped again, by a scrape that
    /// started after `t`, and its samples can be queried: send traffic, take
    /// `t = SystemTime::now()`, wait, then query. Fails at once if such a
    /// fresh scrape failed (health `down`), with its error.
    pub fn wait_for_scrape_after(&self, t: SystemTime, timeout: Duration) -> Result<()> {
        self.wait_for_scrapes(timeout, Some(t))
    }

    fn wait_for_scrapes(&self, timeout: Duration, after: Option<SystemTime>) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let wanted: BTreeSet<String> = self.targets.iter().map(|a| a.to_string()).collect();
        // Samples are stamped with the scrape's start, in milliseconds.
        let after_ms = after.map(|t| millis(t).saturating_add(1));
        let mut status;
        loop {
            let targets = self.targets()?;
            let found: BTreeSet<String> = targets.iter().map(|t| t.instance.clone()).collect();
            let missing: Vec<&String> = wanted.difference(&found).collect();
            let fresh = |t: &Target| match (after, t.last_scrape) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(after), Some(last)) => last > after,
            };
            let scraped = missing.is_empty() && targets.iter().all(fresh);
            status = describe_targets(&targets, &missing);
            if scraped {
                let down: Vec<&Target> = targets.iter().filter(|t| t.health != "up").collect();
                if after.is_some() && !down.is_empty() {
                    return Err(Error::parse(
                        "prometheus",
                        format!("a scrape after the given time failed: {status}"),
                    ));
                }
                if down.is_empty() {
                    // The targets API can be ahead of the TSDB: a scrape is
                    // reported before its samples are committed. `up` is
                    // committed with them.
                    let committed = self.committed_scrapes()?;
                    let visible = wanted.iter().all(|i| match (committed.get(i), after_ms) {
                        (None, _) => false,
                        (Some(_), None) => true,
                        (Some(&ms), Some(after)) => ms >= after,
                    });
                    if visible {
                        return Ok(());
                    }
                    status.push_str("; samples not queryable yet");
                }
            }
            if Instant::now() > deadline {
                let what = match after {
                    None => "prometheus targets to be up".to_string(),
                    Some(t) => format!(
                        "prometheus to scrape every target after {:.3}",
                        t.duration_since(UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_secs_f64()
                    ),
                };
                return Err(Error::Timeout {
                    what: format!("{what}: {status}"),
                    seconds: timeout.as_secs_f64(),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `instance -> timestamp (ms)` of the newest `up` sample of each target.
    fn committed_scrapes(&self) -> Result<HashMap<String, i64>> {
        Ok(self
            .query(&format!("timestamp(up{{job=\"{JOB}\"}})"))?
            .into_iter()
            .filter_map(|s| {
                let instance = s.labels.get("instance")?.clone();
                Some((instance, (s.value * 1000.0).round() as i64))
            })
            .collect())
    }

    /// A PromQL instant query at the current time (`/api/v1/query`). A
    /// scalar result comes back as one sample without labels.
    pub fn query(&self, promql: &str) -> Result<Vec<Sample>> {
        let data = self.api(&format!("/api/v1/query?query={}", url_encode(promql)))?;
        let bad =
            |why: &str| Error::parse("prometheus", format!("query {promql:?}: {why}: {data}"));
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .ok_or_else(|| bad("no result array"))?
                .iter()
                .map(|r| {
                    let labels = r["metric"]
                        .as_object()
                        .ok_or_else(|| bad("sample without labels"))?
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect();
                    let value = sample_value(&r["value"]).ok_or_else(|| bad("bad sample value"))?;
                    Ok(Sample { labels, value })
                })
                .collect(),
            Some("scalar") => {
                let value = sample_value(&data["result"]).ok_or_else(|| bad("bad scalar"))?;
                Ok(vec![Sample {
                    labels: BTreeMap::new(),
                    value,
                }])
            }
            _ => Err(bad("not an instant vector or scalar")),
        }
    }

    /// The value of a query that must return exactly one sample.
    pub fn query_scalar(&self, promql: &str) -> Result<f64> {
        let samples = self.query(promql)?;
        match samples.as_slice() {
            [one] => Ok(one.value),
            _ => Err(Error::parse(
                "prometheus",
                format!(
                    "query {promql:?}: expected one sample, got {}{}",
                    samples.len(),
                    samples
                        .iter()
                        .map(|s| format!("\n  {s}"))
                        .collect::<String>()
                ),
            )),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Before the fields drop: the directory goes after the process.
        kill(&mut self.proc);
    }
}

/// Runs `promtool check metrics` on `text` (classic text format 0.0.4; it
/// does not read OpenMetrics). Returns its output (usually empty) when it
/// exits 0; otherwise a [`Error::Command`] whose `stderr` is its whole
/// output: exit status 3 means lint problems (`x counter metrics should have
/// "_total" suffix`, `x no help text`), 1 that the text did not parse.
pub fn promtool_check_metrics(text: &str) -> Result<String> {
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let what = describe(&cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: what.clone(),
            source,
        })?;
    let pipes = drain(&mut child);
    let writer = child.stdin.take().map(|mut stdin| {
        let text = text.to_string();
        // A writer thread: promtool may answer before reading everything.
        thread::spawn(move || stdin.write_all(text.as_bytes()))
    });
    let timeout = Duration::from_secs(30);
    let Some(status) = wait_deadline(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Timeout {
            what,
            seconds: timeout.as_secs_f64(),
        });
    };
    if let Some(w) = writer {
        // A broken pipe just means promtool stopped reading; its verdict
        // stands.
        let _ = w.join();
    }
    let (stdout, stderr) = pipes.join();
    let mut output = String::from_utf8_lossy(&stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&stderr));
    if status.success() {
        Ok(output)
    } else {
        Err(Error::Command {
            command: what,
            status: status.to_string(),
            stderr: output.trim_end().to_string(),
        })
    }
}

/// Polls `/-/ready` until it answers 200, failing early (with the end of
/// the log) if Prometheus exits.
fn wait_ready(proc: &mut Proc, addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let last = match http::get(addr, "/-/ready") {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => format!("status {status}: {}", body.trim()),
            Err(e) => e.to_string(),
        };
        if let Err(e) = proc.check_running() {
            return Err(match e {
                Error::Command {
                    command, status, ..
                } => Error::Command {
                    command,
                    status,
                    stderr: log_tail(proc),
                },
                other => other,
            });
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!(
                    "prometheus on {addr} to be ready (last: {last}); its log ends:\n{}",
                    log_tail(proc)
                ),
                seconds: READY_TIMEOUT.as_secs_f64(),
            });
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL: the data is thrown away, so no need for a clean shutdown.
fn kill(proc: &mut Proc) {
    if proc.pid().is_some() {
        let _ = proc.stop_with(libc::SIGKILL, Duration::from_secs(5));
    }
}

fn log_tail(proc: &Proc) -> String {
    let log = proc.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// The configuration file: one job scraping every target.
fn config_text(targets: &[SocketAddr], interval: Duration) -> String {
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let interval = interval.max(Duration::from_millis(1));
    // Prometheus refuses a scrape timeout longer than the interval.
    let timeout = interval.min(Duration::from_secs(10));
    let targets: Vec<String> = targets.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {timeout}\n  evaluation_interval: {interval}\n\
         scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /metrics\n    static_configs:\n      - targets: [{targets}]\n",
        interval = ms(interval),
        timeout = ms(timeout),
        targets = targets.join(", "),
    )
}

/// A loopback address whose port was free a moment ago.
fn free_port() -> Result<SocketAddr> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("bind", "127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map_err(|e| Error::io("local address of", "127.0.0.1:0", e))
}

fn describe_targets(targets: &[Target], missing: &[&String]) -> String {
    let mut parts: Vec<String> = targets.iter().map(Target::to_string).collect();
    parts.extend(missing.iter().map(|m| format!("{m} not discovered yet")));
    if parts.is_empty() {
        return "no targets".into();
    }
    parts.join("; ")
}

/// `[timestamp, "value"]` to the value (`"NaN"`, `"+Inf"` and `"-Inf"`
/// included).
fn sample_value(v: &Value) -> Option<f64> {
    v.get(1)?.as_str()?.parse().ok()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Parses Go's RFC 3339 timestamps (`2024-05-01T12:00:00.123456789+02:00`,
/// `...Z`). Times before 1970 (Go's zero time, "never") are `None`.
fn parse_rfc3339(s: &str) -> Result<Option<SystemTime>, String> {
    let bad = || format!("not an RFC 3339 time: {s:?}");
    let (date, rest) = s.split_once(['T', 't']).ok_or_else(bad)?;
    let num = |t: &str| t.parse::<i64>().map_err(|_| bad());
    let mut d = date.splitn(3, '-');
    let (year, month, day) = (
        num(d.next().unwrap_or(""))?,
        num(d.next().unwrap_or(""))?,
        num(d.next().unwrap_or(""))?,
    );
    let zone_at = rest.find(['Z', 'z', '+', '-']).ok_or_else(bad)?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = hms.splitn(3, ':');
    let (h, m, sec) = (
        num(c.next().unwrap_or(""))?,
        num(c.next().unwrap_or(""))?,
        num(c.next().unwrap_or(""))?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || frac.len() > 9 {
        return Err(bad());
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        num(frac)? * 10i64.pow(9 - frac.len() as u32)
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (oh, om) = zone[1..].split_once(':').ok_or_else(bad)?;
            sign * (num(oh)? * 3600 + num(om)? * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset;
    if secs < 0 {
        return Ok(None);
    }
    Ok(Some(UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// A classic text-format (0.0.4) body promtool accepts: in that format
    /// a counter's family name carries the `_total`.
    const TEXT_BODY: &str = "# HELP lab_test_things_total Things.\n\
                             # TYPE lab_test_things_total counter\n\
                             lab_test_things_total 42\n";
    const TEXT_TYPE: &str = "text/plain; version=0.0.4";

    /// The shape of podwire's own `/metrics` (OpenMetrics 1.0).
    const OPENMETRICS_BODY: &str = r#"# HELP podwire_connections Connections.
# TYPE podwire_connections counter
podwire_connections_total{src="a",dst="b"} 3
# HELP podwire_connection_duration_seconds Durations.
# TYPE podwire_connection_duration_seconds histogram
# UNIT podwire_connection_duration_seconds seconds
podwire_connection_duration_seconds_sum{src="a"} 2.5
podwire_connection_duration_seconds_count{src="a"} 1
podwire_connection_duration_seconds_bucket{le="1.0",src="a"} 0
podwire_connection_duration_seconds_bucket{le="+Inf",src="a"} 1
# HELP k8s_packet_tls_record TLS.
# TYPE k8s_packet_tls_record unknown
k8s_packet_tls_record{domain="x"} 2
# HELP k8s_packet_bytes_sent Bytes.
# TYPE k8s_packet_bytes_sent summary
k8s_packet_bytes_sent_sum{src="a"} 10
k8s_packet_bytes_sent_count{src="a"} 1
# EOF
"#;
    const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    fn have_prometheus(test: &str) -> bool {
        match require_prometheus() {
            Ok(()) => true,
            Err(skip) => {
                skip.report(test);
                false
            }
        }
    }

    /// A one-thread HTTP server answering every request with `body`.
    struct MetricsServer {
        addr: SocketAddr,
        body: Arc<Mutex<String>>,
        stop: Arc<AtomicBool>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl MetricsServer {
        fn start(content_type: &'static str, body: &str) -> MetricsServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let body = Arc::new(Mutex::new(body.to_string()));
            let stop = Arc::new(AtomicBool::new(false));
            let (b, s) = (body.clone(), stop.clone());
            let thread = thread::spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let body = b.lock().unwrap().clone();
                    let _ = serve_one(&mut conn, content_type, &body);
                }
            });
            MetricsServer {
                addr,
                body,
                stop,
                thread: Some(thread),
            }
        }

        fn set_body(&self, body: &str) {
            *self.body.lock().unwrap() = body.to_string();
        }
    }

    fn serve_one(conn: &mut TcpStream, content_type: &str, body: &str) -> std::io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            req.extend_from_slice(&buf[..n]);
        }
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    impl Drop for MetricsServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag.
            let _ = TcpStream::connect(self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn prometheus_scrapes_and_answers_queries() {
        if !have_prometheus("prometheus_scrapes_and_answers_queries") {
            return;
        }
        let server = MetricsServer::start(TEXT_TYPE, TEXT_BODY);
        let prom = Prometheus::start(&[server.addr], Duration::from_secs(1)).unwrap();
        prom.wait_for_targets_up(Duration::from_secs(30)).unwrap();
        assert_eq!(prom.query_scalar("lab_test_things_total").unwrap(), 42.0);
        let samples = prom.query("lab_test_things_total").unwrap();
        assert_eq!(samples[0].labels["job"], JOB);
        assert_eq!(samples[0].labels["instance"], server.addr.to_string());
        // Scalars and expressions needing encoding (`+`, `{`, `"`, spaces).
        assert_eq!(prom.query_scalar("1 + 2").unwrap(), 3.0);
        assert_eq!(
            prom.query_scalar(&format!("sum(up{{job=\"{JOB}\"}}) + 0.5"))
                .unwrap(),
            1.5
        );

        // A new value is seen after a scrape that started after the change.
        server.set_body(&TEXT_BODY.replace(" 42", " 43"));
        let t = SystemTime::now();
        prom.wait_for_scrape_after(t, Duration::from_secs(30))
            .unwrap();
        assert_eq!(prom.query_scalar("lab_test_things_total").unwrap(), 43.0);

        let err = prom.query_scalar("absent_metric_name").unwrap_err();
        assert!(err.to_string().contains("got 0"), "{err}");
        let err = prom.query("sum(").unwrap_err().to_string();
        assert!(err.contains("bad_data"), "{err}");
        let targets = prom.targets().unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].health, "up");
    }

    #[test]
    fn a_target_that_is_down_is_reported_with_its_error() {
        if !have_prometheus("a_target_that_is_down_is_reported_with_its_error") {
            return;
        }
        // Nothing listens there.
        let nobody = free_port().unwrap();
        let prom = Prometheus::start(&[nobody], Duration::from_secs(1)).unwrap();
        let err = prom
            .wait_for_targets_up(Duration::from_secs(15))
            .unwrap_err()
            .to_string();
        assert!(err.contains("connection refused"), "{err}");
        assert!(err.contains(&format!("http://{nobody}/metrics")), "{err}");
    }

    #[test]
    fn prometheus_scrapes_podwire_openmetrics() {
        if !have_prometheus("prometheus_scrapes_podwire_openmetrics") {
            return;
        }
        let server = MetricsServer::start(OPENMETRICS_TYPE, OPENMETRICS_BODY);
        let prom = Prometheus::start(&[server.addr], Duration::from_secs(1)).unwrap();
        prom.wait_for_targets_up(Duration::from_secs(30)).unwrap();
        let one = |q: &str| prom.query_scalar(q).unwrap();
        assert_eq!(one(r#"podwire_connections_total{src="a",dst="b"}"#), 3.0);
        assert_eq!(
            one(r#"podwire_connection_duration_seconds_sum{src="a"}"#),
            2.5
        );
        assert_eq!(
            one(r#"podwire_connection_duration_seconds_count{src="a"}"#),
            1.0
        );
        assert_eq!(
            one(r#"podwire_connection_duration_seconds_bucket{src="a",le="1.0"}"#),
            0.0
        );
        assert_eq!(
            one(r#"podwire_connection_duration_seconds_bucket{src="a",le="+Inf"}"#),
            1.0
        );
        assert_eq!(one(r#"k8s_packet_tls_record{domain="x"}"#), 2.0);
        assert_eq!(one(r#"k8s_packet_bytes_sent_sum{src="a"}"#), 10.0);
        assert_eq!(one(r#"k8s_packet_bytes_sent_count{src="a"}"#), 1.0);
        // Exactly these series and no others from the body (the rest are
        // Prometheus's own per-scrape series).
        let own = [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ];
        let mut names: Vec<String> = prom
            .query(&format!("group by (__name__) ({{job=\"{JOB}\"}})"))
            .unwrap()
            .into_iter()
            .map(|s| s.labels["__name__"].clone())
            .filter(|n| !own.contains(&n.as_str()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "k8s_packet_bytes_sent_count",
                "k8s_packet_bytes_sent_sum",
                "k8s_packet_tls_record",
                "podwire_connection_duration_seconds_bucket",
                "podwire_connection_duration_seconds_count",
                "podwire_connection_duration_seconds_sum",
                "podwire_connections_total",
            ]
        );
        assert_eq!(
            one("histogram_quantile(0.5, podwire_connection_duration_seconds_bucket)"),
            1.0
        );
    }

    #[test]
    fn promtool_passes_good_text_and_names_lint_problems() {
        if !have_prometheus("promtool_passes_good_text_and_names_lint_problems") {
            return;
        }
        assert_eq!(promtool_check_metrics(TEXT_BODY).unwrap(), "");
        let err = promtool_check_metrics("# TYPE x counter\nx 1\n").unwrap_err();
        let Error::Command { status, stderr, .. } = &err else {
            panic!("{err}");
        };
        assert!(status.contains('3'), "{err}");
        assert!(
            stderr.contains(r#"x counter metrics should have "_total" suffix"#),
            "{err}"
        );
        assert!(stderr.contains("x no help text"), "{err}");
    }

    #[test]
    fn promtool_does_not_read_openmetrics() {
        if !have_prometheus("promtool_does_not_read_openmetrics") {
            return;
        }
        // promtool parses the classic text format only; OpenMetrics's
        // `unknown` type is the first thing it cannot read.
        let err = promtool_check_metrics(OPENMETRICS_BODY).unwrap_err();
        let Error::Command { status, stderr, .. } = &err else {
            panic!("{err}");
        };
        assert!(status.contains('1'), "{err}");
        assert!(
            stderr.contains(r#"line 12: unknown metric type "unknown""#),
            "{err}"
        );
    }

    #[test]
    fn config_has_one_job_and_a_bounded_timeout() {
        let a: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let b: SocketAddr = "[::1]:9101".parse().unwrap();
        let text = config_text(&[a, b], Duration::from_millis(1500));
        assert!(text.contains("scrape_interval: 1500ms"), "{text}");
        assert!(text.contains("scrape_timeout: 1500ms"), "{text}");
        assert!(text.contains("evaluation_interval: 1500ms"), "{text}");
        assert!(text.contains("job_name: podwire"), "{text}");
        assert!(text.contains("metrics_path: /metrics"), "{text}");
        assert!(
            text.contains("targets: ['127.0.0.1:9100', '[::1]:9101']"),
            "{text}"
        );
        let text = config_text(&[a], Duration::from_secs(60));
        assert!(text.contains("scrape_timeout: 10000ms"), "{text}");
    }

    #[test]
    fn promql_is_url_encoded() {
        assert_eq!(
            url_encode(r#"sum(x{a="b c"}) + 1"#),
            "sum%28x%7Ba%3D%22b%20c%22%7D%29%20%2B%201"
        );
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn go_timestamps_parse() {
        let t = |s| parse_rfc3339(s).unwrap();
        assert_eq!(t("0001-01-01T00:00:00Z"), None);
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        let want = UNIX_EPOCH + Duration::new(1_714_564_800, 123_456_789);
        assert_eq!(t("2024-05-01T12:00:00.123456789Z"), Some(want));
        assert_eq!(t("2024-05-01T14:00:00.123456789+02:00"), Some(want));
        assert_eq!(t("2024-05-01T09:30:00.123456789-02:30"), Some(want));
        assert_eq!(
            t("2024-05-01T12:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::new(1_714_564_800, 500_000_000))
        );
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn special_values_parse() {
        let v = |s: &str| sample_value(&serde_json::json!([1.0, s])).unwrap();
        assert_eq!(v("+Inf"), f64::INFINITY);
        assert_eq!(v("-Inf"), f64::NEG_INFINITY);
        assert!(v("NaN").is_nan());
        assert_eq!(v("1e3"), 1000.0);
    }
}
