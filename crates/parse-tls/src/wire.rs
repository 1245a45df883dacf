//! A bounds-checked reader over TLS wire structures.
//!
//! Every read returns `None` past the end instead of panicking, so the
//! handshake parsers can be written as straight-line `?` code over untrusted
//! bytes without a single index expression.

/// Cursor over a byte slice; reads are big-endian, as on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.rest.split_first()?;
        self.rest = tail;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        match *self.bytes(2)? {
            [a, b] => Some(u16::from_be_bytes([a, b])),
            _ => None,
        }
    }

    pub(crate) fn u24(&mut self) -> Option<usize> {
        u24(self.bytes(3)?)
    }

    /// A vector with a one-byte length prefix (`opaque x<0..2^8-1>`).
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }

    /// A vector with a two-byte length prefix.
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// A vector with a three-byte length prefix.
    pub(crate) fn vec24(&mut self) -> Option<&'a [u8]> {
        let n = self.u24()?;
        self.bytes(n)
    }
}

/// A three-byte big-endian length, as in handshake headers and certificate lists.
pub(crate) fn u24(b: &[u8]) -> Option<usize> {
    match *b {
        [a, b, c, ..] => Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)),
        _ => None,
    }
}

/// Big-endian `u16` values of a list of 2-byte items; a trailing odd byte is ignored.
pub(crate) fn u16_list(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .filter_map(|c| match *c {
            [a, b] => Some(u16::from_be_bytes([a, b])),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none() {
        let mut r = Reader::new(&[0x00, 0x03, 0xaa, 0xbb]);
        assert_eq!(r.vec16(), None, "length 3 with only 2 bytes left");
        let mut r = Reader::new(&[0x01, 0x02, 0x03]);
        assert_eq!(r.u24(), Some(0x010203));
        assert_eq!(r.u8(), None);
        assert!(r.is_empty());
    }

    #[test]
    fn u16_list_ignores_odd_trailer() {
        assert_eq!(
            u16_list(&[0x13, 0x01, 0x13, 0x02, 0xff]),
            vec![0x1301, 0x1302]
        );
    }
}
