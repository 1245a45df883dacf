//! The classic libpcap format: a 24-byte file header, then records of a
//! 16-byte header and the captured bytes.

use crate::buffer::{Buffer, MAX_RECORD_BYTES};
use crate::{CaptureError, Frame, LinkType, Warning, Warnings};
use podwire_record::Timestamp;
use std::io::Read;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's patched libpcap: 8 more bytes per record header.
const MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;

pub(crate) struct PcapState {
    big_endian: bool,
    nanos: bool,
    record_header: usize,
    link: LinkType,
}

impl PcapState {
    /// Recognises a pcap file header. `Ok(None)`: not pcap.
    pub fn from_header<R: Read>(
        buf: &mut Buffer<R>,
        magic: [u8; 4],
    ) -> Result<Option<Self>, CaptureError> {
        let (big_endian, m) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (m @ (MAGIC_USEC | MAGIC_NSEC | MAGIC_KUZNETZOV), _) => (false, m),
            (_, m @ (MAGIC_USEC | MAGIC_NSEC | MAGIC_KUZNETZOV)) => (true, m),
            _ => return Ok(None),
        };
        if !buf.fill(24)? {
            return Err(CaptureError::ShortHeader);
        }
        let h = buf.available();
        let rd16 = |o: usize| {
            let b = [h[o], h[o + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let rd32 = |o: usize| {
            let b = [h[o], h[o + 1], h[o + 2], h[o + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (major, minor) = (rd16(4), rd16(6));
        if major != 2 {
            return Err(CaptureError::UnsupportedVersion(major, minor));
        }
        // The upper bits of the link type field carry FCS information.
        let link = LinkType(rd32(20) & 0x03ff_ffff);
        buf.consume(24);
        Ok(Some(PcapState {
            big_endian,
            nanos: m == MAGIC_NSEC,
            record_header: if m == MAGIC_KUZNETZOV { 24 } else { 16 },
            link,
        }))
    }

    pub fn next<'b, R: Read>(
        &mut self,
        buf: &'b mut Buffer<R>,
        warnings: &mut Warnings,
    ) -> Result<Option<Frame<'b>>, CaptureError> {
        buf.release();
        let hl = self.record_header;
        if !buf.fill(hl)? {
            if !buf.available().is_empty() {
                warnings.add(Warning::TruncatedRecord);
            }
            return Ok(None);
        }
        let h = buf.available();
        let rd32 = |o: usize| {
            let b = [h[o], h[o + 1], h[o + 2], h[o + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, incl, orig) = (rd32(0), rd32(4), rd32(8) as usize, rd32(12));
        if incl > MAX_RECORD_BYTES {
            warnings.add(Warning::BadRecordLength);
            return Ok(None);
        }
        if !buf.fill(hl + incl)? {
            warnings.add(Warning::TruncatedRecord);
            return Ok(None);
        }
        let nanos = if self.nanos {
            frac as u64
        } else {
            frac as u64 * 1000
        };
        // A corrupt fraction (>= 1 s) just carries into the seconds.
        let ts = Timestamp((secs as u64) * 1_000_000_000 + nanos);
        if (orig as usize) < incl {
            // Wireshark then takes the captured length as the frame length.
            warnings.add(Warning::CapturedExceedsOriginal);
        }
        let data = buf.hand_out(hl + incl, hl..hl + incl);
        Ok(Some(Frame {
            ts,
            link: self.link,
            interface: 0,
            orig_len: orig.max(incl as u32),
            data,
        }))
    }
}
