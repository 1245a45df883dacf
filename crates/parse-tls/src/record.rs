//! The TLS record layer: cutting a byte stream into typed record fragments.
//!
//! Records can be split across TCP segments in any way, so this is a small
//! state machine that only ever buffers a record *header* (5 bytes). Record
//! bodies are handed on as borrowed slices of the input, a piece at a time:
//! handshake plaintext needs no integrity check to be read, so there is no
//! reason to wait for, or copy, a whole record.

/// `ContentType` values (RFC 8446, 5.1; heartbeat from RFC 6520).
pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;
pub(crate) const HEARTBEAT: u8 = 24;

const HEADER_LEN: usize = 5;
/// Largest record body any version allows: 2^14 plus TLS 1.2's expansion.
pub(crate) const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// Why a byte stream is not (or no longer) a TLS record stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordError {
    UnknownContentType(u8),
    BadVersion(u16),
    TooLong(usize),
}

/// A piece of one record's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fragment<'a> {
    pub content_type: u8,
    /// This piece starts the record's body (its header just completed).
    pub record_start: bool,
    pub bytes: &'a [u8],
}

/// Record-layer reassembly state of one direction.
#[derive(Debug, Default)]
pub(crate) struct RecordReader {
    header: [u8; HEADER_LEN],
    header_len: usize,
    content_type: u8,
    /// Body bytes of the current record not yet handed on.
    remaining: usize,
    /// Whether the next piece of the current body is its first.
    at_start: bool,
}

impl RecordReader {
    /// The next fragment from `input`, advancing it; `Ok(None)` once `input`
    /// is used up (a partial header stays buffered for the next call).
    pub(crate) fn next<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<Fragment<'a>>, RecordError> {
        if self.remaining == 0 && !self.at_start && !self.read_header(input)? {
            return Ok(None);
        }
        if self.remaining > 0 && input.is_empty() {
            return Ok(None);
        }
        let (bytes, rest) = input.split_at(self.remaining.min(input.len()));
        *input = rest;
        self.remaining -= bytes.len();
        let record_start = std::mem::take(&mut self.at_start);
        Ok(Some(Fragment {
            content_type: self.content_type,
            record_start,
            bytes,
        }))
    }

    /// Completes the pending header from `input`; `Ok(false)` if it is still partial.
    fn read_header(&mut self, input: &mut &[u8]) -> Result<bool, RecordError> {
        let missing = HEADER_LEN.saturating_sub(self.header_len);
        let (taken, rest) = input.split_at(missing.min(input.len()));
        if let Some(dst) = self
            .header
            .get_mut(self.header_len..self.header_len + taken.len())
        {
            dst.copy_from_slice(taken);
        }
        self.header_len += taken.len();
        *input = rest;
        if self.header_len < HEADER_LEN {
            return Ok(false);
        }
        self.header_len = 0;
        let [content_type, major, minor, len_hi, len_lo] = self.header;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        check_header(content_type, major, minor, len)?;
        self.content_type = content_type;
        self.remaining = len;
        self.at_start = true;
        Ok(true)
    }
}

fn check_header(content_type: u8, major: u8, minor: u8, len: usize) -> Result<(), RecordError> {
    if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&content_type) {
        return Err(RecordError::UnknownContentType(content_type));
    }
    if major != 3 || minor > 4 {
        return Err(RecordError::BadVersion(u16::from_be_bytes([major, minor])));
    }
    if len > MAX_RECORD_LEN {
        return Err(RecordError::TooLong(len));
    }
    Ok(())
}

/// Whether the first bytes a client sent look like the start of a TLS
/// connection: a handshake record (`0x16`, version `0x0300`..`0x0304`, a
/// plausible length) whose first message is a ClientHello (type 1). Needs at
/// least 6 bytes; reads at most 6; never allocates.
///
/// SSLv2-compatible ClientHellos (a 2-byte header with the high bit set,
/// sent only by clients from the last century) are not recognised.
pub fn looks_like_tls(first_client_bytes: &[u8]) -> bool {
    match *first_client_bytes {
        [HANDSHAKE, major, minor, len_hi, len_lo, msg_type, ..] => {
            let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
            check_header(HANDSHAKE, major, minor, len).is_ok() && len >= 4 && msg_type == 1
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(reader: &mut RecordReader, mut input: &[u8]) -> Vec<(u8, bool, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(f) = reader.next(&mut input).unwrap() {
            out.push((f.content_type, f.record_start, f.bytes.to_vec()));
        }
        out
    }

    #[test]
    fn splits_records_and_carries_partial_headers() {
        let mut r = RecordReader::default();
        let stream = [22, 3, 1, 0, 2, 0xaa, 0xbb, 20, 3, 3, 0, 1, 1];
        // Header split after 3 bytes, then the rest.
        assert!(collect(&mut r, &stream[..3]).is_empty());
        let got = collect(&mut r, &stream[3..6]);
        assert_eq!(got, vec![(22, true, vec![0xaa])]);
        let got = collect(&mut r, &stream[6..]);
        assert_eq!(got, vec![(22, false, vec![0xbb]), (20, true, vec![1])]);
    }

    #[test]
    fn empty_record_is_reported_once() {
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[23, 3, 3, 0, 0]);
        assert_eq!(got, vec![(23, true, vec![])]);
    }

    #[test]
    fn rejects_non_tls_headers() {
        let mut r = RecordReader::default();
        let mut input: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(
            r.next(&mut input),
            Err(RecordError::UnknownContentType(b'G'))
        );
        let mut input: &[u8] = &[22, 3, 3, 0xff, 0xff];
        assert_eq!(
            RecordReader::default().next(&mut input),
            Err(RecordError::TooLong(0xffff))
        );
        let mut input: &[u8] = &[22, 2, 0, 0, 1];
        assert_eq!(
            RecordReader::default().next(&mut input),
            Err(RecordError::BadVersion(0x0200))
        );
    }

    #[test]
    fn detection() {
        assert!(looks_like_tls(&[22, 3, 1, 0x01, 0x00, 1, 0, 0, 0xfc]));
        assert!(!looks_like_tls(&[22, 3, 1, 0x01, 0x00, 2]), "ServerHello");
        assert!(
            !looks_like_tls(&[22, 3, 5, 0x01, 0x00, 1]),
            "unknown version"
        );
        assert!(
            !looks_like_tls(&[22, 3, 1, 0x00, 0x02, 1]),
            "too short for a hello"
        );
        assert!(!looks_like_tls(&[22, 3, 1]), "not enough bytes");
        assert!(
            !looks_like_tls(&[0x80, 0x2e, 0x01, 0x00, 0x02]),
            "SSLv2 hello"
        );
        assert!(!looks_like_tls(b"GET / HTTP/1.1\r\n"));
    }
}
