//! Which files to probe: every TLS library some process maps.
//!
//! A uprobe belongs to a file, so the task is to know the set of TLS
//! library files in use on the host and keep the probe on exactly those.
//! They are found in `/proc/PID/maps` and reached through
//! `/proc/PID/root`, which is the process's own view of the filesystem (a
//! container's image), so a library inside a container is probed without
//! entering its mount namespace; the file's (device, inode) is its
//! identity, so one shared by many processes or containers is probed once.
//!
//! Reading every process's maps is not free (a large process has thousands
//! of lines), so a scan reads only processes it has not seen before
//! ([`SCAN_NEW`]), and all of them every [`SCAN_ALL`]: that catches a
//! library loaded late (Python imports `ssl` when first needed) and lets
//! go of files no process maps any more (a library replaced by an upgrade,
//! once its last user exits).

use podwire_ebpf::{FileId, TlsProbe};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often processes started since the last scan are read.
pub const SCAN_NEW: Duration = Duration::from_secs(2);
/// How often every process is read.
pub const SCAN_ALL: Duration = Duration::from_secs(30);
/// Bytes of one process's maps read at most.
const MAX_MAPS_BYTES: u64 = 4 << 20;
/// Files remembered as refused at most (then forgotten, and tried again).
const MAX_REFUSED: usize = 4096;
/// Files probed at most (each costs eight probe links): a host has a few
/// distinct libssl files, one per image that ships its own.
pub const MAX_FILES: usize = 512;
/// Processes remembered as read at most.
const MAX_SEEN: usize = 1 << 16;

/// Whether a mapped file is a TLS library the probe knows: OpenSSL's
/// `libssl.so.*` (BoringSSL builds that keep the name too).
pub fn is_tls_library(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("libssl.so"))
}

/// The file paths in a maps text that are TLS libraries, each once.
pub fn tls_paths(maps: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for line in maps.lines() {
        // The path is the rest of the line from its first '/'; a deleted
        // file cannot be opened any more.
        let Some(at) = line.find('/') else { continue };
        let path = &line[at..];
        if path.ends_with(" (deleted)") || !is_tls_library(path) {
            continue;
        }
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// What one scan did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Files newly probed.
    pub attached: usize,
    /// Files let go (no process maps them).
    pub detached: usize,
    /// Files the probe refused (their first error is logged once).
    pub refused: Vec<String>,
}

/// See the module docs.
pub struct Libraries {
    proc: PathBuf,
    /// Probed files, with one path that reached each.
    attached: HashMap<FileId, PathBuf>,
    refused: HashSet<FileId>,
    /// (pid, start time) of processes read since the last full scan.
    seen: HashSet<(u32, u64)>,
    last_all: Option<Instant>,
}

impl Libraries {
    /// Scans `proc` (`/proc`, or a test's).
    pub fn new(proc: impl Into<PathBuf>) -> Libraries {
        Libraries {
            proc: proc.into(),
            attached: HashMap::new(),
            refused: HashSet::new(),
            seen: HashSet::new(),
            last_all: None,
        }
    }

    /// Files probed now.
    pub fn attached(&self) -> usize {
        self.attached.len()
    }

    /// Reads the processes due (see the module docs) and fits the probe
    /// to what they map.
    pub fn scan(&mut self, probe: &mut TlsProbe) -> Scan {
        let all = self.last_all.is_none_or(|t| t.elapsed() >= SCAN_ALL);
        if all {
            self.last_all = Some(Instant::now());
            self.seen.clear();
        }
        let mut scan = Scan::default();
        let mut mapped: HashSet<FileId> = HashSet::new();
        let Ok(dir) = std::fs::read_dir(&self.proc) else {
            return scan;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let proc_dir = entry.path();
            let Some(started) = start_time(&proc_dir) else {
                continue;
            };
            if !all && self.seen.contains(&(pid, started)) {
                continue;
            }
            if self.seen.len() < MAX_SEEN {
                self.seen.insert((pid, started));
            }
            let Some(maps) = read_maps(&proc_dir) else {
                continue;
            };
            for path in tls_paths(&maps) {
                let full = proc_dir.join("root").join(path.trim_start_matches('/'));
                let Ok(id) = FileId::of(&full) else { continue };
                mapped.insert(id);
                if self.attached.contains_key(&id) || self.refused.contains(&id) {
                    continue;
                }
                if self.attached.len() >= MAX_FILES {
                    scan.refused.push(format!(
                        "{}: {MAX_FILES} library files probed already",
                        full.display()
                    ));
                    self.refused.insert(id);
                    continue;
                }
                match probe.attach(&full) {
                    Ok(_) => {
                        self.attached.insert(id, full);
                        scan.attached += 1;
                    }
                    Err(e) => {
                        if self.refused.len() >= MAX_REFUSED {
                            self.refused.clear();
                        }
                        self.refused.insert(id);
                        scan.refused.push(format!("{}: {e}", full.display()));
                    }
                }
            }
        }
        if all {
            let gone: Vec<FileId> = self
                .attached
                .keys()
                .filter(|id| !mapped.contains(id))
                .copied()
                .collect();
            for id in gone {
                probe.detach(id);
                self.attached.remove(&id);
                scan.detached += 1;
            }
            self.refused.retain(|id| mapped.contains(id));
        }
        scan
    }
}

/// A process's start time (clock ticks since boot, field 22 of its `stat`):
/// with the pid, it names one process even when pids are reused.
fn start_time(proc_dir: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: count from the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn read_maps(proc_dir: &Path) -> Option<String> {
    let f = std::fs::File::open(proc_dir.join("maps")).ok()?;
    let mut text = String::new();
    f.take(MAX_MAPS_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_give_tls_libraries_once_and_not_deleted_ones() {
        let maps = "\
7f3a1000-7f3a2000 r--p 00000000 fe:01 131 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3a2000-7f3a3000 r-xp 00001000 fe:01 131 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3a4000-7f3a5000 r-xp 00001000 fe:01 140 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f3a6000-7f3a7000 r-xp 00001000 fe:01 150 /opt/app dir/lib/libssl.so.1.1
7f3a8000-7f3a9000 r-xp 00001000 fe:01 151 /old/libssl.so.3 (deleted)
7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]
";
        assert_eq!(
            tls_paths(maps),
            [
                "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                "/opt/app dir/lib/libssl.so.1.1"
            ]
        );
        assert!(!is_tls_library("/usr/lib/libssl3.so.bak/libcrypto.so"));
    }

    #[test]
    fn start_time_survives_odd_process_names() {
        let dir = tempfile::tempdir().unwrap();
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        std::fs::write(dir.path().join("stat"), stat).unwrap();
        assert_eq!(start_time(dir.path()), Some(987654));
    }
}
