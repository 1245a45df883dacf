//! `podwire sniff`, live: real pods (lab namespaces) talking with curl,
//! dig and openssl while the agent captures them, judged against tcpdump
//! on the same interface with the same filter over the same window, and
//! read back by tshark.
//!
//! - standalone (`--agent URL -i IFACE`, token file): the stream equals
//!   tcpdump's capture packet for packet, byte for byte; tshark reads it
//!   without a warning and finds the same HTTP, TLS and DNS; a client that
//!   leaves mid-stream frees the capture; refusals before any packet;
//! - Kubernetes (the fake API server's TokenReview, SubjectAccessReview
//!   and pod proxy): two pods on two nodes, each captured by its node's
//!   agent, give one pcapng with two interfaces named after them, in time
//!   order; a user without the `capture` verb, an
//!   invalid token, an invalid filter, an unknown pod and a pod on a node
//!   without an agent each get a clear error and no packets.
//!
//! Needs root and the lab's tools.

use crate::api_auth::certificates;
use crate::kube::{pod, synced, wait_until, NODE};
use crate::util::{lab_lock, podwire, skip_unless, tshark_fields};
use podwire_capture::FileReader;
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::scenario::{Cluster, HTTP_PORT};
use podwire_lab::skip::require_lab;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "ip", "nginx", "dnsmasq", "openssl", "curl", "dig", "tcpdump", "tshark",
];
/// What both captures keep: the pod's TCP and UDP, not ARP or neighbour discovery.
const FILTER: &str = "tcp or udp";

/// Every packet of a capture file: (wire length, bytes), in file order.
pub(crate) fn packets(path: &Path) -> Vec<(u32, Vec<u8>)> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = FileReader::new(std::io::BufReader::new(file)).expect("a capture file");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().expect("readable") {
        out.push((f.orig_len, f.data.to_vec()));
    }
    assert_eq!(
        r.warnings().total(),
        0,
        "{}: malformed blocks",
        path.display()
    );
    out
}

/// Waits until `file` contains `text` (a child's log line).
pub(crate) fn wait_for_line(file: &Path, text: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(file).unwrap_or_default();
        if log.contains(text) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited ({status}) before saying {text:?}: {log}");
        }
        assert!(Instant::now() < deadline, "no {text:?} in {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sniff(args: &[&str]) -> Command {
    let mut cmd = Command::new(podwire());
    cmd.arg("sniff").args(args);
    cmd
}

/// `podwire sniff ARGS` in network namespace `ns`.
pub(crate) fn sniff_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = podwire_lab::netns::ns_command(ns, &podwire().display().to_string());
    cmd.arg("sniff").args(args);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .expect("run podwire sniff")
}

#[test]
fn a_standalone_capture_equals_tcpdump_on_the_same_interface() {
    let test = "a_standalone_capture_equals_tcpdump_on_the_same_interface";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = Cluster::start().expect("start the lab cluster");
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, "# who may capture\nlab-secret ops-team\n").expect("token file");
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let tok = token_file.display().to_string();
    let agent = Agent::launch(
        &Launch::default(),
        podwire(),
        &[
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--no-ebpf",
            "--capture-token-file",
            &tok,
            // One at a time: a second concurrent capture must be refused.
            "--capture-max-streams",
            "1",
        ],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    let url = format!("http://{}", agent.addr());
    // The client pod is the lab's first: its veth is p0.
    let iface = "p0";

    // Refusals come before any capture: no token, a wrong one, a bad filter,
    // an unknown interface.
    let base = ["--agent", url.as_str(), "-i", iface, "-o"];
    for (extra, want) in [
        (vec![], "401"),
        (vec!["--token", "nope"], "unknown token"),
        (
            vec!["--token", "lab-secret", "-f", "tcp port"],
            "syntax error",
        ),
    ] {
        let out_file = dir.path().join("refused.pcapng");
        let mut cmd = sniff(&base);
        cmd.arg(&out_file).args(&extra);
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(want),
            "{extra:?}: {stderr}"
        );
        assert!(!out_file.exists(), "a refused capture writes no file");
    }
    let mut cmd = sniff(&[
        "--agent",
        &url,
        "-i",
        "nosuch",
        "--token",
        "lab-secret",
        "-o",
        "-",
    ]);
    cmd.stdout(Stdio::null());
    let out = run(cmd);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interface \"nosuch\""));

    // tcpdump first, then podwire; traffic only once both run.
    let reference = dir.path().join("tcpdump.pcap");
    let tcpdump_log = dir.path().join("tcpdump.log");
    let mut tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            c.lab.switch_ns(),
            "tcpdump",
            "-n",
            "-U",
            "-i",
            iface,
            "-w",
        ])
        .arg(&reference)
        .arg(FILTER)
        .stderr(std::fs::File::create(&tcpdump_log).expect("log"))
        .spawn()
        .expect("tcpdump");
    wait_for_line(&tcpdump_log, "listening on", &mut tcpdump);
    let ours = dir.path().join("podwire.pcapng");
    let sniff_log = dir.path().join("sniff.log");
    let mut sniffer = sniff(&[
        "--agent",
        &url,
        "-i",
        iface,
        "-f",
        FILTER,
        "--duration",
        "8s",
        "--token-file",
        &tok,
        "-o",
    ])
    .arg(&ours)
    .stderr(std::fs::File::create(&sniff_log).expect("log"))
    .spawn()
    .expect("podwire sniff");
    wait_for_line(&sniff_log, "capturing", &mut sniffer);
    std::thread::sleep(Duration::from_millis(300));

    c.http(c.web.ip(false), HTTP_PORT).expect("curl over HTTP");
    c.https(c.web.ip(false)).expect("curl over HTTPS");
    c.dns(c.dns.ip(false)).expect("dig");
    c.tls(c.tls.ip(false)).expect("openssl s_client");

    let status = sniffer.wait().expect("sniff ends by its duration");
    let log = std::fs::read_to_string(&sniff_log).unwrap_or_default();
    assert!(status.success(), "podwire sniff: {log}");
    std::thread::sleep(Duration::from_millis(300));
    // SIGINT: tcpdump writes out what it buffered and exits.
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();

    let (a, b) = (packets(&ours), packets(&reference));
    assert!(
        a.len() > 50,
        "too little traffic captured: {} packets",
        a.len()
    );
    assert_eq!(
        a.len(),
        b.len(),
        "packet counts: podwire {} vs tcpdump {}",
        a.len(),
        b.len()
    );
    let differ = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(differ, None, "first packet that differs from tcpdump's");

    // tshark reads ours without a warning and finds what it finds in tcpdump's.
    let fields = [
        "frame.interface_name",
        "http.request.method",
        "http.request.uri",
        "http.response.code",
        "tls.handshake.type",
        "tls.handshake.extensions_server_name",
        "dns.qry.name",
        "dns.flags.response",
    ];
    let (ta, tb) = (
        tshark_fields(&ours, None, &fields[1..]),
        tshark_fields(&reference, None, &fields[1..]),
    );
    assert_eq!(ta, tb);
    let joined = ta.join("\n");
    // HTTP requests and answers, TLS client hellos (type 1), DNS answers.
    for want in ["GET\t/small.txt", "\t200", "\t1\t", "lab.test"] {
        assert!(
            joined.contains(want),
            "{want:?} missing from tshark's view:\n{joined}"
        );
    }
    let names = tshark_fields(&ours, None, &fields[..1]);
    assert!(
        names.iter().all(|n| n == iface),
        "interface names {names:?}"
    );

    // A client that leaves mid-stream: the agent notices and frees the capture.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "1",
            "-H",
            "Authorization: Bearer lab-secret",
        ])
        .arg(format!("{url}/api/v1/capture?interface={iface}"))
        .output()
        .expect("curl");
    assert!(!out.status.success(), "curl was cut by --max-time");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, text) = agent.get("/metrics").expect("metrics");
        if text.lines().any(|l| l == "podwire_sniff_active 0")
            && agent.log().contains("client disconnected")
        {
            assert!(
                text.lines().any(|l| l == "podwire_sniff_started_total 2"),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "capture not freed: {}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A network namespace by its `ip netns` name: the client pod's own
    // eth0, from inside (standalone agents may; it needs CAP_SYS_ADMIN).
    let ns_url = format!(
        "{url}/api/v1/capture?netns={}&count=4&filter=tcp",
        c.client.ns
    );
    let fetch = std::thread::spawn(move || {
        Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "10",
                "-H",
                "Authorization: Bearer lab-secret",
                &ns_url,
            ])
            .output()
            .expect("curl")
    });
    std::thread::sleep(Duration::from_millis(500));
    let busy = Command::new("curl")
        .args([
            "-s",
            "-w",
            "%{http_code}",
            "-H",
            "Authorization: Bearer lab-secret",
        ])
        .arg(format!("{url}/api/v1/capture?interface={iface}&count=1"))
        .output()
        .expect("curl");
    let busy = String::from_utf8_lossy(&busy.stdout);
    assert!(
        busy.ends_with("429") && busy.contains("--capture-max-streams"),
        "a second capture while one runs: {busy}"
    );
    c.http(c.web.ip(false), HTTP_PORT).expect("curl over HTTP");
    let got = fetch.join().expect("capture");
    let file = dir.path().join("netns.pcapng");
    std::fs::write(&file, &got.stdout).expect("write");
    assert_eq!(packets(&file).len(), 4, "count=4 ends the capture");
    let names = tshark_fields(&file, None, &["frame.interface_name"]);
    assert!(names.iter().all(|n| n.ends_with("/eth0")), "{names:?}");

    let log = agent.log();
    assert!(
        log.contains("user=\"ops-team\"") && log.contains("filter=\"tcp or udp\""),
        "audit log: {log}"
    );
    assert!(log.contains("packet count reached"), "{log}");
    assert!(
        !log.contains("lab-secret"),
        "the token itself is never logged"
    );

    // A pod goes away mid-capture (its namespace and veth deleted): the
    // capture ends cleanly and the agent frees it. (A pod of its own: no
    // server process keeps its namespace, and so its veth, alive.)
    let gone = c.lab.add_pod("gone").expect("add a pod");
    let port = format!("p{}", c.lab.pods().len() - 1);
    assert!(gone.ipv4.octets()[3] > 10);
    let dns_url = format!("{url}/api/v1/capture?interface={port}&duration=30s");
    let fetch = std::thread::spawn(move || {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-H",
                "Authorization: Bearer lab-secret",
                &dns_url,
            ])
            .output()
            .expect("curl")
    });
    std::thread::sleep(Duration::from_millis(500));
    let removed = Instant::now();
    c.lab.remove_pod("gone").expect("remove the pod");
    let got = fetch.join().expect("capture");
    assert!(
        got.status.success(),
        "the stream ends cleanly: {} {}\nagent: {}",
        got.status,
        String::from_utf8_lossy(&got.stderr),
        agent.log()
    );
    assert!(
        removed.elapsed() < Duration::from_secs(5),
        "ended {:?} after the pod",
        removed.elapsed()
    );
    let file = dir.path().join("removed.pcapng");
    std::fs::write(&file, &got.stdout).expect("write");
    packets(&file);
    assert!(agent.log().contains("interface removed"), "{}", agent.log());
    let (_, metrics) = agent.get("/metrics").expect("metrics");
    assert!(
        metrics.lines().any(|l| l == "podwire_sniff_active 0"),
        "{metrics}"
    );
}

#[test]
fn two_pods_through_kubernetes_give_one_pcapng_and_rbac_decides() {
    let test = "two_pods_through_kubernetes_give_one_pcapng_and_rbac_decides";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let api = FakeApiServer::start().expect("fake API server");
    // Two "nodes", each with its agent: client-0 on NODE, web-0 on NODE_B.
    // (Both agents capture the one lab switch; each only serves its own
    // node's pods, so the client must pick the right one for each.)
    const NODE_B: &str = "lab-node-b";
    api.apply(pod("client-0", &[c.client.ip(false)], None, None));
    let mut web = pod("web-0", &[c.web.ip(false)], None, None);
    web["spec"]["nodeName"] = json!(NODE_B);
    api.apply(web);
    let mut elsewhere = pod("batch-0", &["10.88.0.99".parse().unwrap()], None, None);
    elsewhere["spec"]["nodeName"] = json!("node-without-agent");
    api.apply(elsewhere);

    let kubeconfig = dir.path().join("agent.kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let (kc, netns) = (
        kubeconfig.display().to_string(),
        format!("/run/netns/{}", c.lab.switch_ns()),
    );
    // NODE_B's agent serves HTTPS (its port is named `https`): the proxy
    // reaches it over TLS, so the capture token is never in clear there.
    certificates(dir.path(), "podwire-b");
    let (cert, key) = (
        dir.path().join("server.pem").display().to_string(),
        dir.path().join("server.key").display().to_string(),
    );
    let start = |node: &str, log: &str, tls: bool| {
        let mut args = vec![
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
            "--no-ebpf",
        ];
        if tls {
            args.extend(["--tls-cert", &cert, "--tls-key", &key]);
        }
        let agent = Agent::launch(&Launch::default(), podwire(), &args, &dir.path().join(log))
            .expect("start the agent");
        wait_until("every resource listed", &agent, 20, || synced(&agent));
        // The agent's own pod: the pod proxy reaches it at 127.0.0.1:PORT.
        let port_name = if tls { "https" } else { "http" };
        api.apply(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("podwire-{node}"), "namespace": "podwire",
                "labels": {"app.kubernetes.io/name": "podwire"}},
            "spec": {"nodeName": node, "containers": [{"name": "agent", "image": "podwire",
                "ports": [{"name": port_name, "containerPort": agent.addr().port()}]}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"}}));
        agent
    };
    let agent = start(NODE, "agent.log", false);
    let agent_b = start(NODE_B, "agent-b.log", true);
    assert!(
        agent_b.log().contains("serving https://"),
        "{}",
        agent_b.log()
    );

    // alice may capture in shop; bob may reach the agents but not capture.
    for (user, token) in [("alice", "alice-token"), ("bob", "bob-token")] {
        api.add_token(token, user, &["developers"]);
        api.allow(user, "get", "", "pods/proxy", Some("podwire"));
    }
    api.allow("alice", "capture", "", "pods", Some("shop"));
    let kc_for = |user: &str| {
        let path = dir.path().join(format!("{user}.kubeconfig"));
        api.write_kubeconfig_with_token(&path, &format!("{user}-token"))
            .expect("kubeconfig");
        path.display().to_string()
    };
    let (alice, bob) = (kc_for("alice"), kc_for("bob"));

    // Two pods at once while the client fetches from web.
    let merged = dir.path().join("two.pcapng");
    let log = dir.path().join("sniff.log");
    let mut sniffer = sniff(&[
        "--kubeconfig",
        &alice,
        "-n",
        "shop",
        "client-0",
        "web-0",
        "-f",
        &format!("tcp port {HTTP_PORT}"),
        "--duration",
        "6s",
        "-o",
    ])
    .arg(&merged)
    .stderr(std::fs::File::create(&log).expect("log"))
    .spawn()
    .expect("podwire sniff");
    wait_for_line(&log, "capturing shop/web-0", &mut sniffer);
    std::thread::sleep(Duration::from_millis(300));
    c.http(c.web.ip(false), HTTP_PORT).expect("curl");
    let status = sniffer.wait().expect("sniff ends");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "podwire sniff: {text}\nagent: {}",
        agent.log()
    );
    // Each agent's closing statistics reach the user.
    assert!(
        text.contains("shop/web-0: ") && text.contains("(duration reached)"),
        "{text}"
    );

    let rows = tshark_fields(
        &merged,
        None,
        &[
            "frame.interface_name",
            "frame.time_epoch",
            "http.request.uri",
        ],
    );
    let on = |name: &str| {
        rows.iter()
            .filter(|r| r.starts_with(&format!("{name}\t")))
            .count()
    };
    let (client_rows, web_rows) = (on("shop/client-0"), on("shop/web-0"));
    assert!(client_rows > 5, "{rows:?}");
    assert_eq!(
        client_rows, web_rows,
        "one bridge: each packet crosses both veths"
    );
    // tshark dissects HTTP once per conversation: the client veth's copy
    // comes first; the web veth's copy of each segment reads as a repeat.
    let requests = rows
        .iter()
        .filter(|r| r.split('\t').nth(2).is_some_and(|u| !u.is_empty()))
        .count();
    assert!(requests >= 5, "{rows:?}");
    let times: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.split('\t').nth(1)?.parse().ok())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "merged in time order"
    );
    // Each pod was captured by its own node's agent.
    let (alog, blog) = (agent.log(), agent_b.log());
    assert!(
        alog.contains("user=\"alice\"")
            && alog.contains("target=pod/shop/client-0")
            && !alog.contains("target=pod/shop/web-0"),
        "{alog}"
    );
    assert!(
        blog.contains("user=\"alice\"") && blog.contains("target=pod/shop/web-0"),
        "{blog}"
    );

    // Refusals, each with a clear reason and no file.
    for (who, args, want) in [
        (&bob, vec!["client-0"], "cannot capture resource \"pods\""),
        (
            &alice,
            vec!["client-0", "--token", "not-a-token"],
            "token not accepted",
        ),
        (&alice, vec!["client-0", "-f", "port 70000"], "port"),
        (&alice, vec!["nosuch"], "no pod shop/nosuch"),
        (
            &alice,
            vec!["batch-0"],
            "no podwire agent runs on node node-without-agent",
        ),
        (
            &alice,
            vec!["client-0", "-c", "sidecar"],
            "has no container \"sidecar\"",
        ),
    ] {
        let file = dir.path().join("refused.pcapng");
        let mut cmd = sniff(&["--kubeconfig", who, "-n", "shop", "--duration", "2s", "-o"]);
        cmd.arg(&file).args(&args);
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(want),
            "{args:?}: wanted {want:?} in {stderr}"
        );
        assert!(!file.exists(), "{args:?}: a refused capture writes no file");
    }
    // One capture each; the refusals that reached an agent (bob, the bad
    // token, the bad filter: all for client-0) were counted by NODE's.
    for (a, refused) in [(&agent, 3), (&agent_b, 0)] {
        let (_, metrics) = a.get("/metrics").expect("metrics");
        for want in [
            "podwire_sniff_active 0".to_string(),
            "podwire_sniff_started_total 1".to_string(),
            format!("podwire_sniff_refused_total {refused}"),
        ] {
            assert!(metrics.lines().any(|l| l == want), "{want}: {metrics}");
        }
    }
}
