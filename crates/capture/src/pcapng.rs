//! pcapng: a sequence of typed blocks. Section headers fix the byte order,
//! interface descriptions fix each interface's link type and timestamp
//! resolution, and packets name their interface.

use crate::buffer::{Buffer, MAX_RECORD_BYTES};
use crate::{CaptureError, Frame, InterfaceStats, LinkType, Warning, Warnings};
use podwire_record::Timestamp;
use std::io::Read;

/// The section header block type, identical in both byte orders.
pub(crate) const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB: u32 = 1;
const OBSOLETE_PACKET: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const ISB: u32 = 5;
/// Decryption Secrets Block.
const DSB: u32 = 0x0000_000a;
/// DSB secrets type: TLS key log text (`TLSK`).
const SECRETS_TLS_KEYLOG: u32 = 0x544c_534b;

/// Where key log text found in the file goes.
pub(crate) type KeylogSink = Box<dyn FnMut(&[u8]) + Send>;
/// Interface statistics kept (the latest per interface).
const MAX_STATS: usize = 1024;
/// Longest ISB comment kept.
const MAX_COMMENT: usize = 1024;
const SHB: u32 = 0x0a0d_0d0a;
/// Interfaces per section we keep; more means a corrupt file.
const MAX_INTERFACES: usize = 65_536;

#[derive(Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units: 10^-n (decimal) or 2^-n (binary).
    resol: u8,
    /// Seconds added to every timestamp (if_tsoffset).
    offset: i64,
}

pub(crate) struct PcapNgState {
    big_endian: bool,
    in_section: bool,
    interfaces: Vec<Interface>,
    pub(crate) stats: Vec<InterfaceStats>,
    /// Receives TLS key log text from Decryption Secrets Blocks.
    pub(crate) keylog_sink: Option<KeylogSink>,
}

impl PcapNgState {
    pub fn new() -> Self {
        PcapNgState {
            big_endian: false,
            in_section: false,
            interfaces: Vec::new(),
            stats: Vec::new(),
            keylog_sink: None,
        }
    }

    fn u16(&self, b: &[u8], o: usize) -> u16 {
        let b = [
            b.get(o).copied().unwrap_or(0),
            b.get(o + 1).copied().unwrap_or(0),
        ];
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: &[u8], o: usize) -> u32 {
        let mut a = [0u8; 4];
        if let Some(s) = b.get(o..o + 4) {
            a.copy_from_slice(s);
        }
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    pub fn next<'b, R: Read>(
        &mut self,
        buf: &'b mut Buffer<R>,
        warnings: &mut Warnings,
    ) -> Result<Option<Frame<'b>>, CaptureError> {
        buf.release();
        loop {
            if !buf.fill(12)? {
                if !buf.available().is_empty() {
                    warnings.add(Warning::TruncatedRecord);
                }
                return Ok(None);
            }
            let head = buf.available();
            if head[0..4] == SHB_TYPE {
                // The byte order of a section is only known from its header.
                let bom = [head[8], head[9], head[10], head[11]];
                if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                    self.big_endian = false;
                } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                    self.big_endian = true;
                } else {
                    warnings.add(Warning::BadBlock);
                    return Ok(None);
                }
                self.in_section = true;
                self.interfaces.clear();
            } else if !self.in_section {
                warnings.add(Warning::BadBlock);
                return Ok(None);
            }
            let head = buf.available();
            let btype = self.u32(head, 0);
            let len = self.u32(head, 4) as usize;
            if !(12..=MAX_RECORD_BYTES).contains(&len) {
                warnings.add(Warning::BadRecordLength);
                return Ok(None);
            }
            // Blocks are padded to 32 bits; tolerate writers that forgot.
            if !buf.fill(len)? {
                warnings.add(Warning::TruncatedRecord);
                return Ok(None);
            }
            let block = &buf.available()[..len];
            if self.u32(block, len - 4) as usize != len {
                warnings.add(Warning::BadBlock);
            }
            let body = &block[8..len - 4];
            match btype {
                SHB => {}
                IDB if self.interfaces.len() < MAX_INTERFACES => {
                    let iface = self.parse_idb(body);
                    self.interfaces.push(iface);
                }
                ISB => self.parse_isb(body),
                DSB => self.parse_dsb(body, warnings),
                EPB | OBSOLETE_PACKET | SPB => {
                    if let Some((frame_range, meta)) = self.parse_packet(btype, body, warnings) {
                        let (ts, link, interface, orig_len) = meta;
                        let data = buf.hand_out(len, 8 + frame_range.start..8 + frame_range.end);
                        return Ok(Some(Frame {
                            ts,
                            link,
                            interface,
                            orig_len,
                            data,
                        }));
                    }
                }
                _ => {}
            }
            buf.consume(len);
        }
    }

    /// A decryption secrets block: TLS key log text goes to the sink, before
    /// any packet after it is handed out (other secret types are not used).
    fn parse_dsb(&mut self, body: &[u8], warnings: &mut Warnings) {
        if self.u32(body, 0) != SECRETS_TLS_KEYLOG {
            return;
        }
        let len = self.u32(body, 4) as usize;
        let Some(text) = body.get(8..8usize.saturating_add(len)) else {
            warnings.add(Warning::BadBlock);
            return;
        };
        if let Some(sink) = self.keylog_sink.as_mut() {
            sink(text);
        }
    }

    /// An interface statistics block: the writer's received and dropped
    /// counts (and its comment), the latest kept per interface.
    fn parse_isb(&mut self, body: &[u8]) {
        if body.len() < 12 {
            return;
        }
        let mut st = InterfaceStats {
            interface: self.u32(body, 0),
            ..InterfaceStats::default()
        };
        let mut o = 12;
        while o + 4 <= body.len() {
            let code = self.u16(body, o);
            let olen = self.u16(body, o + 2) as usize;
            let val = body.get(o + 4..o + 4 + olen).unwrap_or(&[]);
            let u64_of = |v: &[u8]| {
                if self.big_endian {
                    (self.u32(v, 0) as u64) << 32 | self.u32(v, 4) as u64
                } else {
                    (self.u32(v, 4) as u64) << 32 | self.u32(v, 0) as u64
                }
            };
            match code {
                0 => break,
                1 => {
                    let text = String::from_utf8_lossy(&val[..val.len().min(MAX_COMMENT)]);
                    st.comment = Some(text.into_owned());
                }
                4 if olen == 8 => st.received = Some(u64_of(val)),
                5 if olen == 8 => st.dropped = Some(u64_of(val)),
                _ => {}
            }
            o += 4 + olen.div_ceil(4) * 4;
        }
        let kept = self.stats.len();
        match self.stats.iter_mut().find(|s| s.interface == st.interface) {
            Some(old) => *old = st,
            None if kept < MAX_STATS => self.stats.push(st),
            None => {}
        }
    }

    fn parse_idb(&self, body: &[u8]) -> Interface {
        let mut iface = Interface {
            link: LinkType(self.u16(body, 0) as u32),
            resol: 6,
            offset: 0,
        };
        // Options: code (2), length (2), value padded to 4.
        let mut o = 8;
        while o + 4 <= body.len() {
            let code = self.u16(body, o);
            let olen = self.u16(body, o + 2) as usize;
            let val = body.get(o + 4..o + 4 + olen).unwrap_or(&[]);
            match code {
                0 => break,
                9 if olen >= 1 => iface.resol = val[0],
                14 if olen >= 8 => {
                    let hi = self.u32(val, 0) as u64;
                    let lo = self.u32(val, 4) as u64;
                    // The 64-bit option value is in the section's byte order.
                    let v = if self.big_endian {
                        (hi << 32) | lo
                    } else {
                        (self.u32(val, 4) as u64) << 32 | self.u32(val, 0) as u64
                    };
                    iface.offset = v as i64;
                }
                _ => {}
            }
            o += 4 + olen.div_ceil(4) * 4;
        }
        iface
    }

    #[allow(clippy::type_complexity)]
    fn parse_packet(
        &self,
        btype: u32,
        body: &[u8],
        warnings: &mut Warnings,
    ) -> Option<(std::ops::Range<usize>, (Timestamp, LinkType, u32, u32))> {
        let (iface_id, ts_raw, caplen, orig, data_off) = match btype {
            EPB => {
                if body.len() < 20 {
                    warnings.add(Warning::BadBlock);
                    return None;
                }
                let ts = ((self.u32(body, 4) as u64) << 32) | self.u32(body, 8) as u64;
                (
                    self.u32(body, 0),
                    Some(ts),
                    self.u32(body, 12) as usize,
                    self.u32(body, 16),
                    20,
                )
            }
            OBSOLETE_PACKET => {
                if body.len() < 20 {
                    warnings.add(Warning::BadBlock);
                    return None;
                }
                let ts = ((self.u32(body, 4) as u64) << 32) | self.u32(body, 8) as u64;
                (
                    self.u16(body, 0) as u32,
                    Some(ts),
                    self.u32(body, 12) as usize,
                    self.u32(body, 16),
                    20,
                )
            }
            _ => {
                // Simple packet block: no interface id, no timestamp; the
                // captured length is what the block holds.
                if body.len() < 4 {
                    warnings.add(Warning::BadBlock);
                    return None;
                }
                let orig = self.u32(body, 0);
                let cap = (body.len() - 4).min(orig as usize);
                (0, None, cap, orig, 4)
            }
        };
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            warnings.add(Warning::UnknownInterface);
            return None;
        };
        let caplen = if data_off + caplen > body.len() {
            warnings.add(Warning::BadBlock);
            body.len() - data_off
        } else {
            caplen
        };
        if (orig as usize) < caplen {
            warnings.add(Warning::CapturedExceedsOriginal);
        }
        let ts = ts_raw.map(|t| to_timestamp(t, iface)).unwrap_or_default();
        Some((
            data_off..data_off + caplen,
            (ts, iface.link, iface_id, orig.max(caplen as u32)),
        ))
    }
}

/// Converts a raw pcapng timestamp in the interface's units to nanoseconds.
fn to_timestamp(raw: u64, iface: &Interface) -> Timestamp {
    let r = iface.resol;
    let nanos: u128 = if r & 0x80 == 0 {
        let exp = (r & 0x7f) as u32;
        if exp <= 9 {
            raw as u128 * 10u128.pow(9 - exp)
        } else {
            raw as u128 / 10u128.pow((exp - 9).min(38))
        }
    } else {
        let exp = (r & 0x7f) as u32;
        ((raw as u128) * 1_000_000_000) >> exp.min(127)
    };
    let with_offset = nanos as i128 + iface.offset as i128 * 1_000_000_000;
    Timestamp(with_offset.clamp(0, u64::MAX as i128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsecond_default_resolution() {
        let i = Interface {
            link: LinkType::ETHERNET,
            resol: 6,
            offset: 0,
        };
        assert_eq!(to_timestamp(1_500_000, &i), Timestamp(1_500_000_000));
    }

    #[test]
    fn binary_resolution() {
        let i = Interface {
            link: LinkType::ETHERNET,
            resol: 0x80 | 10,
            offset: 0,
        };
        assert_eq!(to_timestamp(1024, &i), Timestamp(1_000_000_000));
    }

    #[test]
    fn absurd_resolution_does_not_overflow() {
        let i = Interface {
            link: LinkType::ETHERNET,
            resol: 0x7f,
            offset: i64::MIN,
        };
        assert_eq!(to_timestamp(u64::MAX, &i), Timestamp(0));
    }
}
