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

/// `podwire ARGS` with `stdin` as its standard input and `env` added to its
/// environment (the `PODWIRE_*` of the test's own environment removed).
pub fn run(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(crate::util::podwire());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PODWIRE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn podwire");
    let mut input = child.stdin.take().expect("stdin");
    // A refusal may close standard input before reading it all.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("podwire output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `podwire read DIR` printed the OS error twice ("read error: Is a
/// directory (os error 21): Is a directory (os error 21)") between a table
/// header and an empty summary.
#[test]
fn a_directory_is_one_error_without_table_or_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("utf-8 temp path");
    let out = run(&["read", "--format", "table", path], b"", &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{err}");
    assert!(lines[0].contains(path), "{err}");
    assert!(lines[0].contains("directory"), "{err}");
    assert_eq!(lines[0].matches("os error").count(), 0, "{err}");
}

/// `echo hi | podwire read -` said the input "starts with [68, 69, 0a,
/// 00]": the three bytes it had, padded to four with a zero it never read.
#[test]
fn a_short_input_shows_only_the_bytes_it_has() {
    let out = run(&["read", "-"], b"hi\n", &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let line = err
        .lines()
        .find(|l| l.contains("not a pcap or pcapng file"))
        .unwrap_or_else(|| panic!("no refusal in:\n{err}"));
    assert!(line.contains("68 69 0a"), "{line}");
    assert!(!line.contains("00"), "a byte that was never read: {line}");
    // Nothing was a capture: no summary of nothing.
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// One table row's time, from its first column.
fn row_time(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The table had no time column and came out in the order records were
/// finished (a connection after its own requests, shards interleaved).
#[test]
fn the_table_has_a_time_column_in_time_order() {
    let file = data_dir().join("mixed.pcap");
    let file = file.to_str().expect("utf-8 path");
    let jsonl = read_jsonl(&[std::path::Path::new(file)]);
    let mut want: Vec<String> = jsonl
        .watched
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("a JSON record");
            let ts = v["ts"].as_str().expect("ts").to_string();
            // Rows show milliseconds: 2024-05-01T12:00:00.123Z.
            format!("{}Z", &ts[..23])
        })
        .collect();
    want.sort();
    assert!(want.len() > 10, "too few records to tell an order");
    for threads in ["1", "2"] {
        let out = run(
            &["read", "--format", "table", "--threads", threads, file],
            b"",
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        let mut lines = table.lines();
        let header = lines.next().expect("a header");
        assert!(header.starts_with("TIME"), "{header}");
        let times: Vec<String> = lines.map(row_time).collect();
        assert_eq!(times, want, "--threads {threads}:\n{table}");
    }
}

/// Sizes in the table said kB and MB (powers of 1000) where the web UI says
/// KiB and MiB.
#[test]
fn table_sizes_are_binary_units_like_the_ui() {
    let file = data_dir().join("http.pcap");
    let out = run(
        &[
            "read",
            "--format",
            "table",
            file.to_str().expect("utf-8 path"),
        ],
        b"",
        &[],
    );
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(table.contains(" KiB"), "{table}");
    for unit in [" kB", " MB", " GB"] {
        assert!(!table.contains(unit), "{unit} in:\n{table}");
    }
}
