//! `podwire read`: capture files through the pipeline to records.
//!
//! Files are read in the order given as one capture (rotated tcpdump files
//! continue each other's connections). A file that is not a capture is
//! reported and skipped; bad records inside a capture are counted and the
//! rest is read.
//!
//! Threads: this one reads and decodes; [`shard`](podwire_track::shard)
//! workers track, parse and write through a [`sink::WriteSink`].

mod serve;
mod sink;

use crate::cli::Kind;
use crate::cli::{Format, ReadArgs};
use crate::output::Output;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use podwire_api::{ApiAuth, ApiConfig, ServeConfig};
use podwire_capture::FileReader;
use podwire_decode::{Decoder, DefragStats, Skip};
use podwire_tls_decrypt::{KeyLogConfig, KeyStore};
use podwire_track::shard::{Shards, Stopped};
use podwire_track::TrackerConfig;
use sink::{ShardReport, WriteSink};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A file at least this large gets a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;
/// How long `read` waits for its last OTLP exports once the files are read.
const OTLP_SHUTDOWN: Duration = Duration::from_secs(30);
/// How long packets may wait for a batch to fill (a live pipe trickles).
const SEND_INTERVAL: Duration = Duration::from_millis(200);

/// `podwire read`, validated.
struct Config {
    /// Secrets from `--tls-keylog` and from the files' decryption secrets.
    keys: KeyStore,
    files: Vec<PathBuf>,
    otlp: crate::otlp::OtlpArgs,
    shards: usize,
    shard: ShardConfig,
    quiet: bool,
    progress: bool,
}

impl Config {
    fn from_args(args: ReadArgs) -> Result<Config> {
        anyhow::ensure!(
            args.max_connections > 0,
            "--max-connections must be at least 1"
        );
        let format = args.format.unwrap_or(if io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        });
        let mut tracker = TrackerConfig {
            tcp_idle_timeout_ns: args.tcp_idle_timeout.saturating_mul(1_000_000_000),
            udp_idle_timeout_ns: args.udp_idle_timeout.saturating_mul(1_000_000_000),
            max_connections: args.max_connections,
            max_buffered_total: args.max_reassembly_mib.saturating_mul(1 << 20),
            ..TrackerConfig::default()
        };
        tracker.parsers =
            crate::pipeline::parsers::parser_config(args.http_headers, args.show_secrets);
        // Always a key store: pcapng files may bring their own secrets.
        let keys = KeyStore::new(KeyLogConfig::default());
        for path in &args.tls_keylog {
            let text = std::fs::read(path)
                .with_context(|| format!("--tls-keylog {}: cannot read", path.display()))?;
            keys.add_text(&text);
        }
        tracker.parsers.keys = Some(keys.clone());
        let shards = match args.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
            n => n,
        };
        Ok(Config {
            keys,
            files: args.files,
            otlp: args.otlp,
            shards,
            shard: ShardConfig {
                tracker,
                format,
                only: args.only,
            },
            quiet: args.quiet,
            progress: io::stderr().is_terminal(),
        })
    }
}

/// What every shard is told.
struct ShardConfig {
    tracker: TrackerConfig,
    format: Format,
    only: Vec<Kind>,
}

/// What a run saw, for the summary.
#[derive(Default)]
struct Summary {
    frames: u64,
    packets: u64,
    skipped: BTreeMap<&'static str, u64>,
    warnings: BTreeMap<&'static str, u64>,
    failed_files: usize,
    /// IP fragment reassembly, from the decoder.
    defrag: DefragStats,
    /// Table rows written out of time order (later than the reorder window).
    late_rows: u64,
    /// The newest packet's time: the end of the capture.
    newest: Option<podwire_record::Timestamp>,
}

pub fn run(mut args: ReadArgs) -> Result<ExitCode> {
    let serve = match args.serve.take() {
        Some(addr) => {
            let peers = ServeConfig {
                peers: args.peers.clone(),
                peer_timeout: Duration::from_millis(args.peer_timeout_ms.clamp(1, 60_000)),
                ..ServeConfig::default()
            };
            let auth = podwire_api::api_auth(
                args.api_auth.as_deref(),
                args.api_token_file.clone(),
                &addr,
                false,
            )?;
            let api = ApiConfig {
                warn_open: auth == ApiAuth::Open && !addr.is_loopback(),
                auth,
                ..ApiConfig::default()
            };
            Some((addr, args.store_mib, peers, api))
        }
        None => None,
    };
    let cfg = Config::from_args(args)?;
    if let Some((addr, store_mib, serve_cfg, api)) = serve {
        return serve::serve_files(cfg, addr, store_mib, serve_cfg, &api);
    }
    let started = Instant::now();
    let otlp = crate::otlp::start(&cfg.otlp, None, None)?.map(Arc::new);
    let out = Arc::new(Output::stdout(cfg.shard.format));
    let sinks = (0..cfg.shards)
        .map(|_| {
            WriteSink::new(
                cfg.shard.format,
                cfg.shard.only.clone(),
                Arc::clone(&out),
                otlp.clone(),
            )
        })
        .collect();
    let mut shards = Shards::start(sinks, &cfg.shard.tracker, "podwire-shard")
        .context("starting worker threads")?;
    // A file's flows reach the shards only through `push`.
    shards.balance();
    let mut decoder = Decoder::default();
    let mut summary = Summary::default();
    read_files(&cfg, &mut decoder, &mut shards, &mut summary);
    let reports = shards.finish();
    if let Some(e) = &otlp {
        e.shutdown(OTLP_SHUTDOWN);
    }
    summary.defrag = decoder.defrag_stats();
    summary.late_rows = match out.finish() {
        Ok(late) => late,
        // `podwire read x | head`: the reader went away; that is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(anyhow::Error::new(e).context("writing records")),
    };
    // When no file was a capture, its error said all there is.
    if !cfg.quiet && summary.failed_files < cfg.files.len() {
        print_summary(&summary, &reports, &cfg.keys, started.elapsed());
        if let Some(e) = &otlp {
            print_otlp(e.stats());
        }
    }
    Ok(if summary.failed_files > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every file in order into `shards`, until the output stops.
fn read_files<R: Send + 'static>(
    cfg: &Config,
    decoder: &mut Decoder,
    shards: &mut Shards<R>,
    summary: &mut Summary,
) {
    for path in &cfg.files {
        match read_file(cfg, path, decoder, shards, summary) {
            Ok(()) => {}
            Err(ReadError::Stopped) => break,
            Err(ReadError::File(e)) => {
                // One bad file does not stop the others.
                eprintln!("podwire: {}: {e:#}", path.display());
                summary.failed_files += 1;
            }
        }
    }
}

fn open(path: &Path) -> Result<(Box<dyn Read>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let f = File::open(path).context("cannot open")?;
    let meta = f.metadata().ok();
    // Opening a directory works; reading it fails with an OS error that
    // says less than this.
    anyhow::ensure!(
        !meta.as_ref().is_some_and(|m| m.is_dir()),
        "is a directory, not a capture file"
    );
    Ok((Box::new(f), meta.map(|m| m.len())))
}

/// Why a file was not read to its end.
enum ReadError {
    /// The file could not be read as a capture.
    File(anyhow::Error),
    /// Output stopped (its error is reported by `Output::finish`).
    Stopped,
}

impl From<Stopped> for ReadError {
    fn from(_: Stopped) -> Self {
        ReadError::Stopped
    }
}

fn read_file<R: Send + 'static>(
    cfg: &Config,
    path: &Path,
    decoder: &mut Decoder,
    shards: &mut Shards<R>,
    summary: &mut Summary,
) -> Result<(), ReadError> {
    let (input, len) = open(path).map_err(ReadError::File)?;
    let mut reader = FileReader::new(input).map_err(|e| ReadError::File(e.into()))?;
    let keys = cfg.keys.clone();
    reader.on_tls_keylog(move |text| keys.add_text(text));
    let bar = progress_bar(cfg, len);
    let mut io_error = None;
    let mut last_send = Instant::now();
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                io_error = Some(e);
                break;
            }
        };
        summary.frames += 1;
        match decoder.decode(frame.link.0, frame.ts.0, frame.orig_len, frame.data) {
            Ok(pkt) => {
                summary.packets += 1;
                summary.newest = summary.newest.max(Some(frame.ts));
                shards.push(frame.ts, frame.orig_len, &pkt)?;
            }
            Err(skip) => count_skip(summary, skip),
        }
        if summary.frames.is_multiple_of(4096) {
            if let Some(b) = &bar {
                b.set_position(reader.bytes_read());
            }
            if last_send.elapsed() > SEND_INTERVAL {
                shards.flush()?;
                last_send = Instant::now();
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (w, n) in reader.warnings().iter() {
        *summary.warnings.entry(w.name()).or_default() += n;
    }
    if let Some(e) = io_error {
        // What was read before the error still counts.
        eprintln!("podwire: {}: stopped early: {e}", path.display());
        *summary.warnings.entry("read_error").or_default() += 1;
    }
    Ok(())
}

fn count_skip(summary: &mut Summary, skip: Skip) {
    let map = if skip.is_error() {
        &mut summary.warnings
    } else {
        &mut summary.skipped
    };
    *map.entry(skip.name()).or_default() += 1;
}

fn progress_bar(cfg: &Config, len: Option<u64>) -> Option<ProgressBar> {
    let len = len?;
    if !cfg.progress || len < PROGRESS_MIN_BYTES {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// This process's peak resident memory (`VmHWM`), in KiB. Unlike
/// `ru_maxrss` as a parent sees it, it counts only this program: the
/// kernel's per-process figure also keeps the memory of whatever forked or
/// vforked it before `exec` (a large test harness, for one).
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_summary(s: &Summary, reports: &[ShardReport], keys: &KeyStore, took: Duration) {
    let join = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut records = BTreeMap::new();
    let mut parsers = podwire_track::ParserStats::default();
    let (mut evicted, mut limit_hits, mut parser_failed) = (0, 0, 0);
    let (mut dns_malformed, mut dns_evicted, mut dns_unnamed) = (0, 0, 0);
    for r in reports {
        for (k, v) in &r.records {
            *records.entry(*k).or_default() += v;
        }
        evicted += r.tracker.evicted;
        limit_hits += r.tracker.reassembly_limit_hits;
        dns_malformed += r.tracker.dns_malformed;
        dns_evicted += r.tracker.dns_evicted;
        dns_unnamed += r.tracker.dns_unnamed;
        parser_failed += r.tracker.parsers.failed;
        parsers.add(&r.tracker.parsers);
    }
    let total: u64 = records.values().sum();
    eprintln!(
        "podwire: {} frames, {} TCP/UDP packets, {} records ({}) in {:.2}s{}",
        s.frames,
        s.packets,
        total,
        join(&records),
        took.as_secs_f64(),
        peak_memory_kib()
            .map(|k| format!(", peak memory {:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_default()
    );
    if !s.warnings.is_empty() {
        let n: u64 = s.warnings.values().sum();
        eprintln!("podwire: {n} warnings: {}", join(&s.warnings));
    }
    let k = keys.stats();
    if k.secrets + k.malformed + k.ignored + k.dropped > 0 {
        let mut tls = vec![
            format!("{} TLS connections decrypted", parsers.tls_decrypted),
            format!("{} without a key", parsers.tls_no_key),
        ];
        if parsers.tls_unsupported > 0 {
            tls.push(format!(
                "{} with a cipher not supported",
                parsers.tls_unsupported
            ));
        }
        if parsers.tls_auth_failed > 0 {
            tls.push(format!(
                "{} records failed authentication",
                parsers.tls_auth_failed
            ));
        }
        tls.push(format!("key log: {} secrets", k.secrets));
        if k.malformed + k.dropped > 0 {
            tls.push(format!(
                "{} malformed lines, {} dropped (table full)",
                k.malformed, k.dropped
            ));
        }
        eprintln!("podwire: {}", tls.join(", "));
    }
    let mut limits = Vec::new();
    if evicted > 0 {
        limits.push(format!("{evicted} connections reported early (table full)"));
    }
    if limit_hits > 0 {
        limits.push(format!(
            "{limit_hits} reassembly holes given up at the buffer limit"
        ));
    }
    if dns_malformed > 0 {
        limits.push(format!("{dns_malformed} malformed DNS messages"));
    }
    if dns_evicted > 0 {
        limits.push(format!("{dns_evicted} DNS queries pushed out unanswered"));
    }
    if dns_unnamed > 0 {
        limits.push(format!("{dns_unnamed} DNS messages without a question"));
    }
    if s.defrag.dropped > 0 {
        limits.push(format!(
            "{} IP datagrams left incomplete (fragments timed out or over budget)",
            s.defrag.dropped
        ));
    }
    if s.defrag.bad_fragments > 0 {
        limits.push(format!("{} IP fragments refused", s.defrag.bad_fragments));
    }
    if parser_failed > 0 {
        limits.push(format!("{parser_failed} streams a parser gave up on"));
    }
    if s.late_rows > 0 {
        limits.push(format!(
            "{} table rows out of time order (finished later than the {} s / {} MiB reorder window)",
            s.late_rows,
            crate::output::REORDER_HOLD.as_secs(),
            crate::output::REORDER_MAX_BYTES >> 20
        ));
    }
    if !limits.is_empty() {
        eprintln!("podwire: {}", limits.join(", "));
    }
}

/// One summary line for the OTLP export: what was sent and what was lost.
fn print_otlp(stats: &podwire_otlp::Stats) {
    use podwire_otlp::Signal;
    use std::sync::atomic::Ordering::Relaxed;
    let mut parts = Vec::new();
    for s in Signal::ALL {
        let st = stats.signal(s);
        let dropped = st.dropped_queue_full.load(Relaxed)
            + st.dropped_rejected.load(Relaxed)
            + st.dropped_shutdown.load(Relaxed);
        parts.push(format!(
            "{} {} sent, {} dropped",
            s.name(),
            st.sent.load(Relaxed),
            dropped
        ));
    }
    eprintln!("otlp: {}", parts.join("; "));
}
