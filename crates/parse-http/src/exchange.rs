//! The requests of a connection that have not been emitted yet, in order.
//!
//! HTTP/1.x pairs responses with requests by position only, so pairing is a
//! FIFO: each final response belongs to the oldest request still awaiting
//! one. An exchange is emitted once both its request body and its response
//! are over, strictly in request order, so records come out in the order the
//! client asked. A response with no request to pair with takes a place of
//! its own, as if its request had been seen. The queue is bounded; when a
//! client pipelines more than that without answers, the oldest exchange is
//! emitted as it stands.

use std::collections::VecDeque;

use podwire_record::{Http, Timestamp};

use crate::HttpEvent;

/// Where an exchange's response stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// No final response yet; the next one is ours if we are first in line.
    Awaiting,
    /// The response head was seen and its body is being counted.
    Reading,
    /// The response is complete.
    Complete,
    /// The response cannot be known (lost in a gap, or after lost requests):
    /// the exchange takes no response and is emitted with status `None`.
    Unknown,
}

/// A request and what is known of its response.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub seq: u64,
    pub ts: Timestamp,
    pub http: Http,
    /// The request was `HEAD`: its response has no body.
    pub head_request: bool,
    /// The request was `CONNECT`: a 2xx response starts a tunnel.
    pub connect: bool,
    pub request_complete: bool,
    pub reply: Reply,
}

impl Exchange {
    fn settled(&self) -> bool {
        self.request_complete && matches!(self.reply, Reply::Complete | Reply::Unknown)
    }

    fn into_event(self) -> HttpEvent {
        HttpEvent {
            ts: self.ts,
            http: self.http,
        }
    }
}

/// The bounded FIFO of unemitted exchanges.
#[derive(Debug)]
pub(crate) struct Exchanges {
    queue: VecDeque<Exchange>,
    next_seq: u64,
    capacity: usize,
}

impl Exchanges {
    pub fn new(capacity: usize) -> Self {
        Exchanges {
            queue: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
        }
    }

    /// Queues a new exchange and returns its sequence number, plus whether
    /// the oldest one had to be emitted early to make room.
    pub fn push(
        &mut self,
        ts: Timestamp,
        http: Http,
        head_request: bool,
        connect: bool,
        reply: Reply,
        out: &mut Vec<HttpEvent>,
    ) -> (u64, bool) {
        let overflow = self.queue.len() >= self.capacity;
        if overflow {
            if let Some(oldest) = self.queue.pop_front() {
                out.push(oldest.into_event());
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back(Exchange {
            seq,
            ts,
            http,
            head_request,
            connect,
            request_complete: false,
            reply,
        });
        (seq, overflow)
    }

    /// Queues a response seen without its request, being read, and returns
    /// its sequence number, plus whether the oldest exchange had to be
    /// emitted early to make room.
    pub fn push_orphan(
        &mut self,
        ts: Timestamp,
        http: Http,
        out: &mut Vec<HttpEvent>,
    ) -> (u64, bool) {
        let (seq, overflow) = self.push(ts, http, false, false, Reply::Reading, out);
        if let Some(e) = self.get_mut(seq) {
            e.request_complete = true;
        }
        (seq, overflow)
    }

    /// The exchange with sequence number `seq`, if not emitted yet.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Exchange> {
        let first = self.queue.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.queue.get_mut(index)
    }

    /// The oldest exchange still waiting for its response.
    pub fn next_awaiting(&mut self) -> Option<&mut Exchange> {
        self.queue.iter_mut().find(|e| e.reply == Reply::Awaiting)
    }

    /// Whether some response is owed or in progress.
    pub fn response_outstanding(&self) -> bool {
        self.queue
            .iter()
            .any(|e| matches!(e.reply, Reply::Awaiting | Reply::Reading))
    }

    /// Gives up on every response not started yet.
    pub fn forget_awaiting(&mut self) {
        for e in self.queue.iter_mut().filter(|e| e.reply == Reply::Awaiting) {
            e.reply = Reply::Unknown;
        }
    }

    /// Marks the request of `seq` complete, emitting what became ready.
    pub fn request_complete(&mut self, seq: u64, out: &mut Vec<HttpEvent>) {
        if let Some(e) = self.get_mut(seq) {
            e.request_complete = true;
        }
        self.emit_ready(out);
    }

    /// Marks the response of `seq` complete, emitting what became ready.
    pub fn response_complete(&mut self, seq: u64, out: &mut Vec<HttpEvent>) {
        if let Some(e) = self.get_mut(seq) {
            e.reply = Reply::Complete;
        }
        self.emit_ready(out);
    }

    /// Emits exchanges from the front for as long as they are settled.
    pub fn emit_ready(&mut self, out: &mut Vec<HttpEvent>) {
        while self.queue.front().is_some_and(Exchange::settled) {
            if let Some(e) = self.queue.pop_front() {
                out.push(e.into_event());
            }
        }
    }

    /// Emits everything, settled or not, in order.
    pub fn flush(&mut self, out: &mut Vec<HttpEvent>) {
        out.extend(self.queue.drain(..).map(Exchange::into_event));
    }
}
