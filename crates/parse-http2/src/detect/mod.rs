//! Is this HTTP/2, and where does the next frame start?
//!
//! Content detection lets the tracker parse HTTP/2 on any port: a client
//! stream starts with the connection preface, and a connection joined
//! mid-stream starts (usually) at a frame boundary, since TCP segments mostly
//! end where a write ended. The same frame-chain test finds where a
//! direction picks up again after a gap. Both are strict, because a false
//! claim costs another protocol its parse and a false resync emits garbage.

use podwire_parse::Direction;

use crate::frame::{
    chain, FrameHeader, CONTINUATION, DEFAULT_MAX_FRAME_SIZE, FLAG_PADDED, FLAG_PRIORITY, HEADERS,
    PUSH_PROMISE,
};

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Shortest prefix of the preface taken as a claim.
const MIN_PREFACE_PREFIX: usize = 4;

/// A segment this long that ends inside a frame is an ordinary full-sized
/// segment; a shorter one that does is more likely another protocol whose
/// first bytes happen to parse as a long frame's header.
const FULL_SEGMENT: usize = 1024;

/// Frame headers checked in a chain.
const CHAIN_FRAMES: usize = 64;

/// Whether `first`, the first payload seen in direction `dir`, is HTTP/2.
///
/// Client streams: the connection preface, or at least its first four bytes
/// when the segment is shorter. Either direction, for a capture joined
/// mid-connection: a frame header that a conforming sender could have
/// written (known type, only defined flags, reserved bit clear, length at
/// most 16384 and fitting the type, stream 0 exactly for connection frames),
/// not a CONTINUATION, and every further header that fits in `first`
/// equally plausible, with the last frame ending exactly at the end of
/// `first` unless `first` is a full-sized segment (1024 bytes or more).
pub fn looks_like_http2(dir: Direction, first: &[u8]) -> bool {
    if dir == Direction::ToServer && starts_with_preface(first) {
        return true;
    }
    match FrameHeader::parse(first) {
        Some(h) if h.kind != CONTINUATION => {}
        _ => return false,
    }
    match chain(first, DEFAULT_MAX_FRAME_SIZE, CHAIN_FRAMES) {
        Some((frames, exact)) => frames > 0 && (exact || first.len() >= FULL_SEGMENT),
        None => false,
    }
}

/// Which side sent `first`, HTTP/2 frames of a connection joined
/// mid-stream, when its frames show it: only a server sends PUSH_PROMISE
/// and HEADERS on an even (pushed) stream, a response's header block
/// starts with `:status` and a request's with `:method`, `:scheme`,
/// `:path` or `:authority` (RFC 9113 sections 5.1.1, 6.6, 8.3), read
/// where HPACK names them by their static-table index (1-7 for a request,
/// 8-14 for `:status`; RFC 7541 appendix A) after any table size update.
/// `None` when nothing tells, or the frames disagree. Reads the headers of
/// at most 64 frames and a few bytes of each header block.
pub fn sent_by(first: &[u8]) -> Option<Direction> {
    let mut verdict = None;
    let mut at = 0usize;
    for _ in 0..CHAIN_FRAMES {
        let rest = first.get(at..)?;
        let Some(h) = FrameHeader::parse(rest) else {
            break;
        };
        let payload = rest.get(crate::frame::HEADER_LEN..).unwrap_or_default();
        let payload = payload.get(..h.len as usize).unwrap_or(payload);
        let this = match h.kind {
            PUSH_PROMISE => Some(Direction::ToClient),
            HEADERS if h.stream != 0 && h.stream % 2 == 0 => Some(Direction::ToClient),
            HEADERS => {
                let skip = usize::from(h.has(FLAG_PADDED)) + 5 * usize::from(h.has(FLAG_PRIORITY));
                payload.get(skip..).and_then(first_field_sender)
            }
            _ => None,
        };
        match (verdict, this) {
            (_, None) => {}
            (None, Some(d)) => verdict = Some(d),
            (Some(v), Some(d)) if v != d => return None,
            (Some(_), Some(_)) => {}
        }
        at = at.saturating_add(crate::frame::HEADER_LEN + h.len as usize);
    }
    verdict
}

/// Who sends a header block that starts with `block`: by the static-table
/// index of its first field's name, past dynamic table size updates.
fn first_field_sender(block: &[u8]) -> Option<Direction> {
    let mut i = 0;
    // Dynamic table size updates (`001xxxxx`, a 5-bit prefix integer).
    while let Some(&b) = block.get(i) {
        if b & 0xe0 != 0x20 {
            break;
        }
        i += 1;
        if b & 0x1f == 0x1f {
            while block.get(i).is_some_and(|&c| c & 0x80 != 0) {
                i += 1;
            }
            i += 1;
        }
    }
    let b = *block.get(i)?;
    let index = if b & 0x80 != 0 {
        b & 0x7f // indexed field
    } else if b & 0xc0 == 0x40 {
        b & 0x3f // literal with incremental indexing
    } else if b & 0xe0 == 0x00 {
        b & 0x0f // literal without indexing, never indexed
    } else {
        return None;
    };
    match index {
        1..=7 => Some(Direction::ToServer),
        8..=14 => Some(Direction::ToClient),
        _ => None,
    }
}

/// The preface, or a prefix of it at least four bytes long.
pub(crate) fn starts_with_preface(bytes: &[u8]) -> bool {
    let n = bytes.len().min(PREFACE.len());
    n >= MIN_PREFACE_PREFIX && bytes.get(..n) == PREFACE.get(..n)
}

/// Where in `bytes` (the start of a segment) frames can be followed from,
/// for a direction that lost its place. Offset 0 is taken on a plausible
/// chain of frames; a later offset only on a chain of at least two frames
/// that ends exactly at the end of `bytes`, since inside a payload a lone
/// plausible header is not rare enough.
pub(crate) fn find_boundary(bytes: &[u8], max_len: u32) -> Option<usize> {
    let at_start = match FrameHeader::parse(bytes) {
        Some(h) if h.kind != CONTINUATION => chain(bytes, max_len, CHAIN_FRAMES),
        _ => None,
    };
    if let Some((frames, exact)) = at_start {
        if frames > 0 && (exact || frames >= 2 || bytes.len() >= FULL_SEGMENT) {
            return Some(0);
        }
    }
    let last = bytes.len().checked_sub(2 * crate::frame::HEADER_LEN)?;
    (1..=last).find(|&at| {
        let Some(rest) = bytes.get(at..) else {
            return false;
        };
        matches!(FrameHeader::parse(rest), Some(h) if h.kind != CONTINUATION && h.plausible(max_len))
            && matches!(chain(rest, max_len, CHAIN_FRAMES), Some((n, true)) if n >= 2)
    })
}

#[cfg(test)]
mod tests;
