//! A throwaway network namespace per test, built with `ip`, removed on drop
//! (also when the test fails), plus the small helpers the tests share.

use podwire_capture_live::{in_netns, Frame, LINKTYPE_ETHERNET};
use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Root tests run one at a time: the fd-count check needs a quiet process,
/// and two cores are better spent on one capture than on four.
static SERIAL: Mutex<()> = Mutex::new(());

/// `Some(guard)` when running as root, else prints why the test is skipped.
pub fn root(reason: &str) -> Option<MutexGuard<'static, ()>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        podwire_lab::skip::skipped(reason, "needs root");
        return None;
    }
    Some(podwire_sync::lock(&SERIAL))
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace named `pwcl-<pid>-<n>`, deleted on drop.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    /// A fresh namespace with `lo` up and IPv6 off (no DAD/MLD/RS noise).
    pub fn new() -> Netns {
        let name = format!(
            "pwcl-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        let ns = Netns {
            path: PathBuf::from("/var/run/netns").join(&name),
            name,
        };
        let quiet = "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
                     echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6";
        run("ip", &["netns", "exec", &ns.name, "sh", "-c", quiet]);
        ns.ip(&["link", "set", "dev", "lo", "up"]);
        ns
    }

    /// The spec's lab: veth `a` (10.77.0.1/24) and `b` (10.77.0.2/24), both up.
    pub fn veth_pair() -> Netns {
        let ns = Netns::new();
        ns.ip(&[
            "link", "add", "name", "a", "type", "veth", "peer", "name", "b",
        ]);
        ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "a"]);
        ns.ip(&["addr", "add", "10.77.0.2/24", "dev", "b"]);
        ns.ip(&["link", "set", "dev", "a", "up"]);
        ns.ip(&["link", "set", "dev", "b", "up"]);
        ns
    }

    /// `ip -n NAME ARGS...`, panicking with ip's message on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `f` inside the namespace (sockets it opens stay there).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.path, f).expect("enter namespace")
    }

    pub fn ifindex(&self, dev: &str) -> u32 {
        let line = self.ip(&["-o", "link", "show", "dev", dev]);
        line.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .expect("ifindex in ip output")
    }

    pub fn mac(&self, dev: &str) -> String {
        let line = self.ip(&["-o", "link", "show", "dev", dev]);
        let mut words = line.split_whitespace().skip_while(|w| *w != "link/ether");
        words.nth(1).expect("mac in ip output").to_string()
    }

    /// Interface names as `ip -o link` lists them (without `@peer`).
    pub fn link_names(&self) -> BTreeSet<String> {
        self.ip(&["-o", "link"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// A UDP socket bound inside the namespace.
    pub fn udp(&self, addr: &str) -> UdpSocket {
        self.enter(|| UdpSocket::bind(addr)).expect("bind udp")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Payload of test datagram `seq` of run `run`: a marker the captures look for.
pub const PAYLOAD_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"PWCL";

pub fn payload(run: u32, seq: u32) -> [u8; PAYLOAD_LEN] {
    let mut p = [0x5a; PAYLOAD_LEN];
    p[..4].copy_from_slice(MAGIC);
    p[4..8].copy_from_slice(&run.to_be_bytes());
    p[8..12].copy_from_slice(&seq.to_be_bytes());
    p
}

/// The sequence number of a captured test datagram of run `run`, if `frame`
/// is one: Ethernet, IPv4, UDP, our marker, intact payload.
pub fn marker(frame: &Frame<'_>, run: u32) -> Option<u32> {
    if frame.link != LINKTYPE_ETHERNET {
        return None;
    }
    let d = frame.data;
    if d.get(12..14)? != [0x08, 0x00] || *d.get(23)? != 17 {
        return None;
    }
    let ihl = usize::from(d.get(14)? & 0x0f) * 4;
    let p = d.get(14 + ihl + 8..)?;
    let seq = u32::from_be_bytes(p.get(8..12)?.try_into().ok()?);
    (p.len() == PAYLOAD_LEN && p == payload(run, seq)).then_some(seq)
}
