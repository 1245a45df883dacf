//! Cluster answers in Kubernetes, live: two agents find each other through
//! the headless Service's EndpointSlices (`k8s://`) and count a
//! conversation between their nodes' pods once. Needs root and the lab.

use crate::kube::{connections, statefulset_pod, synced, wait_until, TOOLS};
use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::scenario::{Cluster, HTTP_PORT};
use podwire_lab::skip::require_lab;
use serde_json::{json, Value};

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
    let w = statefulset_pod("web-1", web, "web", "node-b");
    let cl = statefulset_pod("client-1", client, "client", "node-a");
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
    let (src, dst) = ("shop/client-1", "shop/web-1");
    let q = format!("/api/v1/graph?level=pod&server_port={HTTP_PORT}");
    // A closed connection can be listed (from its tracker) a moment before
    // it is stored, and the graph folds what is stored: wait for both.
    for a in &agents {
        wait_until("both connections on each agent", a, 25, || {
            connections(a, client, web, HTTP_PORT).len() >= 2
                && a.json(&format!("{q}&scope=local"))
                    .is_ok_and(|g| graph_edge_connections(&g, src, dst) >= 2)
        });
    }
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
    // Prometheus sums the agents' counters: the conversation is counted by
    // the client's node only (once the records are stored, a few seconds
    // after the connections closed).
    let counted = |a: &Agent| -> f64 {
        let (_, text) = a.get("/metrics").expect("metrics");
        text.lines()
            .filter(|l| l.starts_with("podwire_connections_total{") && l.contains("dst=\"web\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    wait_until("node-a's counters", &agents[0], 25, || {
        counted(&agents[0]) >= 2.0
    });
    assert_eq!(counted(&agents[0]), 2.0, "the client's node counts both");
    assert_eq!(counted(&agents[1]), 0.0, "the server's node counts none");
    for a in agents {
        a.stop().expect("stop");
    }
}
