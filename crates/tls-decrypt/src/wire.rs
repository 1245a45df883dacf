//! Framing: whole TLS records out of a byte stream (a record must be whole
//! to be authenticated), handshake messages out of record plaintext, and the
//! few hello fields the key schedule needs.

/// `ContentType` values (RFC 8446, 5.1).
pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// Largest record body any version allows: 2^14 plus 2048 of expansion.
pub(crate) const MAX_RECORD: usize = (1 << 14) + 2048;

/// One whole record.
pub(crate) struct Record<'a> {
    pub content_type: u8,
    /// The 5-byte header, as TLS 1.3 authenticates it.
    pub header: [u8; 5],
    pub body: &'a mut [u8],
}

/// Why a stream stopped being TLS records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NotRecords;

/// Reassembles whole records of one direction, at most one record held.
#[derive(Default)]
pub(crate) struct RecordBuf {
    buf: Vec<u8>,
}

impl RecordBuf {
    /// Appends stream bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Calls `f` on each whole record buffered, then keeps the rest (at most
    /// one partial record). Stops early when `f` returns false.
    pub(crate) fn drain(
        &mut self,
        mut f: impl FnMut(Record<'_>) -> bool,
    ) -> Result<(), NotRecords> {
        let mut at = 0;
        let res = loop {
            let Some(h) = self.buf.get(at..at + 5) else {
                break Ok(());
            };
            let header = [h[0], h[1], h[2], h[3], h[4]];
            let [ct, major, _, hi, lo] = header;
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if !(CHANGE_CIPHER_SPEC..=24).contains(&ct) || major != 3 || len > MAX_RECORD {
                break Err(NotRecords);
            }
            let Some(body) = self.buf.get_mut(at + 5..at + 5 + len) else {
                break Ok(());
            };
            at += 5 + len;
            if !f(Record {
                content_type: ct,
                header,
                body,
            }) {
                break Ok(());
            }
        };
        self.buf.drain(..at.min(self.buf.len()));
        if res.is_err() {
            self.clear();
        }
        res
    }

    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
    }
}

/// Reassembles handshake messages across records. Messages up to `limit`
/// are buffered and handed out whole; longer ones are skipped (their type is
/// still reported, with an empty body) so key changes after them are seen.
#[derive(Default)]
pub(crate) struct HandshakeBuf {
    header: Vec<u8>,
    body: Vec<u8>,
    /// The current message: its type and bytes of it still to come.
    msg_type: u8,
    remaining: usize,
    skipping: bool,
}

impl HandshakeBuf {
    /// Feeds record plaintext; `f(type, body)` for each message completed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], limit: usize, mut f: impl FnMut(u8, &[u8])) {
        while !bytes.is_empty() {
            if self.remaining == 0 && self.header.len() < 4 {
                let take = (4 - self.header.len()).min(bytes.len());
                let (h, rest) = bytes.split_at(take);
                self.header.extend_from_slice(h);
                bytes = rest;
                if let [t, a, b, c] = *self.header.as_slice() {
                    self.msg_type = t;
                    self.remaining = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                    self.skipping = self.remaining > limit;
                    self.body.clear();
                    if self.remaining == 0 {
                        self.header.clear();
                        f(t, &[]);
                    }
                }
                continue;
            }
            let take = self.remaining.min(bytes.len());
            let (part, rest) = bytes.split_at(take);
            bytes = rest;
            self.remaining -= take;
            if !self.skipping {
                self.body.extend_from_slice(part);
            }
            if self.remaining == 0 {
                self.header.clear();
                let body = if self.skipping {
                    &[][..]
                } else {
                    &self.body[..]
                };
                f(self.msg_type, body);
                self.body.clear();
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = HandshakeBuf::default();
    }
}

/// Bounds-checked big-endian reads over hello bodies.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.bytes(1)?.first().copied()
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.bytes(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }
}

/// The random of a hello body (after legacy_version).
pub(crate) fn hello_random(body: &[u8]) -> Option<[u8; 32]> {
    let mut r = Reader(body);
    r.u16()?;
    r.bytes(32)?.try_into().ok()
}

/// What a ServerHello says the key schedule needs: random, suite, and
/// whether TLS 1.3 was chosen (supported_versions).
pub(crate) struct ServerHello {
    pub random: [u8; 32],
    pub suite: u16,
    pub tls13: bool,
}

pub(crate) fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let legacy = r.u16()?;
    let random: [u8; 32] = r.bytes(32)?.try_into().ok()?;
    r.vec8()?;
    let suite = r.u16()?;
    r.u8()?;
    let mut tls13 = false;
    if let Some(exts) = r.vec16() {
        let mut e = Reader(exts);
        while let (Some(t), Some(data)) = (e.u16(), e.vec16()) {
            if t == 0x002b {
                let v = Reader(data).u16()?;
                tls13 = v == 0x0304 || v >> 8 == 0x7f;
            }
        }
    }
    let _ = legacy;
    Some(ServerHello {
        random,
        suite,
        tls13,
    })
}

/// The ALPN protocol an EncryptedExtensions message selected.
pub(crate) fn selected_alpn(encrypted_extensions: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader(encrypted_extensions);
    let mut e = Reader(r.vec16()?);
    while let (Some(t), Some(data)) = (e.u16(), e.vec16()) {
        if t == 0x0010 {
            let mut list = Reader(Reader(data).vec16()?);
            return list.vec8().map(<[u8]>::to_vec);
        }
    }
    None
}

/// The random a HelloRetryRequest carries instead of a real one (RFC 8446, 4.1.3).
pub(crate) const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_messages_across_pieces_and_skipping() {
        let mut h = HandshakeBuf::default();
        let mut got = Vec::new();
        let msgs = [
            2u8, 0, 0, 3, 1, 2, 3, 11, 0, 0, 5, 9, 9, 9, 9, 9, 20, 0, 0, 0,
        ];
        for piece in msgs.chunks(3) {
            h.feed(piece, 4, |t, b| got.push((t, b.to_vec())));
        }
        assert_eq!(
            got,
            vec![(2, vec![1, 2, 3]), (11, vec![]), (20, vec![])],
            "the 5-byte message is over the limit: skipped, its type still seen"
        );
    }

    #[test]
    fn records_are_whole_and_bounded() {
        let mut r = RecordBuf::default();
        r.push(&[23, 3, 3, 0, 2, 0xaa]);
        let mut n = 0;
        assert!(r
            .drain(|_| {
                n += 1;
                true
            })
            .is_ok());
        assert_eq!(n, 0, "partial record held");
        r.push(&[0xbb, 21, 3, 3, 0, 0]);
        let mut got = Vec::new();
        assert!(r
            .drain(|rec| {
                got.push((rec.content_type, rec.body.to_vec()));
                true
            })
            .is_ok());
        assert_eq!(got, vec![(23, vec![0xaa, 0xbb]), (21, vec![])]);
        r.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(r.drain(|_| true), Err(NotRecords));
    }
}
