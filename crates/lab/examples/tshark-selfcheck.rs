//! Checks that the tshark reference extraction agrees with tshark's own
//! conversation statistics on every file of a directory tree.
//!
//! The reference takes exact byte counts from per-frame fields because
//! `conv,tcp` rounds large counts to units; this shows where the two ways of
//! asking tshark disagree. Usage: `tshark-selfcheck DIR...`.

use podwire_lab::tshark;
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut files = Vec::new();
    for dir in std::env::args().skip(1) {
        collect(PathBuf::from(dir), &mut files);
    }
    files.sort();
    let (mut bad, mut unreadable) = (0, 0);
    for f in &files {
        match tshark::reference(f, &[], Duration::from_secs(120)) {
            Ok(r) if r.inconsistencies.is_empty() => {}
            Ok(r) => {
                bad += 1;
                println!("{}", f.display());
                for i in r.inconsistencies.iter().take(5) {
                    println!("    {i}");
                }
            }
            Err(e) => {
                unreadable += 1;
                println!(
                    "{}: {}",
                    f.display(),
                    e.to_string().lines().next().unwrap_or("")
                );
            }
        }
    }
    println!(
        "{} files, {bad} with inconsistencies, {unreadable} unreadable",
        files.len()
    );
}

fn collect(p: PathBuf, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(&p) {
            for e in rd.flatten() {
                collect(e.path(), out);
            }
        }
    } else {
        out.push(p);
    }
}
