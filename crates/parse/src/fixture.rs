//! Real wire bytes for parser tests, in a text form a person can read.
//!
//! Parser crates test on bytes real programs sent, taken from captures with
//! `scripts/stream-fixture.py` (tshark picks the TCP payloads; the capture
//! stays the reference). One line per TCP segment with payload:
//!
//! ```text
//! # comment
//! STREAM DIR TIME_NS HEX
//! 0 C 1733550000123456789 160301...
//! ```
//!
//! `STREAM` is tshark's `tcp.stream` (one connection each), `DIR` is `C` for
//! client to server and `S` for server to client, `TIME_NS` the capture time
//! in nanoseconds since the epoch. Test support only: not used by the product.
//!
//! [`feed`] replays a conversation into any [`StreamParser`] the way the
//! tracker drives one, so every parser crate's tests share one driver.

use crate::{Direction, Status, StreamParser};
use podwire_record::Timestamp;

/// One thing the tracker tells a parser: bytes travelling one way, or a
/// gap of `len` bytes the capture lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Data(Direction, Timestamp, Vec<u8>),
    Gap(Direction, u64),
}

impl From<Segment> for Step {
    fn from(s: Segment) -> Step {
        Step::Data(s.dir, s.ts, s.bytes)
    }
}

/// What a parser made of a conversation.
#[derive(Debug)]
pub struct Fed<O> {
    pub events: Vec<O>,
    /// The status of the last call before `finish` (the first that was not
    /// `Continue`, since the tracker stops feeding there).
    pub status: Status,
    /// How many events had been emitted before `finish`.
    pub before_finish: usize,
}

/// Feeds `steps` to `parser` until it stops wanting them, then finishes it
/// at the time of the last data step (a gap takes that time too).
pub fn feed<P: StreamParser>(parser: &mut P, steps: &[Step]) -> Fed<P::Output> {
    let mut events = Vec::new();
    let mut status = Status::Continue;
    let mut last_ts = Timestamp(0);
    for step in steps {
        status = match step {
            Step::Data(dir, ts, bytes) => {
                last_ts = *ts;
                parser.data(*dir, *ts, bytes, &mut events)
            }
            Step::Gap(dir, len) => parser.gap(*dir, last_ts, *len, &mut events),
        };
        if status != Status::Continue {
            break;
        }
    }
    let before_finish = events.len();
    parser.finish(last_ts, &mut events);
    Fed {
        events,
        status,
        before_finish,
    }
}

/// The same conversation with every data step cut into pieces of `n`
/// bytes (at least one; 1 is byte by byte), gaps kept as they are.
pub fn rechunk(steps: &[Step], n: usize) -> Vec<Step> {
    steps
        .iter()
        .flat_map(|step| match step {
            Step::Data(dir, ts, bytes) => bytes
                .chunks(n.max(1))
                .map(|c| Step::Data(*dir, *ts, c.to_vec()))
                .collect(),
            gap => vec![gap.clone()],
        })
        .collect()
}

/// One TCP segment's payload from a fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// tshark's stream number: segments with the same number are one connection.
    pub stream: u32,
    pub dir: Direction,
    pub ts: Timestamp,
    pub bytes: Vec<u8>,
}

/// Reads a fixture's text; a malformed line is an error naming it.
pub fn parse(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {line:.60}", n + 1);
        let mut f = line.split_ascii_whitespace();
        let stream = f
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("stream"))?;
        let dir = match f.next() {
            Some("C") => Direction::ToServer,
            Some("S") => Direction::ToClient,
            _ => return Err(bad("direction (C or S)")),
        };
        let ts = f
            .next()
            .and_then(|s| s.parse().ok())
            .map(Timestamp)
            .ok_or_else(|| bad("time"))?;
        let hex = f.next().ok_or_else(|| bad("payload"))?;
        let bytes = unhex(hex).ok_or_else(|| bad("hex"))?;
        out.push(Segment {
            stream,
            dir,
            ts,
            bytes,
        });
    }
    Ok(out)
}

/// The segments of each stream, in stream order of first appearance.
pub fn by_stream(segments: Vec<Segment>) -> Vec<Vec<Segment>> {
    let mut order: Vec<u32> = Vec::new();
    let mut streams: Vec<Vec<Segment>> = Vec::new();
    for s in segments {
        match order.iter().position(|&o| o == s.stream) {
            Some(i) => streams[i].push(s),
            None => {
                order.push(s.stream);
                streams.push(vec![s]);
            }
        }
    }
    streams
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_groups_streams() {
        let segs = parse("# x\n0 C 5 4142\n1 S 6 43\n0 S 7 44\n").unwrap();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].bytes, b"AB");
        assert_eq!(segs[1].dir, Direction::ToClient);
        let streams = by_stream(segs);
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].len(), 2);
    }

    #[test]
    fn a_bad_line_is_named() {
        assert!(parse("0 X 5 41").unwrap_err().contains("line 1"));
        assert!(parse("0 C 5 4").is_err());
    }
}
