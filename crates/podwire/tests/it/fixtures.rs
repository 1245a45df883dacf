//! The committed fixtures (`tests/data`, made by
//! `cargo run -p podwire-lab --example make-fixtures`): real traffic of real
//! clients and servers, read by podwire and checked twice — against what
//! the clients saw (curl's status codes and body sizes, dig's ids and
//! rcodes, the TLS versions) and against tshark's dissection of the same
//! file. Needs no root; the tshark half is skipped without tshark.

use crate::util::{capture_files, data_dir, read_jsonl, skip_unless};
use podwire_lab::compare::compare;
use podwire_lab::scenario::{Expected, DECODE_AS};
use podwire_lab::{require_tools, tshark};
use std::collections::BTreeMap;
use std::time::Duration;

fn expected() -> BTreeMap<String, Expected> {
    let path = data_dir().join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid: {e}", path.display()))
}

#[test]
fn every_fixture_is_described() {
    let listed: Vec<String> = expected().into_keys().collect();
    let present: Vec<String> = capture_files(&data_dir())
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(present.len() >= 8, "fixtures missing: {present:?}");
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(
        listed_sorted, present,
        "tests/data and tests/data/expected.json disagree"
    );
}

#[test]
fn fixtures_match_what_the_clients_saw() {
    let mut problems = Vec::new();
    for (name, exp) in expected() {
        let path = data_dir().join(&name);
        let r = read_jsonl(&[&path]);
        if !r.succeeded() {
            problems.push(format!(
                "{name}: podwire exited {:?}: {}",
                r.watched.outcome,
                r.stderr()
            ));
            continue;
        }
        for e in &r.output.schema_errors {
            problems.push(format!("{name}: {e}"));
        }
        for p in exp.check(&r.output) {
            problems.push(format!("{name}: {p}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn fixtures_match_tshark() {
    skip_unless!("fixtures_match_tshark", require_tools(&["tshark"]));
    let files = capture_files(&data_dir());
    assert!(!files.is_empty(), "no fixtures in {}", data_dir().display());
    let mut problems = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reference = tshark::reference(path, DECODE_AS, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("tshark on {name}: {e}"));
        // A comparison against an empty reference proves nothing.
        assert!(
            !reference.tcp.is_empty(),
            "{name}: tshark found no TCP at all"
        );
        for i in &reference.inconsistencies {
            problems.push(format!("{name}: tshark disagrees with itself: {i}"));
        }
        let r = read_jsonl(&[path]);
        if !r.succeeded() {
            problems.push(format!(
                "{name}: podwire exited {:?}: {}",
                r.watched.outcome,
                r.stderr()
            ));
            continue;
        }
        for d in compare(&reference, &r.output) {
            problems.push(format!("{name}: {d}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from tshark:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `podwire read --format jsonl` with `--threads 1` (a stable record
/// order), in `format`: its stdout, or a description of the failure.
fn jsonl_bytes(path: &std::path::Path, format: &str) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new(crate::util::podwire())
        .args(["read", "--quiet", "--threads", "1", "--format", format])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run podwire: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "podwire --format {format} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// The hand-written JSON encoder (`podwire_record::json`) writes exactly
/// what serde's derive writes, for every record of every capture committed
/// in the repository (the parser crates' fixtures hold every body type:
/// HTTP/2 and gRPC, PostgreSQL, MySQL, Redis, Kafka, TLS, DNS).
#[test]
fn json_encoder_equals_serde_on_every_committed_capture() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates)
        .expect("crates/ is readable")
        .flatten()
    {
        files.extend(capture_files(&entry.path().join("tests/data")));
    }
    files.sort();
    assert!(files.len() >= 50, "captures missing: {files:?}");
    let mut problems = Vec::new();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for path in &files {
        let name = path.display().to_string();
        let (ours, reference) = match (jsonl_bytes(path, "jsonl"), jsonl_bytes(path, "jsonl-serde"))
        {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let (ours, reference) = (
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference),
        );
        let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), reference.lines().collect());
        if a.len() != b.len() {
            problems.push(format!("{name}: {} lines, serde {}", a.len(), b.len()));
        }
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            problems.push(format!(
                "{name}: first difference:\n  ours  {x}\n  serde {y}"
            ));
        }
        for line in &b {
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{name}: serde's line does not parse: {e}"));
                    continue;
                }
            };
            let mut kind = v["type"].as_str().unwrap_or("?").to_string();
            if v["version"] == "2" {
                kind.push_str(if v["grpc"].is_object() { "/grpc" } else { "/2" });
            }
            *kinds.entry(kind).or_default() += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Comparing nothing proves nothing: every body must have been written.
    for kind in [
        "connection",
        "tls",
        "http",
        "http/2",
        "http/grpc",
        "dns",
        "postgres",
        "mysql",
        "redis",
        "kafka",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|&n| n > 0),
            "no {kind} records compared: {kinds:?}"
        );
    }
}
