//! Each direction's bytes, cut into frames as they arrive.
//!
//! Segments end anywhere, so a direction keeps where it is: in the
//! preface, in a frame header (up to nine bytes kept), in a payload, or
//! lost and looking for a frame boundary. A frame whose payload arrives
//! whole is handed on in place; DATA payloads are handed on piece by piece
//! as they pass and never kept; other payloads split across segments are
//! kept in one reused buffer, bounded by the config.
//!
//! Gaps: bytes missing inside a payload keep the direction in sync (a lost
//! part of a header block makes the direction's HPACK table unknown); a gap
//! anywhere else sends the direction back to finding a frame boundary.

use std::mem;

use podwire_parse::{Direction, Status};
use podwire_record::Timestamp;

use crate::detect::{find_boundary, starts_with_preface, PREFACE};
use crate::frame::{
    FrameHeader, CONTINUATION, DATA, DEFAULT_MAX_FRAME_SIZE, FLAG_END_STREAM, FLAG_PADDED, HEADERS,
    HEADER_LEN, PUSH_PROMISE,
};
use crate::hpack::Decoder;
use crate::{Http2Config, Http2Event, Http2Parser};

/// Where a direction is in its byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Matching the client preface; this many bytes matched so far.
    Preface(usize),
    /// Between or inside frames, in sync.
    Frames,
    /// Lost: looking for a frame boundary.
    Resync,
}

/// The frame being read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub h: FrameHeader,
    /// Payload bytes still to come.
    pub remaining: u32,
    /// When the frame's first byte arrived.
    pub ts: Timestamp,
    pub body: Body,
}

/// What happens to the current frame's payload.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body {
    /// Kept until whole, then handled.
    Buffer,
    /// Passed over (too large, or partly lost).
    Skip,
    /// DATA: content counted as it passes. `pad_unread` while the pad
    /// length byte has not arrived; then `content_left` content bytes
    /// precede the padding.
    Data { pad_unread: bool, content_left: u32 },
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub stream: u32,
    pub kind: BlockKind,
    pub end_stream: bool,
    pub ts: Timestamp,
}

/// Which frame started a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Headers,
    Push { promised: u32 },
}

/// One direction's state.
#[derive(Debug)]
pub(crate) struct Side {
    pub phase: Phase,
    hdr: [u8; HEADER_LEN],
    hdr_len: usize,
    cur: Option<Current>,
    buf: Vec<u8>,
    /// The header block being put together from CONTINUATION frames.
    pub block: Vec<u8>,
    pub pending: Option<Pending>,
    /// Decodes the header blocks this direction sends.
    pub hpack: Decoder,
    /// Largest frame this direction may send (the peer's
    /// `SETTINGS_MAX_FRAME_SIZE`).
    pub max_frame: u32,
    /// `max_frame` is known: the connection was seen from its start, or the
    /// peer's `SETTINGS_MAX_FRAME_SIZE` was. Joined mid-stream, the peer may
    /// have raised it (gRPC's C core allows 4 MiB): DATA frames read in
    /// sync are then taken up to the protocol's largest, while finding a
    /// boundary stays at 16384 bytes, where false matches are the risk.
    pub max_frame_known: bool,
    /// Bytes skipped since the direction was last in sync.
    skipped: u64,
}

impl Side {
    pub fn new(config: &Http2Config, phase: Phase) -> Self {
        Side {
            phase,
            hdr: [0; HEADER_LEN],
            hdr_len: 0,
            cur: None,
            buf: Vec::new(),
            block: Vec::new(),
            pending: None,
            hpack: Decoder::new(config.max_table_size),
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            max_frame_known: true,
            skipped: 0,
        }
    }

    /// Lost track of frames: look for a boundary, forget the HPACK table.
    fn lose(&mut self) {
        self.phase = Phase::Resync;
        self.hdr_len = 0;
        self.cur = None;
        self.buf.clear();
        self.drop_block();
    }

    /// A header block (or part of one) is lost.
    pub fn drop_block(&mut self) {
        self.pending = None;
        self.block.clear();
        self.hpack.forget();
    }
}

fn carries_block(kind: u8) -> bool {
    matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION)
}

impl Http2Parser {
    /// Bytes of `dir`: frames are read and acted on until they run out.
    pub(crate) fn feed(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<Http2Event>,
    ) -> Status {
        let mut input = bytes;
        // Each pass consumes at least one byte, or returns.
        while !input.is_empty() {
            let side = self.side_mut(dir);
            match side.phase {
                Phase::Preface(matched) => {
                    let want = PREFACE.get(matched..).unwrap_or_default();
                    let n = want.len().min(input.len());
                    if input.get(..n) != want.get(..n) {
                        self.stats.frames_malformed += 1;
                        return Status::Failed;
                    }
                    input = input.get(n..).unwrap_or_default();
                    side.phase = if matched + n == PREFACE.len() {
                        Phase::Frames
                    } else {
                        Phase::Preface(matched + n)
                    };
                }
                Phase::Resync => {
                    if dir == Direction::ToServer && starts_with_preface(input) {
                        side.phase = Phase::Preface(0);
                        continue;
                    }
                    if let Some(at) = find_boundary(input, side.max_frame) {
                        side.phase = Phase::Frames;
                        side.skipped = 0;
                        self.stats.resyncs += 1;
                        self.stats.bytes_skipped += at as u64;
                        input = input.get(at..).unwrap_or_default();
                        continue;
                    }
                    side.skipped = side.skipped.saturating_add(input.len() as u64);
                    let over = side.skipped > self.config.max_resync_bytes;
                    self.stats.bytes_skipped += input.len() as u64;
                    if over {
                        return Status::Failed;
                    }
                    return Status::Continue;
                }
                Phase::Frames => {
                    let used = self.frame_bytes(dir, ts, input, out).max(1);
                    input = input.get(used..).unwrap_or_default();
                }
            }
        }
        Status::Continue
    }

    /// Reads from `input` into the current frame; returns bytes consumed.
    fn frame_bytes(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        input: &[u8],
        out: &mut Vec<Http2Event>,
    ) -> usize {
        let side = self.side_mut(dir);
        let Some(mut cur) = side.cur else {
            return self.frame_header(dir, ts, input, out);
        };
        let take = input.len().min(cur.remaining as usize);
        let Some(chunk) = input.get(..take) else {
            return input.len();
        };
        match cur.body {
            Body::Skip => {}
            Body::Data {
                mut pad_unread,
                mut content_left,
            } => {
                let mut content = chunk;
                if pad_unread {
                    if let Some((&pad, rest)) = chunk.split_first() {
                        pad_unread = false;
                        content_left = match cur.h.len.checked_sub(1 + u32::from(pad)) {
                            Some(n) => n,
                            None => {
                                self.stats.frames_malformed += 1;
                                0
                            }
                        };
                        content = rest;
                    }
                }
                let n = content.len().min(content_left as usize);
                if let Some(content) = content.get(..n) {
                    if !content.is_empty() {
                        self.data_content(dir, cur.h.stream, content);
                    }
                }
                content_left -= n as u32;
                cur.body = Body::Data {
                    pad_unread,
                    content_left,
                };
            }
            Body::Buffer => {
                let side = self.side_mut(dir);
                if side.buf.is_empty() && take == cur.remaining as usize {
                    // Whole in this segment: handled in place.
                    side.cur = None;
                    self.on_frame(dir, cur.h, cur.ts, chunk, out);
                    return take;
                }
                side.buf.extend_from_slice(chunk);
                if take == cur.remaining as usize {
                    let buf = mem::take(&mut side.buf);
                    side.cur = None;
                    self.on_frame(dir, cur.h, cur.ts, &buf, out);
                    let side = self.side_mut(dir);
                    side.buf = buf;
                    side.buf.clear();
                    return take;
                }
            }
        }
        cur.remaining -= take as u32;
        let side = self.side_mut(dir);
        side.cur = (cur.remaining > 0).then_some(cur);
        if cur.remaining == 0 {
            self.frame_end(dir, &cur, out);
        }
        take
    }

    /// Reads a frame header from `input`; returns bytes consumed.
    fn frame_header(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        input: &[u8],
        out: &mut Vec<Http2Event>,
    ) -> usize {
        let side = self.side_mut(dir);
        let (h, used) = if side.hdr_len == 0 && input.len() >= HEADER_LEN {
            match FrameHeader::parse(input) {
                Some(h) => (h, HEADER_LEN),
                None => return input.len(),
            }
        } else {
            let n = (HEADER_LEN - side.hdr_len).min(input.len());
            let (Some(dst), Some(src)) = (
                side.hdr.get_mut(side.hdr_len..side.hdr_len + n),
                input.get(..n),
            ) else {
                return input.len();
            };
            dst.copy_from_slice(src);
            side.hdr_len += n;
            if side.hdr_len < HEADER_LEN {
                return n;
            }
            side.hdr_len = 0;
            match FrameHeader::parse(&side.hdr) {
                Some(h) => (h, n),
                None => return n,
            }
        };
        if !self.header_ok(dir, &h) {
            self.stats.frames_malformed += 1;
            self.lose_sync(dir);
            return used;
        }
        self.stats.frames += 1;
        let body = if h.kind == DATA {
            Body::Data {
                pad_unread: h.has(FLAG_PADDED),
                content_left: if h.has(FLAG_PADDED) { 0 } else { h.len },
            }
        } else if h.len as usize > self.config.max_frame_buffer_bytes {
            self.stats.frames_oversized += 1;
            if carries_block(h.kind) {
                self.stats.blocks_undecodable += 1;
                self.side_mut(dir).drop_block();
            }
            Body::Skip
        } else {
            Body::Buffer
        };
        let cur = Current {
            h,
            remaining: h.len,
            ts,
            body,
        };
        if h.len == 0 {
            match body {
                Body::Buffer => self.on_frame(dir, h, ts, &[], out),
                _ => self.frame_end(dir, &cur, out),
            }
        } else {
            self.side_mut(dir).cur = Some(cur);
        }
        used
    }

    /// Whether a frame header read in sync keeps to the rules: known types
    /// must be plausible, unknown ones (extensions) only within the size.
    fn header_ok(&mut self, dir: Direction, h: &FrameHeader) -> bool {
        let side = self.side_mut(dir);
        let max = if h.kind == DATA && !side.max_frame_known {
            crate::frame::MAX_FRAME_SIZE_LIMIT
        } else {
            side.max_frame
        };
        if h.kind <= CONTINUATION {
            h.conforms(max, false)
        } else {
            h.len <= max
        }
    }

    /// A frame was passed over or streamed to its end.
    fn frame_end(&mut self, dir: Direction, cur: &Current, out: &mut Vec<Http2Event>) {
        if cur.h.kind == DATA && cur.h.has(FLAG_END_STREAM) {
            self.end_stream(dir, cur.h.stream, out);
        }
    }

    /// `dir` no longer knows where frames start.
    fn lose_sync(&mut self, dir: Direction) {
        self.side_mut(dir).lose();
        for s in self.streams.iter_mut() {
            match dir {
                Direction::ToServer => s.requests.lose(),
                Direction::ToClient => s.responses.lose(),
            }
        }
    }

    /// `len` bytes of `dir` are missing.
    pub(crate) fn on_gap(&mut self, dir: Direction, len: u64, out: &mut Vec<Http2Event>) {
        let side = self.side_mut(dir);
        let in_payload = match (side.phase, side.cur) {
            (Phase::Frames, Some(cur)) => u64::from(cur.remaining) >= len,
            _ => false,
        };
        if !in_payload {
            if side.phase != Phase::Resync {
                self.stats.desyncs += 1;
            }
            self.lose_sync(dir);
            return;
        }
        let Some(mut cur) = side.cur else { return };
        match cur.body {
            Body::Skip => {}
            Body::Buffer => {
                side.buf.clear();
                if carries_block(cur.h.kind) {
                    side.drop_block();
                    self.stats.blocks_undecodable += 1;
                }
                cur.body = Body::Skip;
            }
            Body::Data {
                pad_unread,
                content_left,
            } => {
                let stream = self.streams.get_mut(cur.h.stream);
                if pad_unread {
                    // Where content ends is unknown: stop counting.
                    cur.body = Body::Skip;
                    if let Some(s) = stream {
                        match dir {
                            Direction::ToServer => s.requests.lose(),
                            Direction::ToClient => s.responses.lose(),
                        }
                    }
                } else {
                    let content = len.min(u64::from(content_left));
                    if let Some(s) = stream {
                        count_body(s, dir, content);
                        match dir {
                            Direction::ToServer => s.requests.gap(content),
                            Direction::ToClient => s.responses.gap(content),
                        }
                    }
                    cur.body = Body::Data {
                        pad_unread,
                        content_left: content_left - content as u32,
                    };
                }
            }
        }
        cur.remaining -= len as u32;
        self.side_mut(dir).cur = (cur.remaining > 0).then_some(cur);
        if cur.remaining == 0 {
            self.frame_end(dir, &cur, out);
        }
    }
}

/// Adds `n` DATA content bytes to a stream's body size in `dir`.
pub(crate) fn count_body(s: &mut crate::streams::Stream, dir: Direction, n: u64) {
    match dir {
        Direction::ToServer => {
            s.http.request_body_bytes = s.http.request_body_bytes.saturating_add(n)
        }
        Direction::ToClient => {
            let total = s.http.response_body_bytes.unwrap_or(0).saturating_add(n);
            s.http.response_body_bytes = Some(total);
        }
    }
}
