//! Walking the frames of one TPACKET_V3 ring block.
//!
//! A block is a descriptor (`tpacket_block_desc`) followed by variable-length
//! frames, each a `tpacket3_hdr`, a `sockaddr_ll` at `TPACKET_ALIGN(sizeof
//! (tpacket3_hdr))` and the packet bytes at `tp_mac`, chained by
//! `tp_next_offset`. The kernel wrote it, but we still treat it as untrusted
//! bytes: every field is read through bounds-checked slices, nothing is read
//! past the block's used length, and an offset that points anywhere odd ends
//! the block instead of being followed. That keeps this file free of `unsafe`
//! and unit-testable on synthetic blocks.

use std::mem::{offset_of, size_of};

/// pcap LINKTYPE of a frame that starts with an Ethernet header.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// pcap LINKTYPE of a frame that starts directly with an IPv4/IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// A link layer this crate does not translate; callers skip such frames.
pub const LINKTYPE_UNKNOWN: u32 = 0;

/// Where the `tpacket_hdr_v1` fields live inside the block descriptor.
const BH1: usize = offset_of!(libc::tpacket_block_desc, hdr);
pub(crate) const BLOCK_STATUS: usize = BH1 + offset_of!(libc::tpacket_hdr_v1, block_status);
const NUM_PKTS: usize = BH1 + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const FIRST_PKT: usize = BH1 + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
const BLK_LEN: usize = BH1 + offset_of!(libc::tpacket_hdr_v1, blk_len);
const DESC_LEN: usize = size_of::<libc::tpacket_block_desc>();

const HDR_LEN: usize = size_of::<libc::tpacket3_hdr>();
/// The kernel puts the `sockaddr_ll` right after the aligned frame header
/// (`TPACKET3_HDRLEN` is exactly that offset plus the address).
const SLL_OFFSET: usize = libc::TPACKET3_HDRLEN - size_of::<libc::sockaddr_ll>();
const SLL_LEN: usize = size_of::<libc::sockaddr_ll>();

/// One packet as the kernel saw it, borrowing the ring's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time, nanoseconds since the Unix epoch (wall clock).
    pub ts_ns: u64,
    /// Interface the packet was seen on (in the ring's namespace).
    pub ifindex: u32,
    /// `sll_pkttype`: 0 host, 1 broadcast, 2 multicast, 3 other host,
    /// 4 outgoing (`libc::PACKET_*`).
    pub pkttype: u8,
    /// pcap LINKTYPE of `data`: [`LINKTYPE_ETHERNET`], [`LINKTYPE_RAW`] or
    /// [`LINKTYPE_UNKNOWN`] (skip the frame).
    pub link: u32,
    /// Length of the packet on the wire (may exceed `data.len()`).
    pub orig_len: u32,
    /// The VLAN tag the kernel stripped from `data` (hardware offload), if any.
    pub vlan_tci: Option<u16>,
    /// The captured bytes, starting at the link-layer header.
    pub data: &'a [u8],
}

/// Iterator over the frames of one block, see [`Block::frames`].
///
/// [`Block::frames`]: crate::Block::frames
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    /// The block's used bytes (descriptor included).
    block: &'a [u8],
    next: usize,
    remaining: u32,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Reads `num_pkts` from a block descriptor.
pub(crate) fn num_pkts(block: &[u8]) -> u32 {
    u32_at(block, NUM_PKTS).unwrap_or(0)
}

impl<'a> Frames<'a> {
    /// Frames of the block whose memory (of the ring's block size) is
    /// `block`. Public so the walker can be fuzzed over arbitrary bytes: it
    /// must end the block, never read outside it, whatever the headers say.
    pub fn new(block: &'a [u8]) -> Frames<'a> {
        let empty = Frames {
            block: &[],
            next: 0,
            remaining: 0,
        };
        let (Some(count), Some(first), Some(used)) = (
            u32_at(block, NUM_PKTS),
            u32_at(block, FIRST_PKT),
            u32_at(block, BLK_LEN),
        ) else {
            return empty;
        };
        let used = (used as usize).min(block.len());
        let first = first as usize;
        if first < DESC_LEN {
            return empty;
        }
        Frames {
            block: &block[..used],
            next: first,
            remaining: count,
        }
    }

    /// The frame at `self.next`, or `None` if anything about it is out of bounds.
    fn parse(&self) -> Option<(Frame<'a>, u32)> {
        let b = self.block;
        let h = self.next;
        let hdr = b.get(h..h.checked_add(HDR_LEN)?)?;
        let next_offset = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_next_offset))?;
        let sec = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_sec))?;
        let nsec = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_nsec))?;
        let snaplen = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_snaplen))?;
        let len = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_len))?;
        let status = u32_at(hdr, offset_of!(libc::tpacket3_hdr, tp_status))?;
        let mac = u16_at(hdr, offset_of!(libc::tpacket3_hdr, tp_mac))?;
        let net = u16_at(hdr, offset_of!(libc::tpacket3_hdr, tp_net))?;
        let hv1 = offset_of!(libc::tpacket3_hdr, hv1);
        let tci = u32_at(
            hdr,
            hv1 + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci),
        )?;

        let sll_at = h.checked_add(SLL_OFFSET)?;
        let sll = b.get(sll_at..sll_at.checked_add(SLL_LEN)?)?;
        let ifindex = u32_at(sll, offset_of!(libc::sockaddr_ll, sll_ifindex))?;
        let hatype = u16_at(sll, offset_of!(libc::sockaddr_ll, sll_hatype))?;
        let pkttype = *sll.get(offset_of!(libc::sockaddr_ll, sll_pkttype))?;

        let start = h.checked_add(usize::from(mac))?;
        let data = b.get(start..start.checked_add(snaplen as usize)?)?;

        let link = match hatype {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => LINKTYPE_ETHERNET,
            _ if mac == net => LINKTYPE_RAW,
            _ => LINKTYPE_UNKNOWN,
        };
        let frame = Frame {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
            ifindex,
            pkttype,
            link,
            orig_len: len,
            vlan_tci: (status & libc::TP_STATUS_VLAN_VALID != 0).then_some(tci as u16),
            data,
        };
        Some((frame, next_offset))
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let Some((frame, next_offset)) = self.parse() else {
            self.remaining = 0;
            return None;
        };
        self.remaining -= 1;
        match self.next.checked_add(next_offset as usize) {
            // A zero offset marks the last frame; anything else must move forward.
            Some(next) if next_offset != 0 => self.next = next,
            _ => self.remaining = 0,
        }
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: usize = 4096;

    struct Fake {
        mac: u16,
        net: u16,
        hatype: u16,
        data: &'static [u8],
    }

    /// Lays frames out the way the kernel does: 16-byte aligned, chained.
    fn build(frames: &[Fake]) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        put32(&mut b, NUM_PKTS, frames.len() as u32);
        put32(&mut b, FIRST_PKT, DESC_LEN as u32);
        let mut at = DESC_LEN;
        for (i, f) in frames.iter().enumerate() {
            let total = (usize::from(f.mac) + f.data.len()).next_multiple_of(16);
            let next = if i + 1 == frames.len() {
                0
            } else {
                total as u32
            };
            put32(&mut b, at, next);
            put32(&mut b, at + 4, 1_700_000_000 + i as u32);
            put32(&mut b, at + 8, 5);
            put32(&mut b, at + 12, f.data.len() as u32);
            put32(&mut b, at + 16, f.data.len() as u32 + 100);
            put16(&mut b, at + 24, f.mac);
            put16(&mut b, at + 26, f.net);
            put32(&mut b, at + SLL_OFFSET + 4, 10 + i as u32);
            put16(&mut b, at + SLL_OFFSET + 8, f.hatype);
            b[at + SLL_OFFSET + 10] = 4;
            b[at + usize::from(f.mac)..][..f.data.len()].copy_from_slice(f.data);
            at += total;
        }
        put32(&mut b, BLK_LEN, at as u32);
        b
    }

    fn sample() -> Vec<u8> {
        build(&[
            Fake {
                mac: 80,
                net: 94,
                hatype: libc::ARPHRD_ETHER,
                data: b"ethernet frame",
            },
            Fake {
                mac: 80,
                net: 80,
                hatype: libc::ARPHRD_NONE,
                data: b"raw ip",
            },
            Fake {
                mac: 80,
                net: 96,
                hatype: libc::ARPHRD_IPGRE,
                data: b"gre header",
            },
        ])
    }

    #[test]
    fn walks_every_frame_with_its_metadata() {
        let b = sample();
        let frames: Vec<Frame> = Frames::new(&b).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].data, b"ethernet frame");
        assert_eq!(frames[0].link, LINKTYPE_ETHERNET);
        assert_eq!(frames[0].ts_ns, 1_700_000_000 * 1_000_000_000 + 5);
        assert_eq!(
            (frames[0].ifindex, frames[0].pkttype, frames[0].orig_len),
            (10, 4, 114)
        );
        assert_eq!(frames[1].link, LINKTYPE_RAW);
        assert_eq!(frames[2].link, LINKTYPE_UNKNOWN);
        assert_eq!(frames[2].ifindex, 12);
    }

    #[test]
    fn never_reads_past_the_used_length() {
        let mut b = sample();
        // Claim the block ends inside the second frame's data.
        let used = u32_at(&b, FIRST_PKT).unwrap() + 96 + 80 + 3;
        b[BLK_LEN..BLK_LEN + 4].copy_from_slice(&used.to_ne_bytes());
        assert_eq!(Frames::new(&b).count(), 1);
    }

    #[test]
    fn bad_offsets_end_the_block() {
        let mut b = sample();
        let first = DESC_LEN;
        // A next offset that points outside the block.
        b[first..first + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(Frames::new(&b).count(), 1);
        // More packets claimed than chained: stops at the last one.
        let mut b = sample();
        b[NUM_PKTS..NUM_PKTS + 4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(Frames::new(&b).count(), 3);
        // A first-packet offset inside the descriptor.
        let mut b = sample();
        b[FIRST_PKT..FIRST_PKT + 4].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(Frames::new(&b).count(), 0);
        // Snap length running past the end.
        let mut b = sample();
        b[first + 12..first + 16].copy_from_slice(&100_000u32.to_ne_bytes());
        assert_eq!(Frames::new(&b).count(), 0);
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..2000 {
            let mut b = if round % 2 == 0 {
                sample()
            } else {
                vec![0u8; BLOCK]
            };
            let flips = 1 + round % 64;
            for _ in 0..flips {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize >> 8) % 512;
                b[at] = state as u8;
            }
            let cut = (state as usize >> 20) % (BLOCK + 1);
            for f in Frames::new(&b[..cut]) {
                assert!(f.data.len() <= BLOCK);
            }
        }
        assert_eq!(Frames::new(&[]).count(), 0);
    }
}
