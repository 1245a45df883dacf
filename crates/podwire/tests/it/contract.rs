//! The command-line contract of `podwire read`, as scripts rely on it: exit
//! 0 for any capture file, even a damaged one; a non-zero exit with an error
//! naming the file when it is not a capture at all; records only on stdout.

use crate::util::{data_dir, read_jsonl};
use podwire_lab::child::Outcome;

#[test]
fn not_a_capture_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "this is not a capture file\n").expect("write test file");
    let r = read_jsonl(&[&file]);
    assert!(
        matches!(r.watched.outcome, Outcome::Exited(c) if c != 0 && c != 101),
        "expected a clean non-zero exit, got {:?}: {}",
        r.watched.outcome,
        r.stderr()
    );
    assert!(
        r.watched.stdout.is_empty(),
        "records on stdout for a non-capture"
    );
    let mentions: Vec<String> = r
        .stderr()
        .lines()
        .filter(|l| l.contains("notes.txt"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        mentions.len(),
        1,
        "expected one error line naming the file, stderr was:\n{}",
        r.stderr()
    );
}

#[test]
fn header_only_capture_is_empty_and_succeeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("empty.pcap");
    let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    std::fs::write(&file, header).expect("write test file");
    let r = read_jsonl(&[&file]);
    assert!(r.succeeded(), "{:?}: {}", r.watched.outcome, r.stderr());
    assert!(r.watched.stdout.is_empty(), "records from an empty capture");
}

#[test]
fn cut_capture_still_succeeds_with_what_was_readable() {
    let full = std::fs::read(data_dir().join("http.pcap")).expect("read fixture http.pcap");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cut.pcap");
    // Cut in the middle of a record.
    std::fs::write(&file, &full[..full.len() / 2 + 7]).expect("write test file");
    let r = read_jsonl(&[&file]);
    assert!(r.succeeded(), "{:?}: {}", r.watched.outcome, r.stderr());
    assert!(
        r.output.schema_errors.is_empty(),
        "{:?}",
        r.output.schema_errors
    );
    assert!(
        !r.output.connections.is_empty(),
        "no connection from the readable half"
    );
}
