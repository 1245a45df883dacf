//! Address rewrites, live: a connection to a ClusterIP named by the pod that
//! answered (conntrack), a socket joined to packets that left rewritten,
//! and a conversation the node captured twice (before and after the
//! rewrite) counted once. Real nftables DNAT in lab namespaces; needs root,
//! nft and eBPF.

use crate::kube::{
    connections, metric, pod, statefulset_pod, str_at, synced, wait_until, NODE, TOOLS,
};
use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::scenario::{Cluster, HTTP_PORT};
use podwire_lab::skip::{require_lab, require_tools};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

#[test]
fn a_cluster_ip_is_named_by_its_service_and_the_pod_that_answered() {
    let test = "a_cluster_ip_is_named_by_its_service_and_the_pod_that_answered";
    skip_unless!(test, require_lab(TOOLS));
    skip_unless!(test, require_tools(&["nft", "setpriv"]));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let (web, client) = (c.web.ip(false), c.client.ip(false));
    // kube-proxy's rewrite, in the client's namespace (standing in for the
    // node's): the ClusterIP 10.96.0.10:80 goes to the web pod's port.
    let run = |args: &[&str]| {
        let ok = c
            .client
            .command(args[0])
            .args(&args[1..])
            .status()
            .expect(args[0])
            .success();
        assert!(ok, "{args:?}");
    };
    run(&["ip", "route", "add", "10.96.0.0/12", "dev", "eth0"]);
    let rules = format!(
        "table ip podwire_lab {{\n chain out {{\n  type nat hook output priority -100;\n  ip daddr 10.96.0.10 tcp dport 80 dnat to {web}:{HTTP_PORT}\n }}\n}}\n"
    );
    let rules_file = dir.path().join("nat.nft");
    std::fs::write(&rules_file, rules).expect("write rules");
    run(&["nft", "-f", &rules_file.display().to_string()]);

    // The agent runs where the rewrite happens (as a hostNetwork agent runs
    // in its node's namespace), and so does the API server it asks.
    let api = podwire_lab::netns::in_netns(&c.client.ns, FakeApiServer::start)
        .expect("enter the namespace")
        .expect("fake API server");
    api.apply(statefulset_pod("web-1", web, "web", "node-b"));
    api.apply(pod(
        "client-1",
        &[client],
        Some(("StatefulSet", "client")),
        None,
    ));
    api.apply(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}}));
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = kubeconfig.display().to_string();
    // With exactly the capabilities the chart gives the agent (a bounding
    // set without the others: even root cannot get them back), so this
    // also shows those are enough for eBPF, packets and conntrack.
    let caps = chart_capabilities();
    let how = Launch {
        netns: Some(c.client.ns.clone()),
        wrapper: ["setpriv", "--bounding-set", &caps, "--"]
            .map(String::from)
            .to_vec(),
        ..Launch::default()
    };
    let start = |interfaces: &str, log: &str| {
        let args = [
            "--kubernetes",
            "on",
            "--kubeconfig",
            &kc,
            "--node-name",
            NODE,
            "--interfaces",
            interfaces,
        ];
        let agent = Agent::launch(&how, podwire(), &args, &dir.path().join(log)).expect("agent");
        wait_until("every resource listed", &agent, 20, || synced(&agent));
        agent
    };
    let curl = || {
        let r = clients::curl(
            &c.client,
            &[Transfer::get("http://10.96.0.10:80/small.txt")],
            &CurlOptions::default(),
        )
        .expect("curl");
        assert_eq!(r[0].code, 200);
        r[0].local.expect("curl's local address").port()
    };
    let vip: IpAddr = "10.96.0.10".parse().unwrap();

    // 1. The socket alone (no packets of eth0): the connection to the
    //    ClusterIP is named by its Service and the pod conntrack says
    //    answered.
    let agent = start("lo", "socket-only.log");
    let status = agent.json("/api/v1/status").expect("status");
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        podwire_lab::skip::skipped(test, "the kernel has no BTF (no eBPF probe)");
        return;
    }
    assert_eq!(
        status["sources"]["ebpf"]["running"],
        Value::Bool(true),
        "eBPF with the chart's capabilities ({caps}): {}",
        status["sources"]["ebpf"]["error"]
    );
    assert_eq!(
        status["sources"]["packets"]["running"],
        Value::Bool(true),
        "{status}"
    );
    curl();
    let mut seen = Vec::new();
    wait_until("the connection to the ClusterIP", &agent, 30, || {
        seen = connections(&agent, client, vip, 80);
        !seen.is_empty()
    });
    let r = &seen[0];
    assert_eq!(str_at(r, &["server", "service"]), Some("web"), "{r}");
    assert_eq!(
        str_at(r, &["server", "pod"]),
        Some("web-1"),
        "the backend that answered: {r}"
    );
    assert_eq!(str_at(r, &["server", "node"]), Some("node-b"), "{r}");
    assert_eq!(str_at(r, &["client", "pod"]), Some("client-1"), "{r}");
    agent.stop().expect("stop");

    // 2. Socket and packets: the packets left rewritten (to the pod), the
    //    socket connected to the ClusterIP; conntrack joins them into one
    //    record with the process, not two records of one conversation.
    let agent = start("eth0", "packets.log");
    let port = curl();
    // Wait for the stored record: a record listed from the trackers right
    // after the close may be merged before the probe's events are read
    // (every 50 ms); the stored one, ingested seconds later, must carry
    // the process.
    let mut joined = None;
    wait_until(
        "the rewritten connection with its process",
        &agent,
        30,
        || {
            joined = connections(&agent, client, web, HTTP_PORT)
                .into_iter()
                .find(|r| r["client"]["port"] == port);
            joined
                .as_ref()
                .is_some_and(|r| str_at(r, &["client", "process"]).is_some())
        },
    );
    let r = joined.expect("record");
    assert_eq!(str_at(&r, &["client", "process"]), Some("curl"), "{r}");
    assert_eq!(str_at(&r, &["server", "pod"]), Some("web-1"), "{r}");
    // The socket was claimed: it never becomes a record of its own (the
    // kernel's linger is 8 s).
    std::thread::sleep(Duration::from_secs(10));
    let alone: Vec<Value> = connections(&agent, client, vip, 80)
        .into_iter()
        .filter(|r| r["client"]["port"] == port)
        .collect();
    assert!(alone.is_empty(), "counted twice: {alone:?}");
    agent.stop().expect("stop");
}

/// Network namespaces of a routed node (Calico-style: no bridge), removed
/// on drop.
struct Routed(Vec<String>);

impl Drop for Routed {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = podwire_lab::netns::ip(&["netns", "del", ns]);
        }
    }
}

#[test]
fn a_conversation_rewritten_on_one_node_is_counted_once() {
    let test = "a_conversation_rewritten_on_one_node_is_counted_once";
    skip_unless!(test, require_lab(TOOLS));
    skip_unless!(test, require_tools(&["nft", "python3"]));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    // A node that routes between two pods' veths and rewrites the
    // ClusterIP in PREROUTING, as kube-proxy does; both pods on this node,
    // so the node captures the conversation twice: to the ClusterIP on
    // the client's veth, to the pod on the server's.
    let id = std::process::id();
    let names = ["node", "cli", "srv"].map(|n| format!("pwlab-{id}-nat{n}"));
    let guard = Routed(names.to_vec());
    let [node, cli, srv] = [&guard.0[0], &guard.0[1], &guard.0[2]];
    let ip =
        |args: &[&str]| podwire_lab::netns::ip(args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    for ns in [node, cli, srv] {
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    for (ns, host, net) in [(cli, "vc", "1"), (srv, "vs", "2")] {
        ip(&[
            "-n", node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        ip(&[
            "-n",
            node,
            "addr",
            "add",
            &format!("10.77.{net}.1/24"),
            "dev",
            host,
        ]);
        ip(&["-n", node, "link", "set", host, "up"]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("10.77.{net}.2/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &format!("10.77.{net}.1"),
        ]);
    }
    let run = |ns: &str, args: &[&str]| {
        let ok = podwire_lab::netns::ns_command(ns, args[0])
            .args(&args[1..])
            .status()
            .expect(args[0])
            .success();
        assert!(ok, "{args:?}");
    };
    run(node, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let rules = dir.path().join("nat.nft");
    std::fs::write(
        &rules,
        "table ip podwire_lab {\n chain pre {\n  type nat hook prerouting priority -100;\n  ip daddr 10.96.0.10 tcp dport 80 dnat to 10.77.2.2:8080\n }\n}\n",
    )
    .expect("rules");
    run(node, &["nft", "-f", &rules.display().to_string()]);
    let site = dir.path().join("site");
    std::fs::create_dir(&site).expect("site");
    std::fs::write(site.join("hello.txt"), "hello\n").expect("file");
    let mut server_cmd = podwire_lab::netns::ns_command(srv, "python3");
    server_cmd
        .args([
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.77.2.2",
            "--directory",
        ])
        .arg(&site);
    let _server = podwire_lab::process::Proc::spawn(
        "http.server",
        server_cmd,
        &dir.path().join("server.log"),
    )
    .expect("server");
    podwire_lab::netns::wait_for_listen(
        srv,
        podwire_lab::netns::Proto::Tcp,
        8080,
        Duration::from_secs(10),
    )
    .expect("server listens");

    let api = podwire_lab::netns::in_netns(node, FakeApiServer::start)
        .expect("enter the namespace")
        .expect("fake API server");
    api.apply(pod(
        "cli-1",
        &["10.77.1.2".parse().unwrap()],
        Some(("StatefulSet", "cli")),
        None,
    ));
    api.apply(pod(
        "srv-1",
        &["10.77.2.2".parse().unwrap()],
        Some(("StatefulSet", "srv")),
        None,
    ));
    api.apply(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}}));
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = kubeconfig.display().to_string();
    let how = Launch {
        netns: Some(node.clone()),
        ..Launch::default()
    };
    let args = [
        "--kubernetes",
        "on",
        "--kubeconfig",
        &kc,
        "--node-name",
        NODE,
        "--interfaces",
        "v*",
    ];
    let agent =
        Agent::launch(&how, podwire(), &args, &dir.path().join("agent.log")).expect("agent");
    wait_until("every resource listed", &agent, 20, || synced(&agent));

    let out = podwire_lab::netns::ns_command(cli, "curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{local_port}",
            "http://10.96.0.10/hello.txt",
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, port) = text.split_once(' ').expect("curl output");
    assert_eq!(code, "200", "{text}");
    let port: u16 = port.parse().expect("port");

    let (client, backend, vip): (IpAddr, IpAddr, IpAddr) = (
        "10.77.1.2".parse().unwrap(),
        "10.77.2.2".parse().unwrap(),
        "10.96.0.10".parse().unwrap(),
    );
    let mine = |v: Vec<Value>| -> Vec<Value> {
        v.into_iter()
            .filter(|r| r["client"]["port"] == port)
            .collect()
    };
    let mut rewritten = Vec::new();
    wait_until("the rewritten copy", &agent, 30, || {
        rewritten = mine(connections(&agent, client, backend, 8080));
        !rewritten.is_empty()
    });
    // Past the kernel's linger and the tracker's close: every record of
    // this conversation has been stored by now.
    std::thread::sleep(Duration::from_secs(10));
    let rewritten = mine(connections(&agent, client, backend, 8080));
    let to_vip = mine(connections(&agent, client, vip, 80));
    assert_eq!(rewritten.len(), 1, "{rewritten:?}");
    assert!(
        to_vip.is_empty(),
        "the ClusterIP copy is not counted again: {to_vip:?}"
    );
    let r = &rewritten[0];
    assert_eq!(str_at(r, &["server", "pod"]), Some("srv-1"), "{r}");
    assert_eq!(str_at(r, &["client", "pod"]), Some("cli-1"), "{r}");
    let status = agent.json("/api/v1/status").expect("status");
    if status["sources"]["ebpf"]["running"] == Value::Bool(true) {
        // The socket connected to the ClusterIP: joined to the rewritten
        // copy through conntrack.
        assert_eq!(str_at(r, &["client", "process"]), Some("curl"), "{r}");
    }
    let http = agent.json("/api/v1/http?limit=100").expect("http");
    let requests: Vec<&Value> = http
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["client"]["port"] == port)
        .collect();
    assert_eq!(requests.len(), 1, "one request, once: {requests:?}");
    assert!(metric(&agent, "podwire_kubernetes_rewritten_copies_total") >= 2.0);
    agent.stop().expect("stop");
}

/// The capabilities the chart adds (`deploy/manifests/podwire.yaml`), as a
/// setpriv bounding set: `-all,+bpf,+perfmon,...`.
fn chart_capabilities() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/manifests/podwire.yaml");
    let text = std::fs::read_to_string(&path).expect("the plain manifests");
    let mut lines = text.lines().skip_while(|l| l.trim() != "capabilities:");
    let mut caps = Vec::new();
    let mut in_add = false;
    for l in lines.by_ref().skip(1) {
        match l.trim() {
            "add:" => in_add = true,
            t if in_add && t.starts_with("- ") => caps.push(t[2..].to_ascii_lowercase()),
            _ if in_add => break,
            _ => {}
        }
    }
    assert!(
        !caps.is_empty(),
        "no capabilities.add in {}",
        path.display()
    );
    let mut set = String::from("-all");
    for c in caps {
        set.push_str(",+");
        set.push_str(&c);
    }
    set
}
