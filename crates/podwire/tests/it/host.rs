//! The agent on its own host: what it must leave out and how it names the
//! host itself (issue 19).
//!
//! The lab's switch namespace plays the node: the bridge gets the node's
//! address ([`NODE_IP`]), the agent runs there (listening on every address
//! at nginx's port number, which the web pod also serves on, so "the same
//! port on another address" is real traffic), and a dnsmasq there answers
//! on loopback and the node's address the way blocking resolvers do, with
//! 127.0.0.1 and 0.0.0.0.
//!
//! - `sniff -i lo` gives each packet once, as tcpdump on `lo` does (a
//!   loopback device passes every packet twice, out and in);
//! - the agent's own API (asked over the bridge and over loopback, the
//!   metrics, a capture stream crossing the bridge) is in no table, no
//!   metric and no capture, and is counted as left out; `--observe-self`
//!   brings all of it back (so the checks can fail);
//! - loopback and unspecified addresses are never named by DNS answers,
//!   and the host's own addresses are named as the host.
//!
//! Needs root and the lab's tools.

use crate::sniff::{packets, sniff_in, wait_for_line};
use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::netns::{ip, ns_command};
use podwire_lab::process::Proc;
use podwire_lab::scenario::{Cluster, HTTP_PORT};
use podwire_lab::skip::require_lab;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "ip", "nginx", "dnsmasq", "openssl", "curl", "dig", "tcpdump", "tshark",
];
/// The node's address: the switch namespace's bridge.
const NODE_IP: &str = "10.88.0.1";
const TOKEN: &str = "lab-secret";

/// The lab with the node's address on the bridge and a blocking resolver
/// on the node, and the token file captures need.
struct Node {
    c: Cluster,
    _dnsmasq: Proc,
    dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = Cluster::start().expect("start the lab cluster");
        let sw = c.lab.switch_ns().to_string();
        ip(&[
            "-n",
            &sw,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            "br0",
        ])
        .expect("node ip");
        let mut cmd = ns_command(&sw, "dnsmasq");
        cmd.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--user=root",
            "--group=root",
            "--log-queries",
            "--log-facility=-",
            "--listen-address=127.0.0.1",
            "--address=/blocked.test/127.0.0.1",
            "--address=/zero.test/0.0.0.0",
        ]);
        cmd.arg(format!("--listen-address={NODE_IP}"));
        cmd.arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ));
        let dnsmasq =
            Proc::spawn("dnsmasq", cmd, &dir.path().join("dnsmasq.log")).expect("dnsmasq");
        podwire_lab::netns::wait_for_listen(
            &sw,
            podwire_lab::netns::Proto::Udp,
            53,
            Duration::from_secs(10),
        )
        .expect("dnsmasq listens");
        std::fs::write(dir.path().join("tokens"), format!("{TOKEN} ops\n")).expect("tokens");
        Node {
            c,
            _dnsmasq: dnsmasq,
            dir,
        }
    }

    fn sw(&self) -> &str {
        self.c.lab.switch_ns()
    }

    fn tokens(&self) -> String {
        self.dir.path().join("tokens").display().to_string()
    }

    /// The agent on the node, on every address at nginx's port number.
    fn agent(&self, extra: &[&str], log: &str) -> Agent {
        let tokens = self.tokens();
        let mut args = vec!["--capture-token-file", tokens.as_str()];
        args.extend_from_slice(extra);
        Agent::launch(
            &Launch {
                netns: Some(self.sw().to_string()),
                listen: Some(format!("0.0.0.0:{HTTP_PORT}")),
                ..Launch::default()
            },
            podwire(),
            &args,
            &self.dir.path().join(log),
        )
        .expect("start the agent")
    }

    /// `dig` on the node (`on_node`) or in the client pod.
    fn dig(&self, on_node: bool, args: &[&str]) {
        let mut cmd = if on_node {
            ns_command(self.sw(), "dig")
        } else {
            self.c.client.command("dig")
        };
        let out = cmd
            .args(["+tries=1", "+time=2"])
            .args(args)
            .output()
            .expect("dig");
        assert!(out.status.success(), "dig {args:?}: {out:?}");
    }

    /// curl in the client pod; the body.
    fn curl(&self, url: &str) -> String {
        let out = self
            .c
            .client
            .command("curl")
            .args(["-sS", "--max-time", "5", url])
            .output()
            .expect("curl");
        assert!(out.status.success(), "curl {url}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn port(v: &Value, side: &str) -> Option<u64> {
    v.get(side)?.get("port")?.as_u64()
}

/// Every record of `table` the agent holds (open connections included).
fn records(agent: &Agent, table: &str) -> Vec<Value> {
    let v = agent
        .json(&format!("/api/v1/{table}?limit=100000"))
        .unwrap_or_else(|e| panic!("GET {table}: {e}\n{}", agent.log()));
    v.as_array().cloned().unwrap_or_default()
}

/// A record of a conversation with the agent's API: its server is the
/// node (or loopback) at the agent's port.
fn with_agent_api(r: &Value) -> bool {
    ["client", "server"].iter().any(|side| {
        port(r, side) == Some(u64::from(HTTP_PORT))
            && matches!(text(r, &[side, "ip"]), Some(NODE_IP | "127.0.0.1"))
    })
}

/// Waits until `done` holds (re-fetching through it), or panics with `what`.
fn eventually(what: &str, agent: &Agent, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} never happened; agent:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The host name, as the agent (same UTS namespace) sees it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

#[test]
fn sniff_on_loopback_gives_each_packet_once_as_tcpdump_does() {
    let test = "sniff_on_loopback_gives_each_packet_once_as_tcpdump_does";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let node = Node::start();
    let agent = node.agent(&["--no-ebpf"], "agent.log");
    let filter = "udp port 53";
    let dir = node.dir.path();
    let reference = dir.join("tcpdump.pcap");
    let tcpdump_log = dir.join("tcpdump.log");
    let mut tcpdump = ns_command(node.sw(), "tcpdump")
        .args(["-n", "-U", "-i", "lo", "-w"])
        .arg(&reference)
        .arg(filter)
        .stderr(std::fs::File::create(&tcpdump_log).expect("log"))
        .spawn()
        .expect("tcpdump");
    wait_for_line(&tcpdump_log, "listening on", &mut tcpdump);
    let ours = dir.join("sniff.pcapng");
    let sniff_log = dir.join("sniff.log");
    let url = format!("http://127.0.0.1:{HTTP_PORT}");
    let tokens = node.tokens();
    let mut sniffer = sniff_in(
        node.sw(),
        &[
            "--agent",
            &url,
            "-i",
            "lo",
            "-f",
            filter,
            "--duration",
            "4s",
            "--token-file",
            &tokens,
            "-o",
        ],
    )
    .arg(&ours)
    .stderr(std::fs::File::create(&sniff_log).expect("log"))
    .spawn()
    .expect("podwire sniff");
    wait_for_line(&sniff_log, "capturing", &mut sniffer);
    std::thread::sleep(Duration::from_millis(300));
    node.dig(true, &["@127.0.0.1", "blocked.test"]);
    let status = sniffer.wait().expect("sniff ends by its duration");
    assert!(
        status.success(),
        "sniff: {}",
        std::fs::read_to_string(&sniff_log).unwrap_or_default()
    );
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();
    let (a, b) = (packets(&ours), packets(&reference));
    assert_eq!(b.len(), 2, "tcpdump on lo: one query, one answer");
    assert_eq!(
        a.len(),
        b.len(),
        "packets: podwire {} vs tcpdump {}",
        a.len(),
        b.len()
    );
    assert_eq!(a, b, "byte for byte as tcpdump");
    drop(agent);
}
