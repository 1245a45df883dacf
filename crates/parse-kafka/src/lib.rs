//! Kafka requests and responses from the two byte streams of a TCP connection.
//!
//! The tracker hands this parser each direction's reassembled bytes; out come
//! [`KafkaEvent`]s, one per request, paired with its response by correlation
//! id: the API's name and version, the client id, latency, the response's
//! error code, and for Produce and Fetch the topics and partitions with
//! their record counts and bytes. Which request and response header version
//! applies (v0/v1/v2, tagged fields) follows the API's flexible versions;
//! ApiVersions always answers with header v0.
//!
//! Produce requests and Fetch responses can be megabytes of records. They
//! are never buffered: the body is walked one small element at a time
//! (`walk`), reading only the topic and partition fields and each record
//! batch's 61-byte header, and skipping everything else by count. What a
//! direction holds between segments is at most one element, bounded by
//! [`KafkaConfig::max_buffer_bytes`]; an element beyond it (a client id or
//! tagged field of megabytes) ends that message's parse, which is skipped by
//! size and its record marked `truncated`.
//!
//! Every other API is named, versioned and timed; where the response starts
//! with its error code, or has it right after `throttle_time_ms`, the code is
//! read too (the table is `apis::error_offset`). Bodies of versions newer
//! than the parser knows are not parsed, only named and timed.
//!
//! Authentication bytes are never recorded: SaslAuthenticate bodies are
//! skipped, and after a SaslHandshake v0 the raw SASL tokens the client and
//! server exchange without Kafka headers are skipped by size and counted.
//!
//! Captures lose packets. A gap inside bytes being skipped (record payloads,
//! the rest of a message) costs nothing; anywhere else the direction
//! resynchronises at the next segment that starts like a message (a request
//! header that passes [`looks_like_kafka`], a response whose correlation id
//! a request is waiting for). Pairing by correlation id keeps the records
//! right across the loss: requests whose responses were lost are emitted
//! unanswered when a later response passes them, or at the end.
//!
//! Modules: `wire` reads primitive types, `apis` holds the API and error
//! tables, `detect` recognises a client's first bytes, `message` reads
//! headers and dispatches bodies, `walk` walks Produce and Fetch bodies,
//! `exchange` pairs requests with responses.

mod apis;
mod detect;
mod exchange;
mod message;
mod walk;
mod wire;

use std::mem;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Kafka, Timestamp};

use exchange::Exchanges;
use message::Phase;
use wire::Short;

pub use detect::looks_like_kafka;

/// Limits of a [`KafkaParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Most requests held while waiting for their responses; when a client
    /// has more outstanding, the oldest is emitted unanswered. Default 64.
    pub max_pending_requests: usize,
    /// Largest element (a header, a topic's or partition's fields, a tagged
    /// field section) buffered per direction while it arrives; a larger one
    /// ends that message's parse. Default 64 KiB.
    pub max_buffer_bytes: usize,
    /// Largest message size accepted; a larger size prefix is taken as lost
    /// framing, and the direction resynchronises. Default 256 MiB.
    pub max_message_bytes: u64,
    /// Most topics listed per record. Default 32.
    pub max_topics: usize,
    /// Most partitions listed per topic. Default 64.
    pub max_partitions: usize,
    /// Client ids and topic names are cut to this many bytes. Default 255.
    pub max_string_bytes: usize,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            max_pending_requests: 64,
            max_buffer_bytes: 64 * 1024,
            max_message_bytes: 256 * 1024 * 1024,
            max_topics: 32,
            max_partitions: 64,
            max_string_bytes: 255,
        }
    }
}

/// One request and what was seen of its response.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaEvent {
    /// Capture time of the packet carrying the request's first byte.
    pub ts: Timestamp,
    pub body: Kafka,
}

/// What happened on a connection, for the caller's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KafkaStats {
    /// Request headers read.
    pub requests: u64,
    /// Responses paired with their requests.
    pub responses: u64,
    /// Responses with no request to pair with (joined mid-stream, or the
    /// request was lost): skipped by size, not emitted.
    pub orphan_responses: u64,
    /// Requests emitted without a response although one was due (Produce
    /// with `acks = 0` is not counted).
    pub unanswered: u64,
    /// Requests emitted early because `max_pending_requests` was reached.
    pub pending_overflows: u64,
    /// Messages whose body did not parse within its size.
    pub malformed: u64,
    /// Elements over `max_buffer_bytes`.
    pub elements_too_long: u64,
    /// Times a direction lost its framing (a gap outside skipped bytes, an
    /// impossible size).
    pub desyncs: u64,
    /// Bytes dropped while looking for a message start after a desync.
    pub resync_skipped_bytes: u64,
    /// Requests of a version newer than the parser knows (named and timed,
    /// bodies not parsed).
    pub unknown_versions: u64,
    /// Record batches cut short inside a record set (a Fetch response ends
    /// with a partial batch when it hits the fetch size): not counted.
    pub partial_batches: u64,
    /// Raw SASL tokens (after a SaslHandshake v0), skipped unread.
    pub sasl_tokens: u64,
}

/// Parser of one connection's Kafka exchanges; see the crate docs.
#[derive(Debug)]
pub struct KafkaParser {
    config: KafkaConfig,
    client: Side,
    server: Side,
    exchanges: Exchanges,
    /// A SaslHandshake v0 succeeded: raw SASL tokens follow until the client
    /// sends a Kafka request again.
    sasl_raw: bool,
    /// A request header was read: the stream is Kafka.
    requests_seen: bool,
    ended: Option<Status>,
    stats: KafkaStats,
}

/// One direction's position in its stream.
#[derive(Debug)]
struct Side {
    /// Bytes of the current element not yet consumed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Bytes to drop before the next element.
    skip: u64,
    /// Bytes of the current message not yet consumed (buffered included).
    msg_left: u64,
    /// Size of the current message (without its length prefix).
    msg_size: u64,
    /// Capture time of the current message's first byte.
    msg_ts: Timestamp,
    phase: Phase,
    /// Correlation id of the exchange the current message belongs to.
    corr: Option<i32>,
    /// The current message was not read to its end.
    truncated: bool,
}

impl Side {
    fn new(phase: Phase) -> Self {
        Side {
            buf: Vec::new(),
            pos: 0,
            skip: 0,
            msg_left: 0,
            msg_size: 0,
            msg_ts: Timestamp::default(),
            phase,
            corr: None,
            truncated: false,
        }
    }

    fn live(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn in_message(&self) -> bool {
        !matches!(self.phase, Phase::Size | Phase::Hunt)
    }

    /// Drops `n` consumed bytes from the front of the live buffer; they
    /// count against the message when `in_message` (the size prefix does not).
    fn consume(&mut self, n: usize, in_message: bool) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if in_message {
            self.msg_left = self.msg_left.saturating_sub(n as u64);
        }
    }

    /// Forgets everything half-read.
    fn reset(&mut self, phase: Phase) {
        self.buf.clear();
        self.pos = 0;
        self.skip = 0;
        self.msg_left = 0;
        self.phase = phase;
        self.corr = None;
        self.truncated = false;
    }
}

/// Bytes taken into the buffer beyond what an element asked for, so that
/// an element of many small fields is not retried once per field.
const TOP_UP: usize = 256;

impl KafkaParser {
    /// A parser for a connection seen from its start.
    pub fn new(config: &KafkaConfig) -> Self {
        KafkaParser {
            config: config.clone(),
            client: Side::new(Phase::Size),
            server: Side::new(Phase::Size),
            exchanges: Exchanges::new(config.max_pending_requests),
            sasl_raw: false,
            requests_seen: false,
            ended: None,
            stats: KafkaStats::default(),
        }
    }

    /// A parser for a connection joined mid-way. The client's stream is
    /// picked up at the first segment that starts like a request; the
    /// server's at the first that starts with a plausible size, where it
    /// holds responses to requests never seen: they cannot be decoded
    /// without the request's API key and version, so they are counted
    /// ([`KafkaStats::orphan_responses`]) and skipped by size.
    pub fn mid_stream(config: &KafkaConfig) -> Self {
        let mut parser = KafkaParser::new(config);
        parser.client.phase = Phase::Hunt;
        parser.server.phase = Phase::Hunt;
        parser.requests_seen = true;
        parser
    }

    /// Counters of this connection so far.
    pub fn stats(&self) -> KafkaStats {
        self.stats
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// Feeds one segment of `dir` through the element reader.
    fn feed(&mut self, dir: Direction, ts: Timestamp, mut input: &[u8], out: &mut Vec<KafkaEvent>) {
        if matches!(self.side(dir).phase, Phase::Hunt) && !self.resync(dir, input) {
            self.stats.resync_skipped_bytes += input.len() as u64;
            return;
        }
        let max_buffer = self.config.max_buffer_bytes.max(64);
        // Each pass consumes bytes, skips bytes, ends a message or moves the
        // walk on; a run of passes that do none of these is cut short.
        let mut idle = 0u32;
        loop {
            let side = self.side(dir);
            if side.skip > 0 {
                let from_buf = side.skip.min(side.live().len() as u64);
                side.consume(from_buf as usize, true);
                side.skip -= from_buf;
                let from_input = side.skip.min(input.len() as u64);
                input = input.get(from_input as usize..).unwrap_or(&[]);
                side.skip -= from_input;
                side.msg_left = side.msg_left.saturating_sub(from_input);
                if side.skip > 0 {
                    return;
                }
            }
            if side.in_message() && side.msg_left == 0 {
                self.end_message(dir, out);
                idle = 0;
                continue;
            }
            let side = self.side(dir);
            if matches!(side.phase, Phase::Size) && side.live().is_empty() {
                if input.is_empty() {
                    return;
                }
                side.msg_ts = ts;
            }
            let in_message = side.in_message();
            let buf = mem::take(&mut side.buf);
            let pos = side.pos;
            let result = self.step(dir, buf.get(pos..).unwrap_or(&[]), out);
            let side = self.side(dir);
            side.buf = buf;
            match result {
                Ok(step) => {
                    side.consume(step.consumed, in_message);
                    side.skip = side.skip.saturating_add(step.skip);
                    if matches!(side.phase, Phase::Hunt) {
                        // Framing lost inside this segment: the rest is dropped.
                        side.buf.clear();
                        side.pos = 0;
                        self.stats.resync_skipped_bytes += input.len() as u64;
                        return;
                    }
                    if step.consumed == 0 && step.skip == 0 {
                        idle += 1;
                        if idle > 16 {
                            self.abandon_message(dir, false);
                        }
                    } else {
                        idle = 0;
                    }
                }
                Err(Short::Need(n)) => {
                    let live = side.live().len();
                    let room = if side.in_message() {
                        usize::try_from(side.msg_left).unwrap_or(usize::MAX)
                    } else {
                        4
                    };
                    if n > room {
                        self.abandon_message(dir, false);
                    } else if n > max_buffer {
                        self.abandon_message(dir, true);
                    } else if input.is_empty() {
                        return;
                    } else {
                        let want = n
                            .saturating_sub(live)
                            .max(TOP_UP)
                            .min(input.len())
                            .min(room.saturating_sub(live));
                        if side.pos > 0 {
                            side.buf.drain(..side.pos);
                            side.pos = 0;
                        }
                        let (head, rest) = input.split_at(want.min(input.len()));
                        side.buf.extend_from_slice(head);
                        input = rest;
                    }
                }
                Err(Short::Bad) => self.abandon_message(dir, false),
            }
        }
    }

    /// The current message of `dir` cannot be read further: the rest is
    /// skipped by size and its record marked truncated. Between messages
    /// (a size that cannot be read) the framing is lost instead.
    fn abandon_message(&mut self, dir: Direction, too_long: bool) {
        if too_long {
            self.stats.elements_too_long += 1;
        } else {
            self.stats.malformed += 1;
        }
        let side = self.side(dir);
        if side.in_message() {
            side.truncated = true;
            side.phase = Phase::Skip;
            side.skip = side.msg_left;
        } else {
            side.reset(Phase::Hunt);
            self.stats.desyncs += 1;
        }
    }

    /// The message of `dir` has been read (or skipped) to its end.
    fn end_message(&mut self, dir: Direction, out: &mut Vec<KafkaEvent>) {
        let side = self.side(dir);
        let (corr, truncated) = (side.corr.take(), mem::take(&mut side.truncated));
        side.phase = Phase::Size;
        let Some(corr) = corr else { return };
        match dir {
            Direction::ToServer => {
                if truncated {
                    if let Some(e) = self.exchanges.get_mut(corr) {
                        e.kafka.truncated = true;
                    }
                }
                self.exchanges.request_done(corr, out);
            }
            Direction::ToClient => self.exchanges.response_done(corr, truncated, out),
        }
    }

    /// `dir` lost its framing: the message in progress ends where it stands.
    fn lose_sync(&mut self, dir: Direction, out: &mut Vec<KafkaEvent>) {
        self.stats.desyncs += 1;
        let side = self.side(dir);
        if side.in_message() {
            side.truncated = true;
            self.end_message(dir, out);
        }
        self.side(dir).reset(Phase::Hunt);
    }

    /// Whether a segment starting with `b` can pick up a lost stream.
    fn resync(&mut self, dir: Direction, b: &[u8]) -> bool {
        let ok = match dir {
            Direction::ToServer => detect::header_is_plausible(b),
            Direction::ToClient => {
                let be32 = |at: usize| {
                    b.get(at..at + 4)
                        .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
                };
                match (be32(0), be32(4)) {
                    (Some(size), Some(corr)) => {
                        u64::try_from(size)
                            .is_ok_and(|s| (4..=self.config.max_message_bytes).contains(&s))
                            && (self.exchanges.awaits(corr) || self.exchanges.is_empty())
                    }
                    _ => false,
                }
            }
        };
        if ok {
            self.side(dir).reset(Phase::Size);
        }
        ok
    }

    /// Records that the connection stops here with `status`.
    fn conclude(&mut self, status: Status, out: &mut Vec<KafkaEvent>) -> Status {
        if status != Status::Continue {
            self.exchanges.flush(&mut self.stats, out);
            self.ended = Some(status);
        }
        status
    }
}

impl StreamParser for KafkaParser {
    type Output = KafkaEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<KafkaEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        self.feed(dir, ts, bytes, out);
        // A connection that never spoke Kafka is given up on at once.
        let status = if !self.requests_seen && self.stats.desyncs > 0 {
            Status::Failed
        } else {
            Status::Continue
        };
        self.conclude(status, out)
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<KafkaEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let side = self.side(dir);
        if len == 0 || matches!(side.phase, Phase::Hunt) {
            return Status::Continue;
        }
        if side.skip >= len {
            // Inside bytes that were to be skipped anyway.
            side.skip -= len;
            side.msg_left = side.msg_left.saturating_sub(len);
        } else {
            self.lose_sync(dir, out);
        }
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<KafkaEvent>) {
        if self.ended.is_some() {
            return;
        }
        for dir in [Direction::ToServer, Direction::ToClient] {
            let side = self.side(dir);
            if side.in_message() && side.msg_left == 0 {
                self.end_message(dir, out);
            } else if side.in_message() {
                side.truncated = true;
                self.end_message(dir, out);
            }
        }
        self.exchanges.flush(&mut self.stats, out);
        self.ended = Some(Status::Done);
    }
}
