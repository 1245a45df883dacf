//! The third-party capture corpus (`../shared/pcaps`: tcpdump's and
//! Suricata's test captures, many malformed on purpose).
//!
//! - Robustness: every file, and deterministic corruptions of a sample, go
//!   through `podwire read`; none may panic, die of a signal, run past the
//!   time bound or use more than the memory bound. This is the "never
//!   crashes on any input" promise, on inputs nobody on the project wrote.
//! - Conformance: every file tshark can read is compared with tshark's
//!   dissection. All differences go to `target/corpus-report.txt`; the test
//!   fails on differences in files not triaged in
//!   `tests/corpus-allowlist.txt` (`FILE[:KIND] reason`, one per line).
//!
//! A fresh clone has no `../shared`; then both tests print SKIPPED. tshark's
//! output is cached under the target directory (keyed by file, size, mtime
//! and tshark version), so reruns cost only podwire's time.

use crate::util::{capture_files, corpus_dir, podwire, target_dir, target_tmp};
use podwire_lab::child::{self, Outcome, Watched};
use podwire_lab::compare::{compare, Difference, Kind};
use podwire_lab::corrupt::{self, Rng};
use podwire_lab::records;
use podwire_lab::skip::{require_tools, Skip};
use podwire_lab::tshark::{self, RawOutput};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Per-run bounds of the robustness promise.
const TIME_BOUND: Duration = Duration::from_secs(30);
const RSS_BOUND_KIB: u64 = 256 * 1024;
/// Corrupt every Nth file (in sorted order) of the corpus.
const CORRUPT_EVERY: usize = 4;
/// Worker threads (the CI machines have 2 cores).
const WORKERS: usize = 2;
/// Bound for one tshark run.
const TSHARK_TIMEOUT: Duration = Duration::from_secs(120);
/// Differences listed per file in the report (all are counted).
const REPORT_LINES_PER_FILE: usize = 40;

fn corpus() -> Result<Vec<PathBuf>, Skip> {
    let dir = corpus_dir();
    if !dir.is_dir() {
        return Err(Skip(format!(
            "no capture corpus at {} (it lives beside the repository, in ../shared/pcaps)",
            dir.display()
        )));
    }
    let files = capture_files(&dir);
    if files.is_empty() {
        return Err(Skip(format!("no capture files under {}", dir.display())));
    }
    Ok(files)
}

/// The corpus-relative name of a file, as reports and the allowlist use it.
fn rel(path: &Path) -> String {
    let root = corpus_dir();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Runs `f` over `items` on [`WORKERS`] threads; results in input order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                podwire_sync::lock(&results)[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("a worker panicked before finishing its item"))
        .collect()
}

/// Runs `podwire read --format jsonl FILE` under the robustness bounds.
fn run_podwire(file: &Path, keep_stdout: bool) -> Result<Watched, String> {
    let mut cmd = Command::new(podwire());
    cmd.args(["read", "--format", "jsonl"]).arg(file);
    child::run_watched(&mut cmd, TIME_BOUND, keep_stdout)
        .map_err(|e| format!("cannot run podwire: {e}"))
}

/// The run's own peak memory: what `podwire read` reports of itself
/// (`peak memory N MiB`, its `VmHWM`), else `ru_maxrss`. The latter is
/// inflated by this test process: a child started with vfork (as
/// `posix_spawn` does) inherits the parent's high-water mark at `exec`, so
/// a test binary grown large by other tests would make every run look big.
/// A run that ends before its summary (not a capture, an early error)
/// reports nothing of itself: then `ru_maxrss` counts only if it is above
/// this process's own high-water mark (else it is that mark, inherited,
/// and the run's own figure is unknown but no larger: 0 here).
fn peak_rss_kib(w: &Watched) -> u64 {
    let stderr = String::from_utf8_lossy(&w.stderr);
    let reported = stderr.lines().rev().find_map(|l| {
        let mib = l.split(", peak memory ").nth(1)?.strip_suffix(" MiB")?;
        mib.parse::<f64>().ok()
    });
    match reported {
        Some(mib) => (mib * 1024.0) as u64,
        None if w.max_rss_kib <= own_peak_kib() => 0,
        None => w.max_rss_kib,
    }
}

/// This test process's `VmHWM`, KiB.
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// What is wrong with a run, if anything: a panic, a signal, a hang, too
/// much memory, or an exit code other than 0 (capture) and 1 (not one).
fn robustness_verdict(w: &Watched) -> Option<String> {
    let mut bad = Vec::new();
    match &w.outcome {
        Outcome::Exited(0) | Outcome::Exited(1) => {}
        Outcome::Exited(101) => bad.push(format!("panicked: {}", w.stderr_summary())),
        Outcome::Exited(c) => bad.push(format!("exit code {c}: {}", w.stderr_summary())),
        Outcome::Signaled(s) => bad.push(format!("killed by signal {s}: {}", w.stderr_summary())),
        Outcome::TimedOut => bad.push(format!("still running after {} s", TIME_BOUND.as_secs())),
    }
    let rss = peak_rss_kib(w);
    if rss > RSS_BOUND_KIB {
        bad.push(format!(
            "peak RSS {} MiB (bound {} MiB)",
            rss / 1024,
            RSS_BOUND_KIB / 1024
        ));
    }
    (!bad.is_empty()).then(|| bad.join("; "))
}

/// One robustness run: a corpus file, or one corruption of it.
struct Job {
    file: PathBuf,
    /// Index into the file's `corrupt::variants`, or `None` for the file itself.
    variant: Option<usize>,
}

/// How one robustness run went: its label, and a problem if any.
struct RunResult {
    label: String,
    problem: Option<String>,
    max_rss_kib: u64,
    seconds: f64,
}

fn robustness_run(job: &Job, scratch: &Path, counter: &AtomicUsize) -> Option<RunResult> {
    let name = rel(&job.file);
    let fail = |label: String, problem: String| {
        Some(RunResult {
            label,
            problem: Some(problem),
            max_rss_kib: 0,
            seconds: 0.0,
        })
    };
    let (label, path, temporary) = match job.variant {
        None => (name.clone(), job.file.clone(), false),
        Some(v) => {
            let data = match std::fs::read(&job.file) {
                Ok(d) => d,
                Err(e) => return fail(name, format!("cannot read: {e}")),
            };
            // No variant (e.g. an empty file has no length fields): nothing to run.
            let variant = corrupt::variants(&data, Rng::seed_from(&name))
                .into_iter()
                .nth(v)?;
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let path = scratch.join(format!("{n}.pcap"));
            if let Err(e) = std::fs::write(&path, &variant.data) {
                return fail(name, format!("cannot write a corrupted copy: {e}"));
            }
            (format!("{name} [{}]", variant.name), path, true)
        }
    };
    let result = match run_podwire(&path, false) {
        Err(e) => RunResult {
            label,
            problem: Some(e),
            max_rss_kib: 0,
            seconds: 0.0,
        },
        Ok(w) => RunResult {
            label,
            problem: robustness_verdict(&w),
            max_rss_kib: peak_rss_kib(&w),
            seconds: w.elapsed.as_secs_f64(),
        },
    };
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    Some(result)
}

#[test]
fn corpus_robustness() {
    let files = match corpus() {
        Ok(f) => f,
        Err(skip) => return skip.report_optional("corpus_robustness"),
    };
    let mut jobs: Vec<Job> = files
        .iter()
        .map(|f| Job {
            file: f.clone(),
            variant: None,
        })
        .collect();
    for f in files.iter().step_by(CORRUPT_EVERY) {
        for v in 0..5 {
            jobs.push(Job {
                file: f.clone(),
                variant: Some(v),
            });
        }
    }
    let scratch = tempfile::tempdir().expect("temp dir for corrupted copies");
    let counter = AtomicUsize::new(0);
    let results: Vec<RunResult> =
        par_map(&jobs, |job| robustness_run(job, scratch.path(), &counter))
            .into_iter()
            .flatten()
            .collect();
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.problem.as_ref().map(|p| format!("{}: {p}", r.label)))
        .collect();
    if let Some(worst) = results.iter().max_by_key(|r| r.max_rss_kib) {
        eprintln!(
            "corpus robustness: {} runs over {} files; peak RSS {} MiB ({}); slowest {:.2} s",
            results.len(),
            files.len(),
            worst.max_rss_kib / 1024,
            worst.label,
            results.iter().map(|r| r.seconds).fold(0.0, f64::max)
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs broke the robustness promise:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

/// tshark's version line, part of the cache key.
fn tshark_version() -> String {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

/// tshark's raw output for `file`, from the cache when the file, tshark and
/// the extraction are unchanged.
fn tshark_cached(file: &Path, version: &str) -> Result<RawOutput, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot stat: {e}"))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key_text = format!(
        "{}|{}|{mtime}|{version}|{:?}",
        file.display(),
        meta.len(),
        tshark::command(file, &[]).get_args().collect::<Vec<_>>()
    );
    let key = Rng::seed_from(&key_text);
    let dir = target_tmp("tshark-cache");
    let path = dir.join(format!("{key:016x}.txt"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some((head, stdout)) = text.split_once('\n') {
            if let Some((flag, stderr)) = head.split_once(' ') {
                return Ok(RawOutput {
                    stdout: stdout.to_string(),
                    stderr: stderr.replace("\\n", "\n"),
                    success: flag == "ok",
                });
            }
        }
    }
    let raw = tshark::run(file, &[], TSHARK_TIMEOUT).map_err(|e| format!("tshark: {e}"))?;
    let head = format!(
        "{} {}",
        if raw.success { "ok" } else { "failed" },
        raw.stderr.replace('\n', "\\n")
    );
    // A cache that cannot be written only costs time.
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, format!("{head}\n{}", raw.stdout));
    Ok(raw)
}

/// Triaged differences: `FILE` (all kinds) or `FILE:KIND`, with a reason.
#[derive(Default)]
struct Allowlist {
    entries: BTreeMap<String, Vec<(Option<Kind>, String)>>,
}

impl Allowlist {
    fn load(path: &Path) -> Allowlist {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut a = Allowlist::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (target, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            assert!(
                !reason.trim().is_empty(),
                "{}:{}: an allowlist line needs a reason: {line:?}",
                path.display(),
                n + 1
            );
            let (file, kind) = match target.rsplit_once(':') {
                Some((f, k)) if Kind::from_name(k).is_some() => (f, Kind::from_name(k)),
                _ => (target, None),
            };
            a.entries
                .entry(file.to_string())
                .or_default()
                .push((kind, reason.trim().to_string()));
        }
        a
    }

    fn allows(&self, file: &str, kind: Kind) -> bool {
        self.entries
            .get(file)
            .is_some_and(|v| v.iter().any(|(k, _)| k.is_none_or(|k| k == kind)))
    }
}

/// The conformance outcome for one file.
enum FileResult {
    /// tshark cannot read it (unsupported link type, damaged header): no reference.
    NoReference(String),
    Compared {
        diffs: Vec<Difference>,
        /// podwire's exit was not 0 for a file tshark reads.
        exit_problem: Option<String>,
        notes: Vec<String>,
    },
}

fn conformance_run(file: &Path, version: &str) -> FileResult {
    let raw = match tshark_cached(file, version) {
        Ok(r) => r,
        Err(e) => return FileResult::NoReference(e),
    };
    if !raw.has_stats() {
        return FileResult::NoReference(raw.message());
    }
    let reference = match raw.reference(file) {
        Ok(r) => r,
        Err(e) => return FileResult::NoReference(e.to_string()),
    };
    let w = match run_podwire(file, true) {
        Ok(w) => w,
        Err(e) => {
            return FileResult::Compared {
                diffs: Vec::new(),
                exit_problem: Some(e),
                notes: Vec::new(),
            }
        }
    };
    if w.outcome != Outcome::Exited(0) {
        return FileResult::Compared {
            diffs: Vec::new(),
            exit_problem: Some(format!(
                "podwire {:?} on a file tshark reads: {}",
                w.outcome,
                w.stderr_summary()
            )),
            notes: reference.inconsistencies,
        };
    }
    let output = records::parse(&String::from_utf8_lossy(&w.stdout));
    FileResult::Compared {
        diffs: compare(&reference, &output),
        exit_problem: None,
        notes: reference.inconsistencies,
    }
}

#[test]
fn corpus_conformance() {
    let files = match corpus() {
        Ok(f) => f,
        Err(skip) => return skip.report_optional("corpus_conformance"),
    };
    if let Err(skip) = require_tools(&["tshark"]) {
        return skip.report("corpus_conformance");
    }
    let allow_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus-allowlist.txt");
    let allow = Allowlist::load(&allow_path);
    let version = tshark_version();
    let results = par_map(&files, |f| conformance_run(f, &version));

    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut no_reference = Vec::new();
    let mut failing: Vec<String> = Vec::new();
    let mut allowed_files = 0usize;
    let mut body = String::new();
    let mut compared = 0usize;
    for (file, result) in files.iter().zip(&results) {
        let name = rel(file);
        let (diffs, exit_problem, notes) = match result {
            FileResult::NoReference(why) => {
                no_reference.push(format!("{name}: {why}"));
                continue;
            }
            FileResult::Compared {
                diffs,
                exit_problem,
                notes,
            } => (diffs, exit_problem, notes),
        };
        compared += 1;
        let mut kinds_here: BTreeMap<String, usize> = BTreeMap::new();
        for d in diffs {
            *kinds_here.entry(d.kind.name().to_string()).or_default() += 1;
        }
        if exit_problem.is_some() {
            *kinds_here.entry("exit".to_string()).or_default() += 1;
        }
        if kinds_here.is_empty() {
            continue;
        }
        for (k, n) in &kinds_here {
            let e = by_kind.entry(k.clone()).or_default();
            e.0 += n;
            e.1 += 1;
        }
        let unallowed = (exit_problem.is_some() && !allow.entries.contains_key(&name))
            || diffs.iter().any(|d| !allow.allows(&name, d.kind));
        if unallowed {
            failing.push(name.clone());
        } else {
            allowed_files += 1;
        }
        let _ = writeln!(
            body,
            "\n== {name}{}",
            if unallowed { "" } else { " (allowlisted)" }
        );
        if let Some(p) = exit_problem {
            let _ = writeln!(body, "  [exit] {p}");
        }
        for d in diffs.iter().take(REPORT_LINES_PER_FILE) {
            let _ = writeln!(body, "  {d}");
        }
        if diffs.len() > REPORT_LINES_PER_FILE {
            let _ = writeln!(
                body,
                "  ... and {} more",
                diffs.len() - REPORT_LINES_PER_FILE
            );
        }
        for n in notes {
            let _ = writeln!(body, "  (tshark note: {n})");
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "podwire corpus conformance: {} files, {compared} compared with tshark, {} without a tshark reference",
        files.len(),
        no_reference.len()
    );
    let _ = writeln!(
        report,
        "files with differences: {} failing, {allowed_files} allowlisted",
        failing.len()
    );
    let _ = writeln!(report, "\ndifferences by kind (count, files):");
    for (k, (n, f)) in &by_kind {
        let _ = writeln!(report, "  {k:14} {n:6} {f:5}");
    }
    report.push_str(&body);
    let _ = writeln!(report, "\n== files tshark cannot read (robustness only)");
    for n in &no_reference {
        let _ = writeln!(report, "  {n}");
    }
    let report_path = target_dir().join("corpus-report.txt");
    std::fs::write(&report_path, &report)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", report_path.display()));
    eprintln!("corpus conformance report: {}", report_path.display());

    let summary: String = report
        .lines()
        .take(4 + by_kind.len() + 1)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failing.is_empty(),
        "{summary}\n\n{} files differ from tshark and are not in {}; first ones:\n  {}\nfull report: {}",
        failing.len(),
        allow_path.display(),
        failing.iter().take(30).cloned().collect::<Vec<_>>().join("\n  "),
        report_path.display()
    );
}

#[test]
fn allowlist_entries_cover_a_file_or_one_kind_of_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("allow.txt");
    std::fs::write(
        &path,
        "# comment\n\nsuricata-verify/a.pcap  HTTP/1.2 status lines\ntcpdump-tests/b.pcap:tcp-extra  malformed header\n",
    )
    .expect("write allowlist");
    let a = Allowlist::load(&path);
    assert!(a.allows("suricata-verify/a.pcap", Kind::HttpStatus));
    assert!(a.allows("suricata-verify/a.pcap", Kind::TcpBytes));
    assert!(a.allows("tcpdump-tests/b.pcap", Kind::TcpExtra));
    assert!(!a.allows("tcpdump-tests/b.pcap", Kind::TcpBytes));
    assert!(!a.allows("tcpdump-tests/c.pcap", Kind::TcpExtra));
}
