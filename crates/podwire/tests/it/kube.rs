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

pub(crate) const TOOLS: &[&str] = &["ip", "nginx", "dnsmasq", "openssl", "curl"];
pub(crate) const NODE: &str = "lab-node";

pub(crate) fn pod(
    name: &str,
    ips: &[IpAddr],
    owner: Option<(&str, &str)>,
    hash: Option<&str>,
) -> Value {
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

/// A StatefulSet's pod at `ip`, on `node`.
pub(crate) fn statefulset_pod(name: &str, ip: IpAddr, set: &str, node: &str) -> Value {
    let mut p = pod(name, &[ip], Some(("StatefulSet", set)), None);
    p["spec"]["nodeName"] = json!(node);
    p
}

pub(crate) fn replicaset(name: &str, deployment: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                "uid": format!("uid-{deployment}"), "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": deployment}}}})
}

pub(crate) fn slice(service: &str, pods: &[&str]) -> Value {
    let endpoints: Vec<Value> = pods
        .iter()
        .map(|p| json!({"addresses": ["10.88.0.200"], "targetRef": {"kind": "Pod", "name": p, "namespace": "shop"}}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": format!("{service}-abcde"), "namespace": "shop",
            "labels": {"kubernetes.io/service-name": service}},
        "endpoints": endpoints})
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// `podwire_kubernetes_*` samples of the agent's `/metrics`, by line.
pub(crate) fn metric(agent: &Agent, name_and_labels: &str) -> f64 {
    let (_, text) = agent.get("/metrics").expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

pub(crate) fn wait_until(what: &str, agent: &Agent, secs: u64, mut ok: impl FnMut() -> bool) {
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

pub(crate) fn synced(agent: &Agent) -> bool {
    podwire_k8s::RESOURCES.iter().all(|r| {
        metric(
            agent,
            &format!("podwire_kubernetes_synced{{resource=\"{r}\"}}"),
        ) == 1.0
    })
}

/// The agent's connection records from `client` to `server` port, oldest first.
pub(crate) fn connections(agent: &Agent, client: IpAddr, server: IpAddr, port: u16) -> Vec<Value> {
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

pub(crate) fn start_agent(api: &FakeApiServer, dir: &Path, extra: &[&str]) -> Agent {
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

/// A parent cgroup and, under it, one fake container cgroup per letter
/// (`cri-containerd-<64 times the letter>.scope`, as the kubelet names
/// them), with their container ids; `None` after saying why when they
/// cannot be made here. All are removed on drop, children first.
fn container_cgroups(test: &str, letters: &[char]) -> Option<(Cgroup, Vec<(String, Cgroup)>)> {
    // The v2 tree the agent finds by itself: /sys/fs/cgroup, or its
    // unified/ on a host in hybrid mode.
    let root = podwire_k8s::cgroup::v2_root(Path::new("/sys/fs/cgroup"));
    if !root.join("cgroup.controllers").exists() {
        podwire_lab::skip::skipped(
            test,
            "needs a cgroup v2 tree (/sys/fs/cgroup or its unified/)",
        );
        return None;
    }
    let parent = Cgroup(root.join(format!("podwire-test-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&parent.0) {
        podwire_lab::skip::skipped(test, &format!("cannot create a cgroup here ({e})"));
        return None;
    }
    let children = letters
        .iter()
        .map(|c| {
            let id = std::iter::repeat_n(*c, 64).collect::<String>();
            let cg = Cgroup(parent.0.join(format!("cri-containerd-{id}.scope")));
            std::fs::create_dir(&cg.0).expect("cgroup");
            (id, cg)
        })
        .collect();
    Some((parent, children))
}

/// A hostNetwork pod whose one container runs in the fake container
/// cgroup of id `container` (see [`container_cgroups`]).
fn host_network_pod(
    name: &str,
    namespace: &str,
    container: &str,
    owner: Option<(&str, &str)>,
) -> Value {
    let mut p = pod(name, &[], owner, None);
    p["metadata"]["namespace"] = json!(namespace);
    p["spec"]["hostNetwork"] = json!(true);
    p["status"]["podIP"] = json!("192.0.2.10");
    p["status"]["podIPs"] = json!([{"ip": "192.0.2.10"}]);
    p["status"]["containerStatuses"] = json!([{"name": "c", "image": "i", "imageID": "",
        "ready": true, "restartCount": 0, "containerID": format!("containerd://{container}")}]);
    p
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
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((_parent, cgroups)) = container_cgroups(test, &['a', 'b']) else {
        return;
    };
    let [(server_id, server_cg), (client_id, client_cg)] = &cgroups[..] else {
        unreachable!("two asked");
    };

    let api = FakeApiServer::start().expect("fake API server");
    for (name, cid, ds) in [
        ("node-exporter-x1", &server_id, "node-exporter"),
        ("probe-y2", &client_id, "probe"),
    ] {
        api.apply(host_network_pod(name, "shop", cid, Some(("DaemonSet", ds))));
    }
    let agent = start_agent(&api, dir.path(), &["--interfaces", "lo"]);
    let status = agent.json("/api/v1/status").expect("status");
    if status["sources"]["ebpf"]["running"] != Value::Bool(true) {
        podwire_lab::skip::skipped(
            test,
            &format!("eBPF not running: {}", status["sources"]["ebpf"]["error"]),
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

/// `--tls-plaintext-exclude-namespaces payments`: the TLS calls of the
/// processes in that namespace's pods are left alone in the kernel. A Go
/// HTTPS server and one Go client run in containers of `payments` pods,
/// another client in a `shop` pod (hostNetwork pods on loopback, each in a
/// fake container cgroup): the excluded client's request to the excluded
/// server is never read, while the other client's request is, from its
/// own side only.
#[test]
fn tls_plaintext_of_excluded_namespaces_is_never_read() {
    let test = "tls_plaintext_of_excluded_namespaces_is_never_read";
    skip_unless!(test, require_tools(&["go"]));
    skip_unless!(test, podwire_lab::require_root());
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return podwire_lab::skip::skipped(test, "the kernel has no BTF (no eBPF)");
    }
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("go_tls");
    if let Err(skip) = podwire_lab::go::build_go_tls(&bin, podwire_lab::go::Link::Stripped) {
        return skip.report(test);
    }
    let Some((_parent, cgroups)) = container_cgroups(test, &['c', 'd', 'e']) else {
        return;
    };
    let [(server_id, server_cg), (hidden_id, hidden_cg), (seen_id, seen_cg)] = &cgroups[..] else {
        unreachable!("three asked");
    };
    let api = FakeApiServer::start().expect("fake API server");
    for (name, ns, cid) in [
        ("vault-0", "payments", server_id),
        ("settle-1", "payments", hidden_id),
        ("web-2", "shop", seen_id),
    ] {
        api.apply(host_network_pod(name, ns, cid, None));
    }
    let agent = start_agent(
        &api,
        dir.path(),
        &[
            "--interfaces",
            "lo",
            "--tls-plaintext",
            "on",
            "--tls-plaintext-exclude-namespaces",
            "payments",
        ],
    );
    wait_until("every resource listed", &agent, 20, || synced(&agent));
    let server_log = dir.path().join("go-server.log");
    let mut server = spawn_in(
        &server_cg.0,
        std::process::Command::new(&bin)
            .args(["server", "127.0.0.1:9444"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&server_log).expect("log")),
    );
    let said = server.stdout.take().expect("stdout");
    let server = podwire_lab::process::Proc::from_child("go_tls server", server, &server_log);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(said), &mut line)
        .expect("the Go server says it listens");
    assert_eq!(line.trim(), "listening", "{}", server.log());
    // Both payments containers' cgroups excluded (the walk finds them; the
    // pods name their namespace).
    wait_until("the payments cgroups excluded", &agent, 20, || {
        metric(&agent, "podwire_tls_plaintext_excluded_cgroups ") >= 2.0
    });
    let ask = |cg: &Cgroup, path: &str| {
        let mut child = spawn_in(
            &cg.0,
            std::process::Command::new(&bin)
                .args(["client", "h1", &format!("https://127.0.0.1:9444{path}")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped()),
        );
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"go\n").expect("let the client go");
        }
        let out = child.wait_with_output().expect("Go client");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.starts_with("200 "), "{path}: {said}");
    };
    let inside = |path: &str| -> Vec<Value> {
        let all = agent.json("/api/v1/http?limit=1000").expect("http");
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["inside_tls"] == Value::Bool(true) && str_at(r, &["path"]) == Some(path))
            .cloned()
            .collect()
    };
    // The program's file is probed once the agent's scan has looked into
    // it (every 2 s, after the API server's objects are listed): until a
    // shop client's request is read, ask again. A count of probed files
    // cannot tell (the host's other TLS programs are probed meanwhile).
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        ask(seen_cg, "/warmup");
        std::thread::sleep(Duration::from_millis(500));
        if !inside("/warmup").is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Go program was not probed\n{}",
            agent.log()
        );
    }
    for (cg, path) in [(hidden_cg, "/hidden"), (seen_cg, "/seen")] {
        ask(cg, path);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while inside("/seen").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the shop client's request is not seen inside TLS\n{}\n{}\nagent log:\n{}",
            agent.get("/metrics").expect("metrics").1,
            agent.json("/api/v1/http?limit=1000").expect("http"),
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(inside("/seen").len(), 1);
    let seen = &inside("/seen")[0];
    assert_eq!(str_at(seen, &["client", "pod"]), Some("web-2"), "{seen}");
    assert_eq!(
        str_at(seen, &["server", "namespace"]),
        Some("payments"),
        "{seen}"
    );
    assert_eq!(str_at(seen, &["method"]), Some("GET"), "{seen}");
    // What this test is about is which calls are read, not the response
    // (tls_plaintext's Go test asserts that). Once, in a whole-suite run,
    // the record came without it (status null), most likely because Go's
    // Write was then read at its return, which may come after the answer
    // another goroutine read; Write is now read at entry. Said, not failed.
    if seen["status"] != 200 {
        eprintln!(
            "note: /seen recorded without its response: {seen}\n{}",
            agent.get("/metrics").expect("metrics").1
        );
    }
    // Both ends of /hidden are excluded: nothing of it is read, and the
    // kernel counted the calls it left alone (the server's for /seen too).
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(inside("/hidden"), Vec::<Value>::new());
    assert!(
        metric(
            &agent,
            "podwire_tls_plaintext_calls_total{outcome=\"excluded\"} "
        ) >= 4.0,
        "{}",
        agent.get("/metrics").expect("metrics").1
    );
    drop(server);
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
    api.apply(statefulset_pod("web-1", web, "web", "node-b"));
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
