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
