//! Replaying captured connections into a parser.

use std::path::PathBuf;

use podwire_mysql::{MysqlConfig, MysqlEvent, MysqlParser, MysqlStats};
use podwire_parse::fixture::{self, Segment};
use podwire_parse::{Direction, Status};
use podwire_record::{Mysql, Timestamp};

pub use podwire_parse::fixture::Step;

/// What the parser made of a conversation.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<MysqlEvent>,
    /// Status of the last call before `finish`.
    pub status: Status,
    pub stats: MysqlStats,
}

impl Run {
    pub fn bodies(&self) -> Vec<&Mysql> {
        self.events.iter().map(|e| &e.body).collect()
    }

    /// `(command, operation, statement)` of each record.
    pub fn summary(&self) -> Vec<(&str, &str, Option<&str>)> {
        self.events
            .iter()
            .map(|e| {
                (
                    e.body.command.as_str(),
                    e.body.operation.as_str(),
                    e.body.statement.as_deref(),
                )
            })
            .collect()
    }

    /// Every record as JSON, for checks on what must never be there.
    pub fn json(&self) -> String {
        self.events
            .iter()
            .map(|e| serde_json::to_string(&e.body).expect("records serialise"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The segments of a fixture's single connection.
pub fn fixture(name: &str) -> Vec<Step> {
    let mut streams = fixture_streams(name);
    assert_eq!(streams.len(), 1, "{name}: one connection");
    streams.remove(0)
}

/// The segments of each connection of a fixture.
pub fn fixture_streams(name: &str) -> Vec<Vec<Step>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let segments = fixture::parse(&text).expect("fixture parses");
    fixture::by_stream(segments)
        .into_iter()
        .map(|stream| {
            stream
                .into_iter()
                .map(|Segment { dir, ts, bytes, .. }| Step::Data(dir, ts, bytes))
                .collect()
        })
        .collect()
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run_parser(mut parser: MysqlParser, steps: &[Step]) -> Run {
    let fed = fixture::feed(&mut parser, steps);
    Run {
        events: fed.events,
        status: fed.status,
        stats: parser.stats(),
    }
}

pub fn run(steps: &[Step]) -> Run {
    run_with(&MysqlConfig::default(), steps)
}

pub fn run_with(config: &MysqlConfig, steps: &[Step]) -> Run {
    run_parser(MysqlParser::new(config), steps)
}

/// The same conversation with every data step cut into single bytes.
pub fn bytewise(steps: &[Step]) -> Vec<Step> {
    fixture::rechunk(steps, 1)
}

/// Every fixture in `tests/data`.
pub const FIXTURES: &[&str] = &[
    "query",
    "error",
    "auth_fail",
    "use_db",
    "multi",
    "infile",
    "compress",
    "ssl",
    "prepared",
    "pymysql",
];

/// Fixtures of several connections.
pub const MULTI_FIXTURES: &[&str] = &["slap"];

/// A packet with its 4-byte header.
pub fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    p.extend_from_slice(payload);
    p
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

/// The captured greeting of the `query` fixture.
pub fn greeting() -> Vec<u8> {
    match &fixture("query")[0] {
        Step::Data(Direction::ToClient, _, bytes) => bytes.clone(),
        other => panic!("not a greeting: {other:?}"),
    }
}

/// Builds synthetic conversations; times are in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Conv {
    pub steps: Vec<Step>,
}

impl Conv {
    pub fn new() -> Self {
        Conv::default()
    }

    pub fn client(mut self, at_ms: u64, bytes: &[u8]) -> Self {
        self.steps
            .push(Step::Data(Direction::ToServer, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn server(mut self, at_ms: u64, bytes: &[u8]) -> Self {
        self.steps
            .push(Step::Data(Direction::ToClient, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn run(&self) -> Run {
        run(&self.steps)
    }

    pub fn run_mid_stream(&self, config: &MysqlConfig) -> Run {
        run_parser(MysqlParser::mid_stream(config), &self.steps)
    }
}

/// Every captured connection of every fixture, named.
pub fn all_connections() -> Vec<(String, Vec<Step>)> {
    let mut out: Vec<_> = FIXTURES
        .iter()
        .map(|n| (n.to_string(), fixture(n)))
        .collect();
    for name in MULTI_FIXTURES {
        for (i, steps) in fixture_streams(name).into_iter().enumerate() {
            out.push((format!("{name}#{i}"), steps));
        }
    }
    out
}
