//! Live traffic in the lab: real servers and clients in network namespaces,
//! captured with tcpdump, read back by podwire, and checked against both
//! what the clients saw and tshark. Catches what fixed fixtures cannot:
//! today's kernel, today's curl and nginx. Needs root and the lab's tools;
//! prints SKIPPED otherwise.

use crate::util::{lab_lock, read_jsonl, skip_unless};
use podwire_lab::capture::{self, Capture, CaptureOptions};
use podwire_lab::compare::compare;
use podwire_lab::scenario::{Cluster, Expected, DECODE_AS, HTTP_ODD_PORT, HTTP_PORT};
use podwire_lab::skip::require_lab;
use podwire_lab::tshark;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const TOOLS: &[&str] = &[
    "ip", "tcpdump", "tshark", "editcap", "nginx", "dnsmasq", "dig", "curl", "openssl",
];

/// Reads `file` with podwire and returns every disagreement with the clients
/// and with tshark, one line each.
fn check_capture(file: &Path, expected: &Expected) -> Vec<String> {
    let mut problems = Vec::new();
    let r = read_jsonl(&[file]);
    if !r.succeeded() {
        return vec![format!(
            "podwire exited {:?}: {}",
            r.watched.outcome,
            r.stderr()
        )];
    }
    problems.extend(r.output.schema_errors.iter().cloned());
    problems.extend(
        expected
            .check(&r.output)
            .into_iter()
            .map(|p| format!("vs clients: {p}")),
    );
    match tshark::reference(file, DECODE_AS, Duration::from_secs(120)) {
        Ok(reference) => {
            problems.extend(
                compare(&reference, &r.output)
                    .into_iter()
                    .map(|d| format!("vs tshark: {d}")),
            );
        }
        Err(e) => problems.push(format!("tshark: {e}")),
    }
    problems
}

#[test]
fn live_traffic_on_the_bridge_matches_clients_and_tshark() {
    skip_unless!(
        "live_traffic_on_the_bridge_matches_clients_and_tshark",
        require_lab(TOOLS)
    );
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bridge.pcap");
    let c = Cluster::start().expect("start the lab cluster");
    let cap = Capture::start(c.lab.switch_ns(), "br0", &file, &CaptureOptions::default())
        .expect("start tcpdump on the bridge");
    let mut exp = c.dns(IpAddr::V4(c.dns.ipv4)).expect("dns over IPv4");
    exp.extend(c.dns(IpAddr::V6(c.dns.ipv6)).expect("dns over IPv6"));
    exp.extend(
        c.http(IpAddr::V4(c.web.ipv4), HTTP_PORT)
            .expect("http over IPv4"),
    );
    exp.extend(
        c.http(IpAddr::V6(c.web.ipv6), HTTP_ODD_PORT)
            .expect("http on an odd port over IPv6"),
    );
    exp.extend(c.https(IpAddr::V6(c.web.ipv6)).expect("https over IPv6"));
    exp.extend(c.tls(IpAddr::V4(c.tls.ipv4)).expect("tls over IPv4"));
    cap.stop().expect("stop tcpdump");

    // The clients must have seen what the scenario intends, or the
    // comparison below checks the wrong thing.
    let codes: Vec<u16> = exp.http.iter().map(|h| h.status).collect();
    assert_eq!(
        codes,
        [200, 200, 200, 200, 404, 201, 200, 200, 200, 200, 200, 404, 201, 200]
    );
    let rcodes: Vec<&str> = exp.dns.iter().map(|d| d.rcode.as_str()).collect();
    assert_eq!(
        rcodes.iter().filter(|r| **r == "NXDOMAIN").count(),
        4,
        "{rcodes:?}"
    );

    let problems = check_capture(&file, &exp);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn live_cooked_nanosecond_pcapng_matches_clients_and_tshark() {
    skip_unless!(
        "live_cooked_nanosecond_pcapng_matches_clients_and_tshark",
        require_lab(TOOLS)
    );
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("any.pcap");
    let ng = dir.path().join("any.pcapng");
    let c = Cluster::start().expect("start the lab cluster");
    let opts = CaptureOptions {
        nano: true,
        link_type: Some("LINUX_SLL2".into()),
        ..CaptureOptions::default()
    };
    let cap = Capture::start(&c.client.ns, "any", &raw, &opts).expect("start tcpdump on any");
    let mut exp = c
        .http(IpAddr::V6(c.web.ipv6), HTTP_PORT)
        .expect("http over IPv6");
    exp.extend(c.dns(IpAddr::V4(c.dns.ipv4)).expect("dns over IPv4"));
    exp.extend(c.tls(IpAddr::V6(c.tls.ipv6)).expect("tls over IPv6"));
    cap.stop().expect("stop tcpdump");
    assert_eq!(
        capture::file_format(&raw).expect("read capture header"),
        capture::FileFormat::Pcap {
            nano: true,
            link_type: 276
        }
    );
    capture::to_pcapng(&raw, &ng).expect("convert to pcapng");

    let problems = check_capture(&ng, &exp);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
