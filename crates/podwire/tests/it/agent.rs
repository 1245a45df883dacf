//! `podwire agent` live in the lab: pods on a bridge, real servers and
//! clients, the agent capturing inside the lab's switch namespace (as it
//! would in a node's host namespace) with its eBPF probe loaded. What its
//! API reports must equal what the clients did and what tcpdump captured
//! on the same bridge (read by tshark); processes and kernel counters must
//! match the clients'; a pod that comes and goes mid-run is picked up and
//! let go; SIGTERM leaves nothing attached. Needs root and the lab's tools.

use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::capture::{Capture, CaptureOptions};
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::compare::compare;
use podwire_lab::netns::{SUBNET4, SUBNET6};
use podwire_lab::records::{self, Output};
use podwire_lab::scenario::{Cluster, Expected, DECODE_AS, HTTP_ODD_PORT, HTTP_PORT};
use podwire_lab::skip::{find_tool, require_lab};
use podwire_lab::tshark;
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "ip", "tcpdump", "tshark", "editcap", "nginx", "dnsmasq", "dig", "curl", "openssl",
];
const TABLES: [&str; 4] = ["connections", "tls", "http", "dns"];

fn in_lab(r: &Value) -> bool {
    ["client", "server"].iter().any(|side| {
        s(r, &[side, "ip"])
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .is_some_and(|ip| match ip {
                IpAddr::V4(a) => a.octets()[..3] == SUBNET4,
                IpAddr::V6(a) => a.segments()[..4] == SUBNET6,
            })
    })
}

/// Every table of the agent, as one JSON-lines text and as values.
fn fetch(agent: &Agent) -> (Output, Vec<Value>) {
    let mut jsonl = String::new();
    let mut connections = Vec::new();
    for t in TABLES {
        let v = agent
            .json(&format!("/api/v1/{t}?limit=100000"))
            .unwrap_or_else(|e| panic!("GET {t}: {e}\nagent log:\n{}", agent.log()));
        // The host's own sockets (this test asking the agent, say) are the
        // kernel's too, but not on the bridge: keep the lab's.
        let items: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| in_lab(r))
            .cloned()
            .collect();
        for item in &items {
            jsonl.push_str(&item.to_string());
            jsonl.push('\n');
        }
        if t == "connections" {
            connections = items;
        }
    }
    (records::parse(&jsonl), connections)
}

/// Asks until the agent agrees with the clients and tshark (records of
/// closed connections arrive within the tracker's linger), or 20 s passed.
fn settle(
    agent: &Agent,
    exp: &Expected,
    reference: &tshark::Reference,
) -> (Vec<String>, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (out, conns) = fetch(agent);
        let mut problems: Vec<String> = out.schema_errors.clone();
        problems.extend(
            exp.check(&out)
                .into_iter()
                .map(|p| format!("vs clients: {p}")),
        );
        problems.extend(
            compare(reference, &out)
                .into_iter()
                .map(|d| format!("vs tshark: {d}")),
        );
        if problems.is_empty() || Instant::now() > deadline {
            return (problems, conns);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Ids of the BPF programs a process holds (from its fds' fdinfo).
fn bpf_programs_of(pid: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for fd in fds.flatten() {
        let info = std::fs::read_to_string(fd.path()).unwrap_or_default();
        ids.extend(
            info.lines()
                .filter_map(|l| l.strip_prefix("prog_id:"))
                .filter_map(|v| v.trim().parse::<u32>().ok()),
        );
    }
    ids
}

/// Whether the kernel still has a BPF program with this id (`None`:
/// cannot tell without bpftool).
fn bpf_program_exists(id: u32) -> Option<bool> {
    let tool = find_tool("bpftool")?;
    let out = Command::new(tool)
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .ok()?;
    Some(out.status.success())
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        cur = &cur[p];
    }
    cur.as_u64().unwrap_or(u64::MAX)
}

/// Processes and kernel counters on every TCP connection: the client's
/// socket knows the client program; once closed, its counters equal the
/// payload the packets carried plus the SYN and FIN the kernel counts in
/// sequence space.
fn check_kernel_view(conns: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for c in conns.iter().filter(|c| s(c, &["proto"]) == Some("tcp")) {
        let what = format!(
            "{}:{} -> {}:{}",
            s(c, &["client", "ip"]).unwrap_or("?"),
            u(c, &["client", "port"]),
            s(c, &["server", "ip"]).unwrap_or("?"),
            u(c, &["server", "port"])
        );
        let client = s(c, &["client", "process"]);
        if !matches!(client, Some("curl" | "openssl" | "dig")) {
            problems.push(format!("{what}: client process {client:?}"));
        }
        let server = s(c, &["server", "process"]);
        if !matches!(server, Some("nginx" | "openssl" | "dnsmasq")) {
            problems.push(format!("{what}: server process {server:?}"));
        }
        if s(c, &["close"]) == Some("open") {
            continue;
        }
        let Some(k) = c.get("kernel") else {
            problems.push(format!("{what}: closed but no kernel counters"));
            continue;
        };
        if s(k, &["side"]) != Some("client") {
            problems.push(format!("{what}: kernel side {:?}", k["side"]));
        }
        let sent = u(c, &["client_to_server", "payload_bytes"]);
        let got = u(c, &["server_to_client", "payload_bytes"]);
        let acked = u(k, &["bytes_acked"]);
        let received = u(k, &["bytes_received"]);
        // SYN always, FIN when the client's was acknowledged.
        if !(acked == sent + 1 || acked == sent + 2) {
            problems.push(format!(
                "{what}: kernel bytes_acked {acked}, packets carried {sent} client payload bytes"
            ));
        }
        // FIN from the server, when it came.
        if !(received == got || received == got + 1) {
            problems.push(format!(
                "{what}: kernel bytes_received {received}, packets carried {got} server payload bytes"
            ));
        }
    }
    problems
}

#[test]
fn agent_reports_what_the_clients_did_on_the_bridge() {
    skip_unless!(
        "agent_reports_what_the_clients_did_on_the_bridge",
        require_lab(TOOLS)
    );
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = Cluster::start().expect("start the lab cluster");
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = Agent::start(
        podwire(),
        &["--netns", &netns, "--interfaces", "p*"],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    let status = agent.json("/api/v1/status").expect("status");
    let ebpf = status["sources"]["ebpf"]["running"] == Value::Bool(true);
    if !ebpf {
        eprintln!(
            "note: eBPF not running ({}): process and kernel checks skipped",
            status["sources"]["ebpf"]["error"]
        );
    }
    assert_eq!(
        status["sources"]["packets"]["running"],
        Value::Bool(true),
        "{status}"
    );

    let file = dir.path().join("bridge.pcap");
    let cap = Capture::start(c.lab.switch_ns(), "br0", &file, &CaptureOptions::default())
        .expect("start tcpdump on the bridge");
    // DNS first: its answers name the web pod in the records that follow.
    let mut exp = c.dns(IpAddr::V4(c.dns.ipv4)).expect("dns over IPv4");
    exp.extend(c.dns(IpAddr::V6(c.dns.ipv6)).expect("dns over IPv6"));
    exp.extend(c.http(IpAddr::V4(c.web.ipv4), HTTP_PORT).expect("http v4"));
    exp.extend(
        c.http(IpAddr::V6(c.web.ipv6), HTTP_ODD_PORT)
            .expect("http on an odd port over IPv6"),
    );
    exp.extend(c.https(IpAddr::V6(c.web.ipv6)).expect("https over IPv6"));
    exp.extend(c.tls(IpAddr::V4(c.tls.ipv4)).expect("tls over IPv4"));
    cap.stop().expect("stop tcpdump");
    let reference =
        tshark::reference(&file, DECODE_AS, Duration::from_secs(120)).expect("tshark reference");

    let (problems, conns) = settle(&agent, &exp, &reference);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}\nagent status: {}\nagent log:\n{}",
        problems.len(),
        problems.join("\n"),
        agent.json("/api/v1/status").unwrap_or_default(),
        agent.log()
    );
    if ebpf {
        let problems = check_kernel_view(&conns);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
    // Names from the DNS answers and the SNI this host saw.
    let http = agent.json("/api/v1/http?limit=1000").expect("http");
    let web4 = c.web.ipv4.to_string();
    let named = http
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| s(h, &["server", "ip"]) == Some(web4.as_str()))
        .all(|h| s(h, &["server", "domain"]) == Some("web.lab.test"));
    assert!(named, "http to {web4} not named web.lab.test: {http}");

    // A pod that arrives while the agent runs is captured, and let go.
    let late = c.lab.add_pod("late").expect("add a pod");
    let url = format!("http://{}:{HTTP_PORT}/small.txt", c.web.ipv4);
    let r = clients::curl(&late, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
    assert_eq!(r[0].code, 200);
    let late_ip = late.ipv4.to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let q = format!("/api/v1/http?client_ip={late_ip}");
        let found = agent.json(&q).expect("http of the late pod");
        if found.as_array().is_some_and(|a| a.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "late pod's request not seen: {found}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let veths = |agent: &Agent| -> Vec<String> {
        let v = agent.json("/api/v1/interfaces").expect("interfaces");
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["name"].as_str().map(String::from))
            .filter(|n| n.starts_with('p'))
            .collect()
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = veths(&agent);
            if now.len() == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} pod veths, the agent lists {now:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(5);
    c.lab.remove_pod("late").expect("remove the late pod");
    wait_for(4);

    let status = agent.json("/api/v1/status").expect("status");
    assert_eq!(status["capture"]["ring_drops"], 0, "{status}");
    assert!(
        status["capture"]["copies_dropped"].as_u64() > Some(0),
        "bridged packets pass two veths, one copy must be dropped: {status}"
    );
    assert_eq!(status["capture"]["ring_errors"], 0, "{status}");

    let programs = bpf_programs_of(agent.pid().expect("agent pid"));
    assert_eq!(
        programs.is_empty(),
        !ebpf,
        "eBPF programs held: {programs:?}"
    );
    let exit = agent.stop().expect("agent stops on SIGTERM");
    assert!(exit.success(), "agent exit: {exit:?}");
    // The kernel frees a program once its last fd and link are gone
    // (after an RCU grace period).
    let deadline = Instant::now() + Duration::from_secs(3);
    for id in programs {
        while bpf_program_exists(id) == Some(true) {
            assert!(
                Instant::now() < deadline,
                "BPF program {id} outlived the agent"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the agent under `setpriv` without `drop` capabilities (a
/// bounding set without them: even root cannot get them back), runs one
/// HTTP exchange in the lab, and returns the agent's log, status and
/// connection records of the lab once one of them is `settled` (or after
/// 10 s).
fn run_without(
    drop: &str,
    inside_switch: bool,
    settled: impl Fn(&Value) -> bool,
) -> (String, Value, Vec<Value>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let switch = c.lab.switch_ns().to_string();
    let how = Launch {
        wrapper: ["setpriv", "--bounding-set", drop, "--"]
            .map(String::from)
            .to_vec(),
        netns: inside_switch.then(|| switch.clone()),
        ..Launch::default()
    };
    let netns = format!("/run/netns/{switch}");
    let mut args = vec!["--interfaces", "p*"];
    if !inside_switch {
        args.extend(["--netns", netns.as_str()]);
    }
    let agent = Agent::launch(&how, podwire(), &args, &dir.path().join("agent.log"))
        .expect("start the agent");
    let url = format!("http://{}:{HTTP_PORT}/small.txt", c.web.ipv4);
    let r = clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
    assert_eq!(r[0].code, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let conns = loop {
        let v = agent
            .json("/api/v1/connections?server_port=8080")
            .expect("connections");
        let lab: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| in_lab(r))
            .cloned()
            .collect();
        if lab.iter().any(&settled) || Instant::now() > deadline {
            break lab;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = agent.json("/api/v1/status").expect("status");
    let log = agent.log();
    let exit = agent.stop().expect("agent stops on SIGTERM");
    assert!(exit.success(), "agent exit {exit:?}: {log}");
    (log, status, conns)
}

#[test]
fn agent_without_bpf_capabilities_says_so_once_and_runs_on_packets() {
    let test = "agent_without_bpf_capabilities_says_so_once_and_runs_on_packets";
    skip_unless!(test, require_lab(TOOLS));
    skip_unless!(test, podwire_lab::skip::require_tools(&["setpriv"]));
    let _lab = lab_lock();
    // In the switch namespace itself: entering another one needs CAP_SYS_ADMIN.
    let (log, status, conns) = run_without("-bpf,-perfmon,-sys_admin", true, |_| true);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("eBPF")).collect();
    assert_eq!(lines.len(), 1, "one line about eBPF expected: {log}");
    assert!(lines[0].contains("running on packets alone"), "{log}");
    assert_eq!(
        status["sources"]["ebpf"]["running"],
        Value::Bool(false),
        "{status}"
    );
    assert_eq!(
        status["sources"]["packets"]["running"],
        Value::Bool(true),
        "{status}"
    );
    assert_eq!(conns.len(), 1, "{conns:?}");
    let c = &conns[0];
    assert!(u(c, &["client_to_server", "packets"]) > 0, "{c}");
    assert!(
        c.get("kernel").is_none() && s(c, &["client", "process"]).is_none(),
        "{c}"
    );
}

#[test]
fn agent_without_packet_capability_says_so_once_and_runs_on_ebpf() {
    let test = "agent_without_packet_capability_says_so_once_and_runs_on_ebpf";
    skip_unless!(test, require_lab(TOOLS));
    skip_unless!(test, podwire_lab::skip::require_tools(&["setpriv"]));
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        podwire_lab::skip::skipped(test, "kernel has no BTF");
        return;
    }
    let _lab = lab_lock();
    // A connection is listed from the kernel's table as soon as curl's
    // socket connects; nginx's side (its accept) arrives a moment later.
    let (log, status, conns) = run_without("-net_raw", false, |r| {
        r["server"]["process"].is_string() && r["close"] != "open"
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("packet capture"))
        .collect();
    assert_eq!(lines.len(), 1, "one line about packets expected: {log}");
    assert!(lines[0].contains("running on eBPF alone"), "{log}");
    assert_eq!(
        status["sources"]["packets"]["running"],
        Value::Bool(false),
        "{status}"
    );
    assert_eq!(
        status["sources"]["ebpf"]["running"],
        Value::Bool(true),
        "{status}"
    );
    // The kernel alone: one connection, the client program named, no packets.
    assert_eq!(conns.len(), 1, "{conns:?}");
    let c = &conns[0];
    assert_eq!(s(c, &["client", "process"]), Some("curl"), "{c}");
    assert_eq!(s(c, &["server", "process"]), Some("nginx"), "{c}");
    assert_eq!(u(c, &["client_to_server", "packets"]), 0, "{c}");
    assert_eq!(s(c, &["kernel", "side"]), Some("client"), "{c}");
    assert!(u(c, &["kernel", "bytes_received"]) > 0, "{c}");
}
