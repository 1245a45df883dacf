//! Reading the fields of message bodies.
//!
//! Bodies hold NUL-terminated strings and big-endian integers. Every read is
//! checked and yields `None` past the end, so a short or corrupt body (or a
//! prefix cut by the framer) reads as missing fields, never as a panic.

/// A cursor over a message body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }

    /// Bytes left.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// A NUL-terminated string, without its NUL.
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let n = self.b.iter().position(|&c| c == 0)?;
        let s = &self.b[..n];
        self.b = &self.b[n + 1..];
        Some(s)
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&c, rest) = self.b.split_first()?;
        self.b = rest;
        Some(c)
    }

    pub fn i16(&mut self) -> Option<i16> {
        let v = i16::from_be_bytes(self.b.get(..2)?.try_into().ok()?);
        self.b = &self.b[2..];
        Some(v)
    }

    pub fn i32(&mut self) -> Option<i32> {
        let v = i32::from_be_bytes(self.b.get(..4)?.try_into().ok()?);
        self.b = &self.b[4..];
        Some(v)
    }

    /// Skips `n` bytes; `None` if there are fewer.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.b = self.b.get(n..)?;
        Some(())
    }
}

/// Text for a record: lossy UTF-8, at most `max` chars.
pub(crate) fn text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.into_owned(),
    }
}

/// The fields of an ErrorResponse or NoticeResponse that records use.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ErrorFields<'a> {
    /// `V`, the severity not localised (`S` when `V` is absent: servers
    /// before 9.6).
    pub severity: Option<&'a [u8]>,
    /// `C`, the SQLSTATE.
    pub code: Option<&'a [u8]>,
    /// `M`, the primary message.
    pub message: Option<&'a [u8]>,
}

/// Reads the fields of an ErrorResponse body.
pub(crate) fn error_fields(body: &[u8]) -> ErrorFields<'_> {
    let mut r = Reader::new(body);
    let mut f = ErrorFields::default();
    let mut localized = None;
    // Each field takes at least two bytes: the loop is bounded by the body.
    while let Some(kind) = r.u8() {
        if kind == 0 {
            break;
        }
        let Some(value) = r.cstr() else { break };
        match kind {
            b'V' => f.severity = Some(value),
            b'S' => localized = Some(value),
            b'C' => f.code = Some(value),
            b'M' => f.message = Some(value),
            _ => {}
        }
    }
    f.severity = f.severity.or(localized);
    f
}

/// The row count of a CommandComplete tag (`SELECT 3`, `INSERT 0 1`), for
/// the commands whose tag carries one.
pub(crate) fn tag_rows(tag: &[u8]) -> Option<u64> {
    let verb = tag.split(|&c| c == b' ').next()?;
    let counted = matches!(
        verb,
        b"SELECT" | b"INSERT" | b"UPDATE" | b"DELETE" | b"MERGE" | b"FETCH" | b"MOVE" | b"COPY"
    );
    if !counted {
        return None;
    }
    let last = tag.rsplit(|&c| c == b' ').next()?;
    std::str::from_utf8(last).ok()?.parse().ok()
}

/// The authentication method an AuthenticationXXX request names.
pub(crate) fn auth_method(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "trust",
        2 => "kerberos",
        3 => "password",
        5 => "md5",
        7 => "gss",
        9 => "sspi",
        10 => "sasl",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_stops_at_the_end() {
        let mut r = Reader::new(b"ab\0\x01");
        assert_eq!(r.cstr(), Some(&b"ab"[..]));
        assert_eq!(r.i16(), None);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.cstr(), None);
    }

    #[test]
    fn error_fields_prefer_the_unlocalised_severity() {
        let f = error_fields(b"SERREUR\0VERROR\0C42P01\0Mno such table\0\0");
        assert_eq!(f.severity, Some(&b"ERROR"[..]));
        assert_eq!(f.code, Some(&b"42P01"[..]));
        assert_eq!(f.message, Some(&b"no such table"[..]));
        assert_eq!(error_fields(b"SFATAL\0Mx").severity, Some(&b"FATAL"[..]));
    }

    #[test]
    fn tag_counts() {
        assert_eq!(tag_rows(b"SELECT 3"), Some(3));
        assert_eq!(tag_rows(b"INSERT 0 12"), Some(12));
        assert_eq!(tag_rows(b"CREATE TABLE"), None);
        assert_eq!(tag_rows(b"SELECT"), None);
        assert_eq!(tag_rows(b""), None);
    }

    #[test]
    fn text_is_cut_on_chars() {
        assert_eq!(text("héllo".as_bytes(), 2), "hé");
        assert_eq!(text(b"a\xffb", 10), "a\u{fffd}b");
    }
}
