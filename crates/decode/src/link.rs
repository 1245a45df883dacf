//! Link layers: find where the network layer starts and what it is.

use crate::{Net, Skip, MAX_DEPTH};

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE: u16 = 0x8864;
/// IEEE 802.1BR E-Tag: 6 bytes of tag, then the EtherType.
const ETH_ETAG: u16 = 0x893f;

fn be16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
}

/// Strips the link header of a frame of link type `link`.
pub(crate) fn strip(link: u32, frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    match link {
        1 => Ok((Net::Ethernet, frame)),
        // BSD null/loopback: a 4-byte address family in the capturing host's
        // byte order (0); OpenBSD loop: network byte order (108).
        0 | 108 => {
            let fam = frame.get(..4).ok_or(Skip::Truncated)?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let fam = if le < 256 { le } else { be };
            let net = match fam {
                2 => Net::Ipv4,
                // AF_INET6 differs by OS: Linux 10, BSDs 24, FreeBSD 28, macOS 30.
                10 | 24 | 28 | 30 => Net::Ipv6,
                _ => return Err(Skip::NotIp),
            };
            Ok((net, &frame[4..]))
        }
        // Raw IP under its several numbers.
        12 | 14 | 101 => Ok((Net::IpAny, frame)),
        228 => Ok((Net::Ipv4, frame)),
        229 => Ok((Net::Ipv6, frame)),
        // PPP, PPP in HDLC framing, PPPoE payload, Cisco HDLC.
        9 | 50 | 51 => ppp(frame),
        104 => {
            let proto = be16(frame, 2).ok_or(Skip::Truncated)?;
            ethertype(proto, frame.get(4..).ok_or(Skip::Truncated)?)
        }
        113 => {
            // Linux cooked v1: 16-byte header, protocol last.
            let proto = be16(frame, 14).ok_or(Skip::Truncated)?;
            ethertype(proto, frame.get(16..).ok_or(Skip::Truncated)?)
        }
        276 => {
            // Linux cooked v2: 20-byte header, protocol first.
            let proto = be16(frame, 0).ok_or(Skip::Truncated)?;
            ethertype(proto, frame.get(20..).ok_or(Skip::Truncated)?)
        }
        178 => juniper_ether(frame),
        239 => nflog(frame),
        // IP over InfiniBand: 40 bytes of addresses, then a 2-byte
        // EtherType and 2 reserved bytes (tcpdump's IPOIB_HDRLEN, 44).
        242 => {
            let proto = be16(frame, 40).ok_or(Skip::Truncated)?;
            ethertype(proto, frame.get(44..).ok_or(Skip::Truncated)?)
        }
        _ => Err(Skip::UnsupportedLink),
    }
}

/// Linux NFLOG: a 4-byte header (address family first), then TLVs whose
/// length and type are in host byte order (little-endian in practice) and
/// padded to 4 bytes; TLV type 9 holds the packet, starting at its IP header.
fn nflog(frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let family = *frame.first().ok_or(Skip::Truncated)?;
    let net = match family {
        2 => Net::Ipv4,
        10 => Net::Ipv6,
        _ => return Err(Skip::NotIp),
    };
    let mut off = 4;
    while let Some(h) = frame.get(off..off + 4) {
        let len = u16::from_le_bytes([h[0], h[1]]) as usize;
        let kind = u16::from_le_bytes([h[2], h[3]]);
        if len < 4 {
            return Err(Skip::Malformed);
        }
        if kind == 9 {
            // The value may be cut by the snap length: take what is there.
            let end = (off + len).min(frame.len());
            return Ok((net, &frame[off + 4..end]));
        }
        off += len.div_ceil(4) * 4;
    }
    Err(Skip::Truncated)
}

/// Juniper's Ethernet capture header: "MGC", a flags byte, optional
/// extension TLVs with a 2-byte length, then Ethernet (or IP with no L2).
fn juniper_ether(frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let h = frame.get(..4).ok_or(Skip::Truncated)?;
    if &h[..3] != b"MGC" {
        return Err(Skip::Malformed);
    }
    let flags = h[3];
    let mut off = 4;
    if flags & 0x80 != 0 {
        // Extensions present: a 2-byte length (host order of the router,
        // big-endian in practice) and that many bytes of TLVs.
        off += 2 + be16(frame, 4).ok_or(Skip::Truncated)? as usize;
    }
    let rest = frame.get(off..).ok_or(Skip::Truncated)?;
    if flags & 0x02 != 0 {
        // No layer 2 header: a 4-byte cookie-free IP packet follows.
        return Ok((Net::IpAny, rest));
    }
    Ok((Net::Ethernet, rest))
}

/// PPP: optional HDLC address/control bytes, then a 1- or 2-byte protocol.
fn ppp(frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let mut b = frame;
    if b.first() == Some(&0xff) && b.get(1) == Some(&0x03) {
        b = &b[2..];
    }
    let first = *b.first().ok_or(Skip::Truncated)?;
    // Protocol field compression: an odd first byte is a 1-byte protocol.
    let (proto, rest) = if first & 1 == 1 {
        (first as u16, &b[1..])
    } else {
        (be16(b, 0).ok_or(Skip::Truncated)?, &b[2..])
    };
    match proto {
        0x0021 => Ok((Net::Ipv4, rest)),
        0x0057 => Ok((Net::Ipv6, rest)),
        0x0281 | 0x0283 => mpls(rest),
        _ => Err(Skip::NotIp),
    }
}

/// Maps an EtherType to the network layer (following VLAN, MPLS, PPPoE).
pub(crate) fn ethertype(proto: u16, data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let mut proto = proto;
    let mut data = data;
    for _ in 0..MAX_DEPTH {
        match proto {
            ETH_IPV4 => return Ok((Net::Ipv4, data)),
            ETH_IPV6 => return Ok((Net::Ipv6, data)),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                proto = be16(data, 2).ok_or(Skip::Truncated)?;
                data = &data[4..];
            }
            ETH_ETAG => {
                proto = be16(data, 6).ok_or(Skip::Truncated)?;
                data = &data[8..];
            }
            ETH_MPLS | ETH_MPLS_MC => return mpls(data),
            ETH_PPPOE => {
                // PPPoE session: 6-byte header, then the PPP protocol.
                let rest = data.get(6..).ok_or(Skip::Truncated)?;
                return ppp(rest);
            }
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::TooDeep)
}

/// Ethernet II (and 802.3 with LLC/SNAP).
pub(crate) fn ethernet(frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let proto = be16(frame, 12).ok_or(Skip::Truncated)?;
    if proto <= 1500 {
        // 802.3 length field: only SNAP-encapsulated EtherTypes carry IP here.
        let llc = frame.get(14..22).ok_or(Skip::Truncated)?;
        if llc[0] == 0xaa && llc[1] == 0xaa && llc[2] == 0x03 {
            let p = u16::from_be_bytes([llc[6], llc[7]]);
            return ethertype(p, &frame[22..]);
        }
        return Err(Skip::NotIp);
    }
    ethertype(proto, &frame[14..])
}

/// MPLS: pop labels to the bottom of the stack; the payload's version nibble
/// says IPv4 or IPv6 (as Wireshark guesses, without a control word).
fn mpls(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let mut d = data;
    for _ in 0..MAX_DEPTH {
        let e = d.get(..4).ok_or(Skip::Truncated)?;
        let bottom = e[2] & 1 == 1;
        d = &d[4..];
        if bottom {
            return match d.first().map(|b| b >> 4) {
                Some(4) => Ok((Net::Ipv4, d)),
                Some(6) => Ok((Net::Ipv6, d)),
                Some(_) => Err(Skip::NotIp),
                None => Err(Skip::Truncated),
            };
        }
    }
    Err(Skip::TooDeep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qinq_tags_are_followed() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00, 0x45]);
        let (net, rest) = ethernet(&f).unwrap();
        assert_eq!(net, Net::Ipv4);
        assert_eq!(rest, &[0x45]);
    }

    #[test]
    fn bsd_null_families() {
        assert_eq!(strip(0, &[2, 0, 0, 0, 0x45]).unwrap().0, Net::Ipv4);
        assert_eq!(strip(0, &[0, 0, 0, 30, 0x60]).unwrap().0, Net::Ipv6);
        assert_eq!(strip(108, &[0, 0, 0, 24, 0x60]).unwrap().0, Net::Ipv6);
    }

    /// tcpdump-tests nflog.pcap: DNS answers logged by iptables NFLOG.
    #[test]
    fn nflog_payload_tlv_is_found() {
        let mut f = vec![2, 0, 0, 0x14];
        f.extend_from_slice(&[8, 0, 1, 0, 0x08, 0, 1, 0]); // packet header TLV
        f.extend_from_slice(&[5, 0, 0x0a, 0, 0xaa, 0, 0, 0]); // odd length, padded
        f.extend_from_slice(&[6, 0, 9, 0, 0x45, 0x00, 0, 0]); // payload TLV
        assert_eq!(strip(239, &f).unwrap(), (Net::Ipv4, &[0x45, 0x00][..]));
    }

    #[test]
    fn sll2_protocol_comes_first() {
        let mut f = vec![0x86, 0xdd];
        f.extend_from_slice(&[0; 18]);
        f.push(0x60);
        assert_eq!(strip(276, &f).unwrap(), (Net::Ipv6, &[0x60][..]));
    }

    #[test]
    fn short_frames_are_truncated_not_panics() {
        for link in [
            0, 1, 9, 50, 101, 104, 108, 113, 178, 228, 229, 239, 242, 276,
        ] {
            for n in 0..24 {
                let f = vec![0x81; n];
                let _ = strip(link, &f).and_then(|(net, d)| {
                    if net == Net::Ethernet {
                        ethernet(d)
                    } else {
                        Ok((net, d))
                    }
                });
            }
        }
    }
}
