//! Replaying conversations into a parser.

use std::path::PathBuf;

use podwire_http::{HttpConfig, HttpEvent, HttpParser, HttpStats};
use podwire_parse::{fixture, Direction, Status};
use podwire_record::Timestamp;

pub use podwire_parse::Direction::{ToClient, ToServer};

pub use podwire_parse::fixture::Step;

/// What the parser made of a conversation.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<HttpEvent>,
    /// The status of the last call before `finish` (the first that was not
    /// `Continue`, since the tracker stops feeding there).
    pub status: Status,
    pub stats: HttpStats,
    /// How many events had been emitted before `finish`.
    pub before_finish: usize,
}

/// Builds synthetic conversations; times are in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Conv {
    pub steps: Vec<Step>,
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000_000)
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
        run(&HttpConfig::default(), &self.steps)
    }

    /// Runs a parser made for a connection joined mid-stream.
    pub fn run_mid_stream(&self) -> Run {
        run_parser(HttpParser::mid_stream(&HttpConfig::default()), &self.steps)
    }
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run(config: &HttpConfig, steps: &[Step]) -> Run {
    run_parser(HttpParser::new(config), steps)
}

/// [`run`] with a parser already made.
pub fn run_parser(mut parser: HttpParser, steps: &[Step]) -> Run {
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

/// A captured connection from `tests/data`, cut into its TCP segments.
pub fn fixture(name: &str) -> Vec<Step> {
    let read = |suffix: &str| {
        let path = data_path(&format!("{name}.{suffix}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let streams = [read("c2s.bin"), read("s2c.bin")];
    let mut offsets = [0usize; 2];
    let segments = String::from_utf8(read("segments")).expect("segments file is text");
    let steps: Vec<Step> = segments
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [ts, side, len] = fields[..] else {
                panic!("bad segment line {line:?}")
            };
            let (dir, i) = if side == "c" {
                (ToServer, 0)
            } else {
                (ToClient, 1)
            };
            let len: usize = len.parse().expect("segment length");
            let bytes = streams[i][offsets[i]..offsets[i] + len].to_vec();
            offsets[i] += len;
            Step::Data(dir, Timestamp(ts.parse().expect("segment time")), bytes)
        })
        .collect();
    assert_eq!(
        offsets,
        [streams[0].len(), streams[1].len()],
        "{name}: segments cover the streams"
    );
    steps
}

/// `(method, path, status)` of each event, for compact assertions; a
/// response seen without its request shows as `("-", "-", status)`.
pub fn summary(events: &[HttpEvent]) -> Vec<(&str, &str, Option<u16>)> {
    events
        .iter()
        .map(|e| {
            (
                e.http.method.as_deref().unwrap_or("-"),
                e.http.path.as_deref().unwrap_or("-"),
                e.http.status,
            )
        })
        .collect()
}

/// Response body sizes of each event.
pub fn response_bodies(events: &[HttpEvent]) -> Vec<Option<u64>> {
    events.iter().map(|e| e.http.response_body_bytes).collect()
}
