//! Network namespaces as pods on a bridge, the way a CNI bridge plugin wires
//! a Kubernetes node.
//!
//! A [`Lab`] is one "node": a switch namespace holding a bridge `br0`, and
//! any number of [`Pod`]s, each a namespace whose `eth0` is a veth into the
//! bridge, with an IPv4 address in 10.88.0.0/24 and an IPv6 address in
//! fd00:88::/64. Every lab lives entirely inside namespaces it created, so
//! its traffic never reaches the host's interfaces and several labs (tests
//! running in parallel) can reuse the same addresses without meeting. Names
//! carry the process id and a counter, so parallel tests never collide, and
//! namespaces left behind by a killed test run are removed by the next one.
//!
//! Dropping the lab deletes its namespaces (which destroys their veths and
//! the bridge); it is written to cope with a setup that failed half-way.

use crate::cmd;
use crate::{Error, Result};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Prefix of every namespace this crate creates.
const PREFIX: &str = "pwlab-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The IPv4 prefix pods get addresses from (/24).
pub const SUBNET4: [u8; 3] = [10, 88, 0];
/// The IPv6 prefix pods get addresses from (/64).
pub const SUBNET6: [u16; 4] = [0xfd00, 0x88, 0, 0];

/// One pod: a network namespace with `eth0` on the lab's bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Short name given by the test (`client`, `web`, ...).
    pub name: String,
    /// Network namespace name (for `ip netns exec`).
    pub ns: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// Host part of the addresses (the `N` in 10.88.0.N / fd00:88::N, the
    /// IPv6 one written with the same digits).
    pub host: u8,
}

impl Pod {
    /// A command that runs `program` inside this pod.
    pub fn command(&self, program: &str) -> Command {
        ns_command(&self.ns, program)
    }

    /// The pod's address of the given family.
    pub fn ip(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.ipv6)
        } else {
            IpAddr::V4(self.ipv4)
        }
    }
}

/// A bridge in its own namespace, with pods attached. See the module docs.
#[derive(Debug)]
pub struct Lab {
    id: String,
    switch_ns: String,
    pods: Vec<Pod>,
    /// Pods ever added: numbers addresses and veths, never reused.
    added: usize,
    /// Every namespace created so far, deleted on drop (even after a failed setup).
    created: Vec<String>,
}

impl Lab {
    /// Creates the switch namespace and its bridge. Also removes namespaces
    /// left behind by lab processes that no longer exist.
    pub fn new() -> Result<Lab> {
        remove_stale();
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let switch_ns = format!("{PREFIX}{id}-sw");
        let mut lab = Lab {
            id,
            switch_ns: switch_ns.clone(),
            pods: Vec::new(),
            added: 0,
            created: Vec::new(),
        };
        ip(&["netns", "add", &switch_ns])?;
        lab.created.push(switch_ns.clone());
        ip(&["-n", &switch_ns, "link", "set", "lo", "up"])?;
        // No STP and no forwarding delay: ports forward as soon as they are up.
        ip(&[
            "-n",
            &switch_ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        // The bridge itself must stay silent: no IPv6 link-local address, so
        // no router solicitations or MLD reports from the switch.
        sysctl(&switch_ns, "net.ipv6.conf.br0.disable_ipv6", "1")?;
        ip(&["-n", &switch_ns, "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// Gives the bridge an IPv4 address in the pods' subnet (`.254`), as a
    /// node's CNI bridge has its gateway address: processes in the switch
    /// namespace can then reach the pods, as a node's can. Off by default
    /// (the bridge stays silent); the agent's certificate fetch needs it.
    pub fn address_switch(&self) -> Result<Ipv4Addr> {
        let addr = Ipv4Addr::new(SUBNET4[0], SUBNET4[1], SUBNET4[2], 254);
        ip(&[
            "-n",
            &self.switch_ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "br0",
        ])?;
        Ok(addr)
    }

    /// Name of the namespace holding the bridge (capture there, on `br0`).
    pub fn switch_ns(&self) -> &str {
        &self.switch_ns
    }

    /// Unique id of this lab (pid and counter).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The pods created so far.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// Creates a pod named `name`, wired to the bridge, with the next free
    /// addresses (10.88.0.10, .11, ... and fd00:88::10, ...).
    pub fn add_pod(&mut self, name: &str) -> Result<Pod> {
        let index = self.added;
        self.added += 1;
        let host = u8::try_from(10 + index).map_err(|_| Error::parse("lab", "too many pods"))?;
        let ns = format!("{PREFIX}{}-{name}", self.id);
        ip(&["netns", "add", &ns])?;
        self.created.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        // Quiet, deterministic IPv6: no router solicitations, no DAD delay.
        for (key, value) in [
            ("net.ipv6.conf.all.router_solicitations", "0"),
            ("net.ipv6.conf.default.router_solicitations", "0"),
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
        ] {
            sysctl(&ns, key, value)?;
        }
        let port = format!("p{index}");
        ip(&[
            "-n",
            &self.switch_ns,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ])?;
        ip(&["-n", &self.switch_ns, "link", "set", &port, "master", "br0"])?;
        sysctl(
            &self.switch_ns,
            &format!("net.ipv6.conf.{port}.disable_ipv6"),
            "1",
        )?;
        ip(&["-n", &self.switch_ns, "link", "set", &port, "up"])?;
        let ipv4 = Ipv4Addr::new(SUBNET4[0], SUBNET4[1], SUBNET4[2], host);
        let s = SUBNET6;
        // The IPv6 host part reads like the IPv4 one: .10 -> ::10 (0x10).
        let host6 = u16::from_str_radix(&host.to_string(), 16).unwrap_or(host as u16);
        let ipv6 = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, host6);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ipv4}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&[
            "-n",
            &ns,
            "-6",
            "addr",
            "add",
            &format!("{ipv6}/64"),
            "dev",
            "eth0",
            "nodad",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        let pod = Pod {
            name: name.to_string(),
            ns,
            ipv4,
            ipv6,
            host,
        };
        self.pods.push(pod.clone());
        Ok(pod)
    }

    /// Deletes a pod's namespace, which destroys its veth pair (the way a
    /// CNI plugin lets a pod go). Unknown names are not an error.
    pub fn remove_pod(&mut self, name: &str) -> Result<()> {
        let Some(i) = self.pods.iter().position(|p| p.name == name) else {
            return Ok(());
        };
        let pod = self.pods.remove(i);
        ip(&["netns", "del", &pod.ns])?;
        self.created.retain(|n| n != &pod.ns);
        Ok(())
    }

    /// A command that runs `program` in the switch namespace.
    pub fn switch_command(&self, program: &str) -> Command {
        ns_command(&self.switch_ns, program)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = ip(&["netns", "delete", ns]) {
                eprintln!("podwire-lab: cannot delete namespace {ns}: {e}");
            }
        }
    }
}

/// `ip netns exec NS program`: `ip` execs the program, so the child's pid is
/// the program's own and signals reach it directly.
pub fn ns_command(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

/// Runs `ip ARGS` and requires success.
pub fn ip(args: &[&str]) -> Result<()> {
    cmd::run_ok(Command::new("ip").args(args), Duration::from_secs(20)).map(|_| ())
}

/// Sets a sysctl inside a namespace.
fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    let path = format!("{key}={value}");
    cmd::run_ok(
        ns_command(ns, "sysctl").args(["-q", "-w", &path]),
        Duration::from_secs(20),
    )
    .map(|_| ())
}

/// Deletes `pwlab-<pid>-*` namespaces whose process is gone (a test run that
/// was killed before it could clean up).
fn remove_stale() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "delete", &name]);
        }
    }
}

/// Runs `f` on a thread that has joined namespace `ns` (only that thread
/// moves; the test process stays where it is).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    let file = fs::File::open(&path).map_err(|e| Error::io("open namespace", &path, e))?;
    let handle = thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd affects only this thread,
        // which runs nothing but `f` and then exits.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    });
    match handle.join() {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::io("setns", path, e)),
        Err(_) => Err(Error::parse(
            "lab",
            format!("thread in namespace {ns} panicked"),
        )),
    }
}

/// Transport of a listening socket, for [`wait_for_listen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Waits until something in namespace `ns` listens on `port` (TCP: a socket
/// in LISTEN state; UDP: a bound socket), IPv4 or IPv6, up to `timeout`.
/// Reads the namespace's socket tables, so it sends no traffic (a probe
/// connection would show up in captures).
pub fn wait_for_listen(ns: &str, proto: Proto, port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let listening = in_netns(ns, move || is_listening(proto, port))?;
        if listening {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!("waiting for a {proto:?} listener on port {port} in {ns}"),
                seconds: timeout.as_secs_f64(),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn is_listening(proto: Proto, port: u16) -> bool {
    let files: &[&str] = match proto {
        Proto::Tcp => &["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"],
        Proto::Udp => &["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"],
    };
    files.iter().any(|f| {
        fs::read_to_string(f)
            .map(|text| socket_table_has(&text, proto, port))
            .unwrap_or(false)
    })
}

/// Whether a `/proc/net/{tcp,udp}[6]` table lists a local `port` (in LISTEN
/// state for TCP).
fn socket_table_has(text: &str, proto: Proto, port: u16) -> bool {
    let want = format!("{port:04X}");
    text.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let local_port = cols.get(1).and_then(|a| a.rsplit(':').next());
        let state = cols.get(3).copied();
        local_port == Some(want.as_str()) && (proto == Proto::Udp || state == Some("0A"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_table_parsing_finds_listeners_only() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
        assert!(socket_table_has(tcp, Proto::Tcp, 8080));
        // Port 80 appears only as an established connection.
        assert!(!socket_table_has(tcp, Proto::Tcp, 80));
        assert!(socket_table_has(tcp, Proto::Udp, 80));
    }
}
