//! HTTP/1.x exchanges from the two byte streams of a TCP connection.
//!
//! The tracker hands this parser each direction's reassembled bytes; out come
//! [`HttpEvent`]s, one per request, with its response's status, latency and
//! body sizes when the response was seen, and one per response whose request
//! was never seen (method and path `None`). Framing follows RFC 9112:
//! keep-alive and pipelined requests, `Content-Length`, chunked and
//! close-delimited bodies, interim (1xx) responses, `HEAD`, and protocol
//! switches (`101`), after which the parser reports [`Status::Done`]. After a
//! `CONNECT` is accepted the tunnel is followed when its client bytes are
//! HTTP again (a plain-HTTP proxy chain); anything else ends the parse.
//!
//! Heads `httparse` rejects get a second, tolerant reading that follows
//! Wireshark's dissector (`lenient`), so an odd status line or header line
//! still yields the status or request Wireshark shows. A client stream that
//! stops being HTTP after its first request (a body sent without framing) is
//! skipped up to the next segment that starts like a request, rather than
//! ending the connection's parse while the server is still answering.
//!
//! It is built for volume: a head that arrives whole in one segment is parsed
//! in place, bodies are counted and never copied, and headers cost nothing
//! unless [`HeaderCapture`] asks for them. With the default
//! [`HeaderCapture::None`], an exchange costs four small allocations, the
//! record's `method`, `path`, `version` and `host` strings, and a response
//! none. What it buffers is bounded by [`HttpConfig`]: one partial head per
//! direction and a queue of requests awaiting responses.
//!
//! Captures lose packets. A gap inside a body of known length is skipped
//! without losing sync; anywhere else the direction resynchronises at the
//! next segment that starts like a message, and pairing turns conservative:
//! requests whose responses may have been lost are emitted with status `None`
//! rather than paired with someone else's response.
//!
//! Known limits: `latency_ms` runs to the final response, not to a `100
//! Continue` before it. Pairing after lost request bytes is exact for clients
//! that wait for each response (browsers and curl do not pipeline); a
//! pipelining client can still have a lost request's response paired with
//! its next request when that response had not started by the time the next
//! request was seen. Header values that are not UTF-8 are recorded lossily.
//!
//! Modules: `detect` recognises message starts, `head` parses heads (and
//! `lenient` those `httparse` rejects), `body` counts bodies, `exchange`
//! pairs requests with responses, `request` and `response` drive each
//! direction, `redact` decides which headers a record carries.

mod body;
mod detect;
mod exchange;
mod head;
mod lenient;
mod phase;
mod redact;
mod request;
mod response;

use std::mem;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Http, Timestamp};

use body::Body;
use exchange::Exchanges;
use head::HeadBuf;

pub use detect::{looks_like_http_request, looks_like_http_response};
pub use redact::{is_sensitive, REDACTED};

/// Which headers records carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderCapture {
    /// No headers (the records' header fields are `None`).
    #[default]
    None,
    /// Every header, with the values of `Authorization`, `Proxy-Authorization`,
    /// `Cookie` and `Set-Cookie` replaced by [`REDACTED`].
    Redacted,
    /// Every header, verbatim.
    All,
}

/// Limits and options of an [`HttpParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Largest request or response head (start line and header fields), and
    /// largest chunked trailer section; a larger one fails the connection.
    /// Default 16 KiB.
    pub max_head_bytes: usize,
    /// Most requests held while waiting for their responses; when a client
    /// pipelines more, the oldest is emitted unanswered. Default 64.
    pub max_pending_requests: usize,
    /// Which headers go into records. Default [`HeaderCapture::None`].
    pub headers: HeaderCapture,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 16 * 1024,
            max_pending_requests: 64,
            headers: HeaderCapture::None,
        }
    }
}

impl HttpParser {
    /// After [`Status::Done`] on a `101` response: the switch, once.
    pub fn take_switch(&mut self) -> Option<Switch> {
        self.switch.take()
    }
}

/// One request and what was seen of its response, or a response alone.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpEvent {
    /// Capture time of the packet carrying the first byte of the request (of
    /// the response, when no request was seen).
    pub ts: Timestamp,
    pub http: Http,
}

/// What went wrong on a connection, for the caller's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests emitted unanswered because `max_pending_requests` was reached.
    pub pending_overflows: u64,
    /// Heads (or trailer sections) over `max_head_bytes`.
    pub heads_too_long: u64,
    /// Bytes that are not HTTP where a message or chunk framing was due
    /// (after the first request, the client stream skips them and resyncs).
    pub malformed: u64,
    /// Gaps that lost track of message boundaries in one direction.
    pub desyncs: u64,
    /// Responses with no request to pair with (emitted with method and path
    /// `None`).
    pub orphan_responses: u64,
    /// Requests emitted with status `None` because lost requests made their
    /// response impossible to identify.
    pub unpaired_requests: u64,
}

/// Parser of one connection's HTTP/1.x exchanges; see the crate docs.
#[derive(Debug)]
pub struct HttpParser {
    config: HttpConfig,
    client: Side,
    server: Side,
    exchanges: Exchanges,
    /// Requests were lost in a gap: new requests are paired only from a point
    /// where no response is owed, since the lost ones' responses are yet to
    /// be told apart from theirs.
    requests_lost: bool,
    /// A request head was parsed: the stream is HTTP, so later bytes that are
    /// not are skipped instead of failing the connection.
    requests_seen: bool,
    /// Set once the parser returned `Done`/`Failed` or finished.
    ended: Option<Status>,
    stats: HttpStats,
    /// The connection switched protocols (`101`): what the next protocol's
    /// parser needs, until the caller takes it.
    switch: Option<Switch>,
}

/// A protocol switch (`101 Switching Protocols`): the request that asked for
/// it and the server's bytes that followed the `101` head in the same
/// segment (the new protocol's first bytes, e.g. HTTP/2's SETTINGS after an
/// h2c upgrade). See [`HttpParser::take_switch`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Switch {
    /// When the upgraded request began.
    pub ts: Timestamp,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    /// Server bytes after the `101` head, at most [`HttpConfig::max_head_bytes`]
    /// (more is cut: the new protocol's parser sees a gap).
    pub server_bytes: Vec<u8>,
    /// Bytes of `server_bytes` cut by the bound.
    pub server_bytes_cut: u64,
}

/// One direction's position in its stream.
#[derive(Debug, Default)]
struct Side {
    phase: Phase,
    head: HeadBuf,
    /// Picked up after a gap: a malformed head means keep looking, not failure.
    tentative: bool,
}

#[derive(Debug, Default)]
enum Phase {
    /// Nothing seen yet.
    #[default]
    Start,
    /// Between messages or inside a head.
    Head,
    /// Counting a body; `seq` is its exchange.
    Body { body: Body, seq: Option<u64> },
    /// Lost: waiting for a segment that starts like a message.
    Resync,
    /// A `CONNECT` was accepted: the client's next bytes say whether the
    /// tunnel carries HTTP (both sides parse on) or not (the parse is done).
    Tunnel,
}

impl Side {
    /// Between messages, with nothing half-read.
    fn idle(&self) -> bool {
        !matches!(self.phase, Phase::Body { .. }) && self.head.pending().is_empty()
    }
}

impl HttpParser {
    /// A parser for one connection.
    pub fn new(config: &HttpConfig) -> Self {
        HttpParser {
            config: config.clone(),
            client: Side::default(),
            server: Side::default(),
            exchanges: Exchanges::new(config.max_pending_requests),
            requests_lost: false,
            requests_seen: false,
            ended: None,
            switch: None,
            stats: HttpStats::default(),
        }
    }

    /// A parser for a connection whose first bytes seen are the server's:
    /// the capture began after the client's request, or lost it. (An HTTP
    /// server never speaks first.) Responses before any request are emitted
    /// alone; the client's stream is picked up at the next segment that
    /// starts like a request, since the capture may have joined it inside a
    /// request body.
    pub fn mid_stream(config: &HttpConfig) -> Self {
        let mut parser = HttpParser::new(config);
        parser.client.phase = Phase::Resync;
        parser
    }

    /// Counters of this connection's anomalies so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    #[inline]
    fn side_mut(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// Adds body content to the exchange `seq`.
    fn count_body(&mut self, dir: Direction, seq: Option<u64>, content: u64) {
        let Some(e) = seq.and_then(|seq| self.exchanges.get_mut(seq)) else {
            return;
        };
        match dir {
            Direction::ToServer => {
                e.http.request_body_bytes = e.http.request_body_bytes.saturating_add(content)
            }
            Direction::ToClient => {
                let total = e
                    .http
                    .response_body_bytes
                    .unwrap_or(0)
                    .saturating_add(content);
                e.http.response_body_bytes = Some(total);
            }
        }
    }

    /// The body of `seq` in `dir` is over.
    fn end_body(&mut self, dir: Direction, seq: Option<u64>, out: &mut Vec<HttpEvent>) {
        let Some(seq) = seq else { return };
        match dir {
            Direction::ToServer => self.exchanges.request_complete(seq, out),
            Direction::ToClient => self.exchanges.response_complete(seq, out),
        }
    }

    /// A gap of `len` bytes in `dir`.
    fn on_gap(&mut self, dir: Direction, len: u64, out: &mut Vec<HttpEvent>) {
        let side = self.side_mut(dir);
        match mem::take(&mut side.phase) {
            Phase::Body { mut body, seq } => match body.gap(len) {
                body::GapEffect::InSync { content, done } => {
                    side.phase = if done {
                        Phase::Head
                    } else {
                        Phase::Body { body, seq }
                    };
                    self.count_body(dir, seq, content);
                    if done {
                        self.end_body(dir, seq, out);
                    }
                }
                body::GapEffect::Lost => {
                    side.phase = Phase::Body { body, seq };
                    self.lose_sync(dir, out);
                }
            },
            Phase::Resync => side.phase = Phase::Resync,
            Phase::Start | Phase::Head | Phase::Tunnel => self.lose_sync(dir, out),
        }
    }

    /// `dir` no longer knows where messages start: drop what was half-read,
    /// close the body in progress as it stands, and stop trusting pairing.
    fn lose_sync(&mut self, dir: Direction, out: &mut Vec<HttpEvent>) {
        self.stats.desyncs += 1;
        let side = self.side_mut(dir);
        side.head.clear();
        side.tentative = false;
        if let Phase::Body { seq, .. } = mem::replace(&mut side.phase, Phase::Resync) {
            self.end_body(dir, seq, out);
        }
        match dir {
            // Responses to the lost requests are still to come.
            Direction::ToServer => self.requests_lost = true,
            // The responses owed may have been in the gap.
            Direction::ToClient => self.exchanges.forget_awaiting(),
        }
        self.exchanges.emit_ready(out);
    }

    /// Bytes that are not HTTP where HTTP was due: the connection fails.
    fn malformed(&mut self) -> Status {
        self.stats.malformed += 1;
        Status::Failed
    }

    /// Records that the connection stops here with `status`.
    fn conclude(&mut self, status: Status, out: &mut Vec<HttpEvent>) -> Status {
        if status != Status::Continue {
            self.exchanges.flush(out);
            self.ended = Some(status);
        }
        status
    }
}

impl StreamParser for HttpParser {
    type Output = HttpEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let status = self.side_data(dir, ts, bytes, out);
        self.conclude(status, out)
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        if len > 0 {
            self.on_gap(dir, len, out);
        }
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<HttpEvent>) {
        if self.ended.is_some() {
            return;
        }
        // A close-delimited response is complete exactly now.
        if let Phase::Body {
            body: Body::UntilClose,
            seq,
        } = self.server.phase
        {
            self.end_body(Direction::ToClient, seq, out);
        }
        self.exchanges.flush(out);
        self.ended = Some(Status::Done);
    }
}
