//! Writing pcapng: what `podwire sniff` streams and saves.
//!
//! pcapng rather than pcap because a capture of several pods needs one
//! interface per pod, each with its name (`if_name`), which pcap cannot
//! say; Wireshark and tshark show that name per packet. Timestamps are
//! nanoseconds (`if_tsresol` = 9), as the kernel gives them. Interface
//! statistics blocks carry the capture's received/dropped counts, which
//! Wireshark shows in the file's properties.
//!
//! Blocks are built in a reused buffer and handed to the writer whole, so
//! a stream cut between two writes always ends on a block boundary of what
//! was written. Little-endian throughout (readers take either order).

use std::io::{self, Write};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;
/// Options longer than this are cut (the format's limit is 65,535).
const MAX_OPTION: usize = 4096;

/// A pcapng writer with nanosecond interfaces.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    interfaces: u32,
    block: Vec<u8>,
}

/// What one interface is, for its description block.
#[derive(Clone, Debug)]
pub struct InterfaceInfo<'a> {
    /// pcap LINKTYPE of its packets (1 = Ethernet).
    pub linktype: u16,
    /// Bytes kept of each packet (0 = no limit).
    pub snaplen: u32,
    /// `if_name`: what Wireshark shows as the interface (`shop/web-1`).
    pub name: &'a str,
    /// `if_description`: where it was captured (`veth1a2b on node-3`).
    pub description: &'a str,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the section header, naming the application that wrote it.
    pub fn new(out: W, application: &str) -> io::Result<Self> {
        let mut w = PcapNgWriter {
            out,
            interfaces: 0,
            block: Vec::with_capacity(256),
        };
        w.begin(SHB);
        w.u32(BYTE_ORDER_MAGIC);
        w.u16(1); // major
        w.u16(0); // minor
        w.block.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
        w.option(SHB_USERAPPL, application.as_bytes());
        w.end_options();
        w.finish()?;
        Ok(w)
    }

    /// Describes the next interface; returns its id for [`Self::packet`].
    pub fn interface(&mut self, info: &InterfaceInfo<'_>) -> io::Result<u32> {
        self.begin(IDB);
        self.u16(info.linktype);
        self.u16(0); // reserved
        self.u32(info.snaplen);
        self.option(IF_NAME, info.name.as_bytes());
        if !info.description.is_empty() {
            self.option(IF_DESCRIPTION, info.description.as_bytes());
        }
        self.option(IF_TSRESOL, &[9]);
        self.end_options();
        self.finish()?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Writes one packet: `data` as captured, `orig_len` as on the wire,
    /// `ts_ns` nanoseconds since the Unix epoch.
    pub fn packet(
        &mut self,
        interface: u32,
        ts_ns: u64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.begin(EPB);
        self.u32(interface);
        self.u32((ts_ns >> 32) as u32);
        self.u32(ts_ns as u32);
        self.u32(len);
        self.u32(orig_len.max(len));
        self.block.extend_from_slice(data);
        self.pad();
        self.finish()
    }

    /// Writes an interface statistics block: packets the capture received
    /// and dropped on `interface` by `ts_ns`, and a comment (why it ended).
    pub fn statistics(
        &mut self,
        interface: u32,
        ts_ns: u64,
        received: u64,
        dropped: u64,
        comment: &str,
    ) -> io::Result<()> {
        self.begin(ISB);
        self.u32(interface);
        self.u32((ts_ns >> 32) as u32);
        self.u32(ts_ns as u32);
        if !comment.is_empty() {
            self.option(OPT_COMMENT, comment.as_bytes());
        }
        self.option(ISB_IFRECV, &received.to_le_bytes());
        self.option(ISB_IFDROP, &dropped.to_le_bytes());
        self.end_options();
        self.finish()
    }

    /// The writer underneath (to take what was written so far).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn begin(&mut self, ty: u32) {
        self.block.clear();
        self.u32(ty);
        self.u32(0); // length, set by `finish`
    }

    fn finish(&mut self) -> io::Result<()> {
        let total = self.block.len() + 4;
        let len = u32::try_from(total).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.block[4..8].copy_from_slice(&len.to_le_bytes());
        self.u32(len);
        self.out.write_all(&self.block)
    }

    fn option(&mut self, code: u16, value: &[u8]) {
        let value = &value[..value.len().min(MAX_OPTION)];
        self.u16(code);
        self.u16(value.len() as u16);
        self.block.extend_from_slice(value);
        self.pad();
    }

    fn end_options(&mut self) {
        self.u16(OPT_END);
        self.u16(0);
    }

    fn pad(&mut self) {
        while !self.block.len().is_multiple_of(4) {
            self.block.push(0);
        }
    }

    fn u16(&mut self, v: u16) {
        self.block.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.block.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileReader, LinkType};

    #[test]
    fn what_is_written_reads_back() {
        let mut w = PcapNgWriter::new(Vec::new(), "podwire test").unwrap();
        let a = w
            .interface(&InterfaceInfo {
                linktype: 1,
                snaplen: 96,
                name: "shop/web-1",
                description: "veth1 on node-a",
            })
            .unwrap();
        let b = w
            .interface(&InterfaceInfo {
                linktype: 1,
                snaplen: 0,
                name: "shop/db-0",
                description: "",
            })
            .unwrap();
        w.packet(a, 1_700_000_000_123_456_789, 100, &[1, 2, 3])
            .unwrap();
        w.packet(b, 1_700_000_001_000_000_001, 60, &[9; 60])
            .unwrap();
        w.statistics(a, 1_700_000_002_000_000_000, 1, 0, "duration reached")
            .unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len() % 4, 0);
        let mut r = FileReader::new(&bytes[..]).unwrap();
        let mut got = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            got.push((
                f.interface,
                f.ts.nanos(),
                f.orig_len,
                f.data.to_vec(),
                f.link,
            ));
        }
        assert_eq!(
            got,
            vec![
                (
                    0,
                    1_700_000_000_123_456_789,
                    100,
                    vec![1, 2, 3],
                    LinkType::ETHERNET
                ),
                (
                    1,
                    1_700_000_001_000_000_001,
                    60,
                    vec![9; 60],
                    LinkType::ETHERNET
                ),
            ]
        );
        assert_eq!(r.warnings().total(), 0);
        assert_eq!(
            r.statistics(),
            [crate::InterfaceStats {
                interface: 0,
                received: Some(1),
                dropped: Some(0),
                comment: Some("duration reached".into()),
            }]
        );
    }
}
