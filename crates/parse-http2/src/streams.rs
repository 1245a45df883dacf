//! The streams of a connection that have not been emitted yet.
//!
//! HTTP/2 multiplexes exchanges on streams, so an exchange is found by its
//! stream identifier, not by position as in HTTP/1. A stream is emitted when
//! both sides have ended it (END_STREAM each way), when it is reset, when a
//! GOAWAY says it will not be processed, when the table is full and it is
//! the oldest, or at the end of the connection. Connections rarely hold more
//! than a hundred open streams, so the table is a small vector searched
//! linearly; recently emitted identifiers are remembered so that late frames
//! of a finished stream do not start a new record.

use podwire_record::{Http, Timestamp};

use crate::fields::Collected;
use crate::grpc::{self, MessageCounter};
use crate::Http2Event;

/// How many emitted stream identifiers are remembered.
const RECENT: usize = 32;

/// One exchange in progress.
#[derive(Debug)]
pub(crate) struct Stream {
    pub id: u32,
    seq: u64,
    /// When the request's first HEADERS (or the PUSH_PROMISE) was seen.
    pub request_ts: Option<Timestamp>,
    /// When the first response HEADERS was seen.
    pub response_ts: Option<Timestamp>,
    pub http: Http,
    /// A final (non-1xx) response header block was seen.
    pub final_seen: bool,
    pub client_done: bool,
    pub server_done: bool,
    pub requests: MessageCounter,
    pub responses: MessageCounter,
}

impl Stream {
    fn new(id: u32, seq: u64) -> Self {
        Stream {
            id,
            seq,
            request_ts: None,
            response_ts: None,
            http: Http {
                version: "2".into(),
                stream_id: Some(id),
                ..Http::default()
            },
            final_seen: false,
            client_done: false,
            server_done: false,
            requests: MessageCounter::default(),
            responses: MessageCounter::default(),
        }
    }

    /// Takes the request's header block (or a PUSH_PROMISE's).
    pub fn request(&mut self, ts: Timestamp, c: Collected) {
        self.request_ts = Some(ts);
        let http = &mut self.http;
        http.method = c.method;
        http.host = c.authority.or(c.host);
        http.path = c.path;
        http.request_headers = c.headers;
        if c.grpc {
            http.grpc = Some(grpc::new_record(http.path.as_deref()));
        }
    }

    /// Takes a response header block: interim, final, or trailers.
    pub fn response(&mut self, ts: Timestamp, c: Collected) {
        if self.response_ts.is_none() {
            self.response_ts = Some(ts);
            self.http.response_body_bytes.get_or_insert(0);
        }
        if !self.final_seen {
            // A block without a known :status is taken as final: it cannot
            // be told from one and must not hold up the record.
            let interim = matches!(c.status, Some(s) if (100..200).contains(&s));
            if interim {
                return;
            }
            self.final_seen = true;
            self.http.status = c.status;
            self.http.response_headers = c.headers;
            if c.grpc && self.http.grpc.is_none() {
                self.http.grpc = Some(grpc::new_record(self.http.path.as_deref()));
            }
        }
        if let Some(g) = &mut self.http.grpc {
            if c.grpc_status.is_some() {
                g.status = c.grpc_status;
            }
            if c.grpc_message.is_some() {
                g.message = c.grpc_message;
            }
        }
    }

    pub fn is_grpc(&self) -> bool {
        self.http.grpc.is_some()
    }

    fn into_event(mut self) -> Http2Event {
        let http = &mut self.http;
        if let (Some(req), Some(resp)) = (self.request_ts, self.response_ts) {
            http.latency_ms = Some(resp.0.saturating_sub(req.0) as f64 / 1e6);
        }
        if let Some(g) = &mut http.grpc {
            g.request_messages = self.requests.complete;
            g.response_messages = self.responses.complete;
        }
        Http2Event {
            ts: self.request_ts.or(self.response_ts).unwrap_or_default(),
            http: self.http,
        }
    }
}

/// The bounded table of open streams.
#[derive(Debug)]
pub(crate) struct Streams {
    list: Vec<Stream>,
    next_seq: u64,
    capacity: usize,
    recent: [u32; RECENT],
    recent_at: usize,
}

impl Streams {
    pub fn new(capacity: usize) -> Self {
        Streams {
            list: Vec::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            recent: [0; RECENT],
            recent_at: 0,
        }
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.list.iter_mut().find(|s| s.id == id)
    }

    /// Whether `id` was emitted lately (its late frames are ignored).
    pub fn recently_emitted(&self, id: u32) -> bool {
        id != 0 && self.recent.contains(&id)
    }

    /// Opens stream `id`; when the table is full, the oldest stream is
    /// emitted first, and `true` returned.
    pub fn open(&mut self, id: u32, out: &mut Vec<Http2Event>) -> (&mut Stream, bool) {
        let mut evicted = false;
        if self.list.len() >= self.capacity {
            if let Some(oldest) = (0..self.list.len()).min_by_key(|&i| self.list[i].seq) {
                self.emit_at(oldest, out);
                evicted = true;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.list.push(Stream::new(id, seq));
        let last = self.list.len() - 1;
        (&mut self.list[last], evicted)
    }

    /// Emits stream `id` as it stands, if open.
    pub fn emit(&mut self, id: u32, out: &mut Vec<Http2Event>) {
        if let Some(i) = self.list.iter().position(|s| s.id == id) {
            self.emit_at(i, out);
        }
    }

    /// Emits stream `id` if both sides have ended it.
    pub fn emit_if_done(&mut self, id: u32, out: &mut Vec<Http2Event>) {
        if let Some(i) = self
            .list
            .iter()
            .position(|s| s.id == id && s.client_done && s.server_done)
        {
            self.emit_at(i, out);
        }
    }

    /// Emits every open stream that `pred` selects, oldest first.
    pub fn emit_where(&mut self, pred: impl Fn(&Stream) -> bool, out: &mut Vec<Http2Event>) {
        let mut picked: Vec<usize> = (0..self.list.len())
            .filter(|&i| pred(&self.list[i]))
            .collect();
        if picked.is_empty() {
            return;
        }
        picked.sort_by_key(|&i| self.list[i].seq);
        let ids: Vec<u32> = picked.iter().map(|&i| self.list[i].id).collect();
        for id in ids {
            self.emit(id, out);
        }
    }

    /// Every open stream, for a direction that lost bytes.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.list.iter_mut()
    }

    fn emit_at(&mut self, i: usize, out: &mut Vec<Http2Event>) {
        // Order in the table does not matter: `seq` keeps age.
        let s = self.list.swap_remove(i);
        self.recent[self.recent_at % RECENT] = s.id;
        self.recent_at = self.recent_at.wrapping_add(1);
        out.push(s.into_event());
    }
}
