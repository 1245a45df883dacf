//! TLS 1.3 certificates, fetched live (`--tls-cert-fetch on`): nginx
//! (OpenSSL 3, TLS 1.3) in one lab pod, curl in another. The first
//! connection's TLS record has no certificate (TLS 1.3 encrypts it); the
//! agent then makes its own handshake with the same SNI and address, and
//! later records of that server carry the certificate, marked `fetched`,
//! equal to what `openssl s_client` is shown. Needs root and the lab's tools.

use crate::util::{lab_lock, podwire, skip_unless};
use podwire_lab::agent::Agent;
use podwire_lab::clients::{self, CurlOptions, Transfer};
use podwire_lab::scenario::{Cluster, HTTPS_PORT};
use podwire_lab::skip::require_lab;
use serde_json::Value;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "nginx", "dnsmasq", "openssl", "curl"];

/// The subject and notAfter (`YYYY-MM-DD HH:MM:SSZ`) `openssl s_client`
/// is shown by the server for `sni`.
fn openssl_sees(c: &Cluster, sni: &str) -> (String, String) {
    let script = format!(
        "openssl s_client -connect {}:{HTTPS_PORT} -servername {sni} </dev/null 2>/dev/null \
         | openssl x509 -noout -subject -enddate -nameopt RFC2253 -dateopt iso_8601",
        c.web.ipv4
    );
    let out = c
        .client
        .command("sh")
        .args(["-c", &script])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
    };
    (field("subject="), field("notAfter="))
}

/// Every TLS record to `server`; each must come from `client` (the
/// agent's own handshakes are left out of its records).
fn tls_records(agent: &Agent, client: &str, server: &str) -> Vec<Value> {
    let all = agent.json("/api/v1/tls?limit=1000").expect("tls");
    let to_server: Vec<Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["server"]["ip"].as_str() == Some(server))
        .cloned()
        .collect();
    for t in &to_server {
        assert_eq!(t["client"]["ip"].as_str(), Some(client), "{t}");
    }
    to_server
}

#[test]
fn tls13_certificates_are_fetched_once_and_match_what_openssl_sees() {
    let test = "tls13_certificates_are_fetched_once_and_match_what_openssl_sees";
    skip_unless!(test, require_lab(TOOLS));
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    // The agent's handshakes go out from the namespace it captures in,
    // which must reach the pods as a node does.
    c.lab.address_switch().expect("switch address");
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = Agent::start(
        podwire(),
        &[
            "--netns",
            &netns,
            "--interfaces",
            "p*",
            "--tls-cert-fetch",
            "on",
        ],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");

    let web = c.web.ipv4.to_string();
    let client = c.client.ipv4.to_string();
    let sni = "web.lab.test";
    let opts = CurlOptions {
        resolve: vec![format!("{sni}:{HTTPS_PORT}:{web}")],
        insecure: true,
        http1_1: true,
    };
    let url = format!("https://{sni}:{HTTPS_PORT}/small.txt");
    let curl = || {
        let r = clients::curl(&c.client, &[Transfer::get(url.clone())], &opts).expect("curl");
        assert_eq!(r[0].code, 200);
    };
    curl();
    // Each connection ends in one TLS record; wait for curl's.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let r = tls_records(&agent, &client, &web);
        if let Some(t) = r.iter().find(|t| t["sni"] == sni) {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "no TLS record\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(first["version"], "TLS 1.3", "{first}");
    assert_eq!(first["certificate"], Value::Null, "encrypted: {first}");

    // Later connections get the fetched certificate.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fetched = loop {
        curl();
        let r = tls_records(&agent, &client, &web);
        if let Some(t) = r
            .iter()
            .find(|t| t["sni"] == sni && t["certificate"]["fetched"] == true)
        {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no fetched certificate: {r:#?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let cert = &fetched["certificate"];
    let (subject, not_after) = openssl_sees(&c, sni);
    assert_eq!(cert["subject"].as_str(), Some(subject.as_str()), "{cert}");
    // openssl: "2036-12-05 16:40:00Z"; the record: RFC 3339 in
    // nanoseconds ("2036-12-05T16:40:00.000000000Z").
    let not_after = not_after.replace(' ', "T").replace('Z', ".000000000Z");
    assert_eq!(
        cert["not_after"].as_str(),
        Some(not_after.as_str()),
        "{cert}"
    );
    assert_eq!(
        cert["sans"],
        serde_json::json!(["lab.test", "*.lab.test"]),
        "{cert}"
    );
    // Counted: one handshake gave it (the first connection's record asked
    // for it; later ones found it), and the records that got it.
    let (_, metrics) = agent.get("/metrics").expect("metrics");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert_eq!(
        value("podwire_tls_cert_fetches_total{outcome=\"fetched\"} "),
        1.0
    );
    assert!(value("podwire_tls_cert_fetched_records_total ") >= 1.0);
    let status = agent.json("/api/v1/status").expect("status");
    assert_eq!(status["tls_cert_fetch"]["fetched"], 1, "{status}");
    let exit = agent.stop().expect("agent stops on SIGTERM");
    assert!(exit.success(), "agent exit: {exit:?}");
}
