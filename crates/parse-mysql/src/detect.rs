//! Recognising MySQL by content, and places to pick a stream up again.
//!
//! The server speaks first, so a connection seen from its start is claimed
//! on the greeting alone: a small packet with sequence id 0, protocol 10 and
//! a NUL-terminated version string of printable characters starting with a
//! digit (or an ERR packet refusing the connection). A connection joined in
//! the middle is claimed on a client command only when the packet is
//! unmistakable: sequence id 0, a known command byte, the length matching
//! the segment, and arguments of the command's shape (statement text that
//! reads as text, fixed sizes for the `COM_STMT_*` commands). That keeps
//! HTTP, TLS, HTTP/2, Redis, PostgreSQL, Kafka and DNS-over-TCP first bytes
//! out. The same checks, relaxed about length, find where a stream starts
//! again after lost bytes.

use podwire_parse::Direction;

use crate::command;

fn header(bytes: &[u8]) -> Option<(usize, u8, &[u8])> {
    let [a, b, c, seq] = *bytes.first_chunk::<4>()?;
    let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
    Some((len, seq, bytes.get(4..).unwrap_or_default()))
}

/// Whether `first`, the first bytes seen in `dir` of a connection, look like
/// MySQL/MariaDB: a server greeting (or refusal), or a client command (see
/// the module docs).
pub fn looks_like_mysql(dir: Direction, first: &[u8]) -> bool {
    match dir {
        Direction::ToClient => looks_like_greeting(first),
        Direction::ToServer => command_start(first, true) || login_start(first),
    }
}

/// A Handshake v10 packet, whole, or an ERR packet refusing the connection.
pub fn looks_like_greeting(bytes: &[u8]) -> bool {
    let Some((len, 0, payload)) = header(bytes) else {
        return false;
    };
    if !(16..=1024).contains(&len) || payload.len() < len {
        return false;
    }
    let payload = &payload[..len];
    match payload.first() {
        Some(10) => {}
        Some(0xFF) => return refusal(payload),
        _ => return false,
    }
    let Some(nul) = payload.iter().position(|&b| b == 0) else {
        return false;
    };
    let version = &payload[1..nul];
    (1..=64).contains(&version.len())
        && version[0].is_ascii_digit()
        && version.iter().all(|b| (0x20..0x7f).contains(b))
        // thread id (4), auth data (8), then a zero filler
        && payload.get(nul + 13) == Some(&0)
}

/// An ERR packet a server sends instead of a greeting.
fn refusal(payload: &[u8]) -> bool {
    let (Some(&lo), Some(&hi)) = (payload.get(1), payload.get(2)) else {
        return false;
    };
    let code = u16::from_le_bytes([lo, hi]);
    let message = payload.get(3..).unwrap_or_default();
    (1000..2000).contains(&code)
        && message.len() >= 8
        && message.iter().all(|b| (0x20..0x7f).contains(b))
}

/// Statement text: readable, starting like SQL.
fn sql_text(text: &[u8]) -> bool {
    let sample = &text[..text.len().min(64)];
    let readable = sample
        .iter()
        .all(|&b| b >= 0x80 || (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\r' | b'\n'));
    let start = sample.iter().find(|b| !b.is_ascii_whitespace());
    readable
        && start.is_some_and(|&b| b.is_ascii_alphabetic() || matches!(b, b'(' | b'/' | b'-' | b'#'))
}

/// A client command packet starts `bytes`. `whole`: the packet must end
/// where `bytes` do or where another command packet starts (detection);
/// otherwise only statement text may run on past them (resync).
pub fn command_start(bytes: &[u8], whole: bool) -> bool {
    let Some((len, 0, payload)) = header(bytes) else {
        return false;
    };
    let Some((&code, arg)) = payload.split_first() else {
        return false;
    };
    let complete = payload.len() >= len;
    let exact = payload.len() == len
        || header(&payload[len.min(payload.len())..]).is_some_and(|(_, s, _)| s == 0);
    let arg = &arg[..arg.len().min(len.saturating_sub(1))];
    let shaped = match code {
        command::QUERY | command::STMT_PREPARE => {
            let text = len >= 3 && sql_text(arg);
            return text
                && if complete {
                    exact || !whole
                } else {
                    arg.len() >= 32
                };
        }
        command::INIT_DB => (2..=65).contains(&len) && arg.iter().all(|b| (0x21..0x7f).contains(b)),
        // PING, QUIT, STATISTICS, PROCESS_INFO, DEBUG, RESET_CONNECTION
        0x0e | command::QUIT | 0x09 | 0x0a | 0x0d | command::RESET_CONNECTION => len == 1,
        command::STMT_EXECUTE => {
            len >= 10
                && arg.get(4).is_some_and(|&f| f & 0x78 == 0)
                && arg.get(5..9) == Some(&[1, 0, 0, 0][..])
        }
        command::STMT_CLOSE | command::STMT_RESET => len == 5,
        command::STMT_FETCH => len == 9,
        _ => false,
    };
    shaped && complete && (exact || !whole)
}

/// A HandshakeResponse41 (the greeting was missed): sequence id 1, 4.1
/// capabilities and the 19 zero bytes of filler.
pub fn login_start(bytes: &[u8]) -> bool {
    let Some((len, 1, payload)) = header(bytes) else {
        return false;
    };
    (32..=4096).contains(&len)
        && payload.get(1).is_some_and(|&b| b & 0x02 != 0) // CLIENT_PROTOCOL_41
        && payload.get(9..28).is_some_and(|f| f.iter().all(|&b| b == 0))
}

/// The first packet of a response starts `bytes`: sequence id 1 and an OK,
/// ERR, LOCAL INFILE request or a column count.
pub fn response_start(bytes: &[u8]) -> bool {
    let Some((len, 1, payload)) = header(bytes) else {
        return false;
    };
    match payload.first() {
        Some(0x00) => (7..=64 * 1024).contains(&len),
        Some(0xFF) => (3..=64 * 1024).contains(&len),
        Some(0xFB) => len >= 2,
        Some(1..=0xFA) => len <= 2,
        Some(0xFC) => (3..=4).contains(&len),
        _ => false,
    }
}

/// The server's answer to a login: OK or ERR, sequence id 2 or later.
pub fn auth_result_start(bytes: &[u8]) -> bool {
    let Some((len, seq, payload)) = header(bytes) else {
        return false;
    };
    seq >= 2
        && match payload.first() {
            Some(0x00) => (7..=1024).contains(&len),
            Some(0xFF) => (3..=1024).contains(&len),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len() as u32;
        let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn commands_of_the_right_shape() {
        assert!(command_start(&packet(0, b"\x03SELECT 1"), true));
        assert!(command_start(&packet(0, b"\x0e"), true));
        assert!(!command_start(&packet(0, b"\x0e\x00"), true));
        assert!(!command_start(&packet(1, b"\x03SELECT 1"), true));
        assert!(!command_start(&packet(0, b"\x03\x01\x02\x03"), true));
        let mut two = packet(0, b"\x03SELECT 1");
        two.extend(packet(0, b"\x0e"));
        assert!(command_start(&two, true));
    }

    #[test]
    fn refusals_count_as_greetings() {
        assert!(looks_like_greeting(&packet(
            0,
            b"\xff\x10\x04Too many connections"
        )));
        assert!(!looks_like_greeting(&packet(
            0,
            b"\xff\x10\x04\x01\x02\x03\x04\x05\x06\x07\x08\x09"
        )));
    }
}
