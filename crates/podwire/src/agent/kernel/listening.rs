//! Who was already listening when the agent started.
//!
//! The probe names a listener when it calls `listen()` (`KIND_LISTEN`), but
//! servers started before the agent did that long ago. Until one of their
//! accepted sockets closes, their connections would have no server process.
//! So, once at start, the agent asks `/proc`: every network namespace's
//! listening TCP sockets (`/proc/PID/net/tcp{,6}`, read once per
//! namespace), then which process holds each one (`/proc/PID/fd`).
//!
//! It sees only what the agent's pid namespace and privileges show: all of
//! a host's processes standalone as root, or in a pod with `hostPID` and
//! `CAP_SYS_PTRACE` (the chart's TLS plaintext setting); in a default pod
//! it finds the agent's own, and learning falls back to closes. Bounded by
//! a time budget and counts; a listener seen at `listen()` since always
//! wins over what the scan found.

use super::packed::Comm;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

/// Processes looked at, at most.
const MAX_PROCESSES: usize = 65_536;
/// Descriptors looked at per process, at most.
const MAX_FDS: usize = 65_536;
/// Listening sockets remembered, at most.
const MAX_LISTENERS: usize = 32_768;

/// One listening socket and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub local: SocketAddr,
    pub pid: u32,
    pub comm: Comm,
    /// cgroup v2 id (the inode of the process's cgroup directory); 0 if
    /// not known.
    pub cgroup_id: u64,
}

/// What one scan found and how far it got.
#[derive(Debug, Default)]
pub struct Scan {
    pub found: Vec<Found>,
    pub processes: usize,
    /// Processes whose descriptors could not be read (not permitted, or
    /// gone meanwhile).
    pub unreadable: usize,
    /// The budget or a bound ended the scan early.
    pub truncated: bool,
}

/// Scans `proc` (normally `/proc`) within `budget`; `cgroup_v2` is the
/// cgroup v2 tree, for the owners' cgroup ids.
pub fn scan(proc: &Path, cgroup_v2: &Path, budget: Duration) -> Scan {
    let started = Instant::now();
    let mut out = Scan::default();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return out;
    };
    // Listening sockets by inode, from each network namespace once.
    let mut listening: FxHashMap<u64, SocketAddr> = FxHashMap::default();
    let mut namespaces: FxHashSet<u64> = FxHashSet::default();
    let mut owned: FxHashSet<u64> = FxHashSet::default();
    for e in entries.flatten() {
        if started.elapsed() > budget || out.processes >= MAX_PROCESSES {
            out.truncated = true;
            break;
        }
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        out.processes += 1;
        let dir = e.path();
        if let Ok(ns) = std::fs::metadata(dir.join("ns/net")) {
            if namespaces.insert(ns.ino()) {
                for (file, v6) in [("net/tcp", false), ("net/tcp6", true)] {
                    if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                        for (inode, addr) in listeners_in(&text, v6) {
                            if listening.len() < MAX_LISTENERS {
                                listening.insert(inode, addr);
                            }
                        }
                    }
                }
            }
        }
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            out.unreadable += 1;
            continue;
        };
        let mut mine = Vec::new();
        for fd in fds.flatten().take(MAX_FDS) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) else {
                continue;
            };
            if let Some(&addr) = listening.get(&inode) {
                // One socket shared by a parent and its forks (prefork
                // servers): the first process seen, the lowest pid, is named.
                if owned.insert(inode) {
                    mine.push(addr);
                }
            }
        }
        if mine.is_empty() {
            continue;
        }
        let comm = std::fs::read(dir.join("comm")).unwrap_or_default();
        let comm = Comm::from_name(&comm);
        let cgroup_id = cgroup_id(&dir, cgroup_v2).unwrap_or(0);
        out.found.extend(mine.into_iter().map(|local| Found {
            local,
            pid,
            comm,
            cgroup_id,
        }));
    }
    out
}

/// The listening sockets of one `/proc/net/tcp` or `tcp6` text: (inode,
/// local address). Lines that do not parse are skipped.
fn listeners_in(text: &str, v6: bool) -> Vec<(u64, SocketAddr)> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().take(10).collect();
        let [_, local, _, state, _, _, _, _, _, inode] = f[..] else {
            continue;
        };
        if state != LISTEN {
            continue;
        }
        let (Some(local), Ok(inode)) = (address(local, v6), inode.parse::<u64>()) else {
            continue;
        };
        if inode != 0 {
            out.push((inode, local));
        }
    }
    out
}

/// `0100007F:1F90`: the kernel prints each 32-bit word of the address as
/// it lies in memory, read as a native integer; the port in host order.
fn address(s: &str, v6: bool) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = if v6 { 4 } else { 1 };
    if ip.len() != 8 * words || !ip.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    for i in 0..words {
        let w = u32::from_str_radix(ip.get(8 * i..8 * i + 8)?, 16).ok()?;
        bytes[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let ip: IpAddr = if v6 {
        Ipv6Addr::from(bytes).to_canonical()
    } else {
        Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()
    };
    Some(SocketAddr::new(ip, port))
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The cgroup v2 id of a process: the inode of its cgroup's directory.
fn cgroup_id(proc_pid: &Path, cgroup_v2: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_pid.join("cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = cgroup_v2.join(path.trim_start_matches('/'));
    std::fs::metadata(dir).ok().map(|m| m.ino())
}

/// Adds what a scan found to `table` without replacing what events have
/// taught it meanwhile.
pub(super) fn merge<V>(
    table: &mut FxHashMap<SocketAddr, V>,
    found: impl IntoIterator<Item = (SocketAddr, V)>,
) {
    for (addr, v) in found {
        if let Entry::Vacant(e) = table.entry(addr) {
            e.insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_give_listening_sockets_only() {
        // Lines as Linux 6.x prints them: 127.0.0.1:8080 listening,
        // 0.0.0.0:22 listening, an established one, a bad line.
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0\n\
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1\n\
   3: garbage\n";
        assert_eq!(
            listeners_in(tcp, false),
            [
                (4242, "127.0.0.1:8080".parse().unwrap()),
                (17, "0.0.0.0:22".parse().unwrap())
            ]
        );
        // [::]:443 and [::1]:5432 (x86: little-endian words).
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n\
   1: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 556 1 0000000000000000 100 0 0 10 0\n";
        if cfg!(target_endian = "little") {
            assert_eq!(
                listeners_in(tcp6, true),
                [
                    (555, "[::]:443".parse().unwrap()),
                    (556, "[::1]:5432".parse().unwrap())
                ]
            );
        }
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }

    #[test]
    fn finds_this_process_listening() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let s = scan(
            Path::new("/proc"),
            Path::new("/sys/fs/cgroup"),
            Duration::from_secs(20),
        );
        let me = std::process::id();
        let found = s
            .found
            .iter()
            .find(|f| f.local == addr)
            .unwrap_or_else(|| panic!("{addr} not found in {s:?}"));
        assert_eq!(found.pid, me);
        let comm = std::fs::read("/proc/self/comm").expect("comm");
        assert_eq!(found.comm, Comm::from_name(&comm));
        assert!(s.processes >= 1);
    }

    #[test]
    fn what_events_taught_is_kept() {
        let a: SocketAddr = "0.0.0.0:80".parse().unwrap();
        let b: SocketAddr = "0.0.0.0:81".parse().unwrap();
        let mut t = FxHashMap::default();
        t.insert(a, 1);
        merge(&mut t, [(a, 2), (b, 3)]);
        assert_eq!(t[&a], 1);
        assert_eq!(t[&b], 3);
    }
}
