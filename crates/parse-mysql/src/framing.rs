//! Packets out of a byte stream: the 4-byte header, continuation packets,
//! and the compressed protocol's outer framing.
//!
//! Every MySQL packet starts with a 3-byte little-endian payload length and
//! a sequence id. A payload of 16 MiB - 1 or more is sent as fragments of
//! exactly `0xFFFFFF` bytes followed by a shorter one (possibly empty);
//! `Framer` joins them into one logical packet. A packet that arrives whole
//! in one segment is handed out in place; one split across segments is
//! copied, but only its first `keep` bytes (what the caller needs to read
//! it): rows and LOAD DATA content are counted, never buffered whole.
//!
//! With `CLIENT_COMPRESS` each direction becomes a sequence of compressed
//! packets (7-byte header: compressed length, sequence id, uncompressed
//! length, 0 when stored as is) each holding an independent zlib stream;
//! `Inflater` undoes that layer as bytes stream in, with a fixed output
//! buffer, so the packets inside go through a `Framer` as usual.

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZFlush, MZStatus};
use podwire_record::Timestamp;

/// Payload length of a fragment that another follows.
const MAX_FRAGMENT: usize = 0xFF_FFFF;

/// One logical packet (fragments joined).
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Sequence id of its first fragment.
    pub seq: u8,
    /// Whole payload length.
    pub len: u64,
    /// The payload's first bytes: all of them unless [`Packet::cut`].
    pub data: &'a [u8],
    /// Capture time of the segment that carried its first byte.
    pub ts: Timestamp,
}

impl Packet<'_> {
    /// Only a prefix of the payload is in `data`.
    pub fn cut(&self) -> bool {
        (self.data.len() as u64) < self.len
    }

    /// The first payload byte.
    pub fn first(&self) -> Option<u8> {
        self.data.first().copied()
    }
}

/// What a gap did to a stream's framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapEffect {
    /// The bytes lost were inside one packet's payload: boundaries are known.
    InSync,
    /// Packet boundaries are lost.
    Lost,
}

/// Cuts one direction's stream into packets; see the module docs.
#[derive(Debug)]
pub struct Framer {
    header: [u8; 4],
    header_len: usize,
    /// In a fragment's payload (else reading a header).
    in_payload: bool,
    /// Payload bytes of the current fragment still to come.
    remaining: usize,
    /// The current fragment is full-size: another fragment follows.
    more: bool,
    /// A logical packet is under way (a continuation header is part of it).
    open: bool,
    seq: u8,
    ts: Timestamp,
    total: u64,
    /// First bytes of the packet under way (only when split across segments).
    buf: Vec<u8>,
    /// How many payload bytes `buf` takes; less after a gap inside the payload.
    keep: usize,
    max_keep: usize,
}

impl Framer {
    pub fn new(max_keep: usize) -> Self {
        Framer {
            header: [0; 4],
            header_len: 0,
            in_payload: false,
            remaining: 0,
            more: false,
            open: false,
            seq: 0,
            ts: Timestamp(0),
            total: 0,
            buf: Vec::new(),
            keep: 0,
            max_keep,
        }
    }

    /// Between packets, with nothing half-read.
    pub fn idle(&self) -> bool {
        !self.open && !self.in_payload && self.header_len == 0
    }

    /// Forgets a half-read packet (after a loss of sync).
    pub fn reset(&mut self) {
        self.header_len = 0;
        self.in_payload = false;
        self.remaining = 0;
        self.more = false;
        self.open = false;
        self.buf.clear();
    }

    /// The next whole packet from `input` (advanced past what was used), or
    /// `None` once `input` is used up. `keep(seq)` says how many payload bytes
    /// the caller needs of a packet with that sequence id.
    pub fn next<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
        ts: Timestamp,
        keep: impl FnOnce(u8) -> usize,
    ) -> Option<Packet<'s>> {
        if self.idle() {
            if let Some(p) = whole_packet(input, ts) {
                return Some(p);
            }
        }
        let mut keep = Some(keep);
        // Each turn uses input or finishes a fragment, so this ends.
        loop {
            if self.in_payload {
                let n = self.remaining.min(input.len());
                let (chunk, rest) = input.split_at(n);
                *input = rest;
                let room = self.keep.saturating_sub(self.buf.len());
                self.buf
                    .extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
                self.total = self.total.saturating_add(n as u64);
                self.remaining -= n;
                if self.remaining > 0 {
                    return None;
                }
                self.in_payload = false;
                if !self.more {
                    self.open = false;
                    return Some(Packet {
                        seq: self.seq,
                        len: self.total,
                        data: &self.buf,
                        ts: self.ts,
                    });
                }
                continue;
            }
            let (&b, rest) = input.split_first()?;
            *input = rest;
            if self.header_len == 0 && !self.open {
                self.ts = ts;
            }
            self.header[self.header_len] = b;
            self.header_len += 1;
            if self.header_len < 4 {
                continue;
            }
            self.header_len = 0;
            let [a, b, c, seq] = self.header;
            let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
            if !self.open {
                self.open = true;
                self.seq = seq;
                self.total = 0;
                self.buf.clear();
                self.keep = keep.take().map_or(0, |k| k(seq)).min(self.max_keep);
            }
            self.remaining = len;
            self.more = len == MAX_FRAGMENT;
            self.in_payload = true;
        }
    }

    /// `len` bytes of the stream were lost.
    pub fn gap(&mut self, len: u64) -> GapEffect {
        if len == 0 {
            return GapEffect::InSync;
        }
        if self.in_payload && len < self.remaining as u64 {
            // Within this fragment (and not its last byte, so the next
            // header is still where it was): the prefix stops here.
            self.remaining -= len as usize;
            self.total = self.total.saturating_add(len);
            self.keep = self.buf.len();
            return GapEffect::InSync;
        }
        self.reset();
        GapEffect::Lost
    }
}

/// A packet that lies whole at the start of `input`, in place.
fn whole_packet<'a>(input: &mut &'a [u8], ts: Timestamp) -> Option<Packet<'a>> {
    let [a, b, c, seq] = *input.first_chunk::<4>()?;
    let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
    if len == MAX_FRAGMENT {
        return None;
    }
    let data = input.get(4..4 + len)?;
    *input = &input[4 + len..];
    Some(Packet {
        seq,
        len: len as u64,
        data,
        ts,
    })
}

/// Size of the decompressed-bytes buffer of a compressed connection.
const INFLATE_OUT: usize = 16 * 1024;

/// Undoes the compressed protocol's framing; see the module docs.
pub struct Inflater {
    header: [u8; 7],
    header_len: usize,
    /// Compressed payload bytes of the current packet still to come.
    remaining: usize,
    /// The current packet is stored uncompressed.
    stored: bool,
    /// The current packet's zlib stream ended; what is left is skipped.
    ended: bool,
    /// Uncompressed length the header announced, and what came out so far:
    /// a stream that inflates to more is corrupt (or a bomb) and stops here.
    expect: usize,
    produced: usize,
    state: Box<InflateState>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

/// The compressed layer is corrupt: the direction cannot be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

impl Inflater {
    pub fn new() -> Self {
        Inflater {
            header: [0; 7],
            header_len: 0,
            remaining: 0,
            stored: false,
            ended: false,
            expect: 0,
            produced: 0,
            state: InflateState::new_boxed(DataFormat::Zlib),
            out: vec![0; INFLATE_OUT],
        }
    }

    /// The next run of uncompressed bytes from `input` (advanced past what
    /// was used), `Ok(None)` once `input` is used up.
    pub fn next<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<&'s [u8]>, Corrupt> {
        // Each turn uses input, ends a packet or returns.
        loop {
            if self.remaining == 0 && self.header_len == 0 && self.in_packet_tail() {
                return Ok(Some(self.drain()?));
            }
            if self.remaining > 0 {
                let avail = self.remaining.min(input.len());
                if avail == 0 {
                    return Ok(None);
                }
                if self.stored {
                    let (chunk, rest) = input.split_at(avail);
                    *input = rest;
                    self.remaining -= avail;
                    return Ok(Some(chunk));
                }
                if self.ended {
                    *input = &input[avail..];
                    self.remaining -= avail;
                    continue;
                }
                let res = inflate(
                    &mut self.state,
                    &input[..avail],
                    &mut self.out,
                    MZFlush::None,
                );
                *input = &input[res.bytes_consumed.min(avail)..];
                self.remaining -= res.bytes_consumed.min(avail);
                match res.status {
                    Ok(MZStatus::StreamEnd) => self.ended = true,
                    Ok(_) => {}
                    Err(_) if res.bytes_consumed == 0 && res.bytes_written == 0 => {
                        return Err(Corrupt)
                    }
                    Err(_) => {}
                }
                if res.bytes_written > 0 {
                    return self.emit(res.bytes_written).map(Some);
                }
                if res.bytes_consumed == 0 {
                    return Err(Corrupt);
                }
                continue;
            }
            let (&b, rest) = match input.split_first() {
                Some(x) => x,
                None => return Ok(None),
            };
            *input = rest;
            self.header[self.header_len] = b;
            self.header_len += 1;
            if self.header_len < 7 {
                continue;
            }
            self.header_len = 0;
            let h = self.header;
            let u24 = |i: usize| {
                usize::from(h[i]) | usize::from(h[i + 1]) << 8 | usize::from(h[i + 2]) << 16
            };
            self.remaining = u24(0);
            self.expect = u24(4);
            self.stored = self.expect == 0;
            self.produced = 0;
            self.ended = false;
            self.state.reset(DataFormat::Zlib);
        }
    }

    /// A compressed packet's input is all in but its stream may still hold
    /// output (the last call filled the buffer).
    fn in_packet_tail(&self) -> bool {
        !self.stored && !self.ended && self.produced > 0 && self.produced < self.expect
    }

    /// Pulls output left in the inflater after its input ended.
    fn drain(&mut self) -> Result<&[u8], Corrupt> {
        let res = inflate(&mut self.state, &[], &mut self.out, MZFlush::None);
        if matches!(res.status, Ok(MZStatus::StreamEnd)) || res.bytes_written == 0 {
            self.ended = true;
        }
        self.emit(res.bytes_written)
    }

    fn emit(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        self.produced = self.produced.saturating_add(n);
        if self.produced > self.expect {
            return Err(Corrupt);
        }
        Ok(self.out.get(..n).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(framer: &mut Framer, mut input: &[u8]) -> Vec<(u8, u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(p) = framer.next(&mut input, Timestamp(1), |_| 8) {
            out.push((p.seq, p.len, p.data.to_vec()));
        }
        out
    }

    #[test]
    fn split_packets_join_and_keep_a_prefix() {
        let mut f = Framer::new(1024);
        assert!(all(&mut f, b"\x0a\x00\x00\x03ab").is_empty());
        let got = all(&mut f, b"cdefghij\x01\x00\x00\x04z");
        assert_eq!(
            got,
            vec![(3, 10, b"abcdefgh".to_vec()), (4, 1, b"z".to_vec())]
        );
    }

    #[test]
    fn continuation_fragments_are_one_packet() {
        let mut f = Framer::new(1024);
        let mut stream = vec![0xff, 0xff, 0xff, 0];
        stream.extend(std::iter::repeat_n(b'x', MAX_FRAGMENT));
        stream.extend_from_slice(&[2, 0, 0, 1, b'y', b'z']);
        let got = all(&mut f, &stream);
        assert_eq!(
            got,
            vec![(0, MAX_FRAGMENT as u64 + 2, b"xxxxxxxx".to_vec())]
        );
    }

    #[test]
    fn a_gap_inside_a_payload_keeps_sync() {
        let mut f = Framer::new(1024);
        assert!(all(&mut f, b"\x0a\x00\x00\x01ab").is_empty());
        assert_eq!(f.gap(4), GapEffect::InSync);
        let got = all(&mut f, b"ghij");
        assert_eq!(got, vec![(1, 10, b"ab".to_vec())]);
        assert_eq!(f.gap(1), GapEffect::Lost);
    }

    #[test]
    fn inflates_a_compressed_packet() {
        let plain = b"\x05\x00\x00\x00\x03hello";
        let z = miniz_oxide::deflate::compress_to_vec_zlib(plain, 6);
        let mut wire = vec![z.len() as u8, 0, 0, 0, plain.len() as u8, 0, 0];
        wire.extend_from_slice(&z);
        wire.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0x41]);
        let mut inf = Inflater::new();
        let mut out = Vec::new();
        for piece in wire.chunks(3) {
            let mut input = piece;
            while let Some(chunk) = inf.next(&mut input).unwrap() {
                out.extend_from_slice(chunk);
            }
        }
        assert_eq!(out, b"\x05\x00\x00\x00\x03helloA");
    }
}
