//! Requests inside TLS, live: the agent reads them from the TLS library
//! with uprobes (`--tls-plaintext on`). nginx (OpenSSL 3,
//! started before the agent) serves HTTPS in one pod; curl and Python's
//! `urllib` (both OpenSSL, started after it) and a program with OpenSSL
//! linked in statically (`tests/data/static_tls_client.c`, no `libssl.so`
//! mapped: found by its symbols) ask from another. Every
//! request each client reports must appear once, inside TLS, with its
//! method, path and status, on the right connection (the client's own
//! port) and with both processes, beside the connection's `tls` record
//! from the packets. Needs root, the lab's tools and a kernel with BTF.

use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::Agent;
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::scenario::{Cluster, HTTPS_PORT};
use podwire_lab::skip::{require_lab, skipped};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "nginx", "dnsmasq", "openssl", "curl", "python3", "cc"];

/// Builds `tests/data/static_tls_client.c` against `libssl.a` and
/// `libcrypto.a` (Debian's libssl-dev) into `out`.
fn build_static_client(out: &std::path::Path) {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/static_tls_client.c"
    );
    let built = std::process::Command::new("cc")
        .args(["-O1", "-o"])
        .arg(out)
        .arg(src)
        .args(["-Wl,-Bstatic", "-lssl", "-lcrypto", "-Wl,-Bdynamic"])
        .output()
        .expect("cc");
    assert!(
        built.status.success(),
        "building the static TLS client (needs libssl-dev): {}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// One request a client reported.
#[derive(Debug)]
struct Asked {
    client: &'static str,
    path: String,
    status: u16,
    /// The client's end of its connection.
    local: Option<SocketAddr>,
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The agent on the lab's switch, every pod's interface, TLS plaintext on.
fn start_agent(c: &Cluster, dir: &std::path::Path) -> Agent {
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    Agent::start(
        podwire(),
        &[
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--tls-plaintext",
            "on",
        ],
        &dir.join("agent.log"),
    )
    .expect("start the agent")
}

/// The HTTP records found inside TLS that `keep` keeps, once there are
/// `n` of them (20 s at most); fails unless exactly `n` (each request
/// once: when both ends are probed, one end's plaintext is parsed).
fn inside_tls(agent: &Agent, n: usize, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    let inside = || -> Vec<Value> {
        let all = agent.json("/api/v1/http?limit=1000").expect("http");
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["inside_tls"] == Value::Bool(true) && keep(r))
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let r = inside();
        if r.len() >= n || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let (_, metrics) = agent.get("/metrics").expect("metrics");
    assert_eq!(
        records.len(),
        n,
        "each request once: {records:#?}\n{}\nagent log:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("tls_plaintext"))
            .collect::<Vec<_>>()
            .join("\n"),
        agent.log()
    );
    records
}

#[test]
fn requests_inside_tls_are_read_from_the_tls_library() {
    let test = "requests_inside_tls_are_read_from_the_tls_library";
    skip_unless!(test, require_lab(TOOLS));
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return skipped(test, "the kernel has no BTF (no eBPF)");
    }
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let agent = start_agent(&c, dir.path());
    let status = agent.json("/api/v1/status").expect("status");
    assert_eq!(
        status["sources"]["tls_plaintext"]["running"],
        Value::Bool(true),
        "{status}\n{}",
        agent.log()
    );
    // nginx maps libssl: the probe is on it before any client starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = agent.get("/metrics").expect("metrics");
        if metric(&m, "podwire_tls_plaintext_libraries ").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no TLS library probed\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let web = c.web.ipv4;
    let host = format!("web.lab.test:{HTTPS_PORT}");
    let opts = CurlOptions {
        resolve: vec![format!("{host}:{web}")],
        insecure: true,
        http1_1: true,
    };
    let paths = ["/small.txt", "/1k.bin", "/missing"];
    let transfers: Vec<Transfer> = paths
        .iter()
        .map(|p| Transfer::get(format!("https://{host}{p}")))
        .collect();
    let results = clients::curl(&c.client, &transfers, &opts).expect("curl");
    let mut asked: Vec<Asked> = paths
        .iter()
        .zip(&results)
        .map(|(p, r)| Asked {
            client: "curl",
            path: p.to_string(),
            status: r.code,
            local: r.local,
        })
        .collect();
    assert_eq!(
        asked.iter().map(|a| a.status).collect::<Vec<_>>(),
        [200, 200, 404]
    );
    // Python's ssl module calls SSL_read_ex/SSL_write_ex.
    let py = "import ssl, sys, urllib.request\n\
              ctx = ssl._create_unverified_context()\n\
              r = urllib.request.urlopen(sys.argv[1], context=ctx)\n\
              r.read()\n\
              print(r.status)";
    let out = c
        .client
        .command("python3")
        .args(["-c", py, &format!("https://{web}:{HTTPS_PORT}/16k.bin")])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    asked.push(Asked {
        client: "python3",
        path: "/16k.bin".into(),
        status: 200,
        local: None,
    });
    // Started after the agent, maps no libssl.so: the agent must find
    // SSL_read/SSL_write in the program's own file. It waits on stdin
    // until its file is probed (new processes are read every 2 s).
    let bin = dir.path().join("static-tls");
    build_static_client(&bin);
    let libraries = |agent: &Agent| {
        let (_, m) = agent.get("/metrics").expect("metrics");
        metric(&m, "podwire_tls_plaintext_libraries ").unwrap_or(0.0)
    };
    let before = libraries(&agent);
    let mut child = c
        .client
        .command(bin.to_str().expect("utf-8 temp path"))
        .args([
            &web.to_string(),
            &HTTPS_PORT.to_string(),
            "/static-client",
            "wait",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("static TLS client");
    // The agent reads new processes every 2 s and looks inside at most
    // 100 ms of executable files per scan, newest first: on a loaded host
    // (the whole suite, a build beside it) newer programs may come first.
    let deadline = Instant::now() + Duration::from_secs(40);
    while libraries(&agent) < before + 1.0 {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the statically linked program was not probed\n{}",
                agent.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("let the client go");
    }
    let out = child.wait_with_output().expect("static TLS client");
    let said = String::from_utf8_lossy(&out.stdout);
    let mut said = said.split_whitespace();
    let (Some(code), Some(port)) = (said.next(), said.next()) else {
        panic!(
            "static TLS client: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    asked.push(Asked {
        client: "static-tls",
        path: "/static-client".into(),
        status: code.parse().expect("status code"),
        local: Some(SocketAddr::new(
            c.client.ipv4.into(),
            port.parse().expect("local port"),
        )),
    });
    assert_eq!(asked.last().map(|a| a.status), Some(404));

    // Every request once, inside TLS, on its connection.
    let client_ip = c.client.ipv4.to_string();
    let web_ip = web.to_string();
    let records = inside_tls(&agent, asked.len(), |_| true);
    for a in &asked {
        let r = records
            .iter()
            .find(|r| str_at(r, &["path"]) == Some(a.path.as_str()))
            .unwrap_or_else(|| panic!("{a:?} not seen inside TLS: {records:#?}"));
        assert_eq!(str_at(r, &["method"]), Some("GET"), "{r}");
        assert_eq!(r["status"], a.status, "{r}");
        assert_eq!(
            str_at(r, &["client", "ip"]),
            Some(client_ip.as_str()),
            "{r}"
        );
        assert_eq!(str_at(r, &["server", "ip"]), Some(web_ip.as_str()), "{r}");
        assert_eq!(r["server"]["port"], HTTPS_PORT, "{r}");
        if let Some(local) = a.local {
            assert_eq!(r["client"]["port"], local.port(), "{a:?} on its connection");
        }
        let process = str_at(r, &["client", "process"]).unwrap_or_default();
        assert!(process.starts_with(a.client), "{a:?}: {r}");
        if let Some(p) = str_at(r, &["server", "process"]) {
            assert_eq!(p, "nginx", "{r}");
        }
    }
    // The packets still make each connection's handshake record.
    let tls = agent.json("/api/v1/tls?limit=1000").expect("tls");
    let handshakes = tls
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| str_at(t, &["server", "ip"]) == Some(web_ip.as_str()))
        .count();
    assert!(handshakes >= 2, "{tls}");
    let (_, metrics) = agent.get("/metrics").expect("metrics");
    assert!(
        metric(
            &metrics,
            "podwire_tls_plaintext_calls_total{outcome=\"parsed\"} "
        )
        .is_some_and(|n| n >= 8.0),
        "{metrics}"
    );
    let exit = agent.stop().expect("agent stops on SIGTERM");
    assert!(exit.success(), "agent exit: {exit:?}");
}

/// The Go program's HTTPS port in the web pod.
const GO_PORT: u16 = 9443;

/// Go's own TLS (crypto/tls, no libssl): a Go HTTPS server in the web pod
/// and Go clients in the client pod, over HTTP/1.1 and HTTP/2, all started
/// after the agent (`crates/lab/go/go_tls.go`, built here from the
/// standard library, stripped as container images ship Go: no symbol
/// table). The agent must find crypto/tls through the runtime's function
/// table and probe its return instructions (no uretprobe in Go); every request
/// each client reports appears once, inside TLS, with method, path and
/// status, on the client's own connection and with both processes.
#[test]
fn go_requests_inside_tls_are_read_from_crypto_tls() {
    let test = "go_requests_inside_tls_are_read_from_crypto_tls";
    skip_unless!(
        test,
        require_lab(&["ip", "nginx", "dnsmasq", "openssl", "go"])
    );
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return skipped(test, "the kernel has no BTF (no eBPF)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("go_tls");
    if let Err(skip) = podwire_lab::go::build_go_tls(&bin, podwire_lab::go::Link::Stripped) {
        return skip.report(test);
    }
    let bin = bin.to_str().expect("utf-8 temp path").to_owned();
    let _lab = lab_lock();
    let c = Cluster::start().expect("start the lab cluster");
    let agent = start_agent(&c, dir.path());
    let libraries = |agent: &Agent| {
        let (_, m) = agent.get("/metrics").expect("metrics");
        metric(&m, "podwire_tls_plaintext_libraries ").unwrap_or(0.0)
    };
    // Let the agent's first scan (nginx's libssl) settle.
    std::thread::sleep(Duration::from_secs(3));
    let before = libraries(&agent);

    let server_log = dir.path().join("go-server.log");
    let mut server = c
        .web
        .command(&bin)
        .args(["server", &format!("0.0.0.0:{GO_PORT}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&server_log).expect("log"))
        .spawn()
        .expect("Go server");
    let said = server.stdout.take().expect("stdout");
    let server = podwire_lab::process::Proc::from_child("go_tls server", server, &server_log);
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(said)
            .read_line(&mut line)
            .expect("the Go server says it listens");
        assert_eq!(line.trim(), "listening", "{}", server.log());
    }
    // The server's file is the clients' too: probed once, before any
    // client starts (new processes are read every 2 s; see the static
    // client above for why the wait is long).
    let deadline = Instant::now() + Duration::from_secs(40);
    while libraries(&agent) < before + 1.0 {
        assert!(
            Instant::now() < deadline,
            "the Go program was not probed\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let web = c.web.ipv4;
    let mut asked: Vec<(String, Asked, &str)> = Vec::new();
    for (proto, paths) in [
        ("h1", ["/go-h1/a", "/missing-h1"]),
        ("h2", ["/go-h2/a", "/missing-h2"]),
    ] {
        let urls: Vec<String> = paths
            .iter()
            .map(|p| format!("https://{web}:{GO_PORT}{p}"))
            .collect();
        let mut child = c
            .client
            .command(&bin)
            .args(["client", proto])
            .args(&urls)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("Go client");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"go\n").expect("let the client go");
        }
        let out = child.wait_with_output().expect("Go client");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "Go client {proto}: {said} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = said.lines().collect();
        assert_eq!(lines.len(), paths.len(), "{said}");
        for (path, line) in paths.iter().zip(lines) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [code, port, version] = f[..] else {
                panic!("Go client said {line:?}");
            };
            asked.push((
                version.to_owned(),
                Asked {
                    client: "go_tls",
                    path: path.to_string(),
                    status: code.parse().expect("status code"),
                    local: Some(SocketAddr::new(
                        c.client.ipv4.into(),
                        port.parse().expect("local port"),
                    )),
                },
                proto,
            ));
        }
    }
    let versions: Vec<&str> = asked.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(versions, ["HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "HTTP/2.0"]);
    assert_eq!(
        asked.iter().map(|a| a.1.status).collect::<Vec<_>>(),
        [200, 404, 200, 404]
    );

    let web_ip = web.to_string();
    let client_ip = c.client.ipv4.to_string();
    let records = inside_tls(&agent, asked.len(), |r| r["server"]["port"] == GO_PORT);
    for (version, a, proto) in &asked {
        let r = records
            .iter()
            .find(|r| str_at(r, &["path"]) == Some(a.path.as_str()))
            .unwrap_or_else(|| panic!("{a:?} ({proto}) not seen inside TLS: {records:#?}"));
        assert_eq!(str_at(r, &["method"]), Some("GET"), "{r}");
        assert_eq!(r["status"], a.status, "{r}");
        let want = if version == "HTTP/2.0" {
            "2"
        } else {
            "HTTP/1.1"
        };
        assert_eq!(str_at(r, &["version"]), Some(want), "{r}");
        assert_eq!(
            str_at(r, &["client", "ip"]),
            Some(client_ip.as_str()),
            "{r}"
        );
        assert_eq!(str_at(r, &["server", "ip"]), Some(web_ip.as_str()), "{r}");
        if let Some(local) = a.local {
            assert_eq!(r["client"]["port"], local.port(), "{a:?} on its connection");
        }
        assert_eq!(str_at(r, &["client", "process"]), Some("go_tls"), "{r}");
        assert_eq!(str_at(r, &["server", "process"]), Some("go_tls"), "{r}");
    }
    drop(server);
    let exit = agent.stop().expect("agent stops on SIGTERM");
    assert!(exit.success(), "agent exit: {exit:?}");
}
