//! IPv4, IPv6 and what they carry: TCP, UDP, and tunnels back into IP or Ethernet.

use crate::defrag::{Defragmenter, FragKey};
use crate::link;
use crate::{Net, Packet, Skip, TcpHeader, Transport, MAX_DEPTH};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const TCP: u8 = 6;
const UDP: u8 = 17;
const IPIP: u8 = 4;
const IPV6_IN_IP: u8 = 41;
const GRE: u8 = 47;
/// IPv6 extension headers followed before giving up.
const MAX_EXT_HEADERS: usize = 1024;
const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// One network-layer payload: who sent it, its protocol, the bytes captured
/// and the length the headers claim.
struct IpPayload<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    data: &'a [u8],
    claimed: u32,
    /// The first fragment of a datagram that cannot be reassembled: its
    /// transport header is read, but Wireshark gives it no payload length
    /// and neither does podwire.
    first_fragment: bool,
}

/// Decodes from a network layer of kind `net` down to TCP/UDP, following
/// tunnels. `defrag` is taken (at most one reassembly per frame).
/// `missing`: bytes of the frame on the wire that the capture did not keep
/// (snap length); header lengths are checked against what was on the wire,
/// as Wireshark checks them against its "reported length".
pub(crate) fn network<'a>(
    mut defrag: Option<&'a mut Defragmenter>,
    ts_ns: u64,
    missing: u32,
    net: Net,
    data: &'a [u8],
) -> Result<Packet<'a>, Skip> {
    let mut net = net;
    let mut data = data;
    for _ in 0..MAX_DEPTH {
        let ipp = match net {
            Net::Ethernet => {
                (net, data) = link::ethernet(data)?;
                continue;
            }
            Net::IpAny => {
                net = match data.first().map(|b| b >> 4) {
                    Some(4) => Net::Ipv4,
                    Some(6) => Net::Ipv6,
                    Some(_) => return Err(Skip::NotIp),
                    None => return Err(Skip::Truncated),
                };
                continue;
            }
            Net::Ipv4 => ipv4(&mut defrag, ts_ns, missing, data)?,
            Net::Ipv6 => ipv6(&mut defrag, ts_ns, missing, data)?,
        };
        match ipp.proto {
            TCP => return tcp(ipp),
            UDP => {
                let pkt = udp(ipp)?;
                // VXLAN and Geneve carry Ethernet frames; Wireshark follows
                // them by port, so does podwire (to the inner flow).
                let (_, dp) = pkt.transport.ports();
                let fully_captured = pkt.payload.len() == pkt.payload_len as usize;
                if dp == VXLAN_PORT
                    && fully_captured
                    && pkt.payload.len() >= 8
                    && pkt.payload[0] & 0x08 != 0
                {
                    net = Net::Ethernet;
                    data = &pkt.payload[8..];
                    continue;
                }
                if dp == GENEVE_PORT && fully_captured {
                    if let Some((n, d)) = geneve(pkt.payload) {
                        net = n;
                        data = d;
                        continue;
                    }
                }
                return Ok(pkt);
            }
            IPIP => {
                net = Net::Ipv4;
                data = ipp.data;
            }
            IPV6_IN_IP => {
                net = Net::Ipv6;
                data = ipp.data;
            }
            GRE => {
                (net, data) = gre(ipp.data)?;
            }
            // ICMP errors quote the packet that caused them; Wireshark's
            // conversation statistics do not count those, and neither does
            // podwire.
            _ => return Err(Skip::OtherTransport),
        }
    }
    Err(Skip::TooDeep)
}

fn ipv4<'a>(
    defrag: &mut Option<&'a mut Defragmenter>,
    ts_ns: u64,
    missing: u32,
    d: &'a [u8],
) -> Result<IpPayload<'a>, Skip> {
    if d.len() < 20 {
        return Err(Skip::Truncated);
    }
    if d[0] >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let hl = (d[0] & 0x0f) as usize * 4;
    if hl < 20 {
        return Err(Skip::Malformed);
    }
    if d.len() < hl {
        return Err(Skip::Truncated);
    }
    let total = be16(d, 2) as usize;
    // A zero total length comes from segmentation offload on the capturing
    // host; Wireshark then takes the frame's length, and so do we.
    let total = if total == 0 { d.len() } else { total };
    if total < hl {
        return Err(Skip::Malformed);
    }
    // Everything the header claims was captured: only then can a fragment
    // join a reassembly (Wireshark's condition too).
    let whole = d.len() >= total;
    // A total length beyond the frame is a lie; Wireshark believes the frame.
    let total = total.min(d.len() + missing as usize);
    if total < hl {
        return Err(Skip::Truncated);
    }
    let src = IpAddr::V4(Ipv4Addr::new(d[12], d[13], d[14], d[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(d[16], d[17], d[18], d[19]));
    let proto = d[9];
    let data = &d[hl..total.min(d.len())];
    let claimed = (total - hl) as u32;
    let frag = be16(d, 6);
    let more = frag & 0x2000 != 0;
    let offset = (frag & 0x1fff) as u32 * 8;
    if more || offset != 0 {
        let key = FragKey::V4 {
            src,
            dst,
            proto,
            id: be16(d, 4),
        };
        let (proto, data, claimed, first_fragment) = reassemble(
            defrag, ts_ns, key, offset, more, data, whole, claimed, proto,
        )?;
        return Ok(IpPayload {
            src,
            dst,
            proto,
            data,
            claimed,
            first_fragment,
        });
    }
    Ok(IpPayload {
        src,
        dst,
        proto,
        data,
        claimed,
        first_fragment: false,
    })
}

#[allow(clippy::too_many_arguments)]
fn reassemble<'a>(
    defrag: &mut Option<&'a mut Defragmenter>,
    ts_ns: u64,
    key: FragKey,
    offset: u32,
    more: bool,
    data: &'a [u8],
    whole: bool,
    claimed: u32,
    proto: u8,
) -> Result<(u8, &'a [u8], u32, bool), Skip> {
    if !whole {
        // A fragment not captured whole cannot be put back together. Like
        // Wireshark, decode a first fragment as far as it goes.
        return if offset == 0 {
            Ok((proto, data, claimed, true))
        } else {
            Err(Skip::Truncated)
        };
    }
    let d = defrag.take().ok_or(Skip::TooDeep)?;
    let (proto, whole) = d
        .add(key, ts_ns, offset, more, proto, data)
        .ok_or(Skip::FragmentHeld)?;
    Ok((proto, whole, whole.len() as u32, false))
}

/// IPv6 extension headers that are skipped on the way to the payload.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTS: u8 = 60;

fn ipv6<'a>(
    defrag: &mut Option<&'a mut Defragmenter>,
    ts_ns: u64,
    missing: u32,
    d: &'a [u8],
) -> Result<IpPayload<'a>, Skip> {
    if d.len() < 40 {
        return Err(Skip::Truncated);
    }
    if d[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let plen = be16(d, 4) as usize;
    // Zero: a jumbogram, or offload; take what was captured.
    let plen = if plen == 0 { d.len() - 40 } else { plen };
    let declared = plen;
    // As for IPv4: no longer than the frame on the wire.
    let plen = plen.min(d.len() + missing as usize - 40);
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[8..24]);
    let src = IpAddr::V6(Ipv6Addr::from(a));
    a.copy_from_slice(&d[24..40]);
    let dst = IpAddr::V6(Ipv6Addr::from(a));
    let mut next = d[6];
    let mut off = 40usize;
    let end = (40 + plen).min(d.len());
    // Each extension header takes at least 8 bytes, so the payload length
    // bounds this loop; the cap is a second guard.
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            HOP_BY_HOP | ROUTING | DEST_OPTS | AUTH => {
                let h = d.get(off..off + 2).ok_or(Skip::Truncated)?;
                let len = if next == AUTH {
                    (h[1] as usize + 2) * 4
                } else {
                    (h[1] as usize + 1) * 8
                };
                next = h[0];
                off += len;
                if off > 40 + plen {
                    return Err(Skip::Malformed);
                }
            }
            FRAGMENT => {
                let h = d.get(off..off + 8).ok_or(Skip::Truncated)?;
                let nh = h[0];
                let fo = be16(h, 2);
                let offset = (fo & 0xfff8) as u32;
                let more = fo & 1 != 0;
                let id = be32(h, 4);
                off += 8;
                if off > 40 + plen {
                    return Err(Skip::Malformed);
                }
                if offset == 0 && !more {
                    // An atomic fragment (RFC 6946): nothing to reassemble.
                    next = nh;
                    continue;
                }
                let data = d.get(off..end).unwrap_or(&[]);
                let claimed = (40 + plen - off) as u32;
                let key = FragKey::V6 { src, dst, id };
                let whole = d.len() >= 40 + declared;
                let (proto, data, claimed, first_fragment) =
                    reassemble(defrag, ts_ns, key, offset, more, data, whole, claimed, nh)?;
                return Ok(IpPayload {
                    src,
                    dst,
                    proto,
                    data,
                    claimed,
                    first_fragment,
                });
            }
            _ => {
                let data = d.get(off..end).unwrap_or(&[]);
                return Ok(IpPayload {
                    src,
                    dst,
                    proto: next,
                    data,
                    claimed: (40 + plen - off) as u32,
                    first_fragment: false,
                });
            }
        }
    }
    Err(Skip::TooDeep)
}

fn tcp(ipp: IpPayload<'_>) -> Result<Packet<'_>, Skip> {
    let d = ipp.data;
    if d.len() < 20 {
        return Err(if ipp.claimed < 20 {
            Skip::Malformed
        } else {
            Skip::Truncated
        });
    }
    let hl = (d[12] >> 4) as usize * 4;
    if hl < 20 || hl as u32 > ipp.claimed {
        return Err(Skip::Malformed);
    }
    let h = TcpHeader {
        src_port: be16(d, 0),
        dst_port: be16(d, 2),
        seq: be32(d, 4),
        ack: be32(d, 8),
        flags: d[13],
        window: be16(d, 14),
    };
    let payload = d.get(hl..).unwrap_or(&[]);
    Ok(Packet {
        count_only: ipp.first_fragment,
        src: ipp.src,
        dst: ipp.dst,
        transport: Transport::Tcp(h),
        payload,
        payload_len: if ipp.first_fragment {
            0
        } else {
            ipp.claimed - hl as u32
        },
    })
}

fn udp(ipp: IpPayload<'_>) -> Result<Packet<'_>, Skip> {
    let d = ipp.data;
    if d.len() < 8 {
        return Err(if ipp.claimed < 8 {
            Skip::Malformed
        } else {
            Skip::Truncated
        });
    }
    let ulen = be16(d, 4) as u32;
    // A bogus UDP length: fall back to what IP says, as Wireshark does.
    let plen = if ulen >= 8 && ulen <= ipp.claimed {
        ulen - 8
    } else {
        ipp.claimed.saturating_sub(8)
    };
    let payload = &d[8..(8 + plen as usize).min(d.len())];
    Ok(Packet {
        count_only: ipp.first_fragment,
        src: ipp.src,
        dst: ipp.dst,
        transport: Transport::Udp {
            src_port: be16(d, 0),
            dst_port: be16(d, 2),
        },
        payload,
        payload_len: plen,
    })
}

/// GRE (RFC 2784/2890 and PPTP's enhanced GRE) and ERSPAN inside it.
fn gre(d: &[u8]) -> Result<(Net, &[u8]), Skip> {
    if d.len() < 4 {
        return Err(Skip::Truncated);
    }
    let flags = be16(d, 0);
    let proto = be16(d, 2);
    let version = flags & 7;
    let mut off = 4;
    if flags & 0x8000 != 0 {
        off += 4; // checksum + reserved
    }
    if flags & 0x2000 != 0 {
        off += 4; // key
    }
    let seq = flags & 0x1000 != 0;
    if seq {
        off += 4;
    }
    if version == 1 && flags & 0x0080 != 0 {
        off += 4; // PPTP acknowledgment number
    }
    let rest = d.get(off..).ok_or(Skip::Truncated)?;
    match proto {
        0x6558 => Ok((Net::Ethernet, rest)),
        0x880b => {
            let (n, r) = link::strip(9, rest)?;
            Ok((n, r))
        }
        // ERSPAN type II (with sequence) has an 8-byte header; type I none.
        0x88be => Ok((
            Net::Ethernet,
            if seq {
                rest.get(8..).ok_or(Skip::Truncated)?
            } else {
                rest
            },
        )),
        // ERSPAN type III: 12 bytes, plus 8 of platform subheader when O is set.
        0x22eb => {
            let h = rest.get(..12).ok_or(Skip::Truncated)?;
            let o = if h[11] & 1 != 0 { 20 } else { 12 };
            Ok((Net::Ethernet, rest.get(o..).ok_or(Skip::Truncated)?))
        }
        p => link::ethertype(p, rest),
    }
}

/// Geneve: an 8-byte header plus options, then an EtherType-named payload.
fn geneve(d: &[u8]) -> Option<(Net, &[u8])> {
    let optlen = (d.first()? & 0x3f) as usize * 4;
    let proto = u16::from_be_bytes([*d.get(2)?, *d.get(3)?]);
    let rest = d.get(8 + optlen..)?;
    match proto {
        0x6558 => Some((Net::Ethernet, rest)),
        p => link::ethertype(p, rest).ok(),
    }
}
