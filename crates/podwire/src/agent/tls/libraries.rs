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
//! A library linked in statically has no such name: the program's own
//! file defines `SSL_read` and `SSL_write` (nodesource's Node.js, proxies
//! and programs linked against `libssl.a`). So every other file a process
//! maps executable is asked once whether it defines them
//! ([`defines_tls_functions`], which reads only the symbol tables), and the
//! answer is remembered by the device and inode its maps line gives, so the
//! hundreds of processes mapping libc cost one look.
//!
//! Reading every process's maps is not free (a large process has thousands
//! of lines), so a scan reads only processes it has not seen before (a
//! process is its pid, start time and name: `exec` keeps the first two but
//! changes the name, so a shell that execs a program is read again)
//! ([`SCAN_NEW`]), and all of them every [`SCAN_ALL`]: that catches a
//! library loaded late (Python imports `ssl` when first needed) and lets
//! go of files no process maps any more (a library replaced by an upgrade,
//! once its last user exits).

use podwire_ebpf::{defines_tls_functions, FileId, TlsProbe};
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
/// Time one scan spends at most reading symbol tables of files it has
/// not looked at before (the first scan of a busy host may find gigabytes
/// of them); the rest wait for the next scan, so plaintext keeps flowing.
const LOOK_BUDGET: Duration = Duration::from_millis(100);
/// Executable files remembered as looked at (then forgotten, and looked at
/// again when next seen).
const MAX_LOOKED_AT: usize = 1 << 15;

/// Whether a mapped file is a TLS library the probe knows: OpenSSL's
/// `libssl.so.*` (BoringSSL builds that keep the name too).
pub fn is_tls_library(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("libssl.so"))
}

/// A mapped file that may hold TLS functions, from one maps line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped<'a> {
    pub path: &'a str,
    /// A `libssl.so*` name: a TLS library without looking inside.
    pub by_name: bool,
    /// The device and inode the maps line gives (the file as the kernel
    /// sees it, whichever mount namespace the path belongs to).
    pub key: (u64, u64),
}

/// The files in a maps text that are TLS libraries by name or mapped
/// executable, each once; deleted files (they cannot be opened any more)
/// and anonymous mappings left out.
pub fn tls_paths(maps: &str) -> Vec<Mapped<'_>> {
    let mut out: Vec<Mapped<'_>> = Vec::new();
    for line in maps.lines() {
        // The path is the rest of the line from its first '/'.
        let Some(at) = line.find('/') else { continue };
        let path = &line[at..];
        if path.ends_with(" (deleted)") {
            continue;
        }
        let mut fields = line[..at].split_whitespace();
        let (Some(perms), Some(_offset), Some(dev), Some(inode)) =
            (fields.nth(1), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let by_name = is_tls_library(path);
        if !by_name && !perms.contains('x') {
            continue;
        }
        let Some(key) = maps_key(dev, inode) else {
            continue;
        };
        if !out.iter().any(|m| m.path == path) {
            out.push(Mapped { path, by_name, key });
        }
    }
    out
}

/// `major:minor` in hex and a decimal inode, as a maps line gives them.
fn maps_key(dev: &str, inode: &str) -> Option<(u64, u64)> {
    let (major, minor) = dev.split_once(':')?;
    let major = u64::from_str_radix(major, 16).ok()?;
    let minor = u64::from_str_radix(minor, 16).ok()?;
    Some(((major << 32) | minor, inode.parse().ok()?))
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
    /// Processes with executable files left to look at next scan (the
    /// scan's time for reading symbol tables ran out).
    pub put_off: usize,
}

/// See the module docs.
pub struct Libraries {
    proc: PathBuf,
    /// Probed files, with one path that reached each.
    attached: HashMap<FileId, PathBuf>,
    refused: HashSet<FileId>,
    /// Executable files (by their maps key) looked at, and whether they
    /// define the TLS functions.
    looked_at: HashMap<(u64, u64), bool>,
    /// (pid, start time) of processes read since the last full scan.
    seen: HashSet<(u32, u64, u64)>,
    last_all: Option<Instant>,
}

impl Libraries {
    /// Scans `proc` (`/proc`, or a test's).
    pub fn new(proc: impl Into<PathBuf>) -> Libraries {
        Libraries {
            proc: proc.into(),
            attached: HashMap::new(),
            refused: HashSet::new(),
            looked_at: HashMap::new(),
            seen: HashSet::new(),
            last_all: None,
        }
    }

    /// Makes the next scan read every process (tests: a full scan is
    /// otherwise [`SCAN_ALL`] away).
    #[cfg(test)]
    fn scan_all_next(&mut self) {
        self.last_all = None;
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
        let look_until = Instant::now() + LOOK_BUDGET;
        let mut mapped: HashSet<FileId> = HashSet::new();
        let Ok(dir) = std::fs::read_dir(&self.proc) else {
            return scan;
        };
        // Newest first (the highest pids, short of a wrap): a program just
        // started is the one a user waits to see, and on a busy host the
        // scan's time for looking into files may run out before the end.
        let mut pids: Vec<u32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable_by(|a, b| b.cmp(a));
        for pid in pids {
            let proc_dir = self.proc.join(pid.to_string());
            let Some((started, name)) = identity(&proc_dir) else {
                continue;
            };
            if !all && self.seen.contains(&(pid, started, name)) {
                continue;
            }
            if self.seen.len() < MAX_SEEN {
                self.seen.insert((pid, started, name));
            }
            let Some(maps) = read_maps(&proc_dir) else {
                continue;
            };
            let mut put_off = false;
            for m in tls_paths(&maps) {
                let full = proc_dir.join("root").join(m.path.trim_start_matches('/'));
                if !m.by_name {
                    match self.look(m.key, &full, look_until) {
                        Some(true) => {}
                        Some(false) => continue,
                        None => {
                            put_off = true;
                            continue;
                        }
                    }
                }
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
            if put_off {
                // Read again next scan, for the files not looked at yet.
                self.seen.remove(&(pid, started, name));
                scan.put_off += 1;
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

impl Libraries {
    /// Whether the executable file `full` (maps key `key`) defines the TLS
    /// functions, looked at once per file; `None` when it has not been and
    /// the scan's time for looking is over.
    fn look(&mut self, key: (u64, u64), full: &Path, until: Instant) -> Option<bool> {
        if let Some(known) = self.looked_at.get(&key) {
            return Some(*known);
        }
        if Instant::now() >= until {
            return None;
        }
        let found = defines_tls_functions(full);
        if self.looked_at.len() >= MAX_LOOKED_AT {
            self.looked_at.clear();
        }
        self.looked_at.insert(key, found);
        Some(found)
    }
}

/// A process's start time (clock ticks since boot, field 22 of its `stat`)
/// and a hash of its name (field 2): with the pid, they name one program
/// run even when pids are reused or the process execs another program.
fn identity(proc_dir: &Path) -> Option<(u64, u64)> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The name may hold spaces and parentheses: it ends at the last ')'.
    let close = stat.rfind(')')?;
    let name = stat.get(stat.find('(')? + 1..close)?;
    let started = stat[close + 1..].split_whitespace().nth(19)?.parse().ok()?;
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(name);
    Some((started, hash))
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
    fn maps_lines_give_tls_libraries_and_executables_once_and_not_deleted_ones() {
        let maps = "\
7f3a1000-7f3a2000 r--p 00000000 fe:01 131 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3a2000-7f3a3000 r-xp 00001000 fe:01 131 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3a4000-7f3a5000 r-xp 00001000 fe:01 140 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f3a6000-7f3a7000 r-xp 00001000 fe:01 150 /opt/app dir/lib/libssl.so.1.1
7f3a8000-7f3a9000 r-xp 00001000 fe:01 151 /old/libssl.so.3 (deleted)
7f3a9000-7f3aa000 r--p 00000000 fe:01 160 /usr/lib/locale/C.utf8/LC_CTYPE
7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]
";
        let found: Vec<(&str, bool)> = tls_paths(maps)
            .iter()
            .map(|m| (m.path, m.by_name))
            .collect();
        assert_eq!(
            found,
            [
                ("/usr/lib/x86_64-linux-gnu/libssl.so.3", true),
                ("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", false),
                ("/opt/app dir/lib/libssl.so.1.1", true),
            ]
        );
        assert_eq!(tls_paths(maps)[1].key, ((0xfe << 32) | 1, 140));
        assert!(!is_tls_library("/usr/lib/libssl3.so.bak/libcrypto.so"));
    }

    #[test]
    fn identity_survives_odd_process_names_and_changes_on_exec() {
        let dir = tempfile::tempdir().unwrap();
        let stat = |name: &str| {
            format!("42 ({name}) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10")
        };
        std::fs::write(dir.path().join("stat"), stat("a) b (c)")).unwrap();
        let before = identity(dir.path()).unwrap();
        assert_eq!(before.0, 987654);
        std::fs::write(dir.path().join("stat"), stat("static-tls")).unwrap();
        let after = identity(dir.path()).unwrap();
        assert_eq!(after.0, 987654);
        assert_ne!(before.1, after.1);
    }

    /// A process holding `lib` mapped (Python's ctypes loads it) until
    /// killed.
    struct Holder(std::process::Child);

    impl Holder {
        fn start(lib: &Path, proc: &Path) -> Holder {
            use std::io::BufRead;
            let mut child = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import ctypes, sys\nctypes.CDLL(sys.argv[1])\nprint('mapped', flush=True)\nsys.stdin.read()",
                ])
                .arg(lib)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3");
            let mut line = String::new();
            let out = child.stdout.take().expect("stdout");
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .expect("python3 says");
            assert_eq!(line.trim(), "mapped");
            // Only these processes are scanned: the host's others (which
            // map the system's libssl) come and go as they please.
            std::os::unix::fs::symlink(
                format!("/proc/{}", child.id()),
                proc.join(child.id().to_string()),
            )
            .expect("proc link");
            Holder(child)
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// This process's BPF link descriptors, one per uprobe link (no other
    /// test in this binary loads BPF programs).
    fn probe_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .filter(|t| t.to_string_lossy() == "anon_inode:bpf_link")
                    .count()
            })
            .unwrap_or(0)
    }

    /// A library upgraded in place (a new file renamed over the old, as
    /// dpkg does): the old file is let go once no process maps it under
    /// its name, the new one probed, and after the last user exits the
    /// probe holds no file and the agent no extra descriptor.
    #[test]
    fn a_replaced_library_is_let_go_and_nothing_leaks() {
        let test = "a_replaced_library_is_let_go_and_nothing_leaks";
        if let Err(skip) = podwire_lab::skip::require_tools(&["python3"]) {
            return skip.report(test);
        }
        if let Err(skip) = podwire_lab::skip::require_root() {
            return skip.report(test);
        }
        if !Path::new("/sys/kernel/btf/vmlinux").exists() {
            return podwire_lab::skip::skipped(test, "the kernel has no BTF (no eBPF)");
        }
        let Some(system) = ["x86_64", "aarch64"]
            .iter()
            .map(|arch| PathBuf::from(format!("/usr/lib/{arch}-linux-gnu/libssl.so.3")))
            .find(|p| p.exists())
        else {
            return podwire_lab::skip::skipped(test, "no libssl.so.3 (openssl)");
        };
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        std::fs::create_dir(&proc).unwrap();
        let lib = dir.path().join("libssl.so.3");
        std::fs::copy(&system, &lib).unwrap();

        let mut probe = TlsProbe::load().expect("load the TLS probe");
        let baseline = probe_fds();
        let mut libs = Libraries::new(&proc);

        let first = Holder::start(&lib, &proc);
        let old = FileId::of(&lib).unwrap();
        let scan = libs.scan(&mut probe);
        assert_eq!((scan.attached, scan.detached), (1, 0), "{scan:?}");
        assert_eq!(probe.files().collect::<Vec<_>>(), [old]);
        let one_file = probe_fds();
        assert!(one_file > baseline, "links hold descriptors");

        // The upgrade: a new file under the same name; the first holder
        // keeps the old one (its maps line now says "(deleted)").
        let staged = dir.path().join("libssl.so.3.new");
        std::fs::copy(&system, &staged).unwrap();
        std::fs::rename(&staged, &lib).unwrap();
        let new = FileId::of(&lib).unwrap();
        assert_ne!(old, new);
        let second = Holder::start(&lib, &proc);
        libs.scan_all_next();
        let scan = libs.scan(&mut probe);
        assert_eq!((scan.attached, scan.detached), (1, 1), "{scan:?}");
        assert_eq!(probe.files().collect::<Vec<_>>(), [new]);
        assert_eq!(probe_fds(), one_file, "the old file's links closed");

        drop(first);
        drop(second);
        libs.scan_all_next();
        let scan = libs.scan(&mut probe);
        assert_eq!((scan.attached, scan.detached), (0, 1), "{scan:?}");
        assert_eq!(probe.files().count(), 0);
        assert_eq!(libs.attached(), 0);
        assert_eq!(probe_fds(), baseline, "back to the descriptors before");
    }
}
