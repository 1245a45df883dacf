//! The load one `podwire agent` puts on the Kubernetes API server, measured
//! on the lab's fake API server: requests and bytes per minute at rest and
//! during pod churn, the initial sync, and the agent's memory for the
//! cluster it mirrors.
//!
//! ```text
//! cargo run --release --example watch_load -p podwire -- [--pods 5000] [--seconds 60] [--churn 10] [--k8s-pods all|node]
//! ```
//!
//! Needs root (the agent captures on `lo`). The cluster: `--pods` pods on
//! `pods/50` nodes, one Service and EndpointSlice per 10 pods, one
//! ReplicaSet per 5 pods, 50 Jobs. Churn replaces `--churn` pods a second
//! (delete + create, each with its EndpointSlice update), like a rolling
//! update. Bookmarks come every 60 s, as from a real API server.

use podwire_lab::agent::Agent;
use podwire_lab::kubeapi::{ApiStats, FakeApiServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pod(i: u64, generation: u64) -> Value {
    let rs = format!("app{}-{:x}", i / 5, 0x5f00 + generation);
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{rs}-{i}"), "namespace": format!("ns{}", i % 20),
            "labels": {"app": format!("app{}", i / 5), "pod-template-hash": format!("{:x}", 0x5f00 + generation)},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": format!("rs-{i}"), "controller": true}]},
        "spec": {"nodeName": format!("node{}", i / 50),
            "containers": [{"name": "app", "image": "registry.example/app:1.0",
                "ports": [{"containerPort": 8080}], "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running", "podIP": ip(i), "podIPs": [{"ip": ip(i)}],
            "hostIP": "192.168.0.1", "startTime": "2026-11-22T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "registry.example/app:1.0",
                "imageID": "sha256:0", "ready": true, "restartCount": 0,
                "containerID": format!("containerd://{i:064x}")}]}})
}

fn ip(i: u64) -> String {
    format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256)
}

fn slice(s: u64, generation: u64) -> Value {
    let endpoints: Vec<Value> = (s * 10..s * 10 + 10)
        .map(|i| json!({"addresses": [ip(i)], "targetRef": {"kind": "Pod",
            "name": format!("app{}-{:x}-{i}", i / 5, 0x5f00 + generation), "namespace": format!("ns{}", i % 20)}}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": format!("svc{s}-x"), "namespace": format!("ns{}", s * 10 % 20),
            "labels": {"kubernetes.io/service-name": format!("svc{s}")}},
        "endpoints": endpoints, "ports": [{"port": 8080}]})
}

fn populate(api: &FakeApiServer, pods: u64) {
    for n in 0..(pods / 50).max(1) {
        api.apply(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node{n}")},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("192.168.{}.{}", n / 256, n % 256)}]}}));
    }
    for i in 0..pods {
        api.apply(pod(i, 0));
    }
    for s in 0..pods / 10 {
        api.apply(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc{s}"), "namespace": format!("ns{}", s * 10 % 20)},
            "spec": {"clusterIP": format!("10.96.{}.{}", s / 256, s % 256), "ports": [{"port": 80}]}}));
        api.apply(slice(s, 0));
    }
    for r in 0..pods / 5 {
        api.apply(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("app{r}-5f00"), "namespace": format!("ns{}", r * 5 % 20),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": format!("app{r}"), "uid": format!("d{r}"), "controller": true}]}}));
    }
    for j in 0..50 {
        api.apply(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": format!("job{j}"), "namespace": "batch"}}));
    }
}

fn metric(agent: &Agent, prefix: &str) -> f64 {
    let text = agent.get("/metrics").map(|(_, t)| t).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn report(what: &str, s: &ApiStats, secs: f64) {
    let per_min = 60.0 / secs;
    println!(
        "{what}: {:.1} requests/min ({} lists, {} watches), {:.1} KiB/min sent, {:.1} KiB/min received, {:.0} events/min, {:.1} bookmarks/min",
        (s.lists + s.watches + s.gets + s.other) as f64 * per_min,
        s.lists,
        s.watches,
        s.bytes_sent as f64 * per_min / 1024.0,
        s.bytes_received as f64 * per_min / 1024.0,
        s.events_sent as f64 * per_min,
        s.bookmarks_sent as f64 * per_min,
    );
}

fn main() {
    let pods = arg("--pods", 5000);
    let secs = arg("--seconds", 60);
    let churn = arg("--churn", 10);
    let scope = {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--k8s-pods")
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| "all".into())
    };
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("podwire")))
        .expect("podwire binary next to the example");
    let dir = tempfile::tempdir().expect("temp dir");
    let api = FakeApiServer::start().expect("fake API server");
    api.set_bookmark_interval(Duration::from_secs(60));
    populate(&api, pods);
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    api.reset_stats();

    let started = Instant::now();
    let kc = kubeconfig.display().to_string();
    let agent = Agent::start(
        &bin,
        &[
            "--kubernetes",
            "on",
            "--kubeconfig",
            &kc,
            "--node-name",
            "node0",
            "--interfaces",
            "lo",
            "--no-ebpf",
            "--k8s-pods",
            &scope,
        ],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    while metric(&agent, "podwire_kubernetes_synced{") < 6.0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no sync: {}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sync = started.elapsed();
    let s = api.stats();
    println!("agent: --k8s-pods {scope}");
    println!(
        "cluster: {pods} pods, {} nodes, {} services + slices, {} replicasets, 50 jobs",
        (pods / 50).max(1),
        pods / 10,
        pods / 5
    );
    println!(
        "initial sync: {:.2} s, {} requests, {:.1} MiB sent",
        sync.as_secs_f64(),
        s.lists + s.watches,
        s.bytes_sent as f64 / 1048576.0
    );
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "agent memory after sync: {:.1} MiB resident, {} addresses held",
        metric(&agent, "podwire_resident_memory_bytes") / 1048576.0,
        metric(&agent, "podwire_kubernetes_objects{kind=\"addresses\"}")
    );

    api.reset_stats();
    std::thread::sleep(Duration::from_secs(secs));
    report("at rest", &api.stats(), secs as f64);

    api.reset_stats();
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        for _ in 0..churn {
            let i = n % pods;
            let generation = n / pods;
            let old = pod(i, generation);
            let name = old["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ns = old["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            api.delete("v1", "Pod", Some(&ns), &name);
            api.apply(pod(i, generation + 1));
            api.apply(slice(i / 10, generation + 1));
            n += 1;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    report(
        &format!("churn ({churn} pods replaced/s)"),
        &api.stats(),
        t0.elapsed().as_secs_f64(),
    );
    println!(
        "agent memory after churn: {:.1} MiB resident, watch errors {}",
        metric(&agent, "podwire_resident_memory_bytes") / 1048576.0,
        metric(&agent, "podwire_kubernetes_watch_errors_total")
    );
    let _ = agent.stop();
}
