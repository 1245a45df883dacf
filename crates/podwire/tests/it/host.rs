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
        // Beyond loopback without a token file: open on purpose (this is
        // about what the agent observes, not who may read it).
        let mut args = vec![
            "--capture-token-file",
            tokens.as_str(),
            "--api-auth",
            "none",
        ];
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

/// What one agent run left in its tables, metrics and a capture of the
/// client pod's veth taken through its API.
#[derive(Debug)]
struct Seen {
    /// Records (any table) of conversations with the agent's API.
    api_records: usize,
    /// Records of the web pod's server, on the same port number.
    web_records: usize,
    /// Metric lines naming the agent (its process) as an endpoint.
    api_series: usize,
    /// The agent's count of packets and records left out.
    left_out: u64,
    /// Captured packets to or from the agent's API (the capture's own
    /// stream among them), and all captured packets.
    captured_api: usize,
    captured: usize,
}

fn run_agent(node: &Node, observe: bool) -> Seen {
    let log = if observe { "observe.log" } else { "agent.log" };
    let mut extra = Vec::new();
    if observe {
        extra.push("--observe-self");
    }
    let agent = node.agent(&extra, log);
    let api = format!("http://{NODE_IP}:{HTTP_PORT}");
    let web = format!("http://{}:{HTTP_PORT}/small.txt", node.c.web.ipv4);
    // A capture of the client pod's veth through the API, from the client
    // pod: its stream crosses the interface it captures.
    let file = node.dir.path().join(format!("p0-{observe}.pcapng"));
    let sniff_log = node.dir.path().join(format!("sniff-{observe}.log"));
    let tokens = node.tokens();
    let mut sniffer = sniff_in(
        &node.c.client.ns,
        &[
            "--agent",
            &api,
            "-i",
            "p0",
            "-f",
            "tcp",
            "--duration",
            "3s",
            "--token-file",
            &tokens,
            "-o",
        ],
    )
    .arg(&file)
    .stderr(std::fs::File::create(&sniff_log).expect("log"))
    .stdout(Stdio::null())
    .spawn()
    .expect("podwire sniff");
    wait_for_line(&sniff_log, "capturing", &mut sniffer);
    for path in ["/api/v1/connections", "/api/v1/http", "/metrics"] {
        node.curl(&format!("{api}{path}"));
        node.curl(&web);
    }
    agent.get("/api/v1/status").expect("status over loopback");
    assert!(sniffer.wait().expect("sniff ends").success());
    let captured = packets(&file);
    let api_ip: std::net::Ipv4Addr = NODE_IP.parse().expect("ip");
    let captured_api = captured
        .iter()
        .filter(|(_, p)| tcp_with(p, api_ip.octets(), HTTP_PORT))
        .count();

    let counted = |r: &Value| {
        text(r, &["server", "ip"]) == Some(&node.c.web.ipv4.to_string())
            && port(r, "server") == Some(u64::from(HTTP_PORT))
    };
    // The web pod's requests are in: what is missing was left out, not late.
    eventually("the web pod's requests stored", &agent, || {
        records(&agent, "http")
            .iter()
            .filter(|r| counted(r))
            .count()
            >= 3
    });
    let mut all = Vec::new();
    for t in ["connections", "http"] {
        all.extend(records(&agent, t));
    }
    let (_, metrics) = agent.get("/metrics").expect("metrics");
    let left_out = metrics
        .lines()
        .filter(|l| l.starts_with("podwire_own_") && l.contains("_left_out_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    let api_series = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("=\"podwire\""))
        .count();
    let seen = Seen {
        api_records: all.iter().filter(|r| with_agent_api(r)).count(),
        web_records: all.iter().filter(|r| counted(r)).count(),
        api_series,
        left_out,
        captured_api,
        captured: captured.len(),
    };
    agent.stop().expect("stop");
    seen
}

/// Whether an Ethernet/IPv4/TCP frame is to or from `ip:port`.
fn tcp_with(frame: &[u8], ip: [u8; 4], port: u16) -> bool {
    let Some(ipv4) = frame.get(14..) else {
        return false;
    };
    if frame.get(12..14) != Some(&[0x08, 0x00]) || ipv4.get(9) != Some(&6) {
        return false;
    }
    let ihl = usize::from(ipv4[0] & 0x0f) * 4;
    let (Some(src), Some(dst), Some(ports)) =
        (ipv4.get(12..16), ipv4.get(16..20), ipv4.get(ihl..ihl + 4))
    else {
        return false;
    };
    let (sport, dport) = (
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    );
    (src == ip && sport == port) || (dst == ip && dport == port)
}

#[test]
fn the_agent_leaves_its_own_api_out_unless_told_to_observe_itself() {
    let test = "the_agent_leaves_its_own_api_out_unless_told_to_observe_itself";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let node = Node::start();

    let quiet = run_agent(&node, false);
    eprintln!("left out: {quiet:?}");
    assert!(quiet.web_records >= 3, "same port, other address: kept");
    assert_eq!(quiet.api_records, 0, "the agent's own API in its tables");
    assert_eq!(quiet.api_series, 0, "the agent's own API in its metrics");
    assert!(quiet.captured > 10, "the capture saw the web pod's traffic");
    assert_eq!(quiet.captured_api, 0, "the capture's own stream captured");
    assert!(quiet.left_out > 0, "what was left out is counted");

    // The same run, observing itself: each check above would have caught it.
    let seen = run_agent(&node, true);
    eprintln!("observed: {seen:?}");
    assert!(seen.web_records >= 3);
    assert!(
        seen.api_records > 0,
        "--observe-self: its API in its tables"
    );
    assert!(
        seen.api_series > 0,
        "--observe-self: its API in its metrics"
    );
    assert!(seen.captured_api > 0, "--observe-self: the stream captured");
}

#[test]
fn local_addresses_are_named_as_the_host_never_by_dns_answers() {
    let test = "local_addresses_are_named_as_the_host_never_by_dns_answers";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let node = Node::start();
    let agent = node.agent(&[], "agent.log");
    // Blocking answers, asked on the node and from the pod...
    node.dig(true, &["@127.0.0.1", "blocked.test"]);
    node.dig(true, &["@127.0.0.1", "zero.test"]);
    node.dig(false, &[&format!("@{NODE_IP}"), "blocked.test"]);
    // ...then conversations with loopback and the node's address: DNS over
    // TCP on loopback, and from the pod to the node.
    node.dig(true, &["+tcp", "@127.0.0.1", "other.blocked.test"]);
    node.dig(false, &["+tcp", &format!("@{NODE_IP}"), "zero.test"]);
    let host = hostname();
    let is_local = |ip: &str| matches!(ip, "127.0.0.1" | NODE_IP);
    let mut named = 0;
    eventually("records of the node's resolver", &agent, || {
        let mut all = records(&agent, "dns");
        all.extend(records(&agent, "connections"));
        let mut local = 0;
        for r in &all {
            for side in ["client", "server"] {
                let ep = &r[side];
                let ip = text(ep, &["ip"]).unwrap_or_default();
                if matches!(ip, "127.0.0.1" | "0.0.0.0" | NODE_IP) {
                    assert_eq!(ep.get("domain"), None, "named by DNS: {r}");
                }
                if is_local(ip) {
                    assert_eq!(text(ep, &["node"]), Some(host.as_str()), "{r}");
                    local += 1;
                } else {
                    assert_eq!(ep.get("node"), None, "not the host: {r}");
                }
            }
        }
        named = local;
        // Both digs over TCP ended, and the four over UDP answered.
        all.iter()
            .filter(|r| text(r, &["server", "ip"]).is_some_and(is_local))
            .count()
            >= 6
    });
    assert!(named >= 6);
    // The graph names the node's address as the host, not by its address.
    let g = agent.json("/api/v1/graph?level=pod").expect("graph");
    let nodes = g["nodes"].as_array().cloned().unwrap_or_default();
    assert!(
        nodes
            .iter()
            .any(|n| n["title"] == host.as_str() && n["subtitle"] == "node"),
        "{nodes:?}"
    );
}
