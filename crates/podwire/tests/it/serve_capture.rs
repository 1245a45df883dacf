//! `podwire read --serve` over a capture made earlier: the API's relative
//! times (`since=5m`, the UI's windows) count back from the end of the
//! capture, not from the wall clock, and the server says it serves a
//! capture file.

use crate::serve::{json, serve};
use crate::util::data_dir;
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| format!("{} {} {}", r["ts"], r["client"], r["server"]))
        .collect();
    out.sort();
    out
}

/// `since=5m` on a capture older than five minutes answered nothing: "now"
/// was the wall clock.
#[test]
fn relative_times_count_back_from_the_end_of_the_capture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(
        &[data_dir().join("mixed.pcap")],
        &[],
        &dir.path().join("log"),
    );
    let all = json(s.addr, "/api/v1/connections");
    assert!(all.as_array().is_some_and(|a| a.len() > 3), "{all}");
    // The fixture spans well under five minutes.
    let recent = json(s.addr, "/api/v1/connections?since=5m");
    assert_eq!(ids(&recent), ids(&all));
    let http = json(s.addr, "/api/v1/http?since=5m");
    assert!(!http.as_array().expect("array").is_empty(), "{http}");
    let graph = json(s.addr, "/api/v1/graph?since=15m&level=ip");
    assert!(
        !graph["edges"].as_array().expect("edges").is_empty(),
        "{graph}"
    );

    // Status says which clock: the capture's, ending at its last packet.
    let status = json(s.addr, "/api/v1/status");
    assert_eq!(status["mode"], "capture", "{status}");
    let end = status["now"].as_str().expect("now").to_string();
    let newest = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["last_seen"].as_str())
        .max()
        .expect("a last_seen")
        .to_string();
    assert_eq!(end, newest, "{status}");
    // A window before the end cuts records that ended earlier.
    let none = json(s.addr, "/api/v1/connections?until=1h");
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");
}
