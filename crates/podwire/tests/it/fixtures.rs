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
