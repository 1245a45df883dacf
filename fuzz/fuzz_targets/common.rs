//! What the stream-parser fuzz targets share: the input's pseudo-random
//! choices, and the driver that cuts two directions of traffic into
//! segments, gaps and out-of-order timestamps as those choices say, feeding
//! them to a parser the way the tracker does. Each target keeps only what is
//! its own: the config it draws from the seed, how its input splits into
//! client and server bytes, and its assertions on the events.
//!
//! Included by each target as `mod common;` (cargo-fuzz builds one binary a
//! target, so this is a module, not a crate).

#![allow(dead_code)] // each target uses a part

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::Timestamp;

/// The choices an input makes: a linear congruential generator seeded by
/// its last byte, so a seed file replays exactly.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u8) -> Rng {
        Rng(u32::from(seed) | 1)
    }

    pub fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        self.0 >> 8
    }
}

/// The capture time of the first step, in nanoseconds.
pub const START_NS: u64 = 1_000_000_000;

/// The time of the next step after `ts`: mostly forward; now and then
/// backwards, as captures can.
pub fn next_ts(ts: u64, r: u32) -> u64 {
    if r & 0x3e == 0 {
        ts.saturating_sub(u64::from(r >> 6))
    } else {
        ts + u64::from(r >> 20)
    }
}

/// Whether this step is a gap instead of data, and how long.
pub fn gap_len(r: u32) -> Option<u64> {
    if r & 0x1c0 != 0 {
        return None;
    }
    Some(if r & 0x200 == 0 {
        u64::from(r >> 12) % 64
    } else {
        u64::from(r >> 10)
    })
}

/// Feeds `client` and `server` to `parser`, interleaved and cut into pieces
/// of 1 to `max_piece` bytes and gaps as `rng` says, until both are used
/// up or the parser is done; then [`finish_twice`]. Returns the events.
pub fn drive<'a, P: StreamParser>(
    parser: &mut P,
    rng: &mut Rng,
    mut client: &'a [u8],
    mut server: &'a [u8],
    max_piece: usize,
) -> Vec<P::Output> {
    let mut events = Vec::new();
    let mut ts = START_NS;
    let mut status = Status::Continue;
    while status == Status::Continue && !(client.is_empty() && server.is_empty()) {
        let r = rng.next();
        let dir = match (client.is_empty(), server.is_empty()) {
            (false, true) => Direction::ToServer,
            (true, false) => Direction::ToClient,
            _ if r & 1 == 0 => Direction::ToServer,
            _ => Direction::ToClient,
        };
        ts = next_ts(ts, r);
        if let Some(len) = gap_len(r) {
            status = parser.gap(dir, Timestamp(ts), len, &mut events);
            continue;
        }
        let stream = match dir {
            Direction::ToServer => &mut client,
            Direction::ToClient => &mut server,
        };
        let n = 1 + (rng.next() as usize) % max_piece;
        let (piece, rest) = stream.split_at(n.min(stream.len()));
        *stream = rest;
        status = parser.data(dir, Timestamp(ts), piece, &mut events);
    }
    finish_twice(parser, ts, &mut events);
    events
}

/// Finishes the parser at `ts`, twice: the second time must emit nothing.
pub fn finish_twice<P: StreamParser>(parser: &mut P, ts: u64, events: &mut Vec<P::Output>) {
    parser.finish(Timestamp(ts), events);
    let emitted = events.len();
    parser.finish(Timestamp(ts), events);
    assert_eq!(events.len(), emitted, "finish twice emits once");
}
