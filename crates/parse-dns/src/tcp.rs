//! DNS over TCP (RFC 1035 §4.2.2, RFC 7766): messages behind a 2-byte
//! length, any number per connection, split across segments at any point.
//!
//! Each direction has a [`Framer`] that hands out whole messages, borrowing
//! them straight from the segment when they fit and buffering only an
//! incomplete one (so at most one message, bounded by
//! [`DnsConfig::max_tcp_buffer`]). Messages longer than that are stepped
//! over, not buffered. Pairing is by id within the connection, with the
//! same [`DnsPairer`] as UDP.
//!
//! A capture gap inside a message loses only that message (its length is
//! known, so framing resumes after it); a gap at a message boundary loses
//! the framing of that direction for good, since nothing marks where the
//! next message starts.

use crate::pair::{DnsEvent, DnsPairer};
use crate::{parse, DnsConfig};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{DnsTransport, Timestamp};

/// Parser of one DNS-over-TCP connection; see the module docs.
pub struct DnsTcpParser {
    framers: [Framer; 2],
    pairer: DnsPairer<()>,
    malformed: u64,
}

impl DnsTcpParser {
    /// A parser for one connection.
    pub fn new(config: &DnsConfig) -> Self {
        let max_frame = config
            .max_tcp_buffer
            .saturating_sub(2)
            .min(u16::MAX as usize);
        DnsTcpParser {
            framers: [Framer::new(max_frame), Framer::new(max_frame)],
            pairer: DnsPairer::new(config, DnsTransport::Tcp),
            malformed: 0,
        }
    }

    /// Messages lost or damaged so far: unparseable, parsed with
    /// [`malformed`](crate::DnsMessage::malformed) set, too long to buffer,
    /// cut by a capture gap, or cut off by the end of the connection.
    pub fn malformed(&self) -> u64 {
        self.malformed + self.framers.iter().map(|f| f.lost).sum::<u64>()
    }

    fn status(&self) -> Status {
        if self.framers.iter().all(|f| f.dead) {
            Status::Failed
        } else {
            Status::Continue
        }
    }
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

impl StreamParser for DnsTcpParser {
    type Output = DnsEvent<()>;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<DnsEvent<()>>,
    ) -> Status {
        let DnsTcpParser {
            framers,
            pairer,
            malformed,
        } = self;
        pairer.expire(ts, out);
        framers[index(dir)].push(bytes, &mut |frame| match parse(frame) {
            Ok(msg) => {
                if msg.malformed {
                    *malformed += 1;
                }
                pairer.message((), ts, msg, out);
            }
            Err(_) => *malformed += 1,
        });
        self.status()
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        _out: &mut Vec<DnsEvent<()>>,
    ) -> Status {
        self.framers[index(dir)].gap(len);
        self.status()
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<DnsEvent<()>>) {
        for f in &mut self.framers {
            f.finish();
        }
        self.pairer.drain(out);
    }
}

/// Length-prefix framing of one direction.
struct Framer {
    max_frame: usize,
    /// An incomplete message, length prefix included; empty between messages.
    buf: Vec<u8>,
    /// Bytes still to step over (the rest of an oversized or damaged message).
    skip: usize,
    /// Framing lost: the rest of this direction is ignored.
    dead: bool,
    /// Messages lost: oversized, cut by a gap, or cut off at the end.
    lost: u64,
}

impl Framer {
    fn new(max_frame: usize) -> Self {
        Framer {
            max_frame,
            buf: Vec::new(),
            skip: 0,
            dead: false,
            lost: 0,
        }
    }

    /// Feeds in-order bytes; calls `frame` with each complete message.
    fn push(&mut self, mut bytes: &[u8], frame: &mut impl FnMut(&[u8])) {
        while !bytes.is_empty() && !self.dead {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.buf.is_empty() {
                if bytes.len() < 2 {
                    self.buf.extend_from_slice(bytes);
                    return;
                }
                let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
                if self.oversized(len) {
                    bytes = &bytes[2..];
                    continue;
                }
                if bytes.len() >= 2 + len {
                    frame(&bytes[2..2 + len]);
                    bytes = &bytes[2 + len..];
                    continue;
                }
                // Incomplete: smaller than 2 + max_frame, within the bound.
                self.buf.extend_from_slice(bytes);
                return;
            }
            if self.buf.len() < 2 {
                self.buf.push(bytes[0]);
                bytes = &bytes[1..];
                let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
                if self.oversized(len) {
                    self.buf.clear();
                }
                continue;
            }
            let need = self.frame_end() - self.buf.len();
            let n = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if n == need {
                frame(&self.buf[2..]);
                self.buf.clear();
            }
        }
    }

    /// Length prefix plus message, for the message being buffered.
    fn frame_end(&self) -> usize {
        2 + u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize
    }

    /// Checks a message length against the limit; an oversized message is
    /// counted and set to be skipped.
    fn oversized(&mut self, len: usize) -> bool {
        if len <= self.max_frame {
            return false;
        }
        self.lost += 1;
        self.skip = len;
        true
    }

    /// `len` bytes are missing here.
    fn gap(&mut self, len: u64) {
        if self.dead || len == 0 {
            return;
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if self.skip > 0 {
            if len <= self.skip {
                self.skip -= len;
                return;
            }
        } else if self.buf.len() >= 2 {
            let need = self.frame_end() - self.buf.len();
            if len <= need {
                self.lost += 1;
                self.skip = need - len;
                self.buf.clear();
                return;
            }
            self.lost += 1;
        }
        // The gap covers a message boundary: where the next one starts is
        // unknown.
        self.buf.clear();
        self.skip = 0;
        self.dead = true;
    }

    /// The connection ended: a half-received message is lost.
    fn finish(&mut self) {
        if !self.buf.is_empty() {
            self.lost += 1;
            self.buf.clear();
        }
    }
}
