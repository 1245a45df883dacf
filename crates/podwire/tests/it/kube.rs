//! Kubernetes names, live: `podwire agent` against the lab's fake API
//! server (real list/watch over HTTP: resourceVersions, bookmarks, 410
//! Gone, cut connections), with real traffic between lab pods.
//!
//! - pods are named by the fake's objects, with workload and service;
//! - a rollout deletes a pod and gives its address to a new one: the old
//!   connection keeps the old name, the new one gets the new name, both
//!   the same Deployment;
//! - the API server goes away (history compacted, watches cut, refused):
//!   the agent keeps capturing, then lists again and names fill in;
//! - hostNetwork pods, sharing the node's address, are told apart by the
//!   cgroup of their sockets.
//!
//! Needs root and the lab's tools (and eBPF for the cgroup test).

use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::scenario::{Cluster, HTTP_PORT};
use podwire_lab::skip::{require_lab, require_tools};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "nginx", "dnsmasq", "openssl", "curl"];
const NODE: &str = "lab-node";

fn pod(name: &str, ips: &[IpAddr], owner: Option<(&str, &str)>, hash: Option<&str>) -> Value {
    let mut meta = json!({"name": name, "namespace": "shop", "labels": {}});
    if let Some((kind, owner_name)) = owner {
        let api = match kind {
            "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
            _ => "batch/v1",
        };
        meta["ownerReferences"] = json!([{"apiVersion": api, "kind": kind, "name": owner_name,
            "uid": format!("uid-{owner_name}"), "controller": true}]);
    }
    if let Some(h) = hash {
        meta["labels"]["pod-template-hash"] = json!(h);
    }
    let ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": ips.first().map(|i| i["ip"].clone()),
            "podIPs": ips}
    })
}

fn replicaset(name: &str, deployment: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                "uid": format!("uid-{deployment}"), "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": deployment}}}})
}

fn slice(service: &str, pods: &[&str]) -> Value {
    let endpoints: Vec<Value> = pods
        .iter()
        .map(|p| json!({"addresses": ["10.88.0.200"], "targetRef": {"kind": "Pod", "name": p, "namespace": "shop"}}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": format!("{service}-abcde"), "namespace": "shop",
            "labels": {"kubernetes.io/service-name": service}},
        "endpoints": endpoints})
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// `podwire_kubernetes_*` samples of the agent's `/metrics`, by line.
fn metric(agent: &Agent, name_and_labels: &str) -> f64 {
    let (_, text) = agent.get("/metrics").expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

fn wait_until(what: &str, agent: &Agent, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; agent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn synced(agent: &Agent) -> bool {
    podwire_k8s_resources().iter().all(|r| {
        metric(
            agent,
            &format!("podwire_kubernetes_synced{{resource=\"{r}\"}}"),
        ) == 1.0
    })
}

fn podwire_k8s_resources() -> [&'static str; 6] {
    [
        "pods",
        "services",
        "endpointslices",
        "nodes",
        "replicasets",
        "jobs",
    ]
}

/// The agent's connection records from `client` to `server` port, oldest first.
fn connections(agent: &Agent, client: IpAddr, server: IpAddr, port: u16) -> Vec<Value> {
    let v = agent
        .json(&format!(
            "/api/v1/connections?server_port={port}&limit=1000"
        ))
        .expect("connections");
    let mut out: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            str_at(r, &["client", "ip"]) == Some(&client.to_string())
                && str_at(r, &["server", "ip"]) == Some(&server.to_string())
                && str_at(r, &["close"]) != Some("open")
        })
        .cloned()
        .collect();
    out.sort_by_key(|r| r["ts"].as_str().map(String::from));
    out
}

fn start_agent(api: &FakeApiServer, dir: &Path, extra: &[&str]) -> Agent {
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = kubeconfig.display().to_string();
    let mut args = vec![
        "--kubernetes",
        "on",
        "--kubeconfig",
        &kc,
        "--node-name",
        NODE,
    ];
    args.extend(extra);
    Agent::launch(&Launch::default(), podwire(), &args, &dir.join("agent.log"))
        .expect("start the agent")
}

#[test]
fn pods_are_named_by_who_held_the_address_when_and_names_survive_an_api_outage() {
    let test = "pods_are_named_by_who_held_the_address_when_and_names_survive_an_api_outage";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let api = FakeApiServer::start().expect("fake API server");
    let (web, client) = (c.web.ip(false), c.client.ip(false));

    api.apply(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}]}}),
    );
    api.apply(replicaset("web-5f7d", "web"));
    api.apply(pod(
        "web-5f7d-aaaaa",
        &[web, c.web.ip(true)],
        Some(("ReplicaSet", "web-5f7d")),
        Some("5f7d"),
    ));
    api.apply(pod(
        "client-0",
        &[client],
        Some(("StatefulSet", "client")),
        None,
    ));
    api.apply(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}}));
    api.apply(slice("web", &["web-5f7d-aaaaa"]));

    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = start_agent(&api, dir.path(), &["--netns", &netns, "--interfaces", "p*"]);
    wait_until("every resource listed", &agent, 20, || synced(&agent));
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/api/v1/pods?") && r.contains("fieldSelector=status.phase")),
        "pods are listed without finished ones: {requests:?}"
    );

    let curl = || {
        let url = format!("http://{web}:{HTTP_PORT}/small.txt");
        let r =
            clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
        assert_eq!(r[0].code, 200);
    };

    // 1. Named by the fake's objects.
    curl();
    let mut first = Vec::new();
    wait_until("the first connection", &agent, 25, || {
        first = connections(&agent, client, web, HTTP_PORT);
        !first.is_empty()
    });
    let r = &first[0];
    assert_eq!(str_at(r, &["server", "pod"]), Some("web-5f7d-aaaaa"), "{r}");
    assert_eq!(str_at(r, &["server", "namespace"]), Some("shop"), "{r}");
    assert_eq!(
        str_at(r, &["server", "workload"]),
        Some("Deployment/web"),
        "{r}"
    );
    assert_eq!(str_at(r, &["server", "service"]), Some("web"), "{r}");
    assert_eq!(str_at(r, &["server", "node"]), Some(NODE), "{r}");
    assert_eq!(str_at(r, &["client", "pod"]), Some("client-0"), "{r}");
    assert_eq!(
        str_at(r, &["client", "workload"]),
        Some("StatefulSet/client"),
        "{r}"
    );

    // 2. A rollout: the pod is deleted and its address goes to a new pod
    //    of a new ReplicaSet of the same Deployment.
    let events = metric(
        &agent,
        "podwire_kubernetes_watch_events_total{resource=\"pods\"}",
    );
    api.delete("v1", "Pod", Some("shop"), "web-5f7d-aaaaa")
        .expect("delete");
    api.apply(replicaset("web-6c8b", "web"));
    api.apply(pod(
        "web-6c8b-bbbbb",
        &[web],
        Some(("ReplicaSet", "web-6c8b")),
        Some("6c8b"),
    ));
    api.apply(slice("web", &["web-6c8b-bbbbb"]));
    wait_until("the rollout's events", &agent, 20, || {
        metric(
            &agent,
            "podwire_kubernetes_watch_events_total{resource=\"pods\"}",
        ) >= events + 2.0
    });
    curl();
    let mut both = Vec::new();
    wait_until("the second connection", &agent, 25, || {
        both = connections(&agent, client, web, HTTP_PORT);
        both.len() >= 2
    });
    let pods: Vec<_> = both.iter().map(|r| str_at(r, &["server", "pod"])).collect();
    assert_eq!(
        pods,
        [Some("web-5f7d-aaaaa"), Some("web-6c8b-bbbbb")],
        "{both:?}"
    );
    for r in &both {
        assert_eq!(
            str_at(r, &["server", "workload"]),
            Some("Deployment/web"),
            "{r}"
        );
    }
    let by_old = agent
        .json("/api/v1/connections?pod=web-5f7d-aaaaa&limit=100")
        .expect("filter");
    assert_eq!(by_old.as_array().map(Vec::len), Some(1), "{by_old}");
    let by_workload = agent
        .json(&format!(
            "/api/v1/connections?workload=Deployment/web&server_port={HTTP_PORT}&limit=100"
        ))
        .expect("filter");
    assert_eq!(
        by_workload.as_array().map(Vec::len),
        Some(2),
        "{by_workload}"
    );

    // 3. The API server goes away: history compacted, watches cut, new
    //    connections refused. Meanwhile the client pod is replaced.
    let lists = metric(&agent, "podwire_kubernetes_lists_total{resource=\"pods\"}");
    api.set_unavailable(true);
    api.compact();
    api.drop_connections();
    api.delete("v1", "Pod", Some("shop"), "client-0")
        .expect("delete");
    api.apply(pod(
        "client-1",
        &[client],
        Some(("StatefulSet", "client")),
        None,
    ));
    curl(); // captured while the server is away: named as the agent last knew
    let mut during = Vec::new();
    wait_until("the connection made during the outage", &agent, 25, || {
        during = connections(&agent, client, web, HTTP_PORT);
        during.len() >= 3
    });
    assert_eq!(
        str_at(&during[2], &["client", "pod"]),
        Some("client-0"),
        "{}",
        during[2]
    );
    std::thread::sleep(Duration::from_secs(2));
    api.set_unavailable(false);
    wait_until("a new list after 410 Gone", &agent, 30, || {
        metric(&agent, "podwire_kubernetes_lists_total{resource=\"pods\"}") > lists
    });
    assert!(
        metric(
            &agent,
            "podwire_kubernetes_watch_errors_total{resource=\"pods\"}"
        ) >= 1.0
    );
    curl();
    let mut after = Vec::new();
    wait_until("the connection after the outage", &agent, 25, || {
        after = connections(&agent, client, web, HTTP_PORT);
        after.len() >= 4
    });
    assert_eq!(
        str_at(&after[3], &["client", "pod"]),
        Some("client-1"),
        "{}",
        after[3]
    );
    assert_eq!(
        str_at(&after[2], &["client", "pod"]),
        Some("client-0"),
        "history kept"
    );
    let stats = api.stats();
    eprintln!(
        "fake API server: {} lists, {} watches, {} 410s, {} bytes sent",
        stats.lists, stats.watches, stats.gone_410, stats.bytes_sent
    );
    agent.stop().expect("stop");
}

const SERVER_PY: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"); c.close()
"#;

/// A cgroup of its own for a fake container, removed on drop.
struct Cgroup(std::path::PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn spawn_in(cgroup: &Path, cmd: &mut std::process::Command) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let procs = cgroup.join("cgroup.procs");
    // SAFETY: only async-signal-safe work between fork and exec: one
    // open/write/close through std's thin wrappers of those syscalls.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, b"0"));
    }
    cmd.spawn().expect("spawn in cgroup")
}

#[test]
fn host_network_pods_are_told_apart_by_their_sockets_cgroup() {
    let test = "host_network_pods_are_told_apart_by_their_sockets_cgroup";
    skip_unless!(test, require_tools(&["python3", "curl"]));
    skip_unless!(test, podwire_lab::require_root());
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        eprintln!("SKIPPED: {test}: needs cgroup v2 at /sys/fs/cgroup");
        return;
    }
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let parent = Cgroup(root.join(format!("podwire-test-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&parent.0) {
        eprintln!("SKIPPED: {test}: cannot create a cgroup here ({e})");
        return;
    }
    let id = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
    let (server_id, client_id) = (id('a'), id('b'));
    let server_cg = Cgroup(parent.0.join(format!("cri-containerd-{server_id}.scope")));
    let client_cg = Cgroup(parent.0.join(format!("cri-containerd-{client_id}.scope")));
    std::fs::create_dir(&server_cg.0).expect("cgroup");
    std::fs::create_dir(&client_cg.0).expect("cgroup");

    let api = FakeApiServer::start().expect("fake API server");
    for (name, cid, ds) in [
        ("node-exporter-x1", &server_id, "node-exporter"),
        ("probe-y2", &client_id, "probe"),
    ] {
        let mut p = pod(name, &[], Some(("DaemonSet", ds)), None);
        p["spec"]["hostNetwork"] = json!(true);
        p["status"]["podIP"] = json!("192.0.2.10");
        p["status"]["podIPs"] = json!([{"ip": "192.0.2.10"}]);
        p["status"]["containerStatuses"] = json!([{"name": "c", "image": "i", "imageID": "",
            "ready": true, "restartCount": 0, "containerID": format!("containerd://{cid}")}]);
        api.apply(p);
    }
    let agent = start_agent(&api, dir.path(), &["--interfaces", "lo"]);
    let status = agent.json("/api/v1/status").expect("status");
    if status["sources"]["ebpf"]["running"] != Value::Bool(true) {
        eprintln!(
            "SKIPPED: {test}: eBPF not running: {}",
            status["sources"]["ebpf"]["error"]
        );
        return;
    }
    wait_until("every resource listed", &agent, 20, || synced(&agent));

    let mut server = spawn_in(
        &server_cg.0,
        std::process::Command::new("python3")
            .args(["-c", SERVER_PY])
            .stdout(std::process::Stdio::piped()),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("server port");
    let port: u16 = line.trim().parse().expect("port");
    for _ in 0..2 {
        let out = spawn_in(
            &client_cg.0,
            std::process::Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "5",
                    &format!("http://127.0.0.1:{port}/"),
                ])
                .stdout(std::process::Stdio::piped()),
        )
        .wait_with_output()
        .expect("curl");
        assert_eq!(out.stdout, b"ok");
    }
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut conns = Vec::new();
    wait_until("the loopback connections", &agent, 30, || {
        conns = connections(&agent, lo, lo, port);
        conns.len() >= 2
    });
    let _ = server.kill();
    let _ = server.wait();
    for r in &conns {
        assert_eq!(
            str_at(r, &["server", "pod"]),
            Some("node-exporter-x1"),
            "{r}"
        );
        assert_eq!(
            str_at(r, &["server", "workload"]),
            Some("DaemonSet/node-exporter"),
            "{r}"
        );
        assert_eq!(str_at(r, &["client", "pod"]), Some("probe-y2"), "{r}");
        assert_eq!(str_at(r, &["client", "node"]), Some(NODE), "{r}");
    }
    agent.stop().expect("stop");
}

/// A port free on both 127.0.0.2 and 127.0.0.3 (loopback answers on all
/// of 127/8), so two agents can be one Service's endpoints on one port.
fn shared_port() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.2:0").expect("bind");
        let port = a.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.3", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

fn graph_edge_connections(g: &Value, source: &str, target: &str) -> u64 {
    g["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["source"] == source && e["target"] == target)
        .map(|e| e["stats"]["connections"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn cluster_answers_find_peers_by_endpointslice_and_count_each_conversation_once() {
    let test = "cluster_answers_find_peers_by_endpointslice_and_count_each_conversation_once";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let api = FakeApiServer::start().expect("fake API server");
    let (web, client) = (c.web.ip(false), c.client.ip(false));
    let mut w = pod("web-1", &[web], Some(("StatefulSet", "web")), None);
    w["spec"]["nodeName"] = json!("node-b");
    let mut cl = pod("client-1", &[client], Some(("StatefulSet", "client")), None);
    cl["spec"]["nodeName"] = json!("node-a");
    api.apply(w);
    api.apply(cl);
    api.apply(
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {"name": "podwire-peers-x1", "namespace": "podwire",
            "labels": {"kubernetes.io/service-name": "podwire-peers"}},
        "endpoints": [{"addresses": ["127.0.0.2"]}, {"addresses": ["127.0.0.3"]}]}),
    );

    // Both agents capture the same bridge, as two nodes' agents both see a
    // conversation between their pods.
    let port = shared_port();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let (kc, netns) = (
        kubeconfig.display().to_string(),
        format!("/run/netns/{}", c.lab.switch_ns()),
    );
    let peers = format!("k8s://podwire/podwire-peers:{port}");
    let agents: Vec<Agent> = [("node-a", "127.0.0.2"), ("node-b", "127.0.0.3")]
        .iter()
        .map(|(node, ip)| {
            let how = Launch {
                listen: Some(format!("{ip}:{port}")),
                ..Launch::default()
            };
            let args = [
                "--kubernetes",
                "on",
                "--kubeconfig",
                &kc,
                "--node-name",
                node,
                "--netns",
                &netns,
                "--interfaces",
                "p*",
                "--peers",
                &peers,
            ];
            Agent::launch(
                &how,
                podwire(),
                &args,
                &dir.path().join(format!("{node}.log")),
            )
            .expect("start an agent")
        })
        .collect();
    for a in &agents {
        wait_until("every resource listed", a, 20, || synced(a));
    }
    for _ in 0..2 {
        let url = format!("http://{web}:{HTTP_PORT}/small.txt");
        let r =
            clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
        assert_eq!(r[0].code, 200);
    }
    for a in &agents {
        wait_until("both connections on each agent", a, 25, || {
            connections(a, client, web, HTTP_PORT).len() >= 2
        });
    }
    let (src, dst) = ("shop/client-1", "shop/web-1");
    let q = format!("/api/v1/graph?level=pod&server_port={HTTP_PORT}");
    for a in &agents {
        let local = a.json(&format!("{q}&scope=local")).expect("local graph");
        assert_eq!(
            graph_edge_connections(&local, src, dst),
            2,
            "each agent saw both: {local}"
        );
    }
    let b_share = agents[1]
        .json(&format!("{q}&scope=node"))
        .expect("node graph");
    assert_eq!(
        graph_edge_connections(&b_share, src, dst),
        0,
        "counted on the client's node: {b_share}"
    );
    for a in &agents {
        let g = a.json(&q).expect("cluster graph");
        assert_eq!(
            g["peers"], 2,
            "both agents found through the EndpointSlice: {g}"
        );
        assert_eq!(g["missing"], json!([]), "{g}");
        assert_eq!(
            graph_edge_connections(&g, src, dst),
            2,
            "counted once, not twice: {g}"
        );
        let list = a
            .json(&format!(
                "/api/v1/connections?server_port={HTTP_PORT}&pod=web-1&limit=100"
            ))
            .expect("cluster connections");
        let closed = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["close"] != "open")
            .count();
        assert_eq!(closed, 2, "records listed once: {list}");
    }
    for a in agents {
        a.stop().expect("stop");
    }
}

#[test]
fn a_cluster_ip_is_named_by_its_service_and_the_pod_that_answered() {
    let test = "a_cluster_ip_is_named_by_its_service_and_the_pod_that_answered";
    skip_unless!(test, require_lab(TOOLS));
    skip_unless!(test, require_tools(&["nft"]));
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
    let mut w = pod("web-1", &[web], Some(("StatefulSet", "web")), None);
    w["spec"]["nodeName"] = json!("node-b");
    api.apply(w);
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
    let how = Launch {
        netns: Some(c.client.ns.clone()),
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
    if status["sources"]["ebpf"]["running"] != Value::Bool(true) {
        eprintln!(
            "SKIPPED: {test}: eBPF not running: {}",
            status["sources"]["ebpf"]["error"]
        );
        return;
    }
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
    let mut joined = None;
    wait_until(
        "the rewritten connection with its process",
        &agent,
        30,
        || {
            joined = connections(&agent, client, web, HTTP_PORT)
                .into_iter()
                .find(|r| r["client"]["port"] == port);
            joined.is_some()
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

#[test]
fn reverse_dns_names_what_nothing_else_named_when_asked_to() {
    let test = "reverse_dns_names_what_nothing_else_named_when_asked_to";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let (web, client) = (c.web.ip(false), c.client.ip(false));
    let resolver = format!("{}:{}", c.dns.ipv4, c.dnsmasq.port);
    let how = Launch {
        netns: Some(c.client.ns.clone()),
        ..Launch::default()
    };
    let args = [
        "--kubernetes",
        "off",
        "--interfaces",
        "eth0",
        "--reverse-dns",
        "--reverse-dns-server",
        &resolver,
    ];
    let agent =
        Agent::launch(&how, podwire(), &args, &dir.path().join("agent.log")).expect("agent");
    let mut named = None;
    wait_until("a connection named by its PTR record", &agent, 30, || {
        let url = format!("http://{web}:{HTTP_PORT}/small.txt");
        let r =
            clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
        assert_eq!(r[0].code, 200);
        std::thread::sleep(Duration::from_millis(500));
        named = connections(&agent, client, web, HTTP_PORT)
            .into_iter()
            .find(|r| str_at(r, &["server", "domain"]).is_some());
        named.is_some()
    });
    let r = named.expect("named");
    assert_eq!(
        str_at(&r, &["server", "domain"]),
        Some("web.lab.test"),
        "{r}"
    );
    assert!(metric(&agent, "podwire_reverse_dns_queries_total") >= 1.0);
    agent.stop().expect("stop");

    // Off by default: the same traffic, no query, no name.
    let agent = Agent::launch(
        &how,
        podwire(),
        &["--kubernetes", "off", "--interfaces", "eth0"],
        &dir.path().join("off.log"),
    )
    .expect("agent");
    let url = format!("http://{web}:{HTTP_PORT}/small.txt");
    clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
    let mut conns = Vec::new();
    wait_until("the connection", &agent, 25, || {
        conns = connections(&agent, client, web, HTTP_PORT);
        !conns.is_empty()
    });
    assert_eq!(
        str_at(&conns[0], &["server", "domain"]),
        None,
        "{}",
        conns[0]
    );
    agent.stop().expect("stop");
}

#[test]
fn node_scoped_agents_watch_their_own_pods_and_name_others_by_endpointslice() {
    let test = "node_scoped_agents_watch_their_own_pods_and_name_others_by_endpointslice";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let api = FakeApiServer::start().expect("fake API server");
    let (web, client) = (c.web.ip(false), c.client.ip(false));
    let mut w = pod("web-1", &[web], Some(("StatefulSet", "web")), None);
    w["spec"]["nodeName"] = json!("node-b");
    api.apply(w);
    api.apply(pod(
        "client-1",
        &[client],
        Some(("StatefulSet", "client")),
        None,
    ));
    api.apply(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "web-x1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [{"addresses": [web.to_string()], "nodeName": "node-b",
            "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}}]}));
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = start_agent(
        &api,
        dir.path(),
        &[
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--k8s-pods",
            "node",
        ],
    );
    wait_until("every resource listed", &agent, 20, || synced(&agent));
    assert!(
        api.requests().iter().any(|r| r.contains("/api/v1/pods?")
            && (r.contains("spec.nodeName%3D") || r.contains("spec.nodeName="))),
        "pods watched on this node only: {:?}",
        api.requests()
    );
    assert_eq!(
        metric(&agent, "podwire_kubernetes_objects{kind=\"pods\"}"),
        1.0,
        "only this node's pod"
    );

    let url = format!("http://{web}:{HTTP_PORT}/small.txt");
    let r = clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
    assert_eq!(r[0].code, 200);
    let mut seen = Vec::new();
    wait_until("the connection", &agent, 25, || {
        seen = connections(&agent, client, web, HTTP_PORT);
        !seen.is_empty()
    });
    let r = &seen[0];
    assert_eq!(str_at(r, &["server", "pod"]), Some("web-1"), "{r}");
    assert_eq!(str_at(r, &["server", "service"]), Some("web"), "{r}");
    assert_eq!(str_at(r, &["server", "node"]), Some("node-b"), "{r}");
    assert_eq!(
        str_at(r, &["server", "workload"]),
        None,
        "known from the slice, not the pod: {r}"
    );
    assert_eq!(
        str_at(r, &["client", "workload"]),
        Some("StatefulSet/client"),
        "{r}"
    );
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
