//! gRPC over HTTP/2: calls named by their path, messages counted in DATA.
//!
//! gRPC frames each message with a 1-byte compressed flag and a 4-byte
//! big-endian length, independently of HTTP/2 framing: a message can span
//! DATA frames and a frame can hold several. [`MessageCounter`] follows that
//! framing over a direction's DATA payload as it arrives, reading prefixes
//! and skipping bodies, so nothing is buffered and nothing is copied.

use podwire_record::Grpc;

/// Length-prefixed message framing of one direction of one call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MessageCounter {
    /// Prefix bytes read of the message being started (0..5).
    prefix_got: u8,
    prefix_len: u32,
    /// Body bytes still to skip.
    body_left: u64,
    /// Messages read whole.
    pub complete: u64,
    /// Framing was lost (bytes missing, or a prefix that is not gRPC's):
    /// `complete` stays what it was.
    lost: bool,
}

impl MessageCounter {
    /// The next bytes of the direction's DATA payload.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        // Each pass consumes at least one byte.
        while !self.lost {
            if self.body_left > 0 {
                if bytes.is_empty() {
                    return;
                }
                let n = (bytes.len() as u64).min(self.body_left);
                self.body_left -= n;
                bytes = bytes.get(n as usize..).unwrap_or_default();
                if self.body_left == 0 {
                    self.complete += 1;
                }
                continue;
            }
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            bytes = rest;
            if self.prefix_got == 0 {
                // The compressed flag: 0 or 1.
                if b > 1 {
                    self.lost = true;
                }
            } else {
                self.prefix_len = (self.prefix_len << 8) | u32::from(b);
            }
            self.prefix_got += 1;
            if self.prefix_got == 5 {
                self.prefix_got = 0;
                self.body_left = u64::from(self.prefix_len);
                self.prefix_len = 0;
                if self.body_left == 0 {
                    self.complete += 1;
                }
            }
        }
    }

    /// `len` payload bytes are missing: in sync only inside a body long
    /// enough to hold them.
    pub fn gap(&mut self, len: u64) {
        if self.prefix_got == 0 && self.body_left > len {
            self.body_left -= len;
        } else if len > 0 {
            self.lost = true;
        }
    }

    /// Bytes of this direction were lost somewhere: stop counting.
    pub fn lose(&mut self) {
        self.lost = true;
    }
}

/// The call's service and method from its path, `/package.Service/Method`.
/// A path of another shape is kept whole as the service.
pub(crate) fn split_path(path: Option<&str>) -> (String, String) {
    let Some(path) = path else {
        return (String::new(), String::new());
    };
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

/// `grpc-status`: a decimal code.
pub(crate) fn parse_status(value: &[u8]) -> Option<u32> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// `grpc-message`, percent-decoded (gRPC's HTTP/2 protocol spec), read as
/// UTF-8 (lossily) and cut at `max_chars` characters.
pub(crate) fn decode_message(value: &[u8], max_chars: usize) -> String {
    let mut bytes = Vec::with_capacity(value.len().min(max_chars.saturating_mul(4)));
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        let hex = |at: usize| value.get(at).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                bytes.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                bytes.push(b);
                i += 1;
            }
        }
        if bytes.len() >= max_chars.saturating_mul(4).saturating_add(4) {
            break;
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(max_chars)
        .collect()
}

/// A call's record before its end is known.
pub(crate) fn new_record(path: Option<&str>) -> Box<Grpc> {
    let (service, method) = split_path(path);
    Box::new(Grpc {
        service,
        method,
        ..Grpc::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.push(0);
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn counts_messages_however_the_bytes_are_cut() {
        let stream = framed(&[b"hello", b"", b"a longer message body", b"x"]);
        for cut in 1..stream.len() {
            let mut c = MessageCounter::default();
            for piece in stream.chunks(cut) {
                c.feed(piece);
            }
            assert_eq!(c.complete, 4, "pieces of {cut}");
        }
    }

    #[test]
    fn a_partial_message_is_not_counted() {
        let stream = framed(&[b"hello", b"world"]);
        let mut c = MessageCounter::default();
        c.feed(&stream[..stream.len() - 1]);
        assert_eq!(c.complete, 1);
    }

    #[test]
    fn gaps_inside_a_body_keep_sync() {
        let stream = framed(&[b"0123456789", b"ab"]);
        let mut c = MessageCounter::default();
        c.feed(&stream[..7]);
        c.gap(6);
        c.feed(&stream[13..]);
        assert_eq!(c.complete, 2);
        let mut c = MessageCounter::default();
        c.feed(&stream[..3]);
        c.gap(4);
        c.feed(&stream[7..]);
        assert_eq!(c.complete, 0);
    }

    #[test]
    fn paths_split_into_service_and_method() {
        let split = |p| split_path(Some(p));
        assert_eq!(
            split("/helloworld.Greeter/SayHello"),
            ("helloworld.Greeter".into(), "SayHello".into())
        );
        assert_eq!(split("/odd"), ("odd".into(), String::new()));
        assert_eq!(split_path(None), (String::new(), String::new()));
    }

    #[test]
    fn messages_are_percent_decoded_and_cut() {
        assert_eq!(decode_message(b"not%20found%3A%20x", 100), "not found: x");
        assert_eq!(decode_message(b"%E2%9C%93 ok", 100), "\u{2713} ok");
        assert_eq!(decode_message(b"bad %zz %4", 100), "bad %zz %4");
        assert_eq!(decode_message(b"abcdef", 3), "abc");
        assert_eq!(parse_status(b"13"), Some(13));
        assert_eq!(parse_status(b"x"), None);
    }
}
