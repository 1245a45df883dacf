//! Recognising Redis by content: a connection's first bytes, and a place to
//! pick a stream up again after bytes were lost.
//!
//! A client starts with a command: an array of bulk strings whose first is a
//! command Redis knows (`*1\r\n$4\r\nPING\r\n`), or an inline command, a
//! line whose first word is a known command (`PING\r\n`). The known-name
//! requirement is what keeps other protocols out: HTTP/1 request lines are
//! refused by their ` HTTP/` version even where the method is also a Redis
//! command (`GET`), and binary protocols (TLS, HTTP/2's preface, PostgreSQL,
//! MySQL, Kafka, DNS over TCP) start with bytes no command line has.
//!
//! A server never speaks first, so server bytes are only evidence for a
//! connection joined mid-way: a complete, well-formed RESP type line. That
//! is weak evidence (a POP3 greeting `+OK ready` is one), so callers should
//! only use it together with other hints, such as the port.

use memchr::memchr;

use crate::command::is_known;
use crate::resp::parse_int;
use podwire_parse::Direction;

/// Longest first line an inline command may have to be recognised.
const MAX_INLINE_LINE: usize = 1024;

/// Whether `first`, the first bytes seen in `dir`, look like Redis; see the
/// module docs for the rules.
pub fn looks_like_redis(dir: Direction, first: &[u8]) -> bool {
    match dir {
        Direction::ToServer => command_start(first),
        Direction::ToClient => reply_start(first),
    }
}

/// A known command starts `bytes`, as an array or inline.
pub(crate) fn command_start(bytes: &[u8]) -> bool {
    match bytes.first() {
        Some(b'*') => array_command(bytes),
        Some(_) => inline_command(bytes),
        None => false,
    }
}

/// Splits off one CRLF-terminated line.
fn line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = memchr(b'\n', bytes)?;
    let (line, rest) = bytes.split_at(nl);
    Some((line.strip_suffix(b"\r")?, rest.get(1..)?))
}

/// `*N\r\n$M\r\nNAME\r\n` with a known NAME.
fn array_command(bytes: &[u8]) -> bool {
    let Some((head, rest)) = line(bytes) else {
        return false;
    };
    let count = head.get(1..).and_then(parse_int);
    if !count.is_some_and(|n| (1..=1024 * 1024).contains(&n)) {
        return false;
    }
    let Some((len, rest)) = line(rest) else {
        return false;
    };
    let len = len.strip_prefix(b"$").and_then(parse_int);
    let Some(len) = len.and_then(|n| usize::try_from(n).ok()) else {
        return false;
    };
    match (rest.get(..len), rest.get(len..len.saturating_add(2))) {
        (Some(name), Some(b"\r\n")) => is_known(name),
        _ => false,
    }
}

/// A printable line whose first word is a known command and which is not an
/// HTTP request line.
fn inline_command(bytes: &[u8]) -> bool {
    let Some(nl) = memchr(b'\n', bytes.get(..MAX_INLINE_LINE).unwrap_or(bytes)) else {
        return false;
    };
    let line = bytes.get(..nl).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return false;
    }
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let Some(name) = words.next() else {
        return false;
    };
    let http = words.next_back().is_some_and(|w| w.starts_with(b"HTTP/"));
    !http && is_known(name)
}

/// Whether `first` starts with a reply that only a server sends: a
/// complete type line of a simple string, an error, an integer or a RESP3
/// type other than an array. A client sends commands as arrays of bulk
/// strings (or inline), so an array or a bulk string proves nothing: a
/// segment that splits a command may start with either. Used to tell which
/// end is the server of a connection joined mid-stream.
pub fn looks_like_reply_only(first: &[u8]) -> bool {
    !matches!(first.first(), Some(b'$' | b'*')) && reply_start(first)
}

/// A complete RESP type line: a reply's first line.
pub(crate) fn reply_start(bytes: &[u8]) -> bool {
    let Some((line, _)) = line(bytes) else {
        return false;
    };
    let Some((&tag, rest)) = line.split_first() else {
        return false;
    };
    let count = || rest == b"?" || parse_int(rest).is_some_and(|n| n >= -1);
    match tag {
        b'+' => rest.iter().all(|&b| b == b' ' || b.is_ascii_graphic()),
        b'-' => rest.first().is_some_and(|b| b.is_ascii_uppercase()),
        b':' => parse_int(rest).is_some(),
        b'$' | b'*' => count(),
        b'%' | b'~' | b'>' | b'|' | b'=' | b'!' => count() && rest != b"-1",
        b'_' => rest.is_empty(),
        b'#' => rest == b"t" || rest == b"f",
        b',' | b'(' => !rest.is_empty() && rest.iter().all(|b| b.is_ascii_graphic()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_parse::Direction::{ToClient, ToServer};

    #[test]
    fn commands_are_claimed() {
        assert!(looks_like_redis(ToServer, b"*1\r\n$4\r\nPING\r\n"));
        assert!(looks_like_redis(
            ToServer,
            b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n"
        ));
        assert!(looks_like_redis(ToServer, b"PING\r\n"));
        assert!(looks_like_redis(ToServer, b"info\n"));
        assert!(looks_like_redis(ToServer, b"GET key\r\n"));
    }

    #[test]
    fn unknown_or_incomplete_commands_are_not() {
        assert!(!looks_like_redis(ToServer, b"*1\r\n$4\r\nPONG\r\n"));
        assert!(!looks_like_redis(ToServer, b"*1\r\n$4\r\nPI"));
        assert!(!looks_like_redis(ToServer, b"PING"));
        assert!(!looks_like_redis(ToServer, b"*0\r\n"));
        assert!(!looks_like_redis(ToServer, b""));
    }

    #[test]
    fn other_protocols_are_not_claimed() {
        let firsts: [&[u8]; 9] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /api HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            // PostgreSQL StartupMessage and SSLRequest.
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
            b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00",
            // MySQL handshake response, Kafka ApiVersions request.
            b"\xaa\x00\x00\x01\x85\xa6\xff\x01\x00\x00\x00\x01\x21",
            b"\x00\x00\x00\x23\x00\x12\x00\x03\x00\x00\x00\x01\x00\x09producer",
            // DNS over TCP.
            b"\x00\x1d\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
        ];
        for first in firsts {
            assert!(!looks_like_redis(ToServer, first), "{first:?}");
            assert!(!looks_like_redis(ToClient, first), "{first:?}");
        }
        // Servers of those protocols.
        assert!(!looks_like_redis(ToClient, b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_redis(
            ToClient,
            b"\x4a\x00\x00\x00\x0a8.0.36\x00"
        ));
    }

    #[test]
    fn replies_are_claimed_for_mid_stream_joins() {
        for reply in [
            &b"+OK\r\n"[..],
            b"-ERR unknown command\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b"*2\r\n",
            b":42\r\n",
            b"%1\r\n",
            b">3\r\n",
            b"_\r\n",
        ] {
            assert!(looks_like_redis(ToClient, reply), "{reply:?}");
        }
        assert!(!looks_like_redis(ToClient, b"+OK"));
        assert!(!looks_like_redis(ToClient, b"-err\r\n"));
    }

    #[test]
    fn only_some_replies_are_a_server_alone() {
        for reply in [
            &b"+OK\r\n+OK\r\n"[..],
            b"-ERR x\r\n",
            b":1\r\n",
            b"_\r\n",
            b"%1\r\n",
        ] {
            assert!(looks_like_reply_only(reply), "{reply:?}");
        }
        // A client's command, whole or cut at a bulk string, and arrays.
        for bytes in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"$3\r\nVXK\r\n*3\r\n$3\r\nSET\r\n",
            b"*2\r\n",
            b"PING\r\n",
            b"+OK",
        ] {
            assert!(!looks_like_reply_only(bytes), "{bytes:?}");
        }
    }
}
