//! What each frame does to the connection's streams (RFC 9113 section 6).
//!
//! Header blocks are decoded as soon as they are complete, in the order the
//! direction sent them, whatever their stream, to keep the HPACK table in
//! step; what they say is then applied to the stream: a request, an
//! interim or final response, trailers, or a promised request.

use podwire_parse::Direction;
use podwire_record::Timestamp;

use crate::fields::Collected;
use crate::frame::{
    FrameHeader, CONTINUATION, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED,
    FLAG_PRIORITY, GOAWAY, HEADERS, PUSH_PROMISE, RST_STREAM, SETTINGS,
};
use crate::reader::{count_body, BlockKind, Pending};
use crate::{Http2Event, Http2Parser};

const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
use crate::frame::MAX_FRAME_SIZE_LIMIT;

/// The payload of a padded frame without its pad length byte and padding.
fn unpad<'a>(h: &FrameHeader, payload: &'a [u8]) -> Option<&'a [u8]> {
    if !h.has(FLAG_PADDED) {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.get(..rest.len().checked_sub(usize::from(pad))?)
}

fn read_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?) & 0x7fff_ffff)
}

impl Http2Parser {
    /// A whole non-DATA frame.
    pub(crate) fn on_frame(
        &mut self,
        dir: Direction,
        h: FrameHeader,
        ts: Timestamp,
        payload: &[u8],
        out: &mut Vec<Http2Event>,
    ) {
        if h.kind != CONTINUATION && self.side_mut(dir).pending.is_some() {
            // A header block must be followed by its CONTINUATION frames.
            self.stats.frames_malformed += 1;
            self.lose_block(dir);
        }
        match h.kind {
            HEADERS => {
                let fragment = unpad(&h, payload).and_then(|p| {
                    // Stream dependency (4) and weight (1).
                    if h.has(FLAG_PRIORITY) {
                        p.get(5..)
                    } else {
                        Some(p)
                    }
                });
                match fragment {
                    Some(f) => self.block_start(dir, &h, BlockKind::Headers, ts, f, out),
                    None => self.lose_block(dir),
                }
            }
            PUSH_PROMISE => {
                let parsed = unpad(&h, payload).and_then(|p| Some((read_u32(p)?, p.get(4..)?)));
                match parsed {
                    Some((promised, f)) => {
                        self.block_start(dir, &h, BlockKind::Push { promised }, ts, f, out)
                    }
                    None => self.lose_block(dir),
                }
            }
            CONTINUATION => self.continuation(dir, &h, payload, out),
            RST_STREAM if self.streams.get_mut(h.stream).is_some() => {
                self.stats.resets += 1;
                self.streams.emit(h.stream, out);
            }
            SETTINGS if !h.has(FLAG_ACK) => self.settings(dir, payload),
            GOAWAY => {
                self.stats.goaways += 1;
                if let Some(last) = read_u32(payload) {
                    // Streams the sender of the GOAWAY never processed: those
                    // its peer opened (odd ids are the client's).
                    let peer_odd = dir == Direction::ToClient;
                    self.streams
                        .emit_where(|s| s.id > last && (s.id % 2 == 1) == peer_odd, out);
                }
            }
            // PRIORITY, PING, WINDOW_UPDATE, SETTINGS acks and unknown
            // types say nothing about exchanges.
            _ => {}
        }
    }

    fn settings(&mut self, dir: Direction, payload: &[u8]) {
        // Settings describe what the sender accepts: they bound what the
        // other direction sends.
        let peer = self.side_mut(dir.reverse());
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            match id {
                SETTINGS_HEADER_TABLE_SIZE => peer.hpack.settings_table_size(value),
                SETTINGS_MAX_FRAME_SIZE => {
                    peer.max_frame =
                        value.clamp(crate::frame::DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT);
                    peer.max_frame_known = true;
                }
                _ => {}
            }
        }
    }

    /// A header block was lost or broken: the direction's table is unknown.
    fn lose_block(&mut self, dir: Direction) {
        self.stats.blocks_undecodable += 1;
        self.side_mut(dir).drop_block();
    }

    fn block_start(
        &mut self,
        dir: Direction,
        h: &FrameHeader,
        kind: BlockKind,
        ts: Timestamp,
        fragment: &[u8],
        out: &mut Vec<Http2Event>,
    ) {
        let pending = Pending {
            stream: h.stream,
            kind,
            end_stream: h.kind == HEADERS && h.has(FLAG_END_STREAM),
            ts,
        };
        if h.has(FLAG_END_HEADERS) {
            self.header_block(dir, pending, fragment, out);
            return;
        }
        if fragment.len() > self.config.max_header_block_bytes {
            self.lose_block(dir);
            return;
        }
        let side = self.side_mut(dir);
        side.block.clear();
        side.block.extend_from_slice(fragment);
        side.pending = Some(pending);
    }

    fn continuation(
        &mut self,
        dir: Direction,
        h: &FrameHeader,
        fragment: &[u8],
        out: &mut Vec<Http2Event>,
    ) {
        let limit = self.config.max_header_block_bytes;
        let side = self.side_mut(dir);
        let Some(pending) = side.pending else {
            // Its HEADERS was not seen (joined mid-block, or lost): the
            // table is unknown already.
            if side.hpack.is_known() {
                self.lose_block(dir);
            }
            return;
        };
        if pending.stream != h.stream || side.block.len().saturating_add(fragment.len()) > limit {
            self.lose_block(dir);
            return;
        }
        side.block.extend_from_slice(fragment);
        if h.has(FLAG_END_HEADERS) {
            side.pending = None;
            let block = std::mem::take(&mut side.block);
            self.header_block(dir, pending, &block, out);
            let side = self.side_mut(dir);
            side.block = block;
            side.block.clear();
        }
    }

    /// A complete header block: decoded, then applied to its stream.
    fn header_block(
        &mut self,
        dir: Direction,
        p: Pending,
        block: &[u8],
        out: &mut Vec<Http2Event>,
    ) {
        let capture = self.config.headers;
        let max_chars = self.config.max_grpc_message_chars;
        let mut c = Collected::new(capture);
        let decoded = self.side_mut(dir).hpack.decode(
            block,
            |n| Collected::wanted(n, capture),
            |f| c.field(f, capture, max_chars),
        );
        match decoded {
            Err(_) => {
                self.stats.blocks_undecodable += 1;
                if p.end_stream {
                    self.end_stream(dir, p.stream, out);
                }
                return;
            }
            Ok(unknown) if unknown > 0 => self.stats.blocks_with_unknown_fields += 1,
            Ok(_) => {}
        }
        match (dir, p.kind) {
            (Direction::ToServer, BlockKind::Headers) => self.request_block(p, c, out),
            (Direction::ToClient, BlockKind::Headers) => self.response_block(p, c, out),
            (Direction::ToClient, BlockKind::Push { promised }) => {
                if self.streams.get_mut(promised).is_none()
                    && !self.streams.recently_emitted(promised)
                    && promised != 0
                {
                    let (s, evicted) = self.streams.open(promised, out);
                    s.request(p.ts, c);
                    s.client_done = true;
                    self.stats.streams_evicted += u64::from(evicted);
                }
            }
            // Clients do not push.
            (Direction::ToServer, BlockKind::Push { .. }) => {}
        }
    }

    fn request_block(&mut self, p: Pending, c: Collected, out: &mut Vec<Http2Event>) {
        if let Some(s) = self.streams.get_mut(p.stream) {
            // A second block from the client is trailers.
            if s.request_ts.is_none() {
                s.request(p.ts, c);
            }
        } else if p.stream % 2 == 1
            && p.stream > self.last_client_stream
            && !self.streams.recently_emitted(p.stream)
        {
            let (s, evicted) = self.streams.open(p.stream, out);
            s.request(p.ts, c);
            self.last_client_stream = p.stream;
            self.stats.streams_evicted += u64::from(evicted);
        } else {
            return;
        }
        if p.end_stream {
            self.end_stream(Direction::ToServer, p.stream, out);
        }
    }

    fn response_block(&mut self, p: Pending, c: Collected, out: &mut Vec<Http2Event>) {
        if let Some(s) = self.streams.get_mut(p.stream) {
            s.response(p.ts, c);
        } else if c.status.is_some() && !self.streams.recently_emitted(p.stream) {
            // A response whose request was before the capture began.
            let (s, evicted) = self.streams.open(p.stream, out);
            s.client_done = true;
            s.response(p.ts, c);
            self.stats.streams_evicted += u64::from(evicted);
        } else {
            return;
        }
        if p.end_stream {
            self.end_stream(Direction::ToClient, p.stream, out);
        }
    }

    /// DATA content of `stream` in `dir`.
    pub(crate) fn data_content(&mut self, dir: Direction, stream: u32, content: &[u8]) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        count_body(s, dir, content.len() as u64);
        if s.is_grpc() {
            match dir {
                Direction::ToServer => s.requests.feed(content),
                Direction::ToClient => s.responses.feed(content),
            }
        }
    }

    /// `dir` ended `stream` (END_STREAM).
    pub(crate) fn end_stream(&mut self, dir: Direction, stream: u32, out: &mut Vec<Http2Event>) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        match dir {
            Direction::ToServer => s.client_done = true,
            Direction::ToClient => s.server_done = true,
        }
        self.streams.emit_if_done(stream, out);
    }
}
