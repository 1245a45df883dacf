//! The API guarded: every route that holds data answers 401 without a
//! token, 403 to a caller without the grant (with the API server's reason),
//! 200 with it; `/healthz`, the UI's files and the OpenAPI document stay
//! open. Over TLS with a certificate from `openssl`, swapped under the
//! running agent; peers ask each other over TLS with a token. The clients
//! are real: `curl` and `openssl s_client`. The routes come from
//! docs/openapi.json, so a new route is checked as soon as it is documented.
//! Agents need root (packet capture), else SKIPPED.

use crate::util::{podwire, skip_unless};
use podwire_lab::agent::{Agent, Launch};
use podwire_lab::kubeapi::FakeApiServer;
use podwire_lab::skip::{require_root, require_tools};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Routes anyone may read.
const OPEN: &[&str] = &[
    "/healthz",
    "/api/v1/openapi.json",
    "/",
    "/ui/",
    "/ui/{asset}",
];

/// Every documented path but the open ones and the capture (which has its
/// own, stricter check), with path parameters filled in.
fn guarded_paths() -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json"),
        )
        .expect("openapi.json"),
    )
    .expect("openapi.json is JSON");
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter(|p| !OPEN.contains(&p.as_str()) && *p != "/api/v1/capture")
        .map(|p| p.replace("{id}", "1"))
        .collect();
    assert!(paths.len() >= 20, "{paths:?}");
    paths
}

/// `curl` of `url` with extra arguments: (status, body). The stream is cut
/// after a second (its status and headers are what count).
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "3", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and a server certificate for `podwire` and 127.0.0.1, signed by it,
/// with `cn` as the server's common name (to tell certificates apart).
pub(crate) fn certificates(dir: &Path, cn: &str) {
    let p = |f: &str| dir.join(f).display().to_string();
    if !dir.join("ca.pem").exists() {
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=podwire test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]));
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:podwire,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={cn}"),
        "-keyout",
        &p("new.key"),
        "-out",
        &p("server.csr"),
    ]));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("new.pem"),
    ]));
    // Key first, then the certificate: a reader between the two renames
    // sees a mismatch and keeps the last pair, as the agent must.
    std::fs::rename(dir.join("new.key"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("new.pem"), dir.join("server.pem")).unwrap();
}

/// The subject the server at `addr` presents in a TLS handshake.
fn served_subject(addr: std::net::SocketAddr) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "podwire",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_default()
        .replace(' ', "")
}

/// An agent on `lo` serving HTTPS with `dir`'s server certificate (see
/// [`certificates`]), `token_flag` naming `dir/token_file`, plus `extra`.
fn tls_agent(dir: &Path, token_flag: &str, token_file: &str, extra: &[&str], log: &str) -> Agent {
    let arg = |f: &str| dir.join(f).display().to_string();
    let (cert, key, tokens) = (arg("server.pem"), arg("server.key"), arg(token_file));
    let mut args = vec!["--no-ebpf", "--interfaces", "lo", token_flag, &tokens];
    args.extend(["--tls-cert", &cert, "--tls-key", &key]);
    args.extend_from_slice(extra);
    Agent::start(podwire(), &args, &dir.join(log)).expect("start the agent")
}

/// `/api/v1/peers` of the TLS agent `agent`, read with the reader token.
fn peers_of(agent: &Agent, ca: &str) -> (u16, String) {
    let url = format!("https://podwire:{}/api/v1/peers", agent.addr().port());
    let resolve = format!("podwire:{}:127.0.0.1", agent.addr().port());
    let auth = "Authorization: Bearer reader-token";
    curl(&url, &["--resolve", &resolve, "--cacert", ca, "-H", auth])
}

#[test]
fn token_file_guards_every_data_route_over_tls_and_peers_use_it() {
    let name = "token_file_guards_every_data_route_over_tls_and_peers_use_it";
    skip_unless!(
        name,
        require_root().and_then(|_| require_tools(&["curl", "openssl"]))
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d, "first");
    std::fs::write(d.join("tokens"), "# readers\nreader-token alice\n").unwrap();
    std::fs::write(d.join("peer-token"), "reader-token\n").unwrap();
    let arg = |f: &str| d.join(f).display().to_string();
    let cert = arg("server.pem");
    let a = tls_agent(d, "--api-token-file", "tokens", &[], "a.log");
    let url = |path: &str| format!("https://podwire:{}{path}", a.addr().port());
    let resolve = format!("podwire:{}:127.0.0.1", a.addr().port());
    let ca = arg("ca.pem");
    let tls = ["--resolve", resolve.as_str(), "--cacert", ca.as_str()];
    fn with<'a>(tls: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [tls, extra].concat()
    }

    for path in guarded_paths() {
        let (code, body) = curl(&url(&path), &tls);
        assert_eq!(code, 401, "{path} without a token: {body}");
        assert!(body.contains("needs a bearer token"), "{path}: {body}");
        let (code, _) = curl(
            &url(&path),
            &with(&tls, &["-H", "Authorization: Bearer nope"]),
        );
        assert_eq!(code, 401, "{path} with an unknown token");
        let (code, body) = curl(
            &url(&path),
            &with(&tls, &["-H", "Authorization: Bearer reader-token"]),
        );
        // `/tlsparser/api/data/1`: no such record, and saying so needs the grant too.
        let want = if path.ends_with("/1") { 404 } else { 200 };
        assert_eq!(code, want, "{path} with the token: {body}");
        let (code, _) = curl(
            &url(&path),
            &with(&tls, &["-H", "X-Podwire-Token: reader-token"]),
        );
        assert_eq!(code, want, "{path} with the proxy-safe header");
    }
    for path in ["/healthz", "/api/v1/openapi.json", "/ui/"] {
        assert_eq!(curl(&url(path), &tls).0, 200, "{path} stays open");
    }
    let (_, head) = curl(
        &url("/api/v1/http"),
        &with(&tls, &["-D", "-", "-o", "/dev/null"]),
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"podwire\""),
        "{head}"
    );
    // Not over plain HTTP, and not for a client that does not trust the CA.
    let plain = format!("http://{}/healthz", a.addr());
    assert_ne!(curl(&plain, &[]).0, 200, "plain HTTP on the TLS port");
    assert_eq!(
        curl(&url("/healthz"), &["--resolve", resolve.as_str()]).0,
        0
    );

    // A new certificate under the running agent is served from then on.
    assert!(
        served_subject(a.addr()).contains("CN=first"),
        "{}",
        served_subject(a.addr())
    );
    std::thread::sleep(Duration::from_millis(1100));
    certificates(d, "second");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !served_subject(a.addr()).contains("CN=second") {
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded: {}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, metrics) = curl(
        &url("/metrics"),
        &with(&tls, &["-H", "Authorization: Bearer reader-token"]),
    );
    let refused = guarded_paths().len() * 2;
    for want in [
        "podwire_api_certificate_reloads_total 1".to_string(),
        format!(
            "podwire_api_requests_refused_total{{reason=\"unauthenticated\"}} {}",
            refused + 1
        ),
    ] {
        assert!(metrics.lines().any(|l| l == want), "{want}: {metrics}");
    }

    // A peer asks A over TLS with its token; with a CA that did not sign
    // A's certificate, or without a token, it says why A is missing.
    let peer = a.addr().to_string();
    let (peer_token, peer_ca) = (arg("peer-token"), arg("ca.pem"));
    let b_extra = [
        "--peers",
        &peer,
        "--peer-ca",
        &peer_ca,
        "--peer-token-file",
        &peer_token,
    ];
    let b = tls_agent(d, "--api-token-file", "tokens", &b_extra, "b.log");
    let (code, body) = peers_of(&b, &ca);
    let peers: serde_json::Value = serde_json::from_str(&body).expect("peers JSON");
    assert_eq!(code, 200, "{body}");
    assert_eq!(peers[0]["ok"], true, "{body}");
    assert_eq!(peers[0]["status"]["api"]["auth"], "token-file", "{body}");
    drop(b);
    let c_extra = ["--peers", &peer, "--peer-ca", &cert];
    let c = tls_agent(d, "--api-token-file", "tokens", &c_extra, "c.log");
    let (_, body) = peers_of(&c, &ca);
    assert!(
        body.contains("\"ok\":false") && body.contains("TLS"),
        "{body}"
    );
}

#[test]
fn kubernetes_reviews_decide_who_reads_records_and_metrics() {
    let name = "kubernetes_reviews_decide_who_reads_records_and_metrics";
    skip_unless!(name, require_root().and_then(|_| require_tools(&["curl"])));
    let api = FakeApiServer::start().expect("fake API server");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("agent.kubeconfig");
    api.write_kubeconfig_with_token(&kubeconfig, "agent-token")
        .expect("kubeconfig");
    api.require_token(Some("agent-token"));
    api.add_token("agent-token", "system:serviceaccount:podwire:agent", &[]);
    for review in ["tokenreviews", "subjectaccessreviews"] {
        let group = if review == "tokenreviews" {
            "authentication.k8s.io"
        } else {
            "authorization.k8s.io"
        };
        api.allow(
            "system:serviceaccount:podwire:agent",
            "create",
            group,
            review,
            None,
        );
    }
    // The agent's own watches.
    api.allow("system:serviceaccount:podwire:agent", "*", "*", "*", None);
    api.add_token("alice-token", "alice", &["readers"]);
    api.add_token("bob-token", "bob", &[]);
    api.add_token(
        "prom-token",
        "system:serviceaccount:monitoring:prometheus",
        &[],
    );
    api.allow("readers", "get", "podwire.io", "records", None);
    api.allow_non_resource(
        "system:serviceaccount:monitoring:prometheus",
        "get",
        "/metrics",
    );

    let kc = kubeconfig.display().to_string();
    let args = [
        "--no-ebpf",
        "--interfaces",
        "lo",
        "--kubeconfig",
        &kc,
        "--api-auth",
        "kubernetes",
    ];
    let agent = Agent::launch(
        &Launch::default(),
        podwire(),
        &args,
        &dir.path().join("agent.log"),
    )
    .expect("agent");
    let url = |path: &str| format!("http://{}{path}", agent.addr());
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    for path in guarded_paths() {
        let records = path != "/metrics";
        let (code, body) = curl(&url(&path), &[]);
        assert_eq!(code, 401, "{path}: {body}");
        let (code, body) = curl(&url(&path), &["-H", &bearer("forged")]);
        assert_eq!(code, 401, "{path}: {body}");
        assert!(body.contains("token not accepted"), "{path}: {body}");
        let (code, body) = curl(&url(&path), &["-H", &bearer("bob-token")]);
        assert_eq!(code, 403, "{path}: {body}");
        let want = if records {
            "user \"bob\" cannot get resource \"records\" in API group \"podwire.io\""
        } else {
            "user \"bob\" cannot get path \"/metrics\""
        };
        assert!(body.contains(want), "{path}: {body}");
        let ok = if path.ends_with("/1") { 404 } else { 200 };
        let (alice, prom) = if records { (ok, 403) } else { (403, 200) };
        assert_eq!(
            curl(&url(&path), &["-H", &bearer("alice-token")]).0,
            alice,
            "{path} alice"
        );
        assert_eq!(
            curl(&url(&path), &["-H", &bearer("prom-token")]).0,
            prom,
            "{path} prometheus"
        );
    }
    // Answers are kept a while: the UI's polling is not a review per request.
    let before = api.stats();
    for _ in 0..5 {
        assert_eq!(
            curl(&url("/api/v1/http"), &["-H", &bearer("alice-token")]).0,
            200
        );
    }
    let after = api.stats();
    assert_eq!(after.token_reviews, before.token_reviews, "cached");
    assert_eq!(after.access_reviews, before.access_reviews, "cached");
    // The API server down: a new caller is refused with 503, not let in.
    api.set_unavailable(true);
    api.add_token("carol-token", "carol", &["readers"]);
    let (code, body) = curl(&url("/api/v1/http"), &["-H", &bearer("carol-token")]);
    assert_eq!(code, 503, "{body}");
    api.set_unavailable(false);
}

/// A real Prometheus scrapes the guarded agent over HTTPS with a bearer
/// token, as the chart's ServiceMonitor has it do; without the token its
/// scrapes fail with the agent's 401.
#[test]
fn a_real_prometheus_scrapes_with_a_bearer_token_over_https() {
    use podwire_lab::prometheus::{require_prometheus, Prometheus, Scrape};
    let name = "a_real_prometheus_scrapes_with_a_bearer_token_over_https";
    skip_unless!(
        name,
        require_root()
            .and_then(|_| require_tools(&["openssl"]))
            .and_then(|_| require_prometheus())
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d, "prometheus-target");
    std::fs::write(d.join("tokens"), "prom-token prometheus\n").unwrap();
    std::fs::write(d.join("prom-token"), "prom-token\n").unwrap();
    let agent = tls_agent(d, "--api-token-file", "tokens", &[], "agent.log");
    let https = Some((d.join("ca.pem"), "podwire".to_string()));
    let with_token = Scrape {
        bearer_token_file: Some(d.join("prom-token")),
        https: https.clone(),
    };
    let prom = Prometheus::start_with(&[agent.addr()], Duration::from_secs(1), &with_token)
        .expect("prometheus");
    prom.wait_for_targets_up(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\nagent: {}", agent.log()));
    let up = prom.query_scalar("up{job=\"podwire\"}").expect("up");
    assert_eq!(up, 1.0);
    let refused = prom
        .query("podwire_api_requests_refused_total")
        .expect("the agent's own series, scraped");
    assert!(!refused.is_empty(), "no podwire_api_* series in Prometheus");

    let without = Scrape {
        bearer_token_file: None,
        https,
    };
    let bare = Prometheus::start_with(&[agent.addr()], Duration::from_secs(1), &without)
        .expect("prometheus without a token");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let t = bare.targets().expect("targets");
        if let Some(t) = t.iter().find(|t| t.last_scrape.is_some()) {
            assert_eq!(t.health, "down", "{t}");
            assert!(t.last_error.contains("401"), "{t}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never scraped: {t:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `podwire sniff --agent https://...` (a port-forwarded agent of the
/// chart, which serves TLS): the agent's certificate is checked against
/// `--agent-ca`, and the capture arrives; without the CA, or with one that
/// did not sign it, nothing is sent.
#[test]
fn sniff_reaches_an_https_agent_directly_with_its_ca() {
    let name = "sniff_reaches_an_https_agent_directly_with_its_ca";
    skip_unless!(
        name,
        require_root().and_then(|_| require_tools(&["openssl", "curl"]))
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d, "sniffed");
    std::fs::write(d.join("capture-tokens"), "cap-token ops\n").unwrap();
    let arg = |f: &str| d.join(f).display().to_string();
    let cert = arg("server.pem");
    let agent = tls_agent(
        d,
        "--capture-token-file",
        "capture-tokens",
        &[],
        "agent.log",
    );
    let url = format!("https://127.0.0.1:{}", agent.addr().port());
    let sniff = |extra: &[&str], out: &Path| {
        Command::new(podwire())
            .args(["sniff", "--agent", &url, "-i", "lo", "--token", "cap-token"])
            .args(["--duration", "2s", "-f", "tcp port 9", "-o"])
            .arg(out)
            .args(extra)
            .output()
            .expect("podwire sniff")
    };
    let file = d.join("lo.pcapng");
    let traffic = std::thread::spawn(|| {
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(200));
            let _ = std::net::TcpStream::connect("127.0.0.1:9");
        }
    });
    let out = sniff(&["--agent-ca", &arg("ca.pem")], &file);
    traffic.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = crate::sniff::packets(&file);
    assert!(
        !frames.is_empty(),
        "the capture arrived over TLS with packets"
    );

    let refused = d.join("refused.pcapng");
    let out = sniff(&[], &refused);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--agent-ca"), "{err}");
    let out = sniff(&["--agent-ca", &cert], &refused);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("TLS"), "{err}");
    assert!(!refused.exists(), "nothing written without a trusted agent");
}
