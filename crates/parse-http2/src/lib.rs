//! HTTP/2 exchanges (RFC 9113, HPACK RFC 7541, gRPC) from the two byte
//! streams of a TCP connection.
//!
//! The tracker hands this parser each direction's reassembled bytes of a
//! cleartext HTTP/2 connection (h2c with prior knowledge, the part after an
//! `Upgrade: h2c`, or decrypted TLS); out come [`Http2Event`]s, one per
//! stream: the request's method, authority and path, the final response's
//! status, the latency from the request's first HEADERS frame to the first
//! response HEADERS frame, DATA payload sizes (padding excluded), and for
//! gRPC calls (`content-type: application/grpc*`) the service, method,
//! `grpc-status`, `grpc-message` and message counts each way.
//!
//! A stream is emitted when both sides ended it, when either reset it, when
//! a GOAWAY says it was not processed, when [`Http2Config::max_streams`] is
//! reached and it is the oldest, and otherwise at [`StreamParser::finish`].
//! Server push: a PUSH_PROMISE opens the promised stream as a request of its
//! own (method, authority and path from the promise, `ts` and the latency's
//! start at the promise), already ended by the client; the pushed response
//! completes it like any other.
//!
//! It is built for volume. Frames are read incrementally: a frame that
//! arrives whole in one segment is handled in place, DATA payloads are
//! counted as they pass (gRPC messages included) and never buffered, other
//! payloads are buffered only when split across segments. HPACK decoding
//! borrows literals from the block and keeps Huffman output in reused
//! buffers, so the only steady-state allocations are the record's strings.
//!
//! Captures begin late and lose packets. A parser made with
//! [`Http2Parser::mid_stream`] finds frame boundaries by their structure
//! (see [`looks_like_http2`]) and starts with both HPACK tables unknown:
//! fields taken from the static table and literals decode, a field that
//! refers to an unknown dynamic entry is left out (its record field `None`,
//! never guessed), and such blocks are counted. A gap inside a DATA payload
//! keeps sync; any other gap drops the direction back to finding a frame
//! boundary and forgets its HPACK table, since a header block may have been
//! in it.
//!
//! Known limits: request trailers and response trailers are not added to
//! the header lists (trailers' `grpc-status`/`grpc-message` are used); gRPC
//! message counts stop (and stay as counted) at a gap in a direction where
//! the message framing was lost; a response whose request was never seen is
//! emitted with method, host and path `None` only when it carried `:status`.
//!
//! Modules: `frame` reads frame headers, `detect` recognises HTTP/2 and
//! frame boundaries, `hpack` decodes header blocks, `fields` keeps what
//! records use, `reader` drives each direction's bytes through frames,
//! `frames` acts on each frame, `streams` holds open exchanges, `grpc`
//! counts gRPC messages.

mod detect;
mod fields;
mod frame;
mod frames;
mod grpc;
mod hpack;
mod reader;
mod streams;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Http, Timestamp};

use reader::{Phase, Side};
use streams::Streams;

pub use detect::{looks_like_http2, sent_by, PREFACE};
pub use podwire_http::{is_sensitive, HeaderCapture, REDACTED};

/// Limits and options of an [`Http2Parser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http2Config {
    /// Most streams tracked at once; when a new stream would exceed it, the
    /// oldest open stream is emitted as it stands. Default 256 (servers
    /// commonly allow 100 concurrent streams).
    pub max_streams: usize,
    /// Largest header block (HEADERS or PUSH_PROMISE with its CONTINUATION
    /// frames); a larger one is dropped, and the direction's HPACK table
    /// becomes unknown. Default 64 KiB.
    pub max_header_block_bytes: usize,
    /// Largest HPACK dynamic table kept per direction, whatever SETTINGS
    /// allow; entries an encoder keeps beyond it read as unknown. Default
    /// 64 KiB.
    pub max_table_size: usize,
    /// Largest non-DATA frame payload buffered per direction when it spans
    /// segments (DATA is never buffered); a larger frame is skipped (its
    /// header block lost). Default 64 KiB.
    pub max_frame_buffer_bytes: usize,
    /// Bytes a direction may skip while looking for a frame boundary before
    /// the connection is given up. Default 1 MiB.
    pub max_resync_bytes: u64,
    /// Longest `grpc-message` kept, in characters. Default 256.
    pub max_grpc_message_chars: usize,
    /// Which headers go into records (podwire-http's rules: pseudo-headers
    /// left out, credentials redacted unless [`HeaderCapture::All`]).
    /// Default [`HeaderCapture::None`].
    pub headers: HeaderCapture,
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            max_streams: 256,
            max_header_block_bytes: 64 * 1024,
            max_table_size: 64 * 1024,
            max_frame_buffer_bytes: 64 * 1024,
            max_resync_bytes: 1024 * 1024,
            max_grpc_message_chars: 256,
            headers: HeaderCapture::None,
        }
    }
}

/// One HTTP/2 stream: a request and what was seen of its response.
#[derive(Clone, Debug, PartialEq)]
pub struct Http2Event {
    /// Capture time of the packet carrying the request's first HEADERS
    /// frame (of the PUSH_PROMISE for a pushed stream; of the response's
    /// first HEADERS when the request was not seen).
    pub ts: Timestamp,
    pub http: Http,
}

/// What went wrong on a connection, for the caller's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Http2Stats {
    /// Frames read in sync.
    pub frames: u64,
    /// Streams emitted early because `max_streams` was reached.
    pub streams_evicted: u64,
    /// Header blocks with at least one field that referred to an unknown
    /// dynamic table entry (mid-stream join or after a loss).
    pub blocks_with_unknown_fields: u64,
    /// Header blocks that could not be decoded at all (broken HPACK, over
    /// `max_header_block_bytes`, or lost in part); each makes its
    /// direction's table unknown.
    pub blocks_undecodable: u64,
    /// Frame headers that break the protocol's rules, after which the
    /// direction looks for a frame boundary again.
    pub frames_malformed: u64,
    /// Non-DATA frames over `max_frame_buffer_bytes`, skipped.
    pub frames_oversized: u64,
    /// Gaps that lost track of frame boundaries in one direction.
    pub desyncs: u64,
    /// Times a direction found a frame boundary again.
    pub resyncs: u64,
    /// Bytes skipped while looking for a frame boundary.
    pub bytes_skipped: u64,
    /// GOAWAY frames seen.
    pub goaways: u64,
    /// RST_STREAM frames that ended a tracked stream.
    pub resets: u64,
}

/// Parser of one connection's HTTP/2 streams; see the crate docs.
#[derive(Debug)]
pub struct Http2Parser {
    config: Http2Config,
    client: Side,
    server: Side,
    streams: Streams,
    /// Highest client-initiated stream opened so far.
    last_client_stream: u32,
    ended: Option<Status>,
    stats: Http2Stats,
}

impl Http2Parser {
    /// A parser for a connection seen from its start: the client's stream
    /// must begin with the connection preface.
    pub fn new(config: &Http2Config) -> Self {
        Http2Parser {
            config: config.clone(),
            client: Side::new(config, Phase::Preface(0)),
            server: Side::new(config, Phase::Frames),
            streams: Streams::new(config.max_streams),
            last_client_stream: 0,
            ended: None,
            stats: Http2Stats::default(),
        }
    }

    /// A parser for a connection joined after it began: each direction
    /// starts by finding a frame boundary (a client preface, if the
    /// connection's start is seen after all, is taken too), and both HPACK
    /// tables start unknown.
    pub fn mid_stream(config: &Http2Config) -> Self {
        let mut parser = Http2Parser::new(config);
        for side in [&mut parser.client, &mut parser.server] {
            side.phase = Phase::Resync;
            side.hpack.forget();
            side.max_frame = frame::DEFAULT_MAX_FRAME_SIZE;
            side.max_frame_known = false;
        }
        parser
    }

    /// A parser for the HTTP/2 connection that follows an HTTP/1.1 request
    /// with `Upgrade: h2c` and its `101` response (RFC 7540 section 3.2).
    /// Stream 1 is that request, already ended by the client (its body, if
    /// any, was HTTP/1's), with `method`, `host`, `path` and `ts` as the
    /// HTTP/1 parser saw them; its response arrives on stream 1 in HTTP/2.
    /// The client's bytes must begin with the preface, the server's with
    /// frames (its SETTINGS), each from the first byte after the HTTP/1
    /// request and response heads.
    pub fn after_upgrade(
        config: &Http2Config,
        method: &str,
        host: Option<&str>,
        path: &str,
        ts: Timestamp,
    ) -> Self {
        let mut parser = Http2Parser::new(config);
        let mut ignored = Vec::new();
        let (stream, _) = parser.streams.open(1, &mut ignored);
        stream.request_ts = Some(ts);
        stream.client_done = true;
        stream.http.method = Some(method.to_owned());
        stream.http.host = host.map(str::to_owned);
        stream.http.path = Some(path.to_owned());
        parser.last_client_stream = 1;
        parser
    }

    /// Counters of this connection's anomalies so far.
    pub fn stats(&self) -> Http2Stats {
        self.stats
    }

    fn side_mut(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }
}

impl StreamParser for Http2Parser {
    type Output = Http2Event;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<Http2Event>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let status = self.feed(dir, ts, bytes, out);
        if status != Status::Continue {
            self.streams.emit_where(|_| true, out);
            self.ended = Some(status);
        }
        status
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<Http2Event>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        if len > 0 {
            self.on_gap(dir, len, out);
        }
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<Http2Event>) {
        if self.ended.is_some() {
            return;
        }
        self.streams.emit_where(|_| true, out);
        self.ended = Some(Status::Done);
    }
}
