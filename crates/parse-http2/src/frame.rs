//! HTTP/2 frame headers (RFC 9113 section 4.1) and what makes one plausible.
//!
//! The parser trusts frame lengths once it is in sync, but a capture joined
//! mid-connection or damaged by a gap has to find frame boundaries first, and
//! content detection has to tell HTTP/2 from other protocols. Both rest on
//! [`FrameHeader::plausible`]: the rules real implementations never break
//! (length within the maximum frame size, fixed lengths of fixed-size
//! frames, stream 0 for connection frames and not for stream frames, only
//! defined flags, reserved bit clear).

/// Length of a frame header.
pub(crate) const HEADER_LEN: usize = 9;

/// The initial and smallest `SETTINGS_MAX_FRAME_SIZE`.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest `SETTINGS_MAX_FRAME_SIZE` a peer may announce.
pub(crate) const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const PRIORITY: u8 = 0x2;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const FLAG_END_STREAM: u8 = 0x1;
pub(crate) const FLAG_ACK: u8 = 0x1;
pub(crate) const FLAG_END_HEADERS: u8 = 0x4;
pub(crate) const FLAG_PADDED: u8 = 0x8;
pub(crate) const FLAG_PRIORITY: u8 = 0x20;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    /// The reserved bit before the stream identifier.
    pub reserved: bool,
}

impl FrameHeader {
    /// Reads the first nine bytes of `b`, if there are that many.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let sid = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: h[3],
            flags: h[4],
            stream: sid & 0x7fff_ffff,
            reserved: sid & 0x8000_0000 != 0,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether a conforming sender could have written this header, with
    /// frames up to `max_len` allowed. Unknown frame types are not
    /// plausible: this is for finding boundaries, where they would only add
    /// false matches.
    pub fn plausible(&self, max_len: u32) -> bool {
        self.conforms(max_len, true)
    }

    /// [`plausible`](Self::plausible), with undefined flags allowed when
    /// not `strict_flags`: receivers must ignore them (RFC 9113 section
    /// 4.1), so once in sync they are no sign of being lost.
    pub fn conforms(&self, max_len: u32, strict_flags: bool) -> bool {
        if (strict_flags && self.reserved) || self.len > max_len {
            return false;
        }
        let (flags, on_stream, len_ok) = match self.kind {
            DATA => (FLAG_END_STREAM | FLAG_PADDED, Some(true), true),
            HEADERS => (
                FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY,
                Some(true),
                true,
            ),
            PRIORITY => (0, Some(true), self.len == 5),
            RST_STREAM => (0, Some(true), self.len == 4),
            SETTINGS => (
                FLAG_ACK,
                Some(false),
                matches!(self.len % 6, 0) && (!self.has(FLAG_ACK) || self.len == 0),
            ),
            PUSH_PROMISE => (FLAG_END_HEADERS | FLAG_PADDED, Some(true), self.len >= 4),
            PING => (FLAG_ACK, Some(false), self.len == 8),
            GOAWAY => (0, Some(false), self.len >= 8),
            WINDOW_UPDATE => (0, None, self.len == 4),
            CONTINUATION => (FLAG_END_HEADERS, Some(true), true),
            _ => return false,
        };
        let stream_ok = match on_stream {
            Some(true) => self.stream != 0,
            Some(false) => self.stream == 0,
            None => true,
        };
        (!strict_flags || self.flags & !flags == 0) && stream_ok && len_ok
    }
}

/// Whether `bytes` starts a chain of plausible frames: the header at 0 and
/// every header that follows within `bytes`. Returns the number of frame
/// headers checked and whether the chain ends exactly at the end of
/// `bytes`, or `None` if a header in it is implausible. At most `max_frames`
/// headers are checked.
pub(crate) fn chain(bytes: &[u8], max_len: u32, max_frames: usize) -> Option<(usize, bool)> {
    let mut at = 0usize;
    let mut frames = 0usize;
    while frames < max_frames {
        let Some(rest) = bytes.get(at..) else {
            return Some((frames, false));
        };
        if rest.is_empty() {
            return Some((frames, true));
        }
        let Some(h) = FrameHeader::parse(rest) else {
            // A partial header: its bytes so far must not rule it out.
            return partial_ok(rest, max_len).then_some((frames, false));
        };
        if !h.plausible(max_len) {
            return None;
        }
        frames += 1;
        at = at.saturating_add(HEADER_LEN + h.len as usize);
    }
    Some((frames, bytes.len() == at))
}

/// Whether the first bytes of a frame header (fewer than nine) fit the
/// length limit and name a known type.
fn partial_ok(rest: &[u8], max_len: u32) -> bool {
    let len = rest
        .iter()
        .take(3)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let shift = 8 * (3 - rest.len().min(3)) as u32;
    let len_ok = len << shift <= max_len;
    let kind_ok = rest.get(3).is_none_or(|&k| k <= CONTINUATION);
    len_ok && kind_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields() {
        let h = FrameHeader::parse(&[0, 0, 8, 6, 1, 0x80, 0, 0, 3]).unwrap();
        assert_eq!(
            (h.len, h.kind, h.flags, h.stream, h.reserved),
            (8, PING, 1, 3, true)
        );
        assert!(FrameHeader::parse(&[0; 8]).is_none());
    }

    #[test]
    fn plausibility_follows_the_frame_rules() {
        let p = |b: &[u8]| {
            FrameHeader::parse(b)
                .unwrap()
                .plausible(DEFAULT_MAX_FRAME_SIZE)
        };
        assert!(p(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]));
        assert!(p(&[0, 0, 0, SETTINGS, 1, 0, 0, 0, 0]));
        assert!(!p(&[0, 0, 6, SETTINGS, 1, 0, 0, 0, 0]));
        assert!(!p(&[0, 0, 7, SETTINGS, 0, 0, 0, 0, 0]));
        assert!(!p(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 1]));
        assert!(p(&[0, 0, 4, WINDOW_UPDATE, 0, 0, 0, 0, 0]));
        assert!(!p(&[0, 0, 4, WINDOW_UPDATE, 2, 0, 0, 0, 0]));
        assert!(!p(&[0, 0, 4, DATA, 0, 0, 0, 0, 0]));
        assert!(p(&[0, 0x40, 0, DATA, 1, 0, 0, 0, 1]));
        assert!(!p(&[0, 0x40, 1, DATA, 1, 0, 0, 0, 1]));
        assert!(!p(&[0, 0, 0, 10, 0, 0, 0, 0, 1]));
        assert!(!p(&[0, 0, 8, PING, 0, 0x80, 0, 0, 0]));
    }

    #[test]
    fn a_chain_must_hold_together() {
        let settings = [0, 0, 0, SETTINGS, 0, 0, 0, 0, 0];
        let mut two = settings.to_vec();
        two.extend_from_slice(&[0, 0, 4, WINDOW_UPDATE, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(chain(&two, 16384, 8), Some((2, true)));
        assert_eq!(chain(&two[..12], 16384, 8), Some((1, false)));
        two.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(chain(&two, 16384, 8), None);
    }
}
