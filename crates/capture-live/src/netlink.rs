//! rtnetlink link messages (`RTM_NEWLINK`/`RTM_DELLINK`), parsed by hand.
//!
//! We need one message type and six attributes, so a small bounds-checked
//! reader over byte slices replaces netlink-packet-route and its dependency
//! tree. Everything here is a pure function of the bytes: no socket, no
//! `unsafe`, and any input (truncated, garbage, from a future kernel) gives a
//! value or a [`ParseError`], never a panic.

use std::mem::{offset_of, size_of};

/// One network interface as rtnetlink describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index, unique within the namespace.
    pub index: u32,
    /// Interface name (`eth0`, `veth1a2b3c`); not unique over time.
    pub name: String,
    /// `IFLA_INFO_KIND` (`veth`, `bridge`, `vxlan`, ...); `None` for physical
    /// devices and loopback.
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier present (`IFF_LOWER_UP` or `IFF_RUNNING`).
    pub running: bool,
    /// `ARPHRD_*` hardware type.
    pub hatype: u16,
    /// MTU in bytes (0 if the kernel did not say).
    pub mtu: u32,
    /// Index of the bridge or bond this interface is enslaved to.
    pub master: Option<u32>,
    /// For a veth: the namespace id (as seen from this namespace) holding its peer.
    pub link_netnsid: Option<i32>,
    /// `IFLA_LINK`: for a veth, its peer's index (in the namespace
    /// `link_netnsid` names, or this one); for a VLAN, its parent.
    pub link: Option<u32>,
}

/// What one rtnetlink link message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkMessage {
    /// The interface exists in this state (new or changed).
    New(Link),
    /// The interface is gone.
    Deleted { index: u32, name: String },
}

/// Why a netlink message could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the headers it must carry.
    #[error("message truncated")]
    Truncated,
    /// `nlmsg_len` is below the header size or beyond the bytes received.
    #[error("netlink length {0} does not fit the buffer")]
    BadLength(u32),
    /// An attribute's length is below its header or runs past its container.
    #[error("attribute overruns its message")]
    BadAttribute,
    /// A fixed-size attribute has the wrong size.
    #[error("attribute {kind} has {len} bytes")]
    BadAttributeSize { kind: u16, len: usize },
    /// A new link without a name.
    #[error("link message without IFLA_IFNAME")]
    MissingName,
    /// `ifi_index` is not a valid interface index.
    #[error("interface index {0} is not positive")]
    BadIndex(i32),
}

pub(crate) const NLMSG_HDRLEN: usize = size_of::<libc::nlmsghdr>();
const IFINFO_LEN: usize = size_of::<libc::ifinfomsg>();
const NLA_TYPE_MASK: u16 = libc::NLA_TYPE_MASK as u16;

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
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

/// The fixed header of one netlink message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
}

/// Splits one received datagram into its messages (header, whole message).
/// A message with an impossible length ends the walk with an error.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Result<(Header, &[u8]), ParseError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = header(rest).map(|(h, len)| {
            let msg = &rest[..len];
            rest = rest.get(align4(len)..).unwrap_or(&[]);
            (h, msg)
        });
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

/// Reads the header of the message at the start of `buf`, with its length.
fn header(buf: &[u8]) -> Result<(Header, usize), ParseError> {
    let len = u32_at(buf, offset_of!(libc::nlmsghdr, nlmsg_len)).ok_or(ParseError::Truncated)?;
    let ty = u16_at(buf, offset_of!(libc::nlmsghdr, nlmsg_type)).ok_or(ParseError::Truncated)?;
    let flags =
        u16_at(buf, offset_of!(libc::nlmsghdr, nlmsg_flags)).ok_or(ParseError::Truncated)?;
    let seq = u32_at(buf, offset_of!(libc::nlmsghdr, nlmsg_seq)).ok_or(ParseError::Truncated)?;
    let n = len as usize;
    if n < NLMSG_HDRLEN || n > buf.len() {
        return Err(ParseError::BadLength(len));
    }
    Ok((Header { ty, flags, seq }, n))
}

/// Walks the attributes in `buf`: (type without flag bits, payload).
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), ParseError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (Some(len), Some(kind)) = (u16_at(rest, 0), u16_at(rest, 2)) else {
            rest = &[];
            return Some(Err(ParseError::BadAttribute));
        };
        let len = usize::from(len);
        if len < 4 || len > rest.len() {
            rest = &[];
            return Some(Err(ParseError::BadAttribute));
        }
        let payload = &rest[4..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok((kind & NLA_TYPE_MASK, payload)))
    })
}

fn attr_u32(kind: u16, payload: &[u8]) -> Result<u32, ParseError> {
    let bytes: [u8; 4] = payload
        .try_into()
        .map_err(|_| ParseError::BadAttributeSize {
            kind,
            len: payload.len(),
        })?;
    Ok(u32::from_ne_bytes(bytes))
}

/// A NUL-terminated (or not) string attribute; names need not be UTF-8.
fn attr_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Parses one whole netlink message (header included). `Ok(None)` for
/// messages that are not about a link of this namespace's link table: other
/// types, and per-family messages such as the bridge's `AF_BRIDGE` port
/// notifications (whose `RTM_DELLINK` means "left the bridge", not "gone").
pub fn parse_link_message(msg: &[u8]) -> Result<Option<LinkMessage>, ParseError> {
    let (h, len) = header(msg)?;
    let msg = &msg[..len];
    if h.ty != libc::RTM_NEWLINK && h.ty != libc::RTM_DELLINK {
        return Ok(None);
    }
    let ifi = msg
        .get(NLMSG_HDRLEN..NLMSG_HDRLEN + IFINFO_LEN)
        .ok_or(ParseError::Truncated)?;
    let family = *ifi
        .get(offset_of!(libc::ifinfomsg, ifi_family))
        .ok_or(ParseError::Truncated)?;
    if i32::from(family) != libc::AF_UNSPEC {
        return Ok(None);
    }
    let hatype = u16_at(ifi, offset_of!(libc::ifinfomsg, ifi_type)).ok_or(ParseError::Truncated)?;
    let index =
        u32_at(ifi, offset_of!(libc::ifinfomsg, ifi_index)).ok_or(ParseError::Truncated)? as i32;
    let flags = u32_at(ifi, offset_of!(libc::ifinfomsg, ifi_flags)).ok_or(ParseError::Truncated)?;
    let index = u32::try_from(index)
        .ok()
        .filter(|&i| i > 0)
        .ok_or(ParseError::BadIndex(index))?;

    let mut link = Link {
        index,
        name: String::new(),
        kind: None,
        up: flags & libc::IFF_UP as u32 != 0,
        running: flags & (libc::IFF_LOWER_UP | libc::IFF_RUNNING) as u32 != 0,
        hatype,
        mtu: 0,
        master: None,
        link_netnsid: None,
        link: None,
    };
    let mut named = false;
    for attr in attrs(&msg[NLMSG_HDRLEN + IFINFO_LEN..]) {
        let (kind, payload) = attr?;
        match kind {
            libc::IFLA_IFNAME => {
                link.name = attr_string(payload);
                named = true;
            }
            libc::IFLA_MTU => link.mtu = attr_u32(kind, payload)?,
            libc::IFLA_MASTER => link.master = Some(attr_u32(kind, payload)?),
            libc::IFLA_LINK_NETNSID => link.link_netnsid = Some(attr_u32(kind, payload)? as i32),
            // 0 means "none" (a veth whose peer is gone).
            libc::IFLA_LINK => link.link = Some(attr_u32(kind, payload)?).filter(|&i| i > 0),
            libc::IFLA_LINKINFO => {
                for info in attrs(payload) {
                    let (info_kind, info_payload) = info?;
                    if info_kind == libc::IFLA_INFO_KIND {
                        link.kind = Some(attr_string(info_payload));
                    }
                }
            }
            _ => {}
        }
    }
    if h.ty == libc::RTM_DELLINK {
        return Ok(Some(LinkMessage::Deleted {
            index,
            name: link.name,
        }));
    }
    if !named {
        return Err(ParseError::MissingName);
    }
    Ok(Some(LinkMessage::New(link)))
}

#[cfg(test)]
#[path = "netlink_tests.rs"]
mod tests;
