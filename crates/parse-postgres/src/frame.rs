//! Cuts one direction's byte stream into protocol messages.
//!
//! Every v3 message after the startup is a type byte and a big-endian
//! length that counts itself; startup-phase client messages (StartupMessage,
//! SSLRequest, CancelRequest) have the length but no type, and the server's
//! answer to an SSLRequest is a single byte. The framer hands out each
//! message's type, full length and a prefix of its body no longer than the
//! caller wants for that type: a message that fits in the segment at hand is
//! handed out in place, one that spans segments is collected into a buffer
//! reused for the connection's life, and whatever lies past the prefix (the
//! bulk of a DataRow, a CopyData, a big Bind) is skipped without being
//! buffered. A gap inside a message of known length keeps the framer in step.

/// How the next message is delimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Type byte, then length.
    #[default]
    Typed,
    /// Length only: the client's startup-phase messages.
    Untyped,
    /// One byte, no length: the server's answer to SSLRequest or
    /// GSSENCRequest. Back to [`Mode::Typed`] after it.
    OneByte,
}

/// Largest message length the protocol allows (PostgreSQL's
/// `PQ_LARGE_MESSAGE_LIMIT` is 1 GiB less one byte).
pub(crate) const MAX_LENGTH: u32 = 0x3fff_ffff + 4;

/// Type given to untyped (startup-phase) messages.
pub(crate) const UNTYPED: u8 = 0;

/// One message, or its prefix.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    pub ty: u8,
    /// The first bytes of the body: all of it when it is no longer than the
    /// caller wanted for this type.
    pub body: &'a [u8],
    /// Length of the whole body (the length field less its own 4 bytes).
    pub len: usize,
}

impl Frame<'_> {
    /// The body was cut to the wanted prefix.
    pub fn partial(&self) -> bool {
        self.body.len() < self.len
    }
}

/// What [`Framer::next`] found.
#[derive(Debug)]
pub(crate) enum Next<'a> {
    Frame(Frame<'a>),
    /// The input is used up.
    NeedMore,
    /// A header that cannot start a message.
    Bad,
}

/// What a gap did to the framer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GapEffect {
    /// The gap fell inside a body whose bytes were not wanted: in step,
    /// nothing lost.
    Harmless,
    /// The gap ate (part of) a message the caller would have seen, but the
    /// next boundary is known.
    MessageLost,
    /// Message boundaries are lost.
    Lost,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Between messages; `buf` may hold part of a header.
    #[default]
    Idle,
    /// Collecting `want` bytes of a `len`-byte body of type `ty` into `buf`.
    Collect { ty: u8, len: usize, want: usize },
    /// Discarding the rest of a body.
    Skip { left: u64 },
    /// Lost: the caller must find the next message start.
    Resync,
}

/// One direction's framer.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    pub mode: Mode,
    state: State,
    buf: Vec<u8>,
    /// `buf` was handed out and is to be cleared on the next call.
    handed_out: bool,
    /// Largest prefix collected of any message.
    max: usize,
}

impl Framer {
    pub fn new(mode: Mode, max: usize) -> Self {
        Framer {
            mode,
            max,
            ..Framer::default()
        }
    }

    /// Lost: waiting for [`Framer::resync_at_start`].
    pub fn lost(&self) -> bool {
        self.state == State::Resync
    }

    /// Drops anything half-read and waits for the caller to find a message
    /// start.
    pub fn lose_sync(&mut self) {
        self.buf.clear();
        self.handed_out = false;
        self.state = State::Resync;
    }

    /// The caller found that a message starts at the next byte.
    pub fn resync_at_start(&mut self) {
        self.buf.clear();
        self.handed_out = false;
        self.mode = Mode::Typed;
        self.state = State::Idle;
    }

    fn header_len(&self) -> usize {
        match self.mode {
            Mode::Typed => 5,
            Mode::Untyped => 4,
            Mode::OneByte => 1,
        }
    }

    /// The next message from `input`, which is advanced past what was used.
    /// `want(ty)` says how many body bytes of a type the caller needs.
    pub fn next<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8], want: fn(u8) -> usize) -> Next<'s> {
        if std::mem::take(&mut self.handed_out) {
            self.buf.clear();
        }
        // Each pass consumes input or returns; the bound is belt and braces.
        for _ in 0..=input.len().saturating_add(8) {
            match self.state {
                State::Resync => return Next::NeedMore,
                State::Skip { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    *input = &input[n..];
                    let left = left - n as u64;
                    if left > 0 {
                        self.state = State::Skip { left };
                        return Next::NeedMore;
                    }
                    self.state = State::Idle;
                }
                State::Idle => {
                    let hl = self.header_len();
                    if self.buf.is_empty() && input.len() >= hl {
                        let (head, rest) = input.split_at(hl);
                        let (ty, len) = match header(&mut self.mode, head) {
                            Some(h) => h,
                            None => return Next::Bad,
                        };
                        let want = want(ty).min(self.max).min(len);
                        if rest.len() >= want {
                            let body = &rest[..want];
                            let have = rest.len().min(len);
                            *input = &rest[have..];
                            if have < len {
                                self.state = State::Skip {
                                    left: (len - have) as u64,
                                };
                            }
                            return Next::Frame(Frame { ty, body, len });
                        }
                        self.buf.extend_from_slice(rest);
                        *input = &[];
                        self.state = State::Collect { ty, len, want };
                        return Next::NeedMore;
                    }
                    if input.is_empty() {
                        return Next::NeedMore;
                    }
                    let n = (hl - self.buf.len().min(hl)).min(input.len());
                    self.buf.extend_from_slice(&input[..n]);
                    *input = &input[n..];
                    if self.buf.len() < hl {
                        return Next::NeedMore;
                    }
                    let (ty, len) = match header(&mut self.mode, &self.buf) {
                        Some(h) => h,
                        None => return Next::Bad,
                    };
                    self.buf.clear();
                    let want = want(ty).min(self.max).min(len);
                    self.state = State::Collect { ty, len, want };
                }
                State::Collect { ty, len, want } => {
                    let n = want.saturating_sub(self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..n]);
                    *input = &input[n..];
                    if self.buf.len() < want {
                        return Next::NeedMore;
                    }
                    self.state = match len - want {
                        0 => State::Idle,
                        left => State::Skip { left: left as u64 },
                    };
                    self.handed_out = true;
                    return Next::Frame(Frame {
                        ty,
                        body: &self.buf,
                        len,
                    });
                }
            }
        }
        Next::NeedMore
    }

    /// `len` bytes are missing from the stream here.
    pub fn gap(&mut self, len: u64) -> GapEffect {
        match self.state {
            State::Skip { left } if len < left => {
                self.state = State::Skip { left: left - len };
                GapEffect::Harmless
            }
            State::Skip { left } if len == left => {
                self.state = State::Idle;
                GapEffect::Harmless
            }
            State::Collect { len: body, .. } => {
                let seen = self.buf.len() as u64;
                let left = (body as u64).saturating_sub(seen);
                if len <= left {
                    self.buf.clear();
                    self.handed_out = false;
                    self.state = match left - len {
                        0 => State::Idle,
                        left => State::Skip { left },
                    };
                    GapEffect::MessageLost
                } else {
                    self.lose_sync();
                    GapEffect::Lost
                }
            }
            State::Idle | State::Skip { .. } | State::Resync => {
                self.lose_sync();
                GapEffect::Lost
            }
        }
    }
}

/// Type and body length of a header, if it can start a message.
fn header(mode: &mut Mode, head: &[u8]) -> Option<(u8, usize)> {
    let length = |b: &[u8]| -> Option<u32> { Some(u32::from_be_bytes(b.try_into().ok()?)) };
    match *mode {
        Mode::OneByte => {
            *mode = Mode::Typed;
            let ty = head.first().copied().unwrap_or(UNTYPED);
            Some((ty, 0))
        }
        Mode::Typed => {
            let ty = head.first().copied().unwrap_or(UNTYPED);
            match head.get(1..5).and_then(length) {
                Some(len @ 4..=MAX_LENGTH) => Some((ty, len as usize - 4)),
                _ => None,
            }
        }
        Mode::Untyped => match head.get(0..4).and_then(length) {
            // A startup packet is at most 10000 bytes (the server's
            // MAX_STARTUP_PACKET_LENGTH).
            Some(len @ 8..=10_000) => Some((UNTYPED, len as usize - 4)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: u8) -> usize {
        usize::MAX
    }

    fn none_of_d(ty: u8) -> usize {
        if ty == b'D' {
            0
        } else {
            usize::MAX
        }
    }

    fn frames(
        f: &mut Framer,
        mut input: &[u8],
        want: fn(u8) -> usize,
    ) -> Vec<(u8, Vec<u8>, usize)> {
        let mut v = Vec::new();
        while let Next::Frame(fr) = f.next(&mut input, want) {
            v.push((fr.ty, fr.body.to_vec(), fr.len));
        }
        v
    }

    #[test]
    fn whole_messages_in_one_segment() {
        let mut f = Framer::new(Mode::Typed, 1024);
        let got = frames(&mut f, b"Z\0\0\0\x05IC\0\0\0\x09ABCD\0", all);
        assert_eq!(
            got,
            [(b'Z', b"I".to_vec(), 1), (b'C', b"ABCD\0".to_vec(), 5)]
        );
    }

    #[test]
    fn a_message_split_byte_by_byte() {
        let mut f = Framer::new(Mode::Typed, 1024);
        let bytes = b"C\0\0\0\x09ABCD\0";
        let mut got = Vec::new();
        for b in bytes.chunks(1) {
            got.extend(frames(&mut f, b, all));
        }
        assert_eq!(got, [(b'C', b"ABCD\0".to_vec(), 5)]);
    }

    #[test]
    fn unwanted_bodies_are_skipped_not_buffered() {
        let mut f = Framer::new(Mode::Typed, 1024);
        let mut bytes = b"D\0\0\x01\x04".to_vec();
        bytes.extend([7u8; 256]);
        bytes.extend(b"Z\0\0\0\x05I");
        let mut got = Vec::new();
        for b in bytes.chunks(10) {
            got.extend(frames(&mut f, b, none_of_d));
        }
        assert_eq!(got, [(b'D', vec![], 256), (b'Z', b"I".to_vec(), 1)]);
        assert!(f.buf.capacity() <= 64);
    }

    #[test]
    fn prefixes_are_capped_at_the_limit() {
        let mut f = Framer::new(Mode::Typed, 4);
        let got = frames(&mut f, b"Q\0\0\0\x0bSELECT\0Z\0\0\0\x05I", all);
        assert_eq!(got[0], (b'Q', b"SELE".to_vec(), 7));
        assert_eq!(got[1].0, b'Z');
    }

    #[test]
    fn startup_and_one_byte_modes() {
        let mut f = Framer::new(Mode::Untyped, 1024);
        let got = frames(&mut f, b"\0\0\0\x08\x04\xd2\x16\x2f", all);
        assert_eq!(got, [(UNTYPED, b"\x04\xd2\x16\x2f".to_vec(), 4)]);
        let mut f = Framer::new(Mode::OneByte, 1024);
        let got = frames(&mut f, b"NR\0\0\0\x08\0\0\0\0", all);
        assert_eq!(got[0], (b'N', vec![], 0));
        assert_eq!(got[1], (b'R', vec![0; 4], 4));
    }

    #[test]
    fn bad_lengths_are_reported() {
        let mut f = Framer::new(Mode::Typed, 1024);
        assert!(matches!(f.next(&mut &b"Q\0\0\0\x02"[..], all), Next::Bad));
        let mut f = Framer::new(Mode::Untyped, 1024);
        assert!(matches!(
            f.next(&mut &b"GET / HTTP/1.1"[..], all),
            Next::Bad
        ));
    }

    #[test]
    fn gaps_inside_known_lengths_keep_step() {
        let mut f = Framer::new(Mode::Typed, 1024);
        assert!(frames(&mut f, b"D\0\0\x01\x04abc", none_of_d).len() == 1);
        assert_eq!(f.gap(100), GapEffect::Harmless);
        assert_eq!(frames(&mut f, &[0u8; 153], none_of_d).len(), 0);
        assert_eq!(frames(&mut f, b"Z\0\0\0\x05I", none_of_d).len(), 1);
        assert_eq!(f.gap(1), GapEffect::Lost);
        assert!(f.lost());
    }
}
