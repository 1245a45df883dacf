//! Kafka's primitive types, read from bytes that may stop short.
//!
//! The parser reads one small element at a time (a header, a partition's
//! fixed fields) from whatever is buffered. A read past the end is not an
//! error but [`Short::Need`]: how many bytes from the element's start would
//! let it succeed, so the caller buffers exactly that much and tries again.
//! Nothing here indexes or adds unchecked.

use std::borrow::Cow;

/// Why an element could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Short {
    /// The element needs this many bytes from its start.
    Need(usize),
    /// The bytes cannot be this element (a negative length, a varint of
    /// more than five bytes).
    Bad,
}

pub(crate) type Read<T> = Result<T, Short>;

/// A reading position in an element's bytes.
pub(crate) struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cur { b, pos: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Short::Bad)?;
        match self.b.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(Short::Need(end)),
        }
    }

    fn array<const N: usize>(&mut self) -> Read<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn i8(&mut self) -> Read<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16(&mut self) -> Read<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Read<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Read<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn uuid(&mut self) -> Read<[u8; 16]> {
        self.array()
    }

    /// An unsigned varint of at most 32 bits (five bytes).
    pub(crate) fn uvarint(&mut self) -> Read<u32> {
        let mut v: u32 = 0;
        for i in 0..5u32 {
            let [b] = self.array::<1>()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Short::Bad)
    }

    /// A (nullable) string: int16 length, or in flexible versions an unsigned
    /// varint of length + 1. `None` for null.
    pub(crate) fn string(&mut self, flexible: bool) -> Read<Option<&'a [u8]>> {
        let len = if flexible {
            match self.uvarint()? {
                0 => return Ok(None),
                n => (n - 1) as usize,
            }
        } else {
            match self.i16()? {
                -1 => return Ok(None),
                n => usize::try_from(n).map_err(|_| Short::Bad)?,
            }
        };
        self.take(len).map(Some)
    }

    /// The length of a (nullable) bytes or records field, whose content the
    /// caller skips: int32, or an unsigned varint of length + 1. `None` for null.
    pub(crate) fn bytes_len(&mut self, flexible: bool) -> Read<Option<u64>> {
        if flexible {
            Ok(match self.uvarint()? {
                0 => None,
                n => Some(u64::from(n - 1)),
            })
        } else {
            match self.i32()? {
                -1 => Ok(None),
                n => u64::try_from(n).map(Some).map_err(|_| Short::Bad),
            }
        }
    }

    /// An array's element count (a null array counts 0).
    pub(crate) fn array_len(&mut self, flexible: bool) -> Read<u32> {
        if flexible {
            Ok(self.uvarint()?.saturating_sub(1))
        } else {
            match self.i32()? {
                -1 => Ok(0),
                n => u32::try_from(n).map_err(|_| Short::Bad),
            }
        }
    }

    /// Skips a tagged-field section. Each field takes at least two bytes,
    /// so the loop ends at the buffer's end at the latest.
    pub(crate) fn tagged(&mut self) -> Read<()> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let len = self.uvarint()?;
            self.take(len as usize)?;
        }
        Ok(())
    }
}

/// Text of a string field for a record: at most `max` bytes (cut on a
/// character boundary), invalid UTF-8 replaced. Borrowed when nothing had
/// to change.
pub(crate) fn text(b: &[u8], max: usize) -> Cow<'_, str> {
    let cut = b.get(..max).unwrap_or(b);
    match std::str::from_utf8(cut) {
        Ok(s) => Cow::Borrowed(s),
        // A cut through a multi-byte character: keep the valid prefix.
        Err(e) if e.error_len().is_none() && cut.len() < b.len() => Cow::Borrowed(
            std::str::from_utf8(cut.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
        ),
        // Each invalid byte becomes U+FFFD (three bytes): cut again so the
        // text stays within `max` bytes.
        Err(_) => {
            let mut s = String::from_utf8_lossy(cut).into_owned();
            if s.len() > max {
                let mut end = max;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
            Cow::Owned(s)
        }
    }
}

/// A UUID in its usual text form (8-4-4-4-12 lower-case hex).
pub(crate) fn uuid_text(u: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: a client id with invalid UTF-8 grew past its
    /// limit once each bad byte became a three-byte U+FFFD.
    #[test]
    fn invalid_text_stays_within_its_byte_limit() {
        let t = text(&[b'a', 0xdd, 0xdd, 0xdd, b'b'], 4);
        assert!(t.len() <= 4, "{t:?}");
        assert_eq!(t, "a\u{fffd}");
        assert_eq!(text(b"abcdef", 4), "abcd");
        assert_eq!(text("caf\u{e9}".as_bytes(), 4), "caf");
    }

    #[test]
    fn short_reads_say_how_much_they_need() {
        let mut c = Cur::new(&[0, 5, b'a']);
        assert_eq!(c.string(false), Err(Short::Need(7)));
        let mut c = Cur::new(&[0x80, 0x80]);
        assert_eq!(c.uvarint(), Err(Short::Need(3)));
        let mut c = Cur::new(&[0xff; 6]);
        assert_eq!(c.uvarint(), Err(Short::Bad));
    }

    #[test]
    fn compact_and_nullable_forms() {
        let mut c = Cur::new(&[0, 3, b'a', b'b', 0]);
        assert_eq!(c.string(true), Ok(None));
        assert_eq!(c.string(true), Ok(Some(&b"ab"[..])));
        assert_eq!(c.tagged(), Ok(()));
        let mut c = Cur::new(&[0xff, 0xff]);
        assert_eq!(c.string(false), Ok(None));
        let mut c = Cur::new(&[0xff, 0xfe]);
        assert_eq!(c.string(false), Err(Short::Bad));
    }

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(text("aé".as_bytes(), 2), "a");
        assert_eq!(text(b"abc", 2), "ab");
        assert_eq!(text(b"a\xffb", 8), "a\u{fffd}b");
    }

    #[test]
    fn uuid_has_dashes() {
        let u = [0xab; 16];
        assert_eq!(uuid_text(&u), "abababab-abab-abab-abab-abababababab");
    }
}
