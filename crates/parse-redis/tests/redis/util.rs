//! Replaying fixtures and synthetic conversations into a parser.

use std::path::PathBuf;

use podwire_parse::fixture::{self, Segment};
use podwire_parse::{Direction, Status};
use podwire_record::Timestamp;
use podwire_redis::{RedisConfig, RedisEvent, RedisParser, RedisStats};

pub use podwire_parse::Direction::{ToClient, ToServer};

pub use podwire_parse::fixture::Step;

/// What the parser made of one connection.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<RedisEvent>,
    /// The status of the last call before `finish`.
    pub status: Status,
    pub stats: RedisStats,
    /// How many events had been emitted before `finish`.
    pub before_finish: usize,
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000_000)
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
            .push(Step::Data(ToServer, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn server(mut self, at_ms: u64, bytes: &[u8]) -> Self {
        self.steps
            .push(Step::Data(ToClient, ms(at_ms), bytes.to_vec()));
        self
    }

    pub fn gap(mut self, dir: Direction, len: u64) -> Self {
        self.steps.push(Step::Gap(dir, len));
        self
    }

    pub fn run(&self) -> Run {
        run(RedisParser::new(&RedisConfig::default()), &self.steps)
    }
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run(mut parser: RedisParser, steps: &[Step]) -> Run {
    let fed = fixture::feed(&mut parser, steps);
    Run {
        events: fed.events,
        status: fed.status,
        stats: parser.stats(),
        before_finish: fed.before_finish,
    }
}

/// The same conversation with every data step cut into single bytes.
pub fn bytewise(steps: &[Step]) -> Vec<Step> {
    fixture::rechunk(steps, 1)
}

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

/// The connections of fixture `name` (`tests/data/NAME.txt`), each as steps.
pub fn fixture(name: &str) -> Vec<Vec<Step>> {
    let path = data_path(&format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let segments = fixture::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
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

/// The one connection of fixture `name` (panics if it has another).
pub fn connection(name: &str, index: usize) -> Vec<Step> {
    fixture(name).swap_remove(index)
}

/// Runs a fixture's connection with `config`.
pub fn run_with(config: &RedisConfig, steps: &[Step]) -> Run {
    run(RedisParser::new(config), steps)
}

/// `(operation, command, reply_type)` of each event, for compact assertions.
pub fn summary(events: &[RedisEvent]) -> Vec<(&str, &str, &str)> {
    events
        .iter()
        .map(|e| {
            (
                e.body.operation.as_ref(),
                e.body.command.as_deref().unwrap_or("-"),
                e.body.reply_type.unwrap_or("-"),
            )
        })
        .collect()
}

/// Error codes of each event (`-` for none).
pub fn errors(events: &[RedisEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| {
            e.body
                .error
                .as_ref()
                .and_then(|e| e.code.as_deref())
                .unwrap_or("-")
        })
        .collect()
}

/// Asserts a latency to the microsecond.
pub fn assert_latency(got: Option<f64>, want_ms: f64) {
    let got = got.expect("a latency");
    assert!(
        (got - want_ms).abs() < 1e-6,
        "latency {got} ms, want {want_ms} ms"
    );
}
