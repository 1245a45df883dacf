//! Message bodies, skipped by counting.
//!
//! A record only needs a body's length, so bodies are never copied or
//! buffered: each `feed` walks the bytes it is given, says how many belong to
//! the body and how many of those are content, and keeps just enough state to
//! carry on in the next segment. That keeps multi-megabyte downloads at the
//! cost of a few comparisons per segment, and lets a capture gap inside a body
//! of known length be skipped without losing sync.
//!
//! Chunked framing is decoded here (RFC 9112 section 7.1), extensions and
//! trailers included; only chunk data counts as content.

use memchr::memchr;

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// How a message body ends, and how far into it we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// `Content-Length`: this many bytes remain.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
    /// A response without length: everything until the connection closes.
    UntilClose,
}

/// What one [`Body::feed`] consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes of the input that belonged to the body (framing included).
    pub used: usize,
    /// Content bytes among them (chunk framing excluded).
    pub content: u64,
    /// The body is complete; input after `used` is the next message.
    pub done: bool,
}

/// The body's framing is broken: the stream is not HTTP we can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// What a gap in the capture does to a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GapEffect {
    /// The missing bytes were all content of known extent: still in sync.
    InSync { content: u64, done: bool },
    /// The gap hides framing: where the next message starts is unknown.
    Lost,
}

impl Body {
    /// A chunked body whose trailer section may be up to `max_trailer` bytes.
    pub fn chunked(max_trailer: usize) -> Body {
        Body::Chunked(Chunked {
            state: ChunkState::Size {
                value: 0,
                digits: false,
            },
            line: 0,
            max_trailer,
        })
    }

    /// Consumes the body's share of `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Progress, Malformed> {
        match self {
            Body::Length(remaining) => {
                let n = (*remaining).min(bytes.len() as u64);
                *remaining -= n;
                // n <= bytes.len(), so it fits in usize.
                Ok(Progress {
                    used: n as usize,
                    content: n,
                    done: *remaining == 0,
                })
            }
            Body::Chunked(chunked) => chunked.feed(bytes),
            Body::UntilClose => Ok(Progress {
                used: bytes.len(),
                content: bytes.len() as u64,
                done: false,
            }),
        }
    }

    /// Accounts for `len` bytes missing from the capture.
    pub fn gap(&mut self, len: u64) -> GapEffect {
        match self {
            Body::Length(remaining) if len <= *remaining => {
                *remaining -= len;
                GapEffect::InSync {
                    content: len,
                    done: *remaining == 0,
                }
            }
            Body::Chunked(chunked) => chunked.gap(len),
            Body::UntilClose => GapEffect::InSync {
                content: len,
                done: false,
            },
            Body::Length(_) => GapEffect::Lost,
        }
    }
}

/// Decoder state of a chunked body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// Bytes of the current chunk-size line, or of the trailer section so far.
    line: usize,
    max_trailer: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex chunk size; `digits` once at least one was seen.
    Size {
        value: u64,
        digits: bool,
    },
    /// After the size: extensions or whitespace, skipped up to LF.
    Extension {
        size: u64,
    },
    /// Chunk data still to come.
    Data {
        remaining: u64,
    },
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// The CR of the final empty line was seen.
    FinalLf,
    Done,
}

impl Chunked {
    fn feed(&mut self, bytes: &[u8]) -> Result<Progress, Malformed> {
        let mut rest = bytes;
        let mut content = 0u64;
        while self.state != ChunkState::Done {
            let Some((&byte, after)) = rest.split_first() else {
                break;
            };
            match self.state {
                ChunkState::Data { remaining } => {
                    let n = remaining.min(rest.len() as u64);
                    content += n;
                    rest = rest.get(n as usize..).unwrap_or_default();
                    self.state = if remaining == n {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data {
                            remaining: remaining - n,
                        }
                    };
                }
                ChunkState::Extension { size } => {
                    let (taken, found) = match memchr(b'\n', rest) {
                        Some(lf) => (lf + 1, true),
                        None => (rest.len(), false),
                    };
                    self.line += taken;
                    if self.line > MAX_CHUNK_LINE {
                        return Err(Malformed);
                    }
                    rest = rest.get(taken..).unwrap_or_default();
                    if found {
                        self.state = self.after_size_line(size);
                    }
                }
                ChunkState::TrailerLine => {
                    let (taken, found) = match memchr(b'\n', rest) {
                        Some(lf) => (lf + 1, true),
                        None => (rest.len(), false),
                    };
                    self.line += taken;
                    if self.line > self.max_trailer {
                        return Err(Malformed);
                    }
                    rest = rest.get(taken..).unwrap_or_default();
                    if found {
                        self.state = ChunkState::TrailerStart;
                    }
                }
                state => {
                    rest = after;
                    self.state = self.step(state, byte)?;
                }
            }
        }
        Ok(Progress {
            used: bytes.len() - rest.len(),
            content,
            done: self.state == ChunkState::Done,
        })
    }

    /// One byte of the framing outside data, extensions and trailer lines.
    fn step(&mut self, state: ChunkState, byte: u8) -> Result<ChunkState, Malformed> {
        let next = match (state, byte) {
            (ChunkState::Size { value, .. }, b) if b.is_ascii_hexdigit() => {
                if value > u64::MAX >> 4 {
                    return Err(Malformed);
                }
                self.count_size_line_byte()?;
                ChunkState::Size {
                    value: value << 4 | hex_value(b),
                    digits: true,
                }
            }
            // Extensions, whitespace before them, or the CR of the size line.
            (
                ChunkState::Size {
                    value,
                    digits: true,
                },
                b';' | b' ' | b'\t' | b'\r',
            ) => {
                self.count_size_line_byte()?;
                ChunkState::Extension { size: value }
            }
            (
                ChunkState::Size {
                    value,
                    digits: true,
                },
                b'\n',
            ) => self.after_size_line(value),
            (ChunkState::DataCr, b'\r') => ChunkState::DataLf,
            // A bare LF is tolerated wherever CRLF belongs, as most servers do.
            (ChunkState::DataCr | ChunkState::DataLf, b'\n') => ChunkState::Size {
                value: 0,
                digits: false,
            },
            (ChunkState::TrailerStart, b'\r') => ChunkState::FinalLf,
            (ChunkState::TrailerStart | ChunkState::FinalLf, b'\n') => ChunkState::Done,
            (ChunkState::TrailerStart, _) => {
                self.line += 1;
                if self.line > self.max_trailer {
                    return Err(Malformed);
                }
                ChunkState::TrailerLine
            }
            _ => return Err(Malformed),
        };
        Ok(next)
    }

    fn count_size_line_byte(&mut self) -> Result<(), Malformed> {
        self.line += 1;
        if self.line > MAX_CHUNK_LINE {
            return Err(Malformed);
        }
        Ok(())
    }

    /// The state after a chunk-size line; `line` restarts for the trailers.
    fn after_size_line(&mut self, size: u64) -> ChunkState {
        self.line = 0;
        if size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data { remaining: size }
        }
    }

    fn gap(&mut self, len: u64) -> GapEffect {
        match self.state {
            ChunkState::Data { remaining } if len <= remaining => {
                self.state = if len == remaining {
                    ChunkState::DataCr
                } else {
                    ChunkState::Data {
                        remaining: remaining - len,
                    }
                };
                GapEffect::InSync {
                    content: len,
                    done: false,
                }
            }
            _ => GapEffect::Lost,
        }
    }
}

fn hex_value(digit: u8) -> u64 {
    let v = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.wrapping_sub(b'A').wrapping_add(10),
    };
    u64::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_is_tolerated_in_chunk_framing() {
        let mut body = Body::chunked(1024);
        let p = body.feed(b"3\nabc\n0\n\nnext");
        assert_eq!(
            p,
            Ok(Progress {
                used: 9,
                content: 3,
                done: true
            })
        );
    }

    #[test]
    fn overlong_chunk_extension_is_malformed() {
        let mut body = Body::chunked(1024);
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE + 10, b'x');
        assert_eq!(body.feed(&line), Err(Malformed));
    }

    #[test]
    fn trailer_section_is_bounded() {
        let mut body = Body::chunked(16);
        assert_eq!(
            body.feed(b"0\r\nX-A: 1\r\nX-Long: 0123456789\r\n\r\n"),
            Err(Malformed)
        );
    }

    #[test]
    fn gap_in_chunk_framing_is_lost() {
        let mut body = Body::chunked(1024);
        assert!(body.feed(b"a").is_ok());
        assert_eq!(body.gap(3), GapEffect::Lost);
    }

    #[test]
    fn content_length_body_stops_at_its_length() {
        let mut body = Body::Length(4);
        assert_eq!(
            body.feed(b"abcdefg"),
            Ok(Progress {
                used: 4,
                content: 4,
                done: true
            })
        );
    }
}
