//! Is this PostgreSQL? Content detection and resynchronisation.
//!
//! A connection's first client bytes name it plainly: a StartupMessage for
//! protocol 3.x, an SSLRequest, a GSSENCRequest or a CancelRequest, each an
//! exact length and code. A connection joined mid-stream (or a direction
//! that lost its place in a gap) has only typed messages to go by, and one
//! type byte plus a length is weak evidence, so a start is only believed when
//! whole messages follow it whose bodies have the exact structure their type
//! requires (a DataRow's column lengths add up to its length, a
//! ReadyForQuery is one status byte, a Query's text ends at its only NUL),
//! chained to the end of the segment. The first bytes of HTTP, TLS, HTTP/2,
//! Redis, MySQL, Kafka and DNS over TCP fail these tests (see the tests).
//! Everything here looks only at the bytes given, never allocates, and is
//! bounded by their length.

use podwire_parse::Direction;

use crate::msg::Reader;

/// StartupMessage protocol 3.0; 3.1 and 3.2 are accepted too (PostgreSQL 18
/// speaks 3.2).
const PROTOCOL_3_0: u32 = 196_608;
/// Request codes of the untyped startup-phase messages.
pub(crate) const SSL_REQUEST: u32 = 80_877_103;
pub(crate) const GSSENC_REQUEST: u32 = 80_877_104;
pub(crate) const CANCEL_REQUEST: u32 = 80_877_102;

/// Largest message believed when detecting: a real one can reach 1 GiB, but
/// a first message that large is more likely text read as a length.
const DETECT_MAX_LEN: usize = 16 << 20;

/// Whole well-formed messages in a row that are evidence enough.
const ENOUGH: usize = 8;

/// What the first message of a client stream is, by its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartupKind {
    Startup,
    Ssl,
    Gssenc,
    Cancel,
}

/// Reads the code of an untyped startup-phase message body.
pub(crate) fn startup_kind(body: &[u8], len: usize) -> Option<StartupKind> {
    let code = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    match (code, len) {
        (SSL_REQUEST, 4) => Some(StartupKind::Ssl),
        (GSSENC_REQUEST, 4) => Some(StartupKind::Gssenc),
        (CANCEL_REQUEST, 12) => Some(StartupKind::Cancel),
        (c, 5..) if (PROTOCOL_3_0..=PROTOCOL_3_0 + 2).contains(&c) => Some(StartupKind::Startup),
        _ => None,
    }
}

/// Whether `first` (the first bytes seen of `dir`) starts like PostgreSQL
/// wire protocol v3: a startup-phase message from the client, or whole typed
/// messages of the right structure chained to the end of the bytes (or at
/// least two of them), from either side. See the module docs.
pub fn looks_like_postgres(dir: Direction, first: &[u8]) -> bool {
    if dir == Direction::ToServer && startup_start(first) {
        return true;
    }
    chain_len(dir, first).is_some_and(|n| n >= 1)
}

/// A whole startup-phase message at the start of `b`: exact code and
/// length, and for a StartupMessage, parameter strings with a `user`.
fn startup_start(b: &[u8]) -> bool {
    let Some(len) = b
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]))
    else {
        return false;
    };
    let len = len as usize;
    if !(8..=10_000).contains(&len) {
        return false;
    }
    let Some(body) = b.get(4..len) else {
        // A StartupMessage can span segments only when it is huge; the
        // fixed-size requests never do.
        return false;
    };
    match startup_kind(body, len - 4) {
        Some(StartupKind::Startup) => startup_params_ok(&body[4..]),
        Some(_) => b.len() == len,
        None => false,
    }
}

/// Parameter pairs of printable names, a `user` among them, then a NUL.
fn startup_params_ok(params: &[u8]) -> bool {
    let mut r = Reader::new(params);
    let mut user = false;
    for _ in 0..params.len() {
        let Some(name) = r.cstr() else { return false };
        if name.is_empty() {
            return r.rest().is_empty() && user;
        }
        if !name.iter().all(|c| c.is_ascii_graphic()) || r.cstr().is_none() {
            return false;
        }
        user |= name == b"user";
    }
    false
}

/// Offset of the first message start in `b` that [`chain_len`] believes,
/// trying every offset.
pub(crate) fn resync_offset(dir: Direction, b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| chain_len(dir, &b[i..]).is_some())
}

/// How many whole, well-formed messages of `dir` chain from the start of
/// `b`, when the chain is believable: it reaches the end of `b` exactly,
/// or two or more whole ones are followed by the plausible header of one
/// that runs past the end.
fn chain_len(dir: Direction, b: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut whole = 0;
    // Each message takes at least 5 bytes.
    for _ in 0..=b.len() / 5 {
        let rest = &b[at..];
        if rest.is_empty() {
            return (whole > 0).then_some(whole);
        }
        let ty = rest[0];
        let len = rest
            .get(1..5)
            .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
        let plausible =
            known_type(dir, ty) && len.is_some_and(|l| (4..=DETECT_MAX_LEN).contains(&l));
        if !plausible {
            return None;
        }
        let len = len.unwrap_or(4);
        match rest.get(5..1 + len) {
            Some(body) if valid_body(dir, ty, body) => {
                whole += 1;
                at += 1 + len;
                if whole == ENOUGH {
                    return Some(whole);
                }
            }
            Some(_) => return None,
            None if whole >= 2 => return Some(whole),
            // A lone Query that spans segments: its visible text must be
            // text.
            None if whole == 0 && dir == Direction::ToServer && ty == b'Q' => {
                let text = &rest[5..];
                let texty =
                    text.len() >= 16 && text.iter().all(|&c| c >= b'\t' && c != 0x7f && c != 0);
                return texty.then_some(0);
            }
            None => return None,
        }
    }
    None
}

/// Types each side sends after the startup.
fn known_type(dir: Direction, ty: u8) -> bool {
    match dir {
        Direction::ToServer => b"QPBEDCSHFdcfXp".contains(&ty),
        Direction::ToClient => b"RSKZTDCEINAn123stGHWdcVv".contains(&ty),
    }
}

/// Whether `body` has the exact structure of a `ty` message from `dir`.
fn valid_body(dir: Direction, ty: u8, body: &[u8]) -> bool {
    let mut r = Reader::new(body);
    let ok = match (dir, ty) {
        (Direction::ToServer, b'Q') => r.cstr().is_some_and(sqlish),
        (Direction::ToServer, b'P') => {
            r.cstr().is_some()
                && r.cstr().is_some_and(sqlish)
                && r.i16()
                    .and_then(|n| r.skip(4 * usize::try_from(n).ok()?))
                    .is_some()
        }
        (Direction::ToServer, b'B') => bind_ok(&mut r),
        (Direction::ToServer, b'E') => r.cstr().is_some() && r.i32().is_some_and(|n| n >= 0),
        (Direction::ToServer, b'D' | b'C') => {
            matches!(r.u8(), Some(b'S' | b'P')) && r.cstr().is_some()
        }
        (Direction::ToServer, b'S' | b'H' | b'c' | b'X') => true,
        (Direction::ToServer, b'f') => r.cstr().is_some(),
        (Direction::ToServer, b'F') => body.len() >= 10 && r.skip(body.len()).is_some(),
        (_, b'd' | b'p') => r.skip(body.len()).is_some(),
        (Direction::ToClient, b'Z') => matches!(r.u8(), Some(b'I' | b'T' | b'E')),
        (Direction::ToClient, b'1' | b'2' | b'3' | b'n' | b'I' | b's' | b'c') => true,
        (Direction::ToClient, b'K') => r.skip(8).is_some(),
        (Direction::ToClient, b'C') => r.cstr().is_some_and(|t| {
            t.first().is_some_and(u8::is_ascii_uppercase)
                && t.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
        }),
        (Direction::ToClient, b'D') => data_row_ok(&mut r),
        (Direction::ToClient, b'T') => row_description_ok(&mut r),
        (Direction::ToClient, b'E' | b'N') => fields_ok(&mut r),
        (Direction::ToClient, b'S') => {
            r.cstr().is_some_and(|n| n.iter().all(u8::is_ascii_graphic)) && r.cstr().is_some()
        }
        (Direction::ToClient, b'R') => {
            r.i32().is_some_and(|c| (0..=12).contains(&c)) && r.skip(r.rest().len()).is_some()
        }
        (Direction::ToClient, b'A') => {
            r.i32().is_some() && r.cstr().is_some() && r.cstr().is_some()
        }
        (Direction::ToClient, b't') => r
            .i16()
            .and_then(|n| r.skip(4 * usize::try_from(n).ok()?))
            .is_some(),
        (Direction::ToClient, b'G' | b'H' | b'W') => {
            r.u8().is_some_and(|f| f <= 1)
                && r.i16()
                    .and_then(|n| r.skip(2 * usize::try_from(n).ok()?))
                    .is_some()
        }
        (Direction::ToClient, b'V') => r
            .i32()
            .and_then(|n| if n < 0 { Some(()) } else { r.skip(n as usize) })
            .is_some(),
        (Direction::ToClient, b'v') => r.i32().is_some() && r.skip(r.rest().len()).is_some(),
        _ => false,
    };
    ok && r.rest().is_empty()
}

/// SQL text: no control bytes but whitespace.
fn sqlish(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c >= b' ' || matches!(c, b'\t' | b'\n' | b'\r'))
}

fn bind_ok(r: &mut Reader<'_>) -> bool {
    let mut go = || -> Option<()> {
        r.cstr()?;
        r.cstr()?;
        let formats = usize::try_from(r.i16()?).ok()?;
        r.skip(2 * formats)?;
        let params = usize::try_from(r.i16()?).ok()?;
        for _ in 0..params {
            let len = r.i32()?;
            if len >= 0 {
                r.skip(len as usize)?;
            } else if len != -1 {
                return None;
            }
        }
        let results = usize::try_from(r.i16()?).ok()?;
        r.skip(2 * results)
    };
    go().is_some()
}

fn data_row_ok(r: &mut Reader<'_>) -> bool {
    let mut go = || -> Option<()> {
        let cols = usize::try_from(r.i16()?).ok()?;
        for _ in 0..cols {
            let len = r.i32()?;
            if len >= 0 {
                r.skip(len as usize)?;
            } else if len != -1 {
                return None;
            }
        }
        Some(())
    };
    go().is_some()
}

fn row_description_ok(r: &mut Reader<'_>) -> bool {
    let mut go = || -> Option<()> {
        let fields = usize::try_from(r.i16()?).ok()?;
        for _ in 0..fields {
            r.cstr()?;
            r.skip(18)?;
        }
        Some(())
    };
    go().is_some()
}

/// Error and notice fields: a type byte and a string each, then a NUL.
fn fields_ok(r: &mut Reader<'_>) -> bool {
    for _ in 0..=r.rest().len() {
        match r.u8() {
            Some(0) => return true,
            Some(k) if k.is_ascii_alphabetic() => {
                if r.cstr().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    false
}
