//! Memory is a budget: a flood of distinct connections larger than the
//! connection table stays within the bound, every connection is still
//! reported, and what the bound forced is counted and said.

use crate::util::podwire;
use podwire_lab::child::{run_watched, Outcome};
use std::process::Command;
use std::time::Duration;

/// A pcap (raw IPv4 link type) of `n` SYNs, each from its own address, one
/// microsecond apart, so nothing goes idle and only the bound can act.
fn syn_flood(n: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(24 + n as usize * 56);
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, LINKTYPE_RAW.
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65_535, 101] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for i in 0..n {
        let (secs, usecs) = (1_700_000_000 + i / 1_000_000, i % 1_000_000);
        for v in [secs, usecs, 40, 40] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        // IPv4: 20 bytes, total length 40, TCP.
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[10, 255, 255, 1]);
        // TCP: 40000 -> 80, seq i, SYN, header length 20.
        f.extend_from_slice(&40_000u16.to_be_bytes());
        f.extend_from_slice(&80u16.to_be_bytes());
        f.extend_from_slice(&i.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    }
    f
}

#[test]
fn connection_flood_beyond_the_table_stays_in_budget_and_is_counted() {
    const N: u32 = 300_000; // more than the default table of 262,144
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flood.pcap");
    std::fs::write(&path, syn_flood(N)).expect("write flood capture");

    let mut cmd = Command::new(podwire());
    cmd.args(["read", "--format", "jsonl", "--only", "connection"])
        .arg(&path);
    let run = run_watched(&mut cmd, Duration::from_secs(300), true).expect("run podwire");
    assert_eq!(
        run.outcome,
        Outcome::Exited(0),
        "stderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Every connection is reported once: early (table full) or at the end.
    let lines = run
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, N as usize);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("connections reported early (table full)"),
        "the bound's effect must be said: {stderr}"
    );
    let mib = run.max_rss_kib / 1024;
    assert!(mib < 256, "peak RSS {mib} MiB over the 256 MiB budget");
    eprintln!(
        "flood of {N} connections: peak RSS {mib} MiB, {:?}",
        run.elapsed
    );
}
