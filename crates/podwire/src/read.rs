//! `podwire read`: capture files through the pipeline to records.
//!
//! Files are read in the order given as one capture (rotated tcpdump files
//! continue each other's connections). A file that is not a capture is
//! reported and skipped; bad records inside a capture are counted and the
//! rest is read.

use crate::cli::{Format, Kind, ReadArgs};
use crate::output::{Sink, Stopped};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use podwire_capture::{CaptureError, FileReader};
use podwire_decode::{Decoder, Skip};
use podwire_http::{HeaderCapture, HttpConfig};
use podwire_record::Record;
use podwire_track::{Tracker, TrackerConfig};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A file at least this large gets a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// `podwire read`, validated.
struct Config {
    files: Vec<PathBuf>,
    format: Format,
    only: Vec<Kind>,
    tracker: TrackerConfig,
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
        tracker.parsers.http = HttpConfig {
            headers: match (args.http_headers, args.show_secrets) {
                (false, _) => HeaderCapture::None,
                (true, false) => HeaderCapture::Redacted,
                (true, true) => HeaderCapture::All,
            },
            ..HttpConfig::default()
        };
        Ok(Config {
            files: args.files,
            format,
            only: args.only,
            tracker,
            quiet: args.quiet,
            progress: io::stderr().is_terminal(),
        })
    }

    fn wants(&self, rec: &Record) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|k| {
                rec.kind
                    == match k {
                        Kind::Connection => "connection",
                        Kind::Tls => "tls",
                        Kind::Http => "http",
                        Kind::Dns => "dns",
                    }
            })
    }
}

/// What a run saw, for the summary.
#[derive(Default)]
struct Summary {
    frames: u64,
    packets: u64,
    skipped: BTreeMap<&'static str, u64>,
    warnings: BTreeMap<&'static str, u64>,
    records: BTreeMap<&'static str, u64>,
    failed_files: usize,
}

pub fn run(args: ReadArgs) -> Result<ExitCode> {
    let cfg = Config::from_args(args)?;
    let started = Instant::now();
    let mut sink = Sink::stdout(cfg.format).context("starting the writer")?;
    let mut decoder = Decoder::default();
    let mut tracker = Tracker::new(cfg.tracker.clone());
    let mut records = Vec::new();
    let mut summary = Summary::default();

    let mut stopped = false;
    for path in &cfg.files {
        let res = read_file(
            &cfg,
            path,
            &mut decoder,
            &mut tracker,
            &mut records,
            &mut sink,
            &mut summary,
        );
        match res {
            Ok(()) => {}
            Err(ReadError::Stopped) => {
                stopped = true;
                break;
            }
            Err(ReadError::File(e)) => {
                // One bad file does not stop the others.
                eprintln!("podwire: {}: {e:#}", path.display());
                summary.failed_files += 1;
            }
        }
    }
    if !stopped {
        tracker.flush(&mut records);
        // A stop here shows up as the writer's error just below.
        let _ = emit(&cfg, &mut sink, &mut records, &mut summary);
    }
    match sink.finish() {
        Ok(()) => {}
        // `podwire read x | head`: the reader went away; that is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(anyhow::Error::new(e).context("writing records")),
    }

    if !cfg.quiet {
        print_summary(&summary, &tracker, started.elapsed());
    }
    Ok(if summary.failed_files > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn open(path: &Path) -> Result<(Box<dyn Read>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let f = File::open(path).context("cannot open")?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

/// Why a file was not read to its end.
enum ReadError {
    /// The file could not be read as a capture.
    File(anyhow::Error),
    /// The writer stopped (its error is reported by `Sink::finish`).
    Stopped,
}

impl From<Stopped> for ReadError {
    fn from(_: Stopped) -> Self {
        ReadError::Stopped
    }
}

/// Records handed to the writer at once.
const BATCH: usize = 1024;

fn read_file(
    cfg: &Config,
    path: &Path,
    decoder: &mut Decoder,
    tracker: &mut Tracker,
    records: &mut Vec<Record>,
    sink: &mut Sink,
    summary: &mut Summary,
) -> Result<(), ReadError> {
    let (input, len) = open(path).map_err(ReadError::File)?;
    let reader = FileReader::new(input).map_err(|e| match e {
        CaptureError::Io(_) => ReadError::File(anyhow::Error::new(e).context("cannot read")),
        e => ReadError::File(e.into()),
    });
    let mut reader = reader?;
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
                tracker.packet(frame.ts, frame.orig_len, &pkt, records);
            }
            Err(skip) => count_skip(summary, skip),
        }
        if records.len() >= BATCH {
            emit(cfg, sink, records, summary)?;
        }
        if summary.frames % 4096 == 0 {
            if let Some(b) = &bar {
                b.set_position(reader.bytes_read());
            }
            // Reading a live pipe (`tcpdump -w - | podwire read -`): do not
            // sit on records while the input trickles.
            if last_send.elapsed() > SEND_INTERVAL {
                emit(cfg, sink, records, summary)?;
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
    if skip.is_error() {
        *summary.warnings.entry(skip.name()).or_default() += 1;
    } else {
        *summary.skipped.entry(skip.name()).or_default() += 1;
    }
}

/// How long records may wait for a batch to fill.
const SEND_INTERVAL: Duration = Duration::from_millis(200);

fn emit(
    cfg: &Config,
    sink: &mut Sink,
    records: &mut Vec<Record>,
    summary: &mut Summary,
) -> Result<(), Stopped> {
    records.retain(|rec| cfg.wants(rec));
    for rec in records.iter() {
        *summary.records.entry(rec.kind).or_default() += 1;
    }
    sink.send(records)
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

fn print_summary(s: &Summary, tracker: &Tracker, took: Duration) {
    let join = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total: u64 = s.records.values().sum();
    eprintln!(
        "podwire: {} frames, {} TCP/UDP packets, {} records ({}) in {:.2}s",
        s.frames,
        s.packets,
        total,
        join(&s.records),
        took.as_secs_f64()
    );
    if !s.warnings.is_empty() {
        let n: u64 = s.warnings.values().sum();
        eprintln!("podwire: {n} warnings: {}", join(&s.warnings));
    }
    let t = tracker.stats();
    let mut limits = Vec::new();
    if t.evicted > 0 {
        limits.push(format!(
            "{} connections reported early (table full)",
            t.evicted
        ));
    }
    if t.reassembly_limit_hits > 0 {
        limits.push(format!(
            "{} reassembly holes given up at the buffer limit",
            t.reassembly_limit_hits
        ));
    }
    if t.dns_malformed > 0 {
        limits.push(format!("{} malformed DNS messages", t.dns_malformed));
    }
    if t.dns_evicted > 0 {
        limits.push(format!(
            "{} DNS queries pushed out unanswered",
            t.dns_evicted
        ));
    }
    if !limits.is_empty() {
        eprintln!("podwire: {}", limits.join(", "));
    }
}
