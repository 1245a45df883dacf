//! Requests waiting for their responses, paired by correlation id.
//!
//! A broker answers one connection's requests in order, but the pairing is
//! by correlation id all the same: a response whose id matches a later
//! request proves the earlier ones will never be answered (lost in a gap,
//! or never meant to be), so they are emitted unanswered. A Produce with
//! `acks = 0` gets no response at all and is emitted as soon as the request
//! has been read. An exchange is emitted once both its request and its
//! response have been read to their ends, so the record is complete.

use std::collections::VecDeque;

use podwire_record::{Kafka, Outcome, Timestamp};

use crate::{KafkaEvent, KafkaStats};

/// One request and what has been seen of its response.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub ts: Timestamp,
    pub kafka: Kafka,
    pub request_done: bool,
    pub response_seen: bool,
    pub response_done: bool,
    /// A Produce with `acks = 0`: no response will come.
    pub no_response: bool,
}

impl Exchange {
    pub(crate) fn new(ts: Timestamp, kafka: Kafka) -> Self {
        Exchange {
            ts,
            kafka,
            request_done: false,
            response_seen: false,
            response_done: false,
            no_response: false,
        }
    }

    fn into_event(mut self) -> KafkaEvent {
        if self.response_seen {
            self.kafka.outcome = Some(match self.kafka.error {
                Some(_) => Outcome::Error,
                None => Outcome::Ok,
            });
            if !self.response_done {
                self.kafka.truncated = true;
            }
        }
        KafkaEvent {
            ts: self.ts,
            body: self.kafka,
        }
    }
}

/// The exchanges of one connection, oldest first.
#[derive(Debug)]
pub(crate) struct Exchanges {
    queue: VecDeque<Exchange>,
    max: usize,
}

impl Exchanges {
    pub(crate) fn new(max: usize) -> Self {
        Exchanges {
            queue: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A new request. When `max` are waiting, the oldest is emitted as it
    /// stands (the client pipelines more than the limit).
    pub(crate) fn push(&mut self, ex: Exchange, stats: &mut KafkaStats, out: &mut Vec<KafkaEvent>) {
        while self.queue.len() >= self.max {
            let Some(old) = self.queue.pop_front() else {
                break;
            };
            stats.pending_overflows += 1;
            out.push(old.into_event());
        }
        self.queue.push_back(ex);
    }

    /// The exchange of the response being read or the request being read.
    pub(crate) fn get_mut(&mut self, corr: i32) -> Option<&mut Exchange> {
        self.queue
            .iter_mut()
            .find(|e| e.kafka.correlation_id == corr)
    }

    /// The request being read: always the newest.
    pub(crate) fn newest_mut(&mut self) -> Option<&mut Exchange> {
        self.queue.back_mut()
    }

    /// Whether a response with `corr` would have a request to pair with.
    pub(crate) fn awaits(&self, corr: i32) -> bool {
        self.queue
            .iter()
            .any(|e| e.kafka.correlation_id == corr && !e.response_seen && !e.no_response)
    }

    /// A response to `corr` starts at `ts`, `bytes` long. Returns the
    /// request's API key and version, or `None` for an orphan. Requests
    /// before it that were read but not answered never will be.
    pub(crate) fn response_start(
        &mut self,
        corr: i32,
        ts: Timestamp,
        bytes: u64,
        stats: &mut KafkaStats,
        out: &mut Vec<KafkaEvent>,
    ) -> Option<(i16, i16)> {
        let at = self
            .queue
            .iter()
            .position(|e| e.kafka.correlation_id == corr && !e.response_seen && !e.no_response)?;
        let mut skipped = 0;
        for _ in 0..at {
            let Some(e) = self.queue.get(skipped) else {
                break;
            };
            if e.request_done && !e.response_seen {
                if let Some(e) = self.queue.remove(skipped) {
                    stats.unanswered += 1;
                    out.push(e.into_event());
                }
            } else {
                skipped += 1;
            }
        }
        let e = self.get_mut(corr)?;
        e.response_seen = true;
        e.kafka.latency_ms = Some(e.ts.millis_until(ts));
        e.kafka.response_bytes = Some(bytes);
        Some((e.kafka.api_key, e.kafka.api_version))
    }

    /// The request `corr` has been read to its end (or as far as it could).
    pub(crate) fn request_done(&mut self, corr: i32, out: &mut Vec<KafkaEvent>) {
        if let Some(e) = self
            .queue
            .iter_mut()
            .rev()
            .find(|e| e.kafka.correlation_id == corr)
        {
            e.request_done = true;
        }
        self.emit_complete(out);
    }

    /// The response to `corr` has been read to its end (or as far as it could).
    pub(crate) fn response_done(&mut self, corr: i32, truncated: bool, out: &mut Vec<KafkaEvent>) {
        if let Some(e) = self
            .queue
            .iter_mut()
            .find(|e| e.kafka.correlation_id == corr && e.response_seen && !e.response_done)
        {
            e.response_done = true;
            e.kafka.truncated |= truncated;
        }
        self.emit_complete(out);
    }

    /// Emits every exchange that is complete, in order of requests.
    fn emit_complete(&mut self, out: &mut Vec<KafkaEvent>) {
        let mut i = 0;
        while let Some(e) = self.queue.get(i) {
            let complete = e.request_done && (e.response_done || e.no_response);
            if complete {
                if let Some(e) = self.queue.remove(i) {
                    out.push(e.into_event());
                }
            } else {
                i += 1;
            }
        }
    }

    /// Emits everything, answered or not (the connection ended).
    pub(crate) fn flush(&mut self, stats: &mut KafkaStats, out: &mut Vec<KafkaEvent>) {
        for e in self.queue.drain(..) {
            if !e.response_seen && !e.no_response {
                stats.unanswered += 1;
            }
            out.push(e.into_event());
        }
    }
}
