//! Settings as a new user gives them: environment variables named in their
//! errors, listen addresses written the way other tools accept them.

use crate::contract::run;
use crate::serve::serve;
use crate::util::data_dir;
use podwire_lab::agent::http_get;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A bad value in `PODWIRE_STORE_MIB` was reported as "invalid value 'abc'
/// for '--store-mib <MIB>'", a flag the user never typed.
#[test]
fn a_bad_environment_value_is_named_by_its_variable() {
    let out = run(&["agent"], b"", &[("PODWIRE_STORE_MIB", "abc")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("PODWIRE_STORE_MIB=abc"), "{err}");
    assert!(!err.contains("for '--store-mib"), "{err}");

    // Every command, every kind of value.
    let fixture = data_dir().join("dns.pcap");
    let file = fixture.to_str().expect("utf-8 path");
    for (args, var, value) in [
        (&["read", file][..], "PODWIRE_THREADS", "x"),
        (&["read", file][..], "PODWIRE_FORMAT", "yaml"),
        (&["agent"][..], "PODWIRE_LISTEN", "nowhere"),
        (&["agent"][..], "PODWIRE_PEER_TIMEOUT_MS", "-1"),
    ] {
        let out = run(args, b"", &[(var, value)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(&format!("{var}={value}")), "{var}: {err}");
    }
}

/// A bad value typed on the command line is still named by its flag.
#[test]
fn a_bad_flag_value_is_named_by_its_flag() {
    let fixture = data_dir().join("dns.pcap");
    let out = run(
        &[
            "read",
            "--threads",
            "x",
            fixture.to_str().expect("utf-8 path"),
        ],
        b"",
        &[("PODWIRE_THREADS", "2")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--threads"), "{err}");
    assert!(!err.contains("PODWIRE_THREADS"), "{err}");
}

/// `--listen localhost:6676` was "invalid socket address syntax"; a name
/// that resolves is served on what it resolves to.
#[test]
fn serve_listens_on_a_host_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("dns.pcap")],
        &["--serve", "localhost:0"],
        &dir.path().join("log"),
    );
    assert!(s.addr.ip().is_loopback(), "{}", s.addr);
    let (status, body) = http_get(s.addr, "/healthz").expect("GET /healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
}

/// `--listen :6676` was rejected; it means every IPv4 address, as the
/// chart's `0.0.0.0:6676` does.
#[test]
fn serve_listens_on_a_bare_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("dns.pcap")],
        // Every address, nobody checking: asked for by name, and warned of.
        &["--serve", ":0", "--api-auth", "none"],
        &dir.path().join("log"),
    );
    assert!(s.addr.ip().is_unspecified(), "{}", s.addr);
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    assert!(log.contains("WARNING: anyone who reaches"), "{log}");
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], s.addr.port()));
    let (status, body) = http_get(local, "/healthz").expect("GET /healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
}

/// The agent takes the same forms (the run stops at a later check, before
/// it needs privileges, so this runs as any user).
#[test]
fn agent_accepts_listen_as_port_or_host_name() {
    for listen in [":6676", "localhost:6676", "[::1]:6676", "127.0.0.1:6676"] {
        let args = [
            "agent",
            "--listen",
            listen,
            "--api-auth",
            "none",
            "--store-mib",
            "0",
        ];
        let out = run(&args, b"", &[]);
        let err = stderr(&out);
        assert!(!err.contains("--listen"), "{listen}: {err}");
        assert!(
            err.contains("store-mib must be at least 1"),
            "{listen}: {err}"
        );
    }
    let out = run(&["agent", "--listen", "no-such-host.invalid:1"], b"", &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no-such-host.invalid"), "{err}");
}

/// `--kubernetes on` without a cluster logged kube's raw error chain twice
/// ("failed to infer config: in-cluster: (failed to read an incluster
/// environment variable: ...), kubeconfig: (...)"), once for names and
/// once for capture. One line says what is missing and what to do. Needs
/// root (the agent's packet capture), else SKIPPED.
#[test]
fn kubernetes_on_without_a_cluster_is_one_clear_line() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    crate::util::skip_unless!(
        "kubernetes_on_without_a_cluster_is_one_clear_line",
        podwire_lab::require_root()
    );
    let home = tempfile::tempdir().expect("temp dir");
    let log = home.path().join("agent.log");
    let mut cmd = Command::new(crate::util::podwire());
    cmd.args([
        "agent",
        "--kubernetes",
        "on",
        "--no-ebpf",
        "--listen",
        "127.0.0.1:0",
    ])
    .args(["--interfaces", "podwire-none"])
    .env("HOME", home.path())
    .env_remove("KUBECONFIG")
    .env_remove("KUBERNETES_SERVICE_HOST")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("log"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PODWIRE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn podwire agent");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if (text.contains("serving http://") && text.contains("Kubernetes"))
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Kubernetes") || l.contains("kubeconfig"))
        .collect();
    assert_eq!(lines.len(), 1, "one line about Kubernetes:\n{text}");
    let line = lines[0];
    let missing = home.path().join(".kube/config");
    for want in [
        "not running in a pod",
        "KUBERNETES_SERVICE_HOST",
        missing.to_str().expect("utf-8 path"),
        "--kubeconfig FILE",
        "--kubernetes off",
    ] {
        assert!(line.contains(want), "{want:?} not in: {line}");
    }
    assert!(!line.contains("failed to infer config"), "{line}");
}
