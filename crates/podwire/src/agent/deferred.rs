//! Request records that wait for the kernel's view of their connection.
//!
//! A request is parsed the moment its response arrives, often a few
//! milliseconds after its connection opened; the probe's events for that
//! connection sit in the ring until the kernel thread's next read (up to
//! 50 ms later, by design: see `probe.rs`). Merged at once, a short
//! connection's HTTP or SQL records would carry no process while its
//! connection record (made later, at close) does. So a request record whose
//! sockets the kernel table does not know yet waits here for one read of
//! the ring that began after it arrived, then is merged and stored.
//!
//! Bounded: past [`MAX_DEFERRED`] records a record is stored at once,
//! without the wait (and possibly without process names), and counted.

use podwire_record::Record;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Most records waiting at once (at 10k requests/s and a 50 ms read
/// interval, about 500 wait).
pub const MAX_DEFERRED: usize = 16_384;

#[derive(Default)]
pub struct Deferred {
    /// Set while the probe runs: without it nothing would release them.
    active: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Reads of the ring begun so far.
    reads: u64,
    /// Each record with the number of reads begun when it came.
    queue: VecDeque<(u64, Record)>,
    /// Records stored without waiting because the queue was full.
    overflow: u64,
}

impl Deferred {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        podwire_sync::lock(&self.inner)
    }

    /// The probe runs (`true`) or stopped: records may wait, or not.
    pub fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::Relaxed);
    }

    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Keeps `rec` until a read of the ring begun after now; gives it back
    /// when the queue is full.
    pub fn defer(&self, rec: Record) -> Option<Record> {
        let mut i = self.inner();
        if i.queue.len() >= MAX_DEFERRED {
            i.overflow += 1;
            return Some(rec);
        }
        let stamp = i.reads;
        i.queue.push_back((stamp, rec));
        None
    }

    /// A read of the ring begins; pass what it returns to
    /// [`take_ready`](Self::take_ready) once its events are applied.
    pub fn begin_read(&self) -> u64 {
        let mut i = self.inner();
        i.reads += 1;
        i.reads
    }

    /// Moves the records that came before read `read` began into `out`.
    pub fn take_ready(&self, read: u64, out: &mut Vec<Record>) {
        let mut i = self.inner();
        while i.queue.front().is_some_and(|(stamp, _)| *stamp < read) {
            if let Some((_, rec)) = i.queue.pop_front() {
                out.push(rec);
            }
        }
    }

    /// Everything still waiting (the probe is going away).
    pub fn take_all(&self, out: &mut Vec<Record>) {
        out.extend(self.inner().queue.drain(..).map(|(_, r)| r));
    }

    /// Records stored without waiting because the queue was full.
    pub fn overflow(&self) -> u64 {
        self.inner().overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_record::{Body, Endpoint, Http, Timestamp};

    fn rec(port: u16) -> Record {
        let ep = |p| Endpoint::new("10.0.0.1".parse().expect("address"), p);
        Record::new(Timestamp(1), ep(port), ep(80), Body::Http(Http::default()))
    }

    #[test]
    fn a_record_waits_for_a_read_begun_after_it_came() {
        let d = Deferred::default();
        let first = d.begin_read();
        assert!(d.defer(rec(1)).is_none());
        let mut out = Vec::new();
        // The read under way when it came may have missed its events.
        d.take_ready(first, &mut out);
        assert!(out.is_empty());
        let second = d.begin_read();
        assert!(d.defer(rec(2)).is_none());
        d.take_ready(second, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client.port, 1);
        d.take_all(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_full_queue_gives_records_back_and_counts_them() {
        let d = Deferred::default();
        for p in 0..MAX_DEFERRED {
            assert!(d.defer(rec(p as u16)).is_none());
        }
        assert!(d.defer(rec(9)).is_some());
        assert_eq!(d.overflow(), 1);
    }
}
