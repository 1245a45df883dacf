//! The built-in web UI against a live agent watching the lab: real pods
//! (client, web with nginx, dns with dnsmasq, tls with `openssl s_server`)
//! named by the fake Kubernetes API server's Pod objects, one `podwire
//! agent` (Kubernetes names, `--no-ebpf`) capturing them, and the page in
//! headless Chromium (`ui/tests/e2e-live.mjs`, playwright-core):
//!
//! - after curl and dig ran, the map at pod and workload level shows the
//!   pods by their Kubernetes names with the agent's edges and numbers
//!   (`/api/v1/graph` at that moment), and what curl and dig did;
//! - excluding a pod, or hiding the namespace, hides what it should;
//! - clicking client -> web lists exactly the agent's HTTP records of that
//!   edge, which are the requests curl made;
//! - from the web pod's panel a token without the `capture` verb gets the
//!   API server's 403 reason, an unknown token 401; a token with it
//!   captures 4 s (`tcp port 8080`) while curl runs, and the download is
//!   a pcapng tshark reads without a warning, holding exactly those
//!   requests, on an interface named after the pod;
//! - client -> tls, made while the map is open, appears within 10 s
//!   without a reload.
//!
//! The browser asks for traffic mid-step by printing `@@ <what>`; this
//! test makes it and answers `@@ <JSON>` on the script's standard input.
//! Screenshots go to `target/test-data/screenshots-live/`, and with
//! `PODWIRE_UPDATE_SCREENSHOTS=1` to `docs/screenshots/live-*.png`.
//!
//! Needs root and the lab's tools, and node, Chromium and `npm ci --prefix
//! ui/tests` (else SKIPPED; a missing browser fails when
//! `PODWIRE_REQUIRE_BROWSER` is set).

use crate::kube::{pod, replicaset, start_agent, synced, wait_until};
use crate::ui::{browser, repo};
use crate::util::{lab_lock, skip_unless, target_dir, tshark_fields};
use podwire_lab::agent::Agent;
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::scenario::{Cluster, Expected, HTTP_PORT};
use podwire_lab::skip::require_lab;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "nginx", "dnsmasq", "openssl", "curl", "dig", "tshark"];
const NS: &str = "shop";
const CLIENT: &str = "client-0";
const WEB: &str = "web-5f7d-aaaaa";
const DNS: &str = "dns-0";
const TLS: &str = "tls-7c9d-bbbbb";
/// May capture pods in `shop`.
const TOKEN: &str = "alice-token";
/// Authenticates, but may not capture.
const DENIED_TOKEN: &str = "bob-token";
const CAPTURE_FILTER: &str = "tcp port 8080";

fn edge<'a>(g: &'a Value, source: &str, target: &str) -> Option<&'a Value> {
    g["edges"]
        .as_array()?
        .iter()
        .find(|e| e["source"] == source && e["target"] == target)
}

/// Records of `table` from `client` pod to `server` pod.
fn records_between(agent: &Agent, table: &str, client: &str, server: &str) -> Vec<Value> {
    let all = agent
        .json(&format!("/api/v1/{table}?limit=1000"))
        .expect("records");
    all.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["client"]["pod"] == client && r["server"]["pod"] == server)
        .cloned()
        .collect()
}

fn metrics(agent: &Agent) -> String {
    agent.get("/metrics").expect("metrics").1
}

/// The node process, killed if the test ends first.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn answer(stdin: &mut ChildStdin, v: &Value) {
    writeln!(stdin, "@@ {v}").expect("answer the browser test");
    stdin.flush().expect("flush");
}

#[test]
fn ui_against_a_live_agent_in_the_lab() {
    let test = "ui_against_a_live_agent_in_the_lab";
    let Some(chromium) = browser(test) else {
        return;
    };
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let api = FakeApiServer::start().expect("fake API server");
    let (web_ip, dns_ip, tls_ip) = (c.web.ip(false), c.dns.ip(false), c.tls.ip(false));

    // The lab's pods as Kubernetes knows them: two StatefulSets' pods and
    // two Deployments' (through their ReplicaSets).
    api.apply(replicaset("web-5f7d", "web"));
    api.apply(replicaset("tls-7c9d", "tls"));
    for (name, p, owner, hash) in [
        (CLIENT, &c.client, ("StatefulSet", "client"), None),
        (WEB, &c.web, ("ReplicaSet", "web-5f7d"), Some("5f7d")),
        (DNS, &c.dns, ("StatefulSet", "dns"), None),
        (TLS, &c.tls, ("ReplicaSet", "tls-7c9d"), Some("7c9d")),
    ] {
        api.apply(pod(name, &[p.ip(false), p.ip(true)], Some(owner), hash));
    }
    // alice may capture pods in shop; bob is known but may not.
    api.add_token(TOKEN, "alice", &["developers"]);
    api.add_token(DENIED_TOKEN, "bob", &["developers"]);
    api.allow("alice", "capture", "", "pods", Some(NS));

    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    // UDP flows (dig's) end a second after their last packet, so the graph
    // stops moving soon after the traffic.
    let agent = start_agent(
        &api,
        dir.path(),
        &[
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--no-ebpf",
            "--udp-idle-timeout",
            "1",
        ],
    );
    wait_until("every resource listed", &agent, 20, || synced(&agent));

    let http = c.http(web_ip, HTTP_PORT).expect("curl");
    let dns = c.dns(dns_ip).expect("dig");
    assert!(http.http.iter().all(|e| e.status > 0), "{:?}", http.http);

    // Wait until the agent stored it all and its graph stands still.
    let (client_id, web_id, dns_id) = (
        format!("{NS}/{CLIENT}"),
        format!("{NS}/{WEB}"),
        format!("{NS}/{DNS}"),
    );
    // (Read twice alike, 200 ms apart, with every connection closed.)
    let mut graph = Value::Null;
    wait_until(
        "the lab's traffic in the graph, settled",
        &agent,
        30,
        || {
            let g = agent.json("/api/v1/graph?level=pod").expect("graph");
            let web = edge(&g, &client_id, &web_id);
            let settled = g == graph
                && web.is_some_and(|e| e["stats"]["connections"] == http.tcp_connections)
                && edge(&g, &client_id, &dns_id).is_some()
                && g["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|e| e["stats"]["open"] == 0)
                && records_between(&agent, "http", CLIENT, WEB).len() == http.http.len()
                && records_between(&agent, "dns", CLIENT, DNS).len() == dns.dns.len();
            graph = g;
            settled
        },
    );
    // The agent's records are what curl did (the page is judged by both).
    let mut seen: Vec<String> = records_between(&agent, "http", CLIENT, WEB)
        .iter()
        .map(|r| format!("{} {} {}", r["method"], r["path"], r["status"]))
        .collect();
    let mut did: Vec<String> = http
        .http
        .iter()
        .map(|e| format!("\"{}\" \"{}\" {}", e.method, e.target, e.status))
        .collect();
    seen.sort();
    did.sort();
    assert_eq!(seen, did, "the agent's HTTP records against curl's");

    let shots = if std::env::var_os("PODWIRE_UPDATE_SCREENSHOTS").is_some() {
        repo().join("docs/screenshots")
    } else {
        target_dir().join("test-data/screenshots-live")
    };
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let download = dir.path().join("capture.pcapng");
    let config = json!({
        "namespace": NS,
        "pods": {"client": CLIENT, "web": WEB, "dns": DNS, "tls": TLS},
        "workloads": {"client": "StatefulSet/client", "web": "Deployment/web",
            "dns": "StatefulSet/dns", "tls": "Deployment/tls"},
        "graph": {
            "pod": graph,
            "workload": agent.json("/api/v1/graph?level=workload").expect("graph"),
        },
        "http": agent.json("/api/v1/http?limit=1000").expect("http"),
        "curl": http.http,
        "curl_connections": http.tcp_connections,
        "dig": dns.dns,
        "token": TOKEN,
        "denied_token": DENIED_TOKEN,
        "bad_token": "not-a-token",
        "capture": {"duration": "4s", "filter": CAPTURE_FILTER},
        "download": download,
    });

    let mut browser = Browser(
        Command::new("node")
            .arg(repo().join("ui/tests/e2e-live.mjs"))
            .arg(format!("http://{}", agent.addr()))
            .arg(&shots)
            .env("CHROMIUM", &chromium)
            .env("PODWIRE_LIVE", config.to_string())
            .current_dir(repo().join("ui/tests"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run node"),
    );
    let mut stdin = browser.0.stdin.take().expect("stdin");
    let (tx, rx) = mpsc::channel();
    let stdout = browser.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr_pipe = browser.0.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });

    // The browser's requests for traffic, until it ends.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut during_capture: Option<Expected> = None;
    let mut output = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the browser test ran over 300 s:\n{output}")
            }
        };
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
        let Some(what) = line.strip_prefix("@@ ") else {
            continue;
        };
        match what {
            "capture-traffic" => {
                // Once the agent captures (the page's request reached it).
                wait_until("the page's capture to start", &agent, 10, || {
                    metrics(&agent)
                        .lines()
                        .any(|l| l == "podwire_sniff_active 1")
                });
                std::thread::sleep(Duration::from_millis(300));
                let e = c.http(web_ip, HTTP_PORT).expect("curl during the capture");
                answer(&mut stdin, &json!({"http": e.http}));
                during_capture = Some(e);
            }
            "tls" => {
                let e = c.tls(tls_ip).expect("openssl s_client");
                answer(&mut stdin, &json!({"connections": e.tcp_connections}));
            }
            other => {
                answer(
                    &mut stdin,
                    &json!({"error": format!("unknown request {other}")}),
                );
            }
        }
    }
    drop(stdin);
    let status = browser.0.wait().expect("node");
    let err = stderr.join().unwrap_or_default();
    if !err.trim().is_empty() {
        println!("stderr:\n{err}");
    }
    assert!(
        status.success(),
        "the browser test failed ({status}; output above)\nagent log:\n{}",
        agent.log()
    );

    // The file the page downloaded: what the web pod sent and received on
    // port 8080 during the capture, which is the requests curl made then.
    let made = during_capture.expect("the browser test asked for traffic during its capture");
    let requests = tshark_fields(
        &download,
        Some("http.request"),
        &["http.request.method", "http.request.uri"],
    );
    let want: Vec<String> = made
        .http
        .iter()
        .map(|e| format!("{}\t{}", e.method, e.target))
        .collect();
    assert_eq!(requests, want, "the capture's HTTP requests");
    let frames = tshark_fields(
        &download,
        Some("frame"),
        &["frame.interface_name", "tcp.srcport", "tcp.dstport"],
    );
    assert!(frames.len() > 10, "{frames:?}");
    let iface = format!("{NS}/{WEB}");
    for f in &frames {
        let cols: Vec<&str> = f.split('\t').collect();
        assert_eq!(cols[0], iface, "{f}");
        assert!(cols[1..].contains(&"8080"), "outside the filter: {f}");
    }

    // The agent authorized each by the API server, and logged it.
    let log = agent.log();
    for want in [
        "user=\"alice\"".to_string(),
        format!("target=pod/{NS}/{WEB}"),
        format!("filter=\"{CAPTURE_FILTER}\""),
        "capture refused: user=\"bob\"".to_string(),
    ] {
        assert!(log.contains(&want), "{want} not in the agent's log:\n{log}");
    }
    assert!(!log.contains(TOKEN), "the token itself is never logged");
    let m = metrics(&agent);
    for want in [
        "podwire_sniff_active 0",
        "podwire_sniff_started_total 1",
        "podwire_sniff_refused_total 2",
    ] {
        assert!(m.lines().any(|l| l == want), "{want}: {m}");
    }
}
