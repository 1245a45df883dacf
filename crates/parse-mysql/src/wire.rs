//! Readers for the protocol's basic types and the packets every phase shares.
//!
//! MySQL packets are built from a handful of types (fixed little-endian
//! integers, length-encoded integers and strings, NUL-terminated strings);
//! `Reader` reads them from a payload without ever indexing past its end,
//! returning `None` where a field is missing. OK, ERR and EOF packets end
//! most responses, so their decoders live here too.

/// Capability flags this parser acts on (`CLIENT_*` in the protocol docs).
pub mod cap {
    pub const CONNECT_WITH_DB: u64 = 0x0000_0008;
    pub const COMPRESS: u64 = 0x0000_0020;
    pub const PROTOCOL_41: u64 = 0x0000_0200;
    pub const SSL: u64 = 0x0000_0800;
    pub const SECURE_CONNECTION: u64 = 0x0000_8000;
    pub const PLUGIN_AUTH_LENENC_DATA: u64 = 0x0020_0000;
    pub const SESSION_TRACK: u64 = 0x0080_0000;
    pub const DEPRECATE_EOF: u64 = 0x0100_0000;
    pub const ZSTD_COMPRESSION: u64 = 0x0400_0000;
}

/// Server status flags (`SERVER_*`).
pub mod status {
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    pub const CURSOR_EXISTS: u16 = 0x0040;
    pub const SESSION_STATE_CHANGED: u16 = 0x4000;
}

/// A cursor over one payload; every read is bounds-checked.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.rest.split_first()?;
        self.rest = tail;
        Some(b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-encoded integer; `0xFB` (NULL) and `0xFF` are not integers.
    pub fn lenenc(&mut self) -> Option<u64> {
        let n = match self.u8()? {
            b @ 0..=0xFA => return Some(u64::from(b)),
            0xFC => 2,
            0xFD => 3,
            0xFE => 8,
            _ => return None,
        };
        let bytes = self.take(n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0, |acc, &b| acc << 8 | u64::from(b)),
        )
    }

    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc()?;
        self.take(usize::try_from(n).ok()?)
    }

    /// A NUL-terminated string (without its NUL); `None` without the NUL.
    pub fn nul_bytes(&mut self) -> Option<&'a [u8]> {
        let at = self.rest.iter().position(|&b| b == 0)?;
        let s = self.take(at)?;
        self.skip(1)?;
        Some(s)
    }
}

/// Text of a protocol string for a record: lossy UTF-8, at most `max` chars.
pub fn text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.into_owned(),
    }
}

/// The longest prefix of `bytes` that is whole UTF-8 (a cut packet may end
/// inside a character); invalid bytes further in are replaced.
pub fn utf8_prefix(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(e) if e.error_len().is_none() => {
            // Only the last character is incomplete.
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            String::from_utf8_lossy(valid)
        }
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// An OK packet (or the `0xFE` packet that ends a result set when
/// `CLIENT_DEPRECATE_EOF` is on), as far as it could be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ok<'a> {
    pub affected_rows: u64,
    pub status: u16,
    pub warnings: u16,
    /// The new default schema when the session tracker reported one.
    pub schema: Option<&'a [u8]>,
}

/// Reads an OK packet whose header byte (`0x00` or `0xFE`) starts `payload`.
pub fn ok_packet(payload: &[u8], caps: u64) -> Option<Ok<'_>> {
    let mut r = Reader::new(payload);
    r.u8()?;
    let mut ok = Ok {
        affected_rows: r.lenenc()?,
        ..Ok::default()
    };
    r.lenenc()?; // last insert id
    ok.status = r.u16()?;
    ok.warnings = r.u16().unwrap_or(0);
    if caps & cap::SESSION_TRACK != 0 && ok.status & status::SESSION_STATE_CHANGED != 0 {
        r.lenenc_bytes()?; // info
        ok.schema = tracked_schema(r.lenenc_bytes()?);
    }
    Some(ok)
}

/// The schema change in a session state block (`SESSION_TRACK_SCHEMA`).
fn tracked_schema(block: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(block);
    // Each entry takes at least two bytes, so this bounds the loop.
    for _ in 0..block.len() {
        let kind = r.u8()?;
        let data = r.lenenc_bytes()?;
        if kind == 1 {
            return Reader::new(data).lenenc_bytes();
        }
    }
    None
}

/// An ERR packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Err<'a> {
    pub code: u16,
    pub sqlstate: Option<&'a [u8]>,
    pub message: &'a [u8],
}

/// MariaDB's progress report travels as an ERR packet with this code.
pub const PROGRESS_REPORT: u16 = 0xFFFF;

/// Reads an ERR packet (`0xFF` first). The SQLSTATE marker `#` is looked
/// for rather than assumed, as errors before the handshake have none.
pub fn err_packet(payload: &[u8]) -> Option<Err<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0xFF {
        return None;
    }
    let code = r.u16()?;
    let mut sqlstate = None;
    if r.rest().first() == Some(&b'#') && r.rest().len() >= 6 {
        r.skip(1)?;
        sqlstate = r.take(5);
    }
    Some(Err {
        code,
        sqlstate,
        message: r.rest(),
    })
}

/// An EOF packet is exactly five bytes: `0xFE`, warnings, status. (An OK
/// packet with the `0xFE` header, under `CLIENT_DEPRECATE_EOF`, is at least
/// seven, which is how the two are told apart without knowing the flag.)
pub fn eof_packet(payload: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader::new(payload);
    if payload.len() != 5 || r.u8()? != 0xFE {
        return None;
    }
    Some((r.u16()?, r.u16()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_forms() {
        assert_eq!(Reader::new(&[0xFA]).lenenc(), Some(250));
        assert_eq!(Reader::new(&[0xFC, 0x01, 0x02]).lenenc(), Some(0x0201));
        assert_eq!(Reader::new(&[0xFD, 1, 2, 3]).lenenc(), Some(0x030201));
        assert_eq!(
            Reader::new(&[0xFE, 1, 0, 0, 0, 0, 0, 0, 1]).lenenc(),
            Some(1 << 56 | 1)
        );
        assert_eq!(Reader::new(&[0xFB]).lenenc(), None);
        assert_eq!(Reader::new(&[0xFC, 0x01]).lenenc(), None);
    }

    #[test]
    fn err_with_and_without_sqlstate() {
        let e = err_packet(b"\xff\x7a\x04#42S02Table gone").unwrap();
        assert_eq!(
            (e.code, e.sqlstate, e.message),
            (1146, Some(&b"42S02"[..]), &b"Table gone"[..])
        );
        let e = err_packet(b"\xff\x10\x04Too many connections").unwrap();
        assert_eq!((e.code, e.sqlstate), (1040, None));
        assert!(err_packet(b"\xff\x10").is_none());
    }

    #[test]
    fn ok_with_schema_change() {
        let ok = ok_packet(
            b"\x00\x00\x00\x02\x40\x00\x00\x00\x07\x01\x05\x04shop",
            cap::SESSION_TRACK,
        )
        .unwrap();
        assert_eq!(ok.schema, Some(&b"shop"[..]));
        assert_eq!(ok.status, 0x4002);
    }

    #[test]
    fn utf8_prefix_drops_a_cut_char() {
        assert_eq!(utf8_prefix(b"ab\xc3"), "ab");
        assert_eq!(utf8_prefix(b"a\xffb"), "a\u{fffd}b");
    }
}
