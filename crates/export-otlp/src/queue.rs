//! The delivery queue: encoded requests waiting to be sent, bounded by
//! their bytes. When a new request does not fit, the oldest are dropped
//! (fresh telemetry is worth more than stale) and what they held is
//! counted; ingest never waits for the network.

use crate::Signal;
use std::collections::VecDeque;

/// One encoded export request.
#[derive(Debug)]
pub struct Batch {
    pub signal: Signal,
    /// The protobuf body, gzipped when the exporter compresses.
    pub body: Vec<u8>,
    /// Spans, data points or log records in it.
    pub items: u64,
}

/// Batches in arrival order, at most `cap` bytes of bodies.
#[derive(Debug)]
pub struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    cap: usize,
}

impl Queue {
    pub fn new(cap: usize) -> Queue {
        Queue {
            batches: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    /// Appends `b`, dropping the oldest batches until it fits; returns the
    /// batches dropped (`b` itself when it alone is larger than the queue).
    pub fn push(&mut self, b: Batch) -> Vec<Batch> {
        let mut dropped = Vec::new();
        if b.body.len() > self.cap {
            dropped.push(b);
            return dropped;
        }
        while self.bytes + b.body.len() > self.cap {
            match self.batches.pop_front() {
                Some(old) => {
                    self.bytes -= old.body.len();
                    dropped.push(old);
                }
                None => break,
            }
        }
        self.bytes += b.body.len();
        self.batches.push_back(b);
        dropped
    }

    /// Puts back a batch that could not be sent yet, at the front (it is
    /// the oldest); drops it instead when newer batches filled the queue.
    pub fn push_front(&mut self, b: Batch) -> Option<Batch> {
        if self.bytes + b.body.len() > self.cap {
            return Some(b);
        }
        self.bytes += b.body.len();
        self.batches.push_front(b);
        None
    }

    pub fn pop(&mut self) -> Option<Batch> {
        let b = self.batches.pop_front()?;
        self.bytes -= b.body.len();
        Some(b)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(len: usize, items: u64) -> Batch {
        Batch {
            signal: Signal::Traces,
            body: vec![0; len],
            items,
        }
    }

    #[test]
    fn drops_the_oldest_when_a_new_batch_does_not_fit() {
        let mut q = Queue::new(100);
        assert!(q.push(batch(40, 1)).is_empty());
        assert!(q.push(batch(40, 2)).is_empty());
        let dropped = q.push(batch(40, 3));
        assert_eq!(dropped.iter().map(|b| b.items).collect::<Vec<_>>(), [1]);
        assert_eq!(q.bytes(), 80);
        assert_eq!(q.pop().map(|b| b.items), Some(2));
        assert_eq!(q.pop().map(|b| b.items), Some(3));
        assert!(q.pop().is_none());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_batch_larger_than_the_queue_is_dropped_alone() {
        let mut q = Queue::new(100);
        q.push(batch(50, 1));
        let dropped = q.push(batch(101, 2));
        assert_eq!(dropped.iter().map(|b| b.items).collect::<Vec<_>>(), [2]);
        assert_eq!(q.bytes(), 50);
    }

    #[test]
    fn a_retried_batch_goes_back_first_unless_newer_ones_filled_the_queue() {
        let mut q = Queue::new(100);
        q.push(batch(30, 1));
        let b = q.pop().unwrap();
        q.push(batch(30, 2));
        assert!(q.push_front(b).is_none());
        assert_eq!(q.pop().map(|b| b.items), Some(1));
        let b = q.pop().unwrap();
        q.push(batch(90, 3));
        assert_eq!(q.push_front(b).map(|b| b.items), Some(2));
    }
}
