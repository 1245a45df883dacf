//! Whole captures against tshark's reading of them: every CommandComplete
//! tag and every SQLSTATE tshark shows is on a record, in order, and the
//! messages that make records are as many as tshark counts.

use podwire_parse::Status;
use podwire_record::proto::postgres::PgProtocol;
use podwire_record::Outcome;

use crate::util::{chopped, run, steps, streams, summary, tshark};
use podwire_postgres::{PostgresConfig, PostgresParser};

const FIXTURES: &[&str] = &[
    "simple",
    "passwords",
    "copy",
    "notify",
    "cancel",
    "pipeline",
    "ssl_accepted",
    "ssl_refused",
    "pgbench_simple",
    "pgbench_extended",
    "pgbench_prepared",
];

#[test]
fn records_agree_with_tshark() {
    for name in FIXTURES {
        let facts = tshark(name);
        for segs in streams(name) {
            let stream = segs[0].stream;
            let r = run(
                PostgresParser::new(&PostgresConfig::default()),
                &steps(&segs),
            );
            let empty = Default::default();
            let t = facts.get(&stream).unwrap_or(&empty);
            let what = format!("{name} stream {stream}");
            let tags: Vec<&str> = r
                .events
                .iter()
                .filter_map(|e| e.body.tag.as_deref())
                .filter(|t| *t != "accepted" && *t != "refused")
                .collect();
            assert_eq!(tags, t.tags, "{what}: tags");
            let errors: Vec<&str> = r
                .events
                .iter()
                .filter_map(|e| e.body.error.as_ref()?.code.as_deref())
                .collect();
            assert_eq!(errors, t.errors, "{what}: errors");
            let count = |op: &str| r.events.iter().filter(|e| e.body.operation == op).count();
            assert_eq!(
                count("STARTUP"),
                t.count("Startup message"),
                "{what}: startups"
            );
            assert_eq!(
                count("CANCEL"),
                t.count("Cancel request"),
                "{what}: cancels"
            );
            assert_eq!(
                count("NOTIFICATION"),
                t.count("Notification"),
                "{what}: notifications"
            );
            let notices: u32 = r.events.iter().map(|e| e.body.notices).sum();
            assert_eq!(notices as usize, t.count("Notice"), "{what}: notices");
            // Every Execute is recorded, but those the server skipped after
            // an error in their pipeline.
            let extended = r
                .events
                .iter()
                .filter(|e| e.body.protocol == Some(PgProtocol::Extended))
                .count();
            assert!(extended <= t.count("Execute"), "{what}: executes");
            let simple = r
                .events
                .iter()
                .filter(|e| e.body.protocol == Some(PgProtocol::Simple))
                .count();
            assert!(simple >= t.count("Simple query"), "{what}: queries");
            // Nothing went unpaired on a clean capture.
            assert_eq!(r.stats, Default::default(), "{what}: stats");
            assert!(
                r.events.iter().all(|e| e.body.outcome.is_some()
                    || e.body.operation == "NOTIFICATION"
                    || e.body.operation == "CANCEL"),
                "{what}: {:#?}",
                summary(&r.events)
            );
            assert!(matches!(r.status, Status::Continue | Status::Done));
        }
    }
}

#[test]
fn pgbench_runs_give_one_record_per_statement() {
    for mode in ["simple", "extended", "prepared"] {
        let name = format!("pgbench_{mode}");
        let facts = tshark(&name);
        let segs = &streams(&name)[1];
        let r = run(
            PostgresParser::new(&PostgresConfig::default()),
            &steps(segs),
        );
        let statements: Vec<_> = r
            .events
            .iter()
            .filter(|e| e.body.protocol.is_some())
            .collect();
        // 20 transactions of the TPC-B-like script's 7 statements.
        assert_eq!(statements.len(), 140, "{name}");
        assert_eq!(facts[&segs[0].stream].count("Command completion"), 140);
        assert!(statements
            .iter()
            .all(|e| e.body.outcome == Some(Outcome::Ok)));
        let ops: Vec<&str> = statements[..7]
            .iter()
            .map(|e| e.body.operation.as_ref())
            .collect();
        assert_eq!(
            ops,
            ["BEGIN", "UPDATE", "SELECT", "UPDATE", "UPDATE", "INSERT", "COMMIT"],
            "{name}"
        );
        let update = statements[1].body.statement.as_deref().unwrap_or_default();
        match mode {
            // The delta's sign is an operator: `+ ?` or `+ -?`.
            "simple" => assert!(
                update.starts_with("UPDATE pgbench_accounts SET abalance = abalance + ")
                    && update.ends_with(" WHERE aid = ?"),
                "{update}"
            ),
            _ => assert_eq!(
                update,
                "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"
            ),
        }
        let named = statements
            .iter()
            .filter(|e| e.body.statement_name.is_some())
            .count();
        assert_eq!(named, if mode == "prepared" { 140 } else { 0 }, "{name}");
        assert!(statements
            .iter()
            .all(|e| e.body.latency_ms.is_some_and(|l| l >= 0.0)));
    }
}

#[test]
fn any_segmentation_gives_the_same_records() {
    for name in FIXTURES {
        for segs in streams(name) {
            let whole = run(
                PostgresParser::new(&PostgresConfig::default()),
                &steps(&segs),
            );
            for n in [1, 3, 7, 64] {
                let cut = run(
                    PostgresParser::new(&PostgresConfig::default()),
                    &chopped(&steps(&segs), n),
                );
                assert_eq!(
                    summary(&cut.events),
                    summary(&whole.events),
                    "{name} in {n}-byte pieces"
                );
                assert_eq!(cut.events.len(), whole.events.len());
            }
        }
    }
}

/// Throughput on a pgbench capture: `cargo test --release -p
/// podwire-postgres throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let segs = &streams("pgbench_extended")[1];
    let s = steps(segs);
    let bytes: usize = segs.iter().map(|s| s.bytes.len()).sum();
    let rounds = 2000;
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..rounds {
        n += run(PostgresParser::new(&PostgresConfig::default()), &s)
            .events
            .len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} records, {:.1} MB/s, {:.0} ns per record, {:.1} ms per capture",
        n,
        (bytes * rounds) as f64 / secs / 1e6,
        secs * 1e9 / n as f64,
        secs * 1e3 / rounds as f64
    );
}
