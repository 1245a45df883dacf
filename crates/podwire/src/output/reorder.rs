//! Table rows in time order, within a bounded window.
//!
//! Records are finished when their exchange ends (a connection at its
//! close, a request at its response), each by the shard that owns its
//! connection, so they arrive in neither time order nor shard order: a
//! connection's row comes after its own requests', a long connection's
//! after everything that happened while it was open. The exact order needs
//! every earlier row, which a connection open for the whole capture would
//! hold back to the end, with the memory of every row in between.
//!
//! So rows wait in a window bounded in memory ([`MAX_BYTES`] of row text)
//! and in time ([`HOLD`] of wall-clock time, so a slow pipe such as
//! `tcpdump -w - | podwire read -` shows rows within seconds): a row leaves
//! when it is the oldest and the window is full, or when a row that has
//! waited its time is younger, or at the end. A capture whose rows fit the
//! window (any capture read in under two seconds, any whose records are
//! never later than 32 MiB of rows) comes out exactly in time order. A row
//! later than the window is written at once, out of order, and counted
//! ([`Reorder::late`]; the summary says how many).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// Row text held at most.
pub const MAX_BYTES: usize = 32 << 20;
/// How long a row may wait for earlier ones.
pub const HOLD: Duration = Duration::from_secs(2);
/// Rows arriving this close together share one arrival entry, so the
/// arrival queue stays short however fast rows come.
const ARRIVAL_GRAIN: Duration = Duration::from_millis(50);

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    ts: u64,
    seq: u64,
    text: Vec<u8>,
}

/// See the module docs.
#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    /// (when, newest `ts` that arrived then), oldest first.
    arrivals: VecDeque<(Instant, u64)>,
    bytes: usize,
    seq: u64,
    /// The `ts` of the last row written: an earlier row is late.
    written: Option<u64>,
    late: u64,
}

impl Reorder {
    /// Takes one row of time `ts` (capture nanoseconds); a late row goes
    /// straight to `out`.
    pub fn push(&mut self, ts: u64, text: Vec<u8>, now: Instant, out: &mut Vec<u8>) {
        if self.written.is_some_and(|w| ts < w) {
            self.late += 1;
            out.extend_from_slice(&text);
            return;
        }
        match self.arrivals.back_mut() {
            Some((at, newest)) if now.duration_since(*at) < ARRIVAL_GRAIN => {
                *newest = (*newest).max(ts);
            }
            _ => self.arrivals.push_back((now, ts)),
        }
        self.bytes += text.len();
        self.seq += 1;
        self.heap.push(Reverse(Held {
            ts,
            seq: self.seq,
            text,
        }));
    }

    /// Writes to `out` what is due at `now`: the oldest rows while the
    /// window is over its size, and every row no younger than one that has
    /// waited [`HOLD`].
    pub fn release(&mut self, now: Instant, out: &mut Vec<u8>) {
        while self.bytes > MAX_BYTES {
            self.pop(out);
        }
        let mut due = None;
        while let Some(&(at, ts)) = self.arrivals.front() {
            if now.duration_since(at) < HOLD {
                break;
            }
            due = due.max(Some(ts));
            self.arrivals.pop_front();
        }
        if let Some(due) = due {
            while self.heap.peek().is_some_and(|r| r.0.ts <= due) {
                self.pop(out);
            }
        }
    }

    /// Writes every row held, in order.
    pub fn drain(&mut self, out: &mut Vec<u8>) {
        while !self.heap.is_empty() {
            self.pop(out);
        }
        self.arrivals.clear();
    }

    /// Rows written out of order because they came later than the window.
    pub fn late(&self) -> u64 {
        self.late
    }

    fn pop(&mut self, out: &mut Vec<u8>) {
        if let Some(Reverse(r)) = self.heap.pop() {
            self.bytes -= r.text.len();
            self.written = Some(r.ts);
            out.extend_from_slice(&r.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: u64) -> Vec<u8> {
        format!("{ts}\n").into_bytes()
    }

    fn lines(out: &[u8]) -> Vec<u64> {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    #[test]
    fn rows_within_the_window_come_out_in_time_order() {
        let (mut r, mut out, t0) = (Reorder::default(), Vec::new(), Instant::now());
        for ts in [5, 1, 4, 2, 3] {
            r.push(ts, row(ts), t0, &mut out);
            r.release(t0, &mut out);
        }
        assert!(out.is_empty());
        r.drain(&mut out);
        assert_eq!(lines(&out), [1, 2, 3, 4, 5]);
        assert_eq!(r.late(), 0);
    }

    #[test]
    fn a_row_that_waited_its_time_leaves_with_everything_older() {
        let (mut r, mut out, t0) = (Reorder::default(), Vec::new(), Instant::now());
        r.push(10, row(10), t0, &mut out);
        r.push(30, row(30), t0 + HOLD, &mut out);
        r.push(20, row(20), t0 + HOLD, &mut out);
        r.release(t0 + HOLD, &mut out);
        assert_eq!(lines(&out), [10]);
        // Later than what was written: out of order, at once, counted.
        r.push(5, row(5), t0 + HOLD, &mut out);
        assert_eq!(lines(&out), [10, 5]);
        assert_eq!(r.late(), 1);
        r.release(t0 + 2 * HOLD, &mut out);
        assert_eq!(lines(&out), [10, 5, 20, 30]);
    }

    #[test]
    fn a_full_window_lets_its_oldest_rows_go() {
        let (mut r, mut out, t0) = (Reorder::default(), Vec::new(), Instant::now());
        let big = |ts: u64| {
            let mut t = vec![b'x'; 1 << 20];
            t.extend_from_slice(format!(" {ts}\n").as_bytes());
            t
        };
        for ts in (0..40u64).rev() {
            r.push(ts, big(ts), t0, &mut out);
            r.release(t0, &mut out);
        }
        assert!(r.bytes <= MAX_BYTES);
        let written = out.iter().filter(|&&b| b == b'\n').count();
        assert!(written >= 40 - MAX_BYTES / (1 << 20), "{written}");
        // Pushed newest first, the window wrote its oldest: all late after.
        r.drain(&mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 40);
    }
}
