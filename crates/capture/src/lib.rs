//! Packet sources: the `capture` stage of the pipeline.
//!
//! Today: capture files. [`FileReader`] reads pcap (both byte orders,
//! microsecond and nanosecond, and the "modified" Kuznetzov variant) and
//! pcapng (several sections, interfaces and link types, any timestamp
//! resolution) and hands out [`Frame`]s that borrow from one reusable buffer,
//! so reading costs one copy from the kernel and no allocation per packet.
//!
//! The formats are small and the reader needs things a general-purpose crate
//! does not give together: zero-copy frames, a hard cap on every record (a
//! corrupt length must not become a gigabyte allocation), and "keep what was
//! readable, warn about the rest" instead of failing the whole file.

mod buffer;
mod pcap;
mod pcapng;
mod write;

use podwire_record::Timestamp;
use std::io::Read;

pub use buffer::MAX_RECORD_BYTES;
pub use write::{InterfaceInfo, PcapNgWriter};

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    /// DLT_RAW as most platforms number it in pcap files.
    pub const RAW_12: LinkType = LinkType(12);
    /// DLT_RAW as OpenBSD numbers it.
    pub const RAW_14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const PPP_ETHER: LinkType = LinkType(51);
    pub const RAW: LinkType = LinkType(101);
    pub const C_HDLC: LinkType = LinkType(104);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// Interface index within the file (pcapng), 0 for pcap.
    pub interface: u32,
    /// Length of the frame on the wire (may exceed `data.len()` under a snap length).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// What a pcapng interface statistics block said about one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    pub interface: u32,
    /// `isb_ifrecv`: packets the capture received.
    pub received: Option<u64>,
    /// `isb_ifdrop`: packets it dropped.
    pub dropped: Option<u64>,
    /// The block's comment (podwire's agent says why the capture ended).
    pub comment: Option<String>,
}

/// Why a file could not be read at all, or why reading stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("not a pcap or pcapng file ({0})")]
    NotACapture(Head),
    #[error("file ends inside its header")]
    ShortHeader,
    #[error("unsupported pcap version {0}.{1}")]
    UnsupportedVersion(u16, u16),
    /// The I/O error is shown here and is not also a `source()`: a chain
    /// printed whole (`anyhow`'s `{:#}`) would show it twice.
    #[error("read error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for CaptureError {
    fn from(e: std::io::Error) -> Self {
        CaptureError::Io(e)
    }
}

/// The first bytes of an input that is not a capture: up to four, and only
/// those it had (`echo hi` is three bytes, not three and a zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    bytes: [u8; 4],
    len: u8,
}

impl Head {
    fn new(data: &[u8]) -> Head {
        let len = data.len().min(4);
        let mut bytes = [0; 4];
        bytes[..len].copy_from_slice(&data[..len]);
        Head {
            bytes,
            len: len as u8,
        }
    }

    /// The bytes read.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// `starts with d4 c3 b2 a0`, or `3 bytes in all: 68 69 0a`.
impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.len {
            4 => f.write_str("starts with ")?,
            1 => f.write_str("1 byte in all: ")?,
            n => write!(f, "{n} bytes in all: ")?,
        }
        for (i, b) in self.as_bytes().iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{b:02x}")?;
        }
        Ok(())
    }
}

/// Something wrong inside a capture that is readable as a whole. Counted,
/// never fatal; when the record framing itself is broken, reading stops at
/// that point (the rest of the file cannot be trusted to be in step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// The file ends in the middle of a record.
    TruncatedRecord,
    /// A record claims a length over [`MAX_RECORD_BYTES`] or shorter than its own header.
    BadRecordLength,
    /// A pcapng packet names an interface that was never described.
    UnknownInterface,
    /// A pcapng block is malformed (bad trailer length, bad section header).
    BadBlock,
    /// Captured length larger than the original length; the captured length is used.
    CapturedExceedsOriginal,
}

impl Warning {
    /// A short stable name, for summaries and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Warning::TruncatedRecord => "truncated_record",
            Warning::BadRecordLength => "bad_record_length",
            Warning::UnknownInterface => "unknown_interface",
            Warning::BadBlock => "bad_block",
            Warning::CapturedExceedsOriginal => "captured_exceeds_original",
        }
    }
}

/// Counts of [`Warning`]s seen so far.
#[derive(Clone, Debug, Default)]
pub struct Warnings {
    counts: Vec<(Warning, u64)>,
}

impl Warnings {
    pub(crate) fn add(&mut self, w: Warning) {
        match self.counts.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((w, 1)),
        }
    }

    /// Each kind of warning seen, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (Warning, u64)> + '_ {
        self.counts.iter().copied()
    }

    /// Total warnings.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

enum Format {
    Pcap(pcap::PcapState),
    PcapNg(pcapng::PcapNgState),
}

/// Reads frames from a pcap or pcapng stream.
pub struct FileReader<R: Read> {
    buf: buffer::Buffer<R>,
    format: Format,
    warnings: Warnings,
    done: bool,
}

impl<R: Read> FileReader<R> {
    /// Reads the file header and recognises the format.
    pub fn new(reader: R) -> Result<Self, CaptureError> {
        let mut buf = buffer::Buffer::new(reader);
        if !buf.fill(4)? {
            let avail = buf.available();
            return Err(if avail.is_empty() {
                CaptureError::ShortHeader
            } else {
                CaptureError::NotACapture(Head::new(avail))
            });
        }
        let a = buf.available();
        let magic = [a[0], a[1], a[2], a[3]];
        let format = if magic == pcapng::SHB_TYPE {
            Format::PcapNg(pcapng::PcapNgState::new())
        } else if let Some(state) = pcap::PcapState::from_header(&mut buf, magic)? {
            Format::Pcap(state)
        } else {
            return Err(CaptureError::NotACapture(Head::new(&magic)));
        };
        Ok(FileReader {
            buf,
            format,
            warnings: Warnings::default(),
            done: false,
        })
    }

    /// The next frame, or `None` at the end of the file (or where the rest of
    /// the file could not be read: see [`warnings`](Self::warnings)). An I/O
    /// error is returned once; later calls return `None`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let res = match &mut self.format {
            Format::Pcap(state) => state.next(&mut self.buf, &mut self.warnings),
            Format::PcapNg(state) => state.next(&mut self.buf, &mut self.warnings),
        };
        match res {
            Ok(Some(f)) => Ok(Some(f)),
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The latest interface statistics block of each interface (pcapng).
    pub fn statistics(&self) -> &[InterfaceStats] {
        match &self.format {
            Format::PcapNg(state) => &state.stats,
            Format::Pcap(_) => &[],
        }
    }

    /// Hands TLS key log text that pcapng Decryption Secrets Blocks carry
    /// (secrets type `TLSK`) to `sink` as each block is read, so secrets
    /// arrive before the packets after them. Without a sink they are skipped.
    /// (The key log is a secret: the sink is the only place it goes.)
    pub fn on_tls_keylog(&mut self, sink: impl FnMut(&[u8]) + Send + 'static) {
        if let Format::PcapNg(state) = &mut self.format {
            state.keylog_sink = Some(Box::new(sink));
        }
    }

    /// Problems seen so far.
    pub fn warnings(&self) -> &Warnings {
        &self.warnings
    }

    /// Bytes consumed from the underlying reader so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.buf.consumed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_short_input_shows_only_the_bytes_it_has() {
        let e = FileReader::new(&b"hi\n"[..]).err().expect("not a capture");
        assert_eq!(
            e.to_string(),
            "not a pcap or pcapng file (3 bytes in all: 68 69 0a)"
        );
        let e = FileReader::new(&b"hello"[..]).err().expect("not a capture");
        assert_eq!(
            e.to_string(),
            "not a pcap or pcapng file (starts with 68 65 6c 6c)"
        );
    }

    #[test]
    fn decryption_secrets_reach_the_sink_before_the_packets() {
        // Made by `editcap --inject-secrets tls,tls13.keys` (see the
        // tls-decrypt crate's tests/data).
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tls-decrypt/tests/data");
        let file = std::fs::read(dir.join("tls13-dsb.pcapng")).expect("fixture");
        let keys = std::fs::read(dir.join("tls13.keys")).expect("fixture");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut r = FileReader::new(&file[..]).expect("pcapng");
        let s = std::sync::Arc::clone(&seen);
        r.on_tls_keylog(move |t| s.lock().unwrap().extend_from_slice(t));
        assert!(r.next_frame().unwrap().is_some());
        let got = seen.lock().unwrap().clone();
        assert!(!got.is_empty(), "secrets before the first packet");
        assert_eq!(got.trim_ascii_end(), keys.trim_ascii_end());
        let mut frames = 1;
        while r.next_frame().unwrap().is_some() {
            frames += 1;
        }
        assert!(frames > 50);
        assert_eq!(r.warnings().total(), 0);
    }

    #[test]
    fn an_io_error_is_said_once() {
        let e = CaptureError::from(std::io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "read error: disk on fire");
        assert!(e.source().is_none());
    }
}
