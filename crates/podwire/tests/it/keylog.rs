//! TLS decrypted with key logs (`read --tls-keylog`, pcapng decryption
//! secrets), on captures of curl against nginx made by
//! `crates/tls-decrypt/tests/data/make.sh`: every request tshark finds with
//! the same key log, and nothing else; the connection keeps one record whose
//! counts come from packets; wrong, missing and unusable keys leave TLS
//! records, counted; a capture cut anywhere is read without a crash.

use crate::util::{podwire, skip_unless, tshark_fields};
use podwire_lab::child::{self, Outcome};
use podwire_lab::require_tools;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tls-decrypt/tests/data")
        .join(name)
}

/// `podwire read --format jsonl ARGS...`: its records and its stderr.
fn read(args: &[&std::ffi::OsStr]) -> (Vec<Value>, String) {
    let mut cmd = Command::new(podwire());
    cmd.args(["read", "--format", "jsonl"]).args(args);
    let w = child::run_watched(&mut cmd, Duration::from_secs(60), true).expect("podwire runs");
    let stderr = String::from_utf8_lossy(&w.stderr).into_owned();
    assert_eq!(w.outcome, Outcome::Exited(0), "podwire read: {stderr}");
    let records = String::from_utf8_lossy(&w.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect();
    (records, stderr)
}

fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

/// (client port, method, path) of every request, and (client port, status)
/// of every response, as podwire reports them.
type Exchanges = (BTreeMap<String, usize>, BTreeMap<String, usize>);

fn podwire_exchanges(records: &[Value]) -> Exchanges {
    let (mut req, mut resp) = (BTreeMap::new(), BTreeMap::new());
    for h in of_type(records, "http") {
        let port = &h["client"]["port"];
        let (m, p) = (h["method"].as_str(), h["path"].as_str());
        if let (Some(m), Some(p)) = (m, p) {
            *req.entry(format!("{port} {m} {p}")).or_default() += 1;
        }
        if let Some(s) = h["status"].as_u64() {
            *resp.entry(format!("{port} {s}")).or_default() += 1;
        }
    }
    (req, resp)
}

/// The same from tshark's HTTP and HTTP/2 dissection with the key log (or
/// the file's own secrets when `keylog` is `None`).
fn tshark_exchanges(file: &Path, keylog: Option<&Path>) -> Exchanges {
    let (mut req, mut resp) = (BTreeMap::new(), BTreeMap::new());
    let fields = [
        "tcp.srcport",
        "tcp.dstport",
        "http.request.method",
        "http.request.uri",
        "http.response.code",
        "http2.headers.method",
        "http2.headers.path",
        "http2.headers.status",
    ];
    let lines = match keylog {
        None => tshark_fields(file, Some("http or http2"), &fields),
        Some(k) => {
            let mut cmd = Command::new("tshark");
            cmd.args(["-n", "-o"])
                .arg(format!("tls.keylog_file:{}", k.display()))
                .arg("-r")
                .arg(file)
                .args(["-Y", "http or http2", "-T", "fields"]);
            for f in fields {
                cmd.args(["-e", f]);
            }
            let out = cmd.output().expect("tshark");
            assert!(out.status.success(), "tshark failed");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(String::from)
                .collect()
        }
    };
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let (sport, dport) = (get(0), get(1));
        if !get(2).is_empty() {
            *req.entry(format!("{sport} {} {}", get(2), get(3)))
                .or_default() += 1;
        }
        if !get(4).is_empty() {
            *resp.entry(format!("{dport} {}", get(4))).or_default() += 1;
        }
        // One frame may carry several HTTP/2 HEADERS: comma-separated.
        let (ms, ps) = (get(5), get(6));
        if !ms.is_empty() {
            for (m, p) in ms.split(',').zip(ps.split(',')) {
                *req.entry(format!("{sport} {m} {p}")).or_default() += 1;
            }
        }
        for s in get(7).split(',').filter(|s| !s.is_empty()) {
            *resp.entry(format!("{dport} {s}")).or_default() += 1;
        }
    }
    (req, resp)
}

#[test]
fn keylog_finds_every_request_tshark_finds() {
    skip_unless!(
        "keylog_finds_every_request_tshark_finds",
        require_tools(&["tshark"])
    );
    for name in ["tls12", "tls13", "tls12-resumed"] {
        let (pcap, keys) = (data(&format!("{name}.pcap")), data(&format!("{name}.keys")));
        let (records, stderr) =
            read(&["--tls-keylog".as_ref(), keys.as_os_str(), pcap.as_os_str()]);
        let ours = podwire_exchanges(&records);
        let theirs = tshark_exchanges(&pcap, Some(&keys));
        assert!(
            theirs.0.values().sum::<usize>() >= 2,
            "{name}: tshark found too little to compare: {theirs:?}"
        );
        assert_eq!(ours.0, theirs.0, "{name}: requests differ from tshark's");
        assert_eq!(ours.1, theirs.1, "{name}: responses differ from tshark's");
        for h in of_type(&records, "http") {
            assert_eq!(h["inside_tls"], true, "{name}: not marked: {h}");
        }
        // One connection record per connection, one TLS record each.
        let conns = of_type(&records, "connection");
        let tls = of_type(&records, "tls");
        assert_eq!(conns.len(), tls.len(), "{name}");
        for c in &conns {
            assert!(c.get("inside_tls").is_none(), "{name}: {c}");
        }
        assert!(
            stderr.contains(&format!("{} TLS connections decrypted", tls.len())),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn connections_count_the_same_with_and_without_keys() {
    let (pcap, keys) = (data("tls13.pcap"), data("tls13.keys"));
    let (with, _) = read(&[
        "--threads".as_ref(),
        "1".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        pcap.as_os_str(),
    ]);
    let (without, stderr) = read(&["--threads".as_ref(), "1".as_ref(), pcap.as_os_str()]);
    assert!(of_type(&without, "http").is_empty());
    assert!(
        !stderr.contains("decrypted"),
        "no key log, no key log line: {stderr}"
    );
    let conns =
        |r: &[Value]| -> Vec<Value> { of_type(r, "connection").into_iter().cloned().collect() };
    assert_eq!(
        conns(&with),
        conns(&without),
        "bytes and timing come from packets"
    );
    assert!(!conns(&with).is_empty());
}

#[test]
fn tls13_certificates_come_back_from_the_decrypted_flight() {
    let (r13, _) = read(&[
        "--tls-keylog".as_ref(),
        data("tls13.keys").as_os_str(),
        data("tls13.pcap").as_os_str(),
    ]);
    let (r12, _) = read(&[data("tls12.pcap").as_os_str()]);
    let (plain13, _) = read(&[data("tls13.pcap").as_os_str()]);
    // TLS 1.2 shows the certificate in the clear; the same server's under
    // TLS 1.3 is only visible decrypted.
    let cert12 = &of_type(&r12, "tls")[0]["certificate"];
    assert!(cert12.is_object(), "{cert12}");
    for t in of_type(&plain13, "tls") {
        assert!(t["certificate"].is_null());
        assert!(t["alpn_selected"].is_null());
    }
    let tls = of_type(&r13, "tls");
    assert!(!tls.is_empty());
    for t in tls {
        assert_eq!(t["version"], "TLS 1.3");
        assert_eq!(&t["certificate"], cert12, "{t}");
        assert!(t["alpn_selected"].is_string(), "{t}");
    }
}

#[test]
fn embedded_secrets_decrypt_like_a_key_log() {
    let dsb = data("tls13-dsb.pcapng");
    let (records, stderr) = read(&[dsb.as_os_str()]);
    let (by_keylog, _) = read(&[
        "--tls-keylog".as_ref(),
        data("tls13.keys").as_os_str(),
        data("tls13.pcap").as_os_str(),
    ]);
    let ours = podwire_exchanges(&records);
    assert_eq!(ours, podwire_exchanges(&by_keylog));
    assert!(!ours.0.is_empty(), "{stderr}");
    if require_tools(&["tshark"]).is_ok() {
        assert_eq!(
            ours,
            tshark_exchanges(&dsb, None),
            "tshark with the file's secrets"
        );
    }
}

/// A key log with every secret altered (one hex digit each).
fn corrupt_keys(src: &Path, dst: &Path) {
    let text = std::fs::read_to_string(src).expect("key log");
    let out: String = text
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(' ').map(String::from).collect();
            if let Some(s) = f.get_mut(2) {
                let flipped = if s.starts_with('0') { "1" } else { "0" };
                s.replace_range(0..1, flipped);
            }
            f.join(" ") + "\n"
        })
        .collect();
    std::fs::write(dst, out).expect("write");
}

#[test]
fn wrong_missing_and_unusable_keys_leave_tls_records_counted() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keylog");
    std::fs::create_dir_all(&tmp).expect("tmp");
    for name in ["tls12", "tls13"] {
        let wrong = tmp.join(format!("{name}-wrong.keys"));
        corrupt_keys(&data(&format!("{name}.keys")), &wrong);
        let pcap = data(&format!("{name}.pcap"));
        let (records, stderr) =
            read(&["--tls-keylog".as_ref(), wrong.as_os_str(), pcap.as_os_str()]);
        assert!(
            of_type(&records, "http").is_empty(),
            "{name}: wrong keys decrypted something"
        );
        let tls = of_type(&records, "tls").len();
        assert!(tls > 0);
        assert!(
            stderr.contains("0 TLS connections decrypted"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains("records failed authentication"),
            "{name}: {stderr}"
        );
    }
    // Keys of other sessions: no key for these.
    let (records, stderr) = read(&[
        "--tls-keylog".as_ref(),
        data("tls12.keys").as_os_str(),
        data("tls13.pcap").as_os_str(),
    ]);
    let tls = of_type(&records, "tls").len();
    assert!(of_type(&records, "http").is_empty());
    assert!(stderr.contains(&format!("{tls} without a key")), "{stderr}");
    // CBC is not decrypted: counted as such.
    let (records, stderr) = read(&[
        "--tls-keylog".as_ref(),
        data("tls12-cbc.keys").as_os_str(),
        data("tls12-cbc.pcap").as_os_str(),
    ]);
    assert_eq!(of_type(&records, "tls").len(), 1);
    assert!(stderr.contains("1 with a cipher not supported"), "{stderr}");
}

#[test]
fn a_capture_cut_anywhere_is_read_without_a_crash() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keylog");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let keys = data("tls13.keys");
    for name in ["tls13.pcap", "tls12.pcap", "tls13-dsb.pcapng"] {
        let bytes = std::fs::read(data(name)).expect("fixture");
        let keys = if name.starts_with("tls12") {
            data("tls12.keys")
        } else {
            keys.clone()
        };
        let (full, _) = read(&[
            "--tls-keylog".as_ref(),
            keys.as_os_str(),
            data(name).as_os_str(),
        ]);
        let all = of_type(&full, "http").len();
        // Cuts at odd offsets land inside records, headers and segments.
        let mut seen_fewer = false;
        for cut in (1..12).map(|i| bytes.len() * i / 12 + 7 * i) {
            let path = tmp.join(format!("cut-{cut}-{name}"));
            std::fs::write(&path, &bytes[..cut.min(bytes.len())]).expect("write");
            let (records, stderr) =
                read(&["--tls-keylog".as_ref(), keys.as_os_str(), path.as_os_str()]);
            let n = of_type(&records, "http").len();
            assert!(n <= all, "{name} cut at {cut}: {n} > {all}: {stderr}");
            seen_fewer |= n < all;
        }
        assert!(seen_fewer, "{name}: cuts should lose something");
    }
}
