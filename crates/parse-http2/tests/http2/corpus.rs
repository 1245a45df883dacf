//! Third-party captures: Suricata's HTTP/2 test captures in the shared
//! corpus (`../shared/pcaps/suricata-verify`, files `http2-*` and
//! `dns-over-http2*`), checked against tshark's dissection of each.
//!
//! Needs the corpus, tshark and python3 (for `scripts/stream-fixture.py`);
//! without them the test prints why and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use podwire_http2::{looks_like_http2, Http2Config, Http2Parser};

use crate::util::{run_parser, Step};

fn corpus() -> Option<PathBuf> {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pcaps/suricata-verify");
    root.is_dir().then_some(root)
}

fn tshark(args: &[&str]) -> Option<String> {
    let out = Command::new("tshark").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The server port of each connection (the destination of its SYN).
fn server_ports(cap: &Path) -> Vec<String> {
    let cap = cap.to_str().unwrap_or_default();
    let out = tshark(&[
        "-r",
        cap,
        "-Y",
        "tcp.flags.syn==1 && tcp.flags.ack==0",
        "-T",
        "fields",
        "-e",
        "tcp.dstport",
    ]);
    let ports: BTreeSet<String> = out.unwrap_or_default().lines().map(str::to_owned).collect();
    ports.into_iter().collect()
}

/// `(stream id, method, path)` of each request tshark decodes.
fn tshark_requests(cap: &Path, port: &str) -> BTreeSet<(u32, String, String)> {
    let cap = cap.to_str().unwrap_or_default();
    let decode = format!("tcp.port=={port},http2");
    let out = tshark(&[
        "-r",
        cap,
        "-d",
        &decode,
        "-Y",
        "http2.header.name == \":method\"",
        "-T",
        "fields",
        "-E",
        "aggregator=\u{1f}",
        "-e",
        "http2.streamid",
        "-e",
        "http2.type",
        "-e",
        "http2.header.name",
        "-e",
        "http2.header.value",
    ])
    .unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in out.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [_, _, names, values] = cols[..] else {
            continue;
        };
        let names: Vec<&str> = names.split('\u{1f}').collect();
        let values: Vec<&str> = values.split('\u{1f}').collect();
        let mut method = None;
        for (n, v) in names.iter().zip(&values) {
            match *n {
                ":method" => method = Some(v.to_string()),
                ":path" => {
                    if let Some(m) = method.take() {
                        found.insert((0, m, v.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn suricata_http2_captures_agree_with_tshark() {
    let Some(root) = corpus() else {
        println!("skipped: no shared capture corpus (../shared/pcaps/suricata-verify)");
        return;
    };
    if tshark(&["-v"]).is_none() {
        println!("skipped: tshark is not installed");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stream-fixture.py");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        (name.starts_with("http2-") || name.starts_with("dns-over-http2"))
            && name.ends_with(".pcap")
    });
    files.sort();
    let mut checked = 0;
    for cap in &files {
        for port in server_ports(cap) {
            let only = format!("tcp.port == {port}");
            let out = Command::new("python3")
                .arg(&script)
                .arg(cap)
                .arg(&port)
                .arg(&only)
                .output();
            let Ok(out) = out else {
                println!("skipped: python3 is not available");
                return;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            let Ok(segments) = podwire_parse::fixture::parse(&text) else {
                continue;
            };
            let mut ours = BTreeSet::new();
            for conn in podwire_parse::fixture::by_stream(segments) {
                let first_client = conn.iter().find(|s| s.dir == crate::util::ToServer);
                let Some(first) = first_client else { continue };
                if !looks_like_http2(first.dir, &first.bytes) {
                    continue;
                }
                let parser = if first.bytes.starts_with(podwire_http2::PREFACE) {
                    Http2Parser::new(&Http2Config::default())
                } else {
                    Http2Parser::mid_stream(&Http2Config::default())
                };
                let steps: Vec<Step> = conn
                    .into_iter()
                    .map(|s| Step::Data(s.dir, s.ts, s.bytes))
                    .collect();
                let run = run_parser(parser, &steps);
                for e in run.events {
                    if let (Some(m), Some(p)) = (e.http.method, e.http.path) {
                        ours.insert((0, m, p));
                    }
                }
            }
            let theirs = tshark_requests(cap, &port);
            let name = cap.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            println!(
                "{name} port {port}: ours {} tshark {}",
                ours.len(),
                theirs.len()
            );
            assert_eq!(ours, theirs, "{name} port {port}");
            checked += 1;
        }
    }
    println!("{checked} capture/port pairs checked");
}
