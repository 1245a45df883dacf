//! What every topic needs: the binary under test, where the data lives, and
//! one way to run `podwire read` and read its records back.

use podwire_lab::child::{self, Outcome, Watched};
use podwire_lab::records::{self, Output};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `podwire` binary Cargo built for these tests.
pub fn podwire() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_podwire"))
}

/// The committed fixtures.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The shared capture corpus: `../shared/pcaps` beside the repository.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pcaps")
}

/// Cargo's target directory (the parent of the integration-test temp dir).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// A scratch directory under the target directory, kept between runs
/// (caches).
pub fn target_tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Capture files (`.pcap`, `.pcapng`, ...) under `dir`, recursively, sorted.
pub fn capture_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_some_and(|x| x.to_string_lossy().starts_with("pcap") || x == "cap")
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// One `podwire read --format jsonl` run, its records and how it ended.
pub struct Read {
    pub watched: Watched,
    pub output: Output,
}

impl Read {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.watched.stderr).into_owned()
    }

    /// Exit code 0.
    pub fn succeeded(&self) -> bool {
        self.watched.outcome == Outcome::Exited(0)
    }
}

/// Runs `podwire read --format jsonl FILES...` (60 s bound) and parses its
/// standard output.
pub fn read_jsonl(files: &[&Path]) -> Read {
    let mut cmd = Command::new(podwire());
    cmd.args(["read", "--format", "jsonl"]).args(files);
    let watched = child::run_watched(&mut cmd, Duration::from_secs(60), true)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", podwire().display()));
    let output = records::parse(&String::from_utf8_lossy(&watched.stdout));
    Read { watched, output }
}

/// Returns early from a test, printing `SKIPPED: <test>: <reason>`, when a
/// precondition (`Result<(), Skip>`) does not hold.
macro_rules! skip_unless {
    ($test:expr, $precondition:expr) => {
        if let Err(skip) = $precondition {
            skip.report($test);
            return;
        }
    };
}
pub(crate) use skip_unless;

/// Held by every test that builds a lab. Labs live in their own namespaces,
/// but the agent's eBPF probe sees every namespace's sockets, and labs reuse
/// the same pod addresses: an agent test must not meet another lab's
/// traffic.
pub fn lab_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    podwire_sync::lock(&LOCK)
}

/// tshark's fields of a capture file (`-T fields`, optionally only the
/// frames a display filter keeps), one line per frame; tshark must read the
/// file without a word on stderr (but the one that it runs as root).
pub fn tshark_fields(path: &Path, display_filter: Option<&str>, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path);
    if let Some(f) = display_filter {
        cmd.args(["-Y", f]);
    }
    cmd.args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark");
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("Running as user \"root\""))
        .collect();
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "tshark on {}: {stderr}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}
