//! Replaying fixtures and synthetic conversations into a parser.

use std::path::PathBuf;

use podwire_parse::fixture::{self, Segment};
use podwire_parse::Status;
use podwire_postgres::{PostgresConfig, PostgresEvent, PostgresParser, PostgresStats};

/// What a parser made of one connection.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<PostgresEvent>,
    /// The status of the last call before `finish` (the first that was not
    /// `Continue`, since the tracker stops feeding there).
    pub status: Status,
    pub stats: PostgresStats,
}

pub use podwire_parse::fixture::Step;

/// The segments of a fixture in `tests/data`, one list per connection.
pub fn streams(name: &str) -> Vec<Vec<Segment>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    fixture::by_stream(fixture::parse(&text).expect("fixture parses"))
}

/// The steps of a connection's segments.
pub fn steps(segments: &[Segment]) -> Vec<Step> {
    segments
        .iter()
        .map(|s| Step::Data(s.dir, s.ts, s.bytes.clone()))
        .collect()
}

/// Every connection of a fixture through its own parser, with `config`.
pub fn run_fixture_with(name: &str, config: &PostgresConfig) -> Vec<Run> {
    streams(name)
        .iter()
        .map(|segs| run(PostgresParser::new(config), &steps(segs)))
        .collect()
}

/// Every connection of a fixture through its own default parser.
pub fn run_fixture(name: &str) -> Vec<Run> {
    run_fixture_with(name, &PostgresConfig::default())
}

/// All the events of a fixture's connections, in connection order.
pub fn events(name: &str) -> Vec<PostgresEvent> {
    run_fixture(name)
        .into_iter()
        .flat_map(|r| r.events)
        .collect()
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run(mut parser: PostgresParser, steps: &[Step]) -> Run {
    let fed = fixture::feed(&mut parser, steps);
    Run {
        events: fed.events,
        status: fed.status,
        stats: parser.stats(),
    }
}

/// The same steps with every data step cut into pieces of `n` bytes.
pub fn chopped(steps: &[Step], n: usize) -> Vec<Step> {
    fixture::rechunk(steps, n)
}

/// A compact line per event, for comparing whole runs.
pub fn summary(events: &[PostgresEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let b = &e.body;
            format!(
                "{} {:?} tag={:?} rows={:?} err={:?}",
                b.operation,
                b.statement.as_deref().unwrap_or("-"),
                b.tag.as_deref().unwrap_or("-"),
                b.rows,
                b.error.as_ref().and_then(|e| e.code.as_deref()),
            )
        })
        .collect()
}

/// Prints every fixture's records: `cargo test -p podwire-postgres dump --
/// --ignored --nocapture` when looking at a new capture.
#[test]
#[ignore]
fn dump() {
    let names = std::env::var("PG_FIXTURES").unwrap_or_default();
    for name in names.split(',').filter(|n| !n.is_empty()) {
        for (i, r) in run_fixture(name).iter().enumerate() {
            println!("== {name} stream {i}: {:?} {:?}", r.status, r.stats);
            for e in &r.events {
                println!("{}", serde_json::to_string(&e.body).unwrap());
            }
        }
    }
}

/// What tshark saw of one connection of a fixture (`NAME.tshark`): the
/// CommandComplete tags and error SQLSTATEs in order, and message counts
/// by tshark's name of the type.
#[derive(Debug, Default)]
pub struct Tshark {
    pub tags: Vec<String>,
    pub errors: Vec<String>,
    pub counts: std::collections::HashMap<String, usize>,
}

impl Tshark {
    pub fn count(&self, what: &str) -> usize {
        self.counts.get(what).copied().unwrap_or(0)
    }
}

/// The `.tshark` facts of a fixture, by tshark stream number.
pub fn tshark(name: &str) -> std::collections::BTreeMap<u32, Tshark> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.tshark"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out = std::collections::BTreeMap::<u32, Tshark>::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (stream, rest) = line.split_once(' ').expect("stream");
        let t = out
            .entry(stream.parse().expect("stream number"))
            .or_default();
        let list = |s: &str| -> Vec<String> {
            s.split('|')
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(tags) = rest.strip_prefix("tags") {
            t.tags = list(tags.trim_start());
        } else if let Some(errors) = rest.strip_prefix("errors") {
            t.errors = list(errors.trim_start());
        } else if let Some(count) = rest.strip_prefix("count ") {
            let (what, n) = count.rsplit_once(' ').expect("count");
            t.counts.insert(what.to_owned(), n.parse().expect("number"));
        }
    }
    out
}
