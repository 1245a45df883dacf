//! Serving: cluster answers from many agents, and the API over committed
//! captures. Peers are `podwire read --serve` processes, each serving one
//! of the fixtures (the same HTTP API as the agent, no root needed); some
//! are only reachable through a proxy that answers too late, one is down.
//! The merged answer must equal the sum of what each peer says alone.

use crate::util::{data_dir, podwire};
use podwire_lab::agent::http_get;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `podwire read FILE --serve` process.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Served`'s Drop, which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn serve(files: &[PathBuf], extra: &[&str], log: &Path) -> Served {
    let err = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(podwire())
        .arg("read")
        .args(files)
        .args(["--threads", "1"])
        // On an ephemeral loopback port unless `extra` says where.
        .args(if extra.contains(&"--serve") {
            &[][..]
        } else {
            &["--serve", "127.0.0.1:0"][..]
        })
        .args(extra)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn podwire read --serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split("serving http://").nth(1))
            .and_then(|a| a.trim().parse().ok())
        {
            return Served { child, addr };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("not serving: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// A proxy that forwards to `target` only after `delay`: a peer that is
/// up but late.
fn slow_proxy(target: SocketAddr, delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let Ok(up) = TcpStream::connect(target) else {
                    return;
                };
                let (mut a, mut b) = (conn, up);
                let (mut a2, mut b2) = match (a.try_clone(), b.try_clone()) {
                    (Ok(x), Ok(y)) => (x, y),
                    _ => return,
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a2, &mut b2);
                });
                let mut buf = [0u8; 8192];
                while let Ok(n) = b.read(&mut buf) {
                    if n == 0 || a.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Per (source, target): the sums the merged graph must have.
fn edge_sums(graphs: &[Value]) -> BTreeMap<(String, String), [f64; 6]> {
    let mut sums: BTreeMap<(String, String), [f64; 6]> = BTreeMap::new();
    for g in graphs {
        for e in g["edges"].as_array().expect("edges") {
            let key = (
                e["source"].as_str().expect("source").to_string(),
                e["target"].as_str().expect("target").to_string(),
            );
            let s = &e["stats"];
            let v = sums.entry(key).or_default();
            for (i, f) in [
                "connections",
                "open",
                "persistent",
                "client_bytes",
                "server_bytes",
                "duration_seconds_sum",
            ]
            .iter()
            .enumerate()
            {
                v[i] += s[f].as_f64().expect("number");
            }
        }
    }
    sums
}

#[test]
fn cluster_graph_is_the_sum_of_every_peer_and_names_the_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files: Vec<PathBuf> = [
        "mixed.pcap",
        "http.pcap",
        "tls.pcap",
        "dns.pcap",
        "vlan.pcap",
        "qinq.pcap",
        "sll.pcap",
        "sll2.pcap",
        "nano.pcap",
        "mixed.pcapng",
    ]
    .iter()
    .map(|f| data_dir().join(f))
    .collect();
    // 21 answering peers, 2 late ones, 1 down.
    let peers: Vec<Served> = (0..23)
        .map(|i| {
            serve(
                &[files[i % files.len()].clone()],
                &[],
                &dir.path().join(format!("peer{i}.log")),
            )
        })
        .collect();
    let late: Vec<SocketAddr> = peers[21..]
        .iter()
        .map(|p| slow_proxy(p.addr, Duration::from_secs(5)))
        .collect();
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut list: Vec<String> = peers[..21].iter().map(|p| p.addr.to_string()).collect();
    list.extend(late.iter().map(|a| a.to_string()));
    list.push(down.to_string());
    let hub = serve(
        &[files[0].clone()],
        &["--peers", &list.join(","), "--peer-timeout-ms", "1000"],
        &dir.path().join("hub.log"),
    );

    let parts: Vec<Value> = peers[..21]
        .iter()
        .map(|p| json(p.addr, "/api/v1/graph?level=ip&scope=local"))
        .collect();
    let start = Instant::now();
    let merged = json(hub.addr, "/api/v1/graph?level=ip");
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "the late peers held the answer for {took:?} (timeout 1 s)"
    );
    assert!(
        took >= Duration::from_millis(900),
        "answered in {took:?} without waiting for the late peers"
    );
    assert_eq!(merged["peers"], 24);
    let mut missing: Vec<String> = merged["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| m["peer"].as_str().unwrap_or("").to_string())
        .collect();
    missing.sort();
    let mut want: Vec<String> = late.iter().map(|a| a.to_string()).collect();
    want.push(down.to_string());
    want.sort();
    assert_eq!(missing, want, "{}", merged["missing"]);

    let expected = edge_sums(&parts);
    let got = edge_sums(std::slice::from_ref(&merged));
    // The fixtures share the lab's addresses: edges are summed over many
    // peers, which is the point.
    assert!(
        expected.len() >= 5,
        "too few edges to mean anything: {expected:?}"
    );
    let widest = parts
        .iter()
        .map(|p| {
            edge_sums(std::slice::from_ref(p))
                .values()
                .map(|v| v[0])
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let all: f64 = expected.values().map(|v| v[0]).sum();
    assert!(
        all > 2.0 * widest,
        "one peer holds most of it: {all} vs {widest}"
    );
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (k, want) in &expected {
        let have = got[k];
        for i in 0..6 {
            assert!(
                (want[i] - have[i]).abs() <= 1e-9 * want[i].abs().max(1.0),
                "{k:?} field {i}: peers sum to {}, merged says {}",
                want[i],
                have[i]
            );
        }
    }
    // Node figures follow the edges: what a node served is what its
    // inbound edges carried.
    for n in merged["nodes"].as_array().expect("nodes") {
        let id = n["id"].as_str().expect("id");
        let inbound: f64 = expected
            .iter()
            .filter(|((_, t), _)| t == id)
            .map(|(_, v)| v[0])
            .sum();
        assert_eq!(n["inbound"]["connections"].as_f64(), Some(inbound), "{n}");
    }

    // k8spacket's Node Graph, cluster-wide by default.
    let ng = json(hub.addr, "/nodegraph/api/graph/data?stats-type=connection");
    for e in ng["edges"].as_array().expect("edges") {
        let key = (
            e["source"].as_str().expect("source").to_string(),
            e["target"].as_str().expect("target").to_string(),
        );
        assert_eq!(
            e["mainStat"].as_str(),
            Some(format!("all: {}", expected[&key][0]).as_str()),
            "{e}"
        );
    }
    assert_eq!(ng["edges"].as_array().map(Vec::len), Some(expected.len()));

    // Records are concatenated, newest first.
    let total: usize = peers[..21]
        .iter()
        .map(|p| {
            json(p.addr, "/api/v1/connections?limit=100000&scope=local")
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    let all = json(hub.addr, "/api/v1/connections?limit=100000");
    let all = all.as_array().expect("array");
    assert_eq!(all.len(), total);
    assert!(all
        .windows(2)
        .all(|w| w[0]["ts"].as_str() >= w[1]["ts"].as_str()));
}

#[test]
fn served_capture_pages_and_filters_like_the_agent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("mixed.pcap")],
        &[],
        &dir.path().join("s.log"),
    );
    let all = json(s.addr, "/api/v1/http?limit=100000");
    let all = all.as_array().expect("array").clone();
    assert!(all.len() > 5, "{all:?}");
    // Pages of two, following the cursor, give the whole answer once.
    let mut paged = Vec::new();
    let mut path = "/api/v1/http?limit=2".to_string();
    for _ in 0..1000 {
        let (status, head, body) = get_with_headers(s.addr, &path);
        assert_eq!(status, 200, "{body}");
        let page: Vec<Value> = serde_json::from_str(&body).expect("json");
        paged.extend(page);
        match head.get("x-podwire-next-cursor") {
            Some(c) => path = format!("/api/v1/http?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    // Unknown keys and bad values name themselves.
    let (status, body) = http_get(s.addr, "/api/v1/graph?level=pods").expect("get");
    assert_eq!(status, 400);
    assert!(body.contains("`level`"), "{body}");
    let (status, body) = http_get(s.addr, "/nodegraph/api/graph/data?include=(").expect("get");
    assert_eq!(status, 400);
    assert!(body.contains("`include`"), "{body}");
    let (status, _) = http_get(s.addr, "/tlsparser/api/data/123").expect("get");
    assert_eq!(status, 404);
    // Without peers there is no cluster to ask.
    let (status, body) = http_get(s.addr, "/api/v1/connections?scope=cluster").expect("get");
    assert_eq!(status, 400, "{body}");
}

/// `GET path` with the response headers (lower-cased names).
fn get_with_headers(addr: SocketAddr, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// Two agents, each watching one client pod's port on the lab's bridge
/// (so every connection is seen by exactly one of them), scraped by a real
/// Prometheus: PromQL must count what the clients did, the Grafana
/// endpoints must show it, and the text must pass `promtool`.
#[test]
fn prometheus_and_grafana_answers_match_the_lab_traffic() {
    use crate::util::{lab_lock, skip_unless};
    use podwire_lab::agent::Agent;
    use podwire_lab::clients::{self, CurlOptions, Transfer};
    use podwire_lab::prometheus::{promtool_check_metrics, require_prometheus, Prometheus};
    use podwire_lab::scenario::{Cluster, HTTP_PORT};
    use podwire_lab::skip::require_lab;
    use std::time::SystemTime;

    skip_unless!(
        "prometheus_and_grafana_answers_match_the_lab_traffic",
        require_lab(&["ip", "nginx", "curl", "openssl", "dnsmasq", "promtool"])
            .and_then(|_| require_prometheus())
    );
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = Cluster::start().expect("start the lab cluster");
    let client2 = c.lab.add_pod("client2").expect("second client");
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    // p0 is the first client's port on the bridge, p4 the second's.
    let start = |port: &str, extra: &[&str], log: &str| {
        let mut args = vec!["--netns", &netns, "--interfaces", port, "--no-ebpf"];
        args.extend_from_slice(extra);
        Agent::start(podwire(), &args, &dir.path().join(log)).expect("start an agent")
    };
    let b = start("p4", &[], "b.log");
    let a = start("p0", &["--metrics-k8spacket"], "a.log");
    let prom =
        Prometheus::start(&[a.addr(), b.addr()], Duration::from_secs(1)).expect("start prometheus");
    prom.wait_for_targets_up(Duration::from_secs(30))
        .expect("both agents scraped");

    let web = c.web.ipv4.to_string();
    let url = format!("http://{web}:{HTTP_PORT}/small.txt");
    let (n1, n2) = (5u64, 3u64);
    for (pod, n) in [(&c.client, n1), (&client2, n2)] {
        for _ in 0..n {
            let r = clients::curl(pod, &[Transfer::get(url.clone())], &CurlOptions::default())
                .expect("curl");
            assert_eq!(r[0].code, 200);
        }
    }
    let tls_exp = c.tls(IpAddr::V4(c.tls.ipv4)).expect("tls handshakes");
    assert_eq!(tls_exp.tls.len(), 2);

    // Connections are counted when the tracker lets them go (a little
    // after their FIN): wait until both agents' stores have all of them,
    // then for a scrape after that.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = |agent: &Agent| {
        let s = agent.json("/api/v1/status").expect("status");
        s["store"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["table"] == "connection")
            .and_then(|t| t["inserted"].as_u64())
            .unwrap_or(0)
    };
    // Each agent also stores the other connections its pod's port carried
    // (the TLS handshakes on A): at least the web ones.
    while stored(&a) < n1 + 2 || stored(&b) < n2 {
        assert!(
            Instant::now() < deadline,
            "agents did not store every connection"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    prom.wait_for_scrape_after(SystemTime::now(), Duration::from_secs(20))
        .expect("fresh scrape");

    let q = |e: &str| {
        prom.query_scalar(e).unwrap_or_else(|err| {
            panic!(
                "{e}: {err}\nagent A says:\n{}",
                a.get("/metrics").map(|m| m.1).unwrap_or_default()
            )
        })
    };
    let sel = format!("dst=\"{web}\",proto=\"tcp\"");
    assert_eq!(
        q(&format!("sum(podwire_connections_total{{{sel}}})")),
        (n1 + n2) as f64
    );
    assert_eq!(
        q(&format!(
            "sum(podwire_connections_total{{{sel},instance=\"{}\"}})",
            a.addr()
        )),
        n1 as f64
    );
    assert_eq!(
        q(&format!(
            "sum(podwire_http_requests_total{{dst=\"{web}\",method=\"GET\",status_class=\"2xx\"}})"
        )),
        (n1 + n2) as f64
    );
    assert_eq!(
        q(&format!(
            "sum(podwire_http_request_duration_seconds_count{{dst=\"{web}\"}})"
        )),
        (n1 + n2) as f64
    );
    // Bytes in Prometheus are the bytes of the agents' records.
    let record_bytes: u64 = [&a, &b]
        .iter()
        .flat_map(|ag| {
            ag.json(&format!("/api/v1/connections?server_ip={web}&limit=100000"))
                .expect("connections")
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|r| r["server_to_client"]["bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        q(&format!(
            "sum(podwire_connection_bytes_total{{{sel},direction=\"server_to_client\"}})"
        )),
        record_bytes as f64
    );
    assert_eq!(
        q("sum(podwire_tls_handshakes_total{version=\"TLS 1.2\"})"),
        1.0
    );
    assert_eq!(
        q("sum(podwire_tls_handshakes_total{version=\"TLS 1.3\"})"),
        1.0
    );
    // The certificate's expiry as the handshake carried it.
    let tls = a.json("/api/v1/tls?limit=100").expect("tls");
    let not_after = tls
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|r| r["certificate"]["not_after"].as_str())
        .expect("a TLS 1.2 record with a certificate")
        .to_string();
    let expiry = q("max(podwire_tls_certificate_expiry_timestamp_seconds)");
    let want = humantime::parse_rfc3339(&not_after)
        .expect("rfc3339")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!((expiry - want).abs() < 1.0, "{expiry} vs {not_after}");
    // k8spacket's names, seconds in _seconds.
    assert_eq!(
        q(&format!(
            "sum(k8s_packet_duration_seconds_count{{dst=\"{web}\"}})"
        )),
        n1 as f64
    );
    assert!(
        q(&format!(
            "max(k8s_packet_duration_seconds_sum{{dst=\"{web}\"}})"
        )) < 10.0
    );

    // promtool accepts both agents' text, and no client port is a label.
    for agent in [&a, &b] {
        let (status, text) = agent.get("/metrics").expect("metrics");
        assert_eq!(status, 200);
        promtool_check_metrics(&text).expect("promtool check metrics");
        let conns = agent
            .json("/api/v1/connections?limit=100000")
            .expect("connections");
        for r in conns.as_array().into_iter().flatten() {
            let port = r["client"]["port"].as_u64().unwrap_or(0);
            let needle = format!("\"{port}\"");
            assert!(
                port < 1024 || !text.contains(&needle),
                "client port {port} is a label value"
            );
        }
    }

    // Grafana's Node Graph, from agent A asking both.
    let hub = serve(
        &[data_dir().join("nano.pcap")],
        &["--peers", &format!("{},{}", a.addr(), b.addr())],
        &dir.path().join("hub.log"),
    );
    let ng = json(hub.addr, "/nodegraph/api/graph/data?stats-type=connection");
    let edge = |src: &str| {
        ng["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["source"] == src && e["target"] == web.as_str())
            .unwrap_or_else(|| panic!("no edge {src} -> {web}: {ng}"))
            .clone()
    };
    assert_eq!(
        edge(&c.client.ipv4.to_string())["mainStat"],
        format!("all: {n1}")
    );
    assert_eq!(
        edge(&client2.ipv4.to_string())["mainStat"],
        format!("all: {n2}")
    );
    let node = ng["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["id"] == web.as_str())
        .expect("web node")
        .clone();
    assert_eq!(node["mainStat"], format!("all: {}", n1 + n2));
    assert_eq!(node["subTitle"], web.as_str());
    let arcs = node["arc__1"].as_f64().unwrap() + node["arc__2"].as_f64().unwrap();
    assert!((arcs - 1.0).abs() < 1e-9, "{node}");
    // Namespace filters exclude everything here (no Kubernetes names), the
    // include/exclude regular expressions act on addresses.
    let only_b = json(
        hub.addr,
        &format!(
            "/nodegraph/api/graph/data?include={}",
            client2.ipv4.to_string().replace('.', "%5C.")
        ),
    );
    assert_eq!(
        only_b["edges"].as_array().map(Vec::len),
        Some(1),
        "{only_b}"
    );
    let none = json(hub.addr, "/nodegraph/api/graph/data?namespace=prod");
    assert_eq!(none["edges"].as_array().map(Vec::len), Some(0), "{none}");

    // The TLS data source: one row per address pair, with the certificate.
    let rows = json(hub.addr, "/tlsparser/api/data");
    let row = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["dst"] == c.tls.ipv4.to_string().as_str())
        .expect("tls row")
        .clone();
    assert_eq!(row["dstPort"], podwire_lab::scenario::TLS_PORT);
    let details = json(
        hub.addr,
        &format!("/tlsparser/api/data/{}", row["id"].as_str().unwrap()),
    );
    assert!(details["certificate"]["notAfter"].is_string(), "{details}");
    assert_eq!(details["certificate"]["notAfter"], not_after.as_str());
}

/// The Node Graph fields podwire declares are the ones Grafana's own
/// `@grafana/data` package knows (it matches them case-insensitively;
/// `arc__*` and `detail__*` are prefixes). `scripts/test.sh` fetches the
/// package into `target/test-data`.
#[test]
fn node_graph_fields_are_grafanas() {
    let file = crate::util::target_dir()
        .join("test-data/grafana-data-11.6.0/package/dist/esm/utils/nodeGraph.mjs");
    let Ok(js) = std::fs::read_to_string(&file) else {
        podwire_lab::skip::skipped(
            "node_graph_fields_are_grafanas",
            &format!("{} missing (scripts/test.sh fetches it)", file.display()),
        );
        return;
    };
    // `NodeGraphDataFrameFieldNames2["mainStat"] = "mainstat";`
    let known: Vec<String> = js
        .lines()
        .filter_map(|l| l.split("] = \"").nth(1))
        .filter_map(|v| v.split('"').next())
        .map(str::to_string)
        .collect();
    assert!(known.contains(&"mainstat".to_string()), "{known:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("mixed.pcap")],
        &[],
        &dir.path().join("s.log"),
    );
    for t in ["connection", "bytes", "duration", "nonsense"] {
        let f = json(
            s.addr,
            &format!("/nodegraph/api/graph/fields?stats-type={t}"),
        );
        let names: Vec<String> = ["edges_fields", "nodes_fields"]
            .iter()
            .flat_map(|k| f[k].as_array().cloned().unwrap_or_default())
            .map(|x| x["field_name"].as_str().unwrap_or("").to_ascii_lowercase())
            .collect();
        assert_eq!(names.len(), 12, "{f}");
        for n in &names {
            let ok = known.contains(n)
                || known
                    .iter()
                    .any(|k| k.ends_with("__") && n.starts_with(k.as_str()));
            assert!(ok, "field {n} is not one Grafana knows: {known:?}");
        }
        // The data carries exactly the declared fields.
        let data = json(s.addr, &format!("/nodegraph/api/graph/data?stats-type={t}"));
        for (fields, items) in [("nodes_fields", "nodes"), ("edges_fields", "edges")] {
            let mut declared: Vec<&str> = f[fields]
                .as_array()
                .expect("fields")
                .iter()
                .filter_map(|x| x["field_name"].as_str())
                .collect();
            declared.sort_unstable();
            for item in data[items].as_array().expect("items") {
                let mut keys: Vec<&str> = item
                    .as_object()
                    .expect("object")
                    .keys()
                    .map(String::as_str)
                    .collect();
                keys.sort_unstable();
                assert_eq!(keys, declared, "{item}");
            }
        }
    }
    let connection = json(s.addr, "/nodegraph/api/graph/fields");
    assert_eq!(
        connection["nodes_fields"][3]["displayName"],
        "All connections "
    );
    assert_eq!(connection["nodes_fields"][5]["color"], "green");
}

/// `/api/v1/stream` delivers a new record as a server-sent event, filtered
/// by table and by the record filters.
#[test]
fn stream_sends_new_records_as_they_are_stored() {
    use crate::util::{lab_lock, skip_unless};
    use podwire_lab::agent::Agent;
    use podwire_lab::clients::{self, CurlOptions, Transfer};
    use podwire_lab::scenario::{Cluster, HTTP_PORT};
    use podwire_lab::skip::require_lab;
    use std::io::{BufRead, BufReader};

    skip_unless!(
        "stream_sends_new_records_as_they_are_stored",
        require_lab(&["ip", "nginx", "curl", "openssl", "dnsmasq"])
    );
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = Agent::start(
        podwire(),
        &["--netns", &netns, "--interfaces", "p*", "--no-ebpf"],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    let web = c.web.ipv4.to_string();
    let mut s = TcpStream::connect(agent.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    write!(
        s,
        "GET /api/v1/stream?table=http&server_ip={web} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .expect("write");
    let mut lines = BufReader::new(s).lines();
    let status = lines.next().expect("status line").expect("read");
    assert!(status.contains(" 200 "), "{status}");
    // Headers end before any event; the subscription is live once they came.
    for l in lines.by_ref() {
        let l = l.expect("read");
        if l.is_empty() {
            break;
        }
        if l.to_ascii_lowercase().starts_with("content-type") {
            assert!(l.contains("text/event-stream"), "{l}");
        }
    }
    // A DNS query (another table) and the HTTP request the filter wants.
    let _ = c.dns(IpAddr::V4(c.dns.ipv4));
    let url = format!("http://{web}:{HTTP_PORT}/small.txt");
    let r = clients::curl(&c.client, &[Transfer::get(url)], &CurlOptions::default()).expect("curl");
    assert_eq!(r[0].code, 200);
    let mut event = None;
    for l in lines.by_ref() {
        let l = l.expect("an event within 20 s");
        if let Some(name) = l.strip_prefix("event: ") {
            event = Some(name.to_string());
        } else if let Some(data) = l.strip_prefix("data: ") {
            assert_eq!(event.as_deref(), Some("http"), "{data}");
            let rec: Value = serde_json::from_str(data).expect("record JSON");
            assert_eq!(rec["type"], "http");
            assert_eq!(rec["server"]["ip"], web.as_str());
            assert_eq!(rec["path"], "/small.txt");
            assert_eq!(rec["status"], 200);
            return;
        }
    }
    panic!("the stream ended without the HTTP record");
}

/// Regression (issue 19): an open `/api/v1/stream` client (the web UI
/// always keeps one) held the graceful shutdown open, so SIGTERM did
/// nothing until the orchestrator sent SIGKILL. The stream must end and the
/// process exit within 3 s.
#[test]
fn sigterm_ends_open_streams_and_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut served = serve(
        &[data_dir().join("http.pcap")],
        &[],
        &dir.path().join("log"),
    );
    let mut s = TcpStream::connect(served.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut head = [0u8; 256];
    let n = s.read(&mut head).expect("response head");
    assert!(
        String::from_utf8_lossy(&head[..n]).contains(" 200 "),
        "stream answered"
    );
    let pid = served.child.id() as libc::pid_t;
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let exited = loop {
        if let Some(status) = served.child.try_wait().expect("wait") {
            break Some(status);
        }
        if sent.elapsed() > Duration::from_secs(3) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = exited.expect("podwire read --serve still running 3 s after SIGTERM");
    assert!(status.success(), "{status}");
    // The stream's response was ended, not cut: the chunked body closed.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "stream not ended cleanly: {:?}",
        String::from_utf8_lossy(&rest[rest.len().saturating_sub(40)..])
    );
}

/// The telemetry catalogue end to end: every definition is one series of
/// `/metrics` (its own name, nowhere a second time) and a number at its
/// path in `/api/v1/status`, and both say the same for counters (a served
/// capture no longer changes; the API's own counts do, by these requests). Fails when a counter is added to one output
/// by hand, or a definition is not read by the server.
#[test]
fn telemetry_every_counter_is_in_metrics_once_and_in_status() {
    use podwire_telemetry::{catalogue, Kind};
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("mixed.pcap")],
        &[],
        &dir.path().join("s.log"),
    );
    let status = json(s.addr, "/api/v1/status");
    let (code, metrics) = http_get(s.addr, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{metrics}");
    let samples: Vec<(&str, &str)> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    let mut families = std::collections::BTreeSet::new();
    // `read --serve` runs none of the optional parts (captures, TLS
    // plaintext, reverse DNS); the catalogue's own tests cover those.
    for d in catalogue::always().into_iter().flatten() {
        let series = match d.label {
            Some((l, v)) => format!("{}{{{l}=\"{v}\"}}", d.sample_name()),
            None => d.sample_name(),
        };
        let hits: Vec<_> = samples.iter().filter(|(s, _)| *s == series).collect();
        assert_eq!(hits.len(), 1, "{series} in /metrics: {hits:?}");
        let in_metrics: u64 = hits[0].1.parse().expect("integer sample");
        let in_status = d
            .status
            .split('.')
            .try_fold(&status, |o, k| o.get(k))
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{} not a number in status: {status}", d.status));
        // The API counts its own requests, this test's among them.
        if d.kind == Kind::Counter && !d.status.starts_with("api.") {
            assert_eq!(in_metrics, in_status, "{series} vs {}", d.status);
        }
        families.insert(d.name);
    }
    // Each family's header once: no second definition by hand (the
    // classic text format names a counter family with its `_total`).
    for f in families {
        let helps = metrics
            .lines()
            .filter(|l| {
                l.starts_with(&format!("# HELP {f} "))
                    || l.starts_with(&format!("# HELP {f}_total "))
            })
            .count();
        assert_eq!(helps, 1, "# HELP {f}");
    }
    // The capture was read and counted: not all zero by accident.
    assert!(status["metrics"]["pairs"].as_u64() > Some(0), "{status}");
    assert!(status["names"]["known"].as_u64() > Some(0), "{status}");
}
