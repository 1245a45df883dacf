//! Replaying captured or built conversations into a parser.

use std::path::PathBuf;

use podwire_http2::{Http2Config, Http2Event, Http2Parser, Http2Stats};
use podwire_parse::fixture::{self, Segment};
use podwire_parse::Status;
use podwire_record::Timestamp;

pub use podwire_parse::Direction::{ToClient, ToServer};

pub use podwire_parse::fixture::Step;

/// What the parser made of a conversation.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<Http2Event>,
    pub status: Status,
    pub stats: Http2Stats,
}

impl Run {
    /// The event of HTTP/2 stream `id`.
    pub fn stream(&self, id: u32) -> &Http2Event {
        self.events
            .iter()
            .find(|e| e.http.stream_id == Some(id))
            .unwrap_or_else(|| panic!("no event for stream {id}: {:#?}", self.events))
    }
}

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

/// The TCP connections of fixture `tests/data/NAME.txt`, each as steps.
pub fn fixture(name: &str) -> Vec<Vec<Step>> {
    let path = data_path(&format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let segments = fixture::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    fixture::by_stream(segments)
        .into_iter()
        .map(|conn| conn.into_iter().map(step).collect())
        .collect()
}

/// The first (or only) connection of a fixture.
pub fn connection(name: &str) -> Vec<Step> {
    fixture(name).into_iter().next().expect("a connection")
}

fn step(s: Segment) -> Step {
    Step::Data(s.dir, s.ts, s.bytes)
}

/// Feeds `steps` until the parser stops wanting them, then finishes.
pub fn run_parser(mut parser: Http2Parser, steps: &[Step]) -> Run {
    let fed = fixture::feed(&mut parser, steps);
    Run {
        events: fed.events,
        status: fed.status,
        stats: parser.stats(),
    }
}

/// Runs a parser for a connection seen from its start.
pub fn run(steps: &[Step]) -> Run {
    run_parser(Http2Parser::new(&Http2Config::default()), steps)
}

/// Runs a parser made for a connection joined mid-stream.
pub fn run_mid_stream(steps: &[Step]) -> Run {
    run_parser(Http2Parser::mid_stream(&Http2Config::default()), steps)
}

/// The same conversation with every data step cut into pieces of `n` bytes.
pub fn rechunk(steps: &[Step], n: usize) -> Vec<Step> {
    fixture::rechunk(steps, n)
}

/// `(stream, method, path, status)` of each event, sorted by stream, for
/// compact assertions; unknown values show as `"-"` and `0`.
pub fn summary(events: &[Http2Event]) -> Vec<(u32, String, String, u16)> {
    let mut rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.http.stream_id.unwrap_or(0),
                e.http.method.clone().unwrap_or_else(|| "-".into()),
                e.http.path.clone().unwrap_or_else(|| "-".into()),
                e.http.status.unwrap_or(0),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Shorthand for [`summary`] rows.
pub fn row(stream: u32, method: &str, path: &str, status: u16) -> (u32, String, String, u16) {
    (stream, method.into(), path.into(), status)
}

/// Builds a frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn ms(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

/// The fixture's steps after the HTTP/1 heads (request and 101 response),
/// which the HTTP/1 parser consumes before handing over.
pub fn after_heads(steps: &[Step]) -> Vec<Step> {
    let mut seen = [Vec::new(), Vec::new()];
    let mut done = [false, false];
    let mut out = Vec::new();
    for step in steps {
        let Step::Data(dir, ts, bytes) = step else {
            continue;
        };
        let i = *dir as usize;
        if done[i] {
            out.push(step.clone());
            continue;
        }
        seen[i].extend_from_slice(bytes);
        if let Some(at) = seen[i].windows(4).position(|w| w == b"\r\n\r\n") {
            done[i] = true;
            let rest = seen[i][at + 4..].to_vec();
            if !rest.is_empty() {
                out.push(Step::Data(*dir, *ts, rest));
            }
        }
    }
    out
}
