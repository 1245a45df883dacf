//! `podwire read` against tshark on captures where the two once disagreed:
//! real clients and servers, captured on loopback, kept beside each parser's
//! other fixtures (`crates/parse-*/tests/data`, each folder's README says how
//! they were made). The parsers' own tests replay those fixtures into the
//! parser alone; these run the whole pipeline (tracking, reassembly, content
//! detection), where some of the disagreements were. The expected values
//! are tshark's, from the `.tshark` summary committed with each capture
//! (and checked against tshark itself when it is installed).

use crate::util::{data_dir, podwire};
use podwire_lab::skip::find_tool;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A parser crate's test data folder.
fn parser_data(krate: &str) -> PathBuf {
    data_dir().join(format!("../../../{krate}/tests/data"))
}

/// `podwire read --show-secrets --format jsonl FILE` with one thread (a
/// stable order), its records of `kind`.
fn records(file: &Path, kind: &str) -> Vec<Value> {
    let out = Command::new(podwire())
        .args([
            "read",
            "--show-secrets",
            "--threads",
            "1",
            "--format",
            "jsonl",
        ])
        .arg(file)
        .output()
        .expect("run podwire");
    assert!(out.status.success(), "podwire read {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON record"))
        .filter(|r| r["type"] == kind)
        .collect()
}

/// Per HTTP/2 stream and direction (`C`, `S`): DATA bytes and gRPC
/// messages, from a `tshark_summary.py` file (`data TCP SID DIR N`,
/// `grpc-messages TCP SID DIR N`).
fn tshark_summary(text: &str) -> BTreeMap<(String, u64, String), u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if let [kind @ ("data" | "grpc-messages"), _tcp, sid, dir, n] = f[..] {
            out.insert(
                (kind.to_owned(), sid.parse().expect("sid"), dir.to_owned()),
                n.parse().expect("count"),
            );
        }
    }
    out
}

/// A gRPC server sends its SETTINGS, which raise SETTINGS_MAX_FRAME_SIZE
/// to 4 MiB, as soon as it accepts, before the client's preface; the
/// client then sends each message in one DATA frame of up to 20005 bytes.
/// The tracker dropped server bytes that came before the client's, so the
/// parser held the client to 16384-byte frames, lost its place at the
/// first large one, and counted no request bytes or messages after it.
#[test]
fn http2_server_settings_sent_before_the_client_preface_are_not_lost() {
    let dir = parser_data("parse-http2");
    let pcap = dir.join("grpc_large.pcap");
    let summary = std::fs::read_to_string(dir.join("grpc_large.tshark")).expect("summary");
    let want = tshark_summary(&summary);
    let got = records(&pcap, "http");
    assert_eq!(got.len(), 3, "three calls: {got:#?}");
    let n = |k: &str, sid: u64, d: &str| want.get(&(k.to_owned(), sid, d.to_owned())).copied();
    for r in &got {
        let sid = r["stream_id"].as_u64().expect("stream id");
        let grpc = &r["grpc"];
        assert_eq!(grpc["status"], 0, "stream {sid}");
        assert_eq!(
            r["request_body_bytes"].as_u64(),
            n("data", sid, "C"),
            "stream {sid}"
        );
        assert_eq!(
            r["response_body_bytes"].as_u64(),
            n("data", sid, "S"),
            "stream {sid}"
        );
        assert_eq!(
            grpc["request_messages"].as_u64(),
            n("grpc-messages", sid, "C"),
            "stream {sid}"
        );
        assert_eq!(
            grpc["response_messages"].as_u64(),
            n("grpc-messages", sid, "S"),
            "stream {sid}"
        );
    }
    // The largest request frame is over the default maximum: the case.
    assert!(n("data", 1, "C") > Some(16_384));
    // The summary is still what tshark reads in the capture.
    if find_tool("tshark").is_some() {
        let out = Command::new("python3")
            .arg(dir.join("tshark_summary.py"))
            .arg(&pcap)
            .arg("18913")
            .output()
            .expect("tshark_summary.py");
        if out.status.success() {
            assert_eq!(tshark_summary(&String::from_utf8_lossy(&out.stdout)), want);
        }
    }
}

/// A `.tshark` summary line by line, `STREAM REST`, for `stream`.
fn tshark_lines(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((stream, rest)) = line.split_once(' ') {
            out.entry(stream.to_owned())
                .or_default()
                .push(rest.to_owned());
        }
    }
    out
}

/// Records of `kind` per connection, by the client's port, after checking
/// that every one names `server_port` the server (as do the connection
/// records).
fn per_client(file: &Path, kind: &str, server_port: u64) -> BTreeMap<u64, Vec<Value>> {
    for c in records(file, "connection") {
        assert_eq!(c["server"]["port"], server_port, "{c}");
    }
    let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for r in records(file, kind) {
        assert_eq!(r["server"]["port"], server_port, "{r}");
        let client = r["client"]["port"].as_u64().expect("client port");
        out.entry(client).or_default().push(r);
    }
    out
}

/// Checks a committed summary against what the script makes of the
/// capture now, when tshark is here.
fn summary_is_tshark_s(script: &Path, pcap: &Path, port: &str, committed: &str) {
    if find_tool("tshark").is_none() {
        eprintln!("tshark not installed: the committed summary is not re-checked");
        return;
    }
    let out = Command::new("python3")
        .arg(script)
        .arg(pcap)
        .arg(port)
        .output()
        .expect("run the summary script");
    assert!(out.status.success(), "{}", script.display());
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

/// pgbench's connections to a server on port 54339, captured from the
/// middle: three of the four start with the server's messages. With both
/// ports ephemeral the first packet's sender was taken for the client, the
/// backend's messages were read as requests and 109 of 200 statements were
/// lost. Each connection must have one record per Execute tshark counts,
/// whose tags end tshark's CommandComplete tags (the first answers a
/// statement sent before the capture began).
#[test]
fn postgres_joined_mid_stream_on_ephemeral_ports_matches_tshark() {
    let dir = parser_data("parse-postgres");
    let pcap = dir.join("midstream_ephemeral.pcap");
    let summary = std::fs::read_to_string(dir.join("midstream_ephemeral.tshark")).expect("summary");
    let streams = tshark_lines(&summary);
    let got = per_client(&pcap, "postgres", 54339);
    let mut want_counts = Vec::new();
    let mut tags_of = Vec::new();
    for lines in streams.values() {
        for l in lines {
            if let Some(n) = l.strip_prefix("count Execute ") {
                want_counts.push(n.parse::<usize>().expect("count"));
            }
            if let Some(t) = l.strip_prefix("tags ") {
                tags_of.push(t.split('|').map(str::to_owned).collect::<Vec<_>>());
            }
        }
    }
    let mut got_counts: Vec<usize> = got.values().map(Vec::len).collect();
    got_counts.sort_unstable();
    want_counts.sort_unstable();
    assert_eq!(got_counts, want_counts, "statements per connection");
    assert_eq!(want_counts.iter().sum::<usize>(), 200);
    for (client, recs) in &got {
        // Only a statement still waiting for its answer when the capture
        // ended, the last, has no tag.
        let answered = recs.iter().take_while(|r| r["tag"].is_string()).count();
        assert!(recs.len() - answered <= 1, "client {client}: untagged");
        let tags: Vec<String> = recs[..answered]
            .iter()
            .map(|r| r["tag"].as_str().unwrap_or("").to_owned())
            .collect();
        assert!(
            tags_of.iter().any(|t| t.ends_with(&tags)),
            "client {client}: tags {tags:?} end no tshark stream's"
        );
    }
    summary_is_tshark_s(&dir.join("tshark.py"), &pcap, "54339", &summary);
}

/// redis-benchmark's 50 pipelining connections to port 63799, captured
/// from the middle: 44 start with a batch of `+OK` replies. Taken the wrong
/// way round, 176 of 672 SETs were recorded. Each connection must have one
/// record per SET tshark's RESP dissector reads from its client.
#[test]
fn redis_joined_mid_stream_on_ephemeral_ports_matches_tshark() {
    let dir = parser_data("parse-redis");
    let pcap = dir.join("midstream_ephemeral.pcap");
    let summary = std::fs::read_to_string(dir.join("midstream_ephemeral.tshark")).expect("summary");
    let streams = tshark_lines(&summary);
    let got = per_client(&pcap, "redis", 63799);
    let mut want_counts = Vec::new();
    for lines in streams.values() {
        for l in lines {
            if let Some(n) = l.strip_prefix("C cmd_SET=") {
                want_counts.push(n.parse::<usize>().expect("count"));
            }
        }
    }
    let mut got_counts: Vec<usize> = got.values().map(Vec::len).collect();
    got_counts.sort_unstable();
    want_counts.sort_unstable();
    assert_eq!(got_counts, want_counts, "SETs per connection");
    assert_eq!(want_counts.iter().sum::<usize>(), 672);
    for r in got.values().flatten() {
        assert_eq!(r["operation"], "SET", "{r}");
    }
    summary_is_tshark_s(&dir.join("tshark-summary.py"), &pcap, "63799", &summary);
}
