//! Where a pod's packets can be seen from the node: the host-side end of
//! the veth whose other end holds the pod's address.
//!
//! Capturing on that interface sees exactly the pod's traffic without
//! entering the pod's namespace (which would need CAP_SYS_ADMIN for
//! `setns`) and without touching the pod. Finding it must not depend on the
//! CNI's wiring: Calico and kindnet route each pod address to its veth,
//! flannel and the bridge plugin put the veths on a bridge with one route
//! for the whole pod range, Cilium routes through its own device. What they
//! share is the veth pair, and the kernel can tell us both ends:
//!
//! 1. a link dump of this namespace lists every veth with `IFLA_LINK` (its
//!    peer's ifindex) and `IFLA_LINK_NETNSID` (the id, in this namespace,
//!    of the namespace holding the peer);
//! 2. an address dump *of another namespace*, named by that id
//!    (`IFA_TARGET_NETNSID`, Linux 4.20; needs CAP_NET_ADMIN over it, which
//!    the agent has for pods' namespaces), says which interface there holds
//!    the address.
//!
//! The pod's address on peer index `p` in namespace `n` means the veth with
//! `(link_netnsid, link) == (n, p)` is the one. An address of this
//! namespace itself (a hostNetwork pod) is reported as such: it has no
//! interface of its own. Pure parsing lives in [`parse_addr_message`].

use crate::netlink::{self, parse_link_message, Link, LinkMessage, ParseError, NLMSG_HDRLEN};
use crate::sys::{self, cvt};
use crate::CaptureError;
use std::collections::BTreeSet;
use std::io;
use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

/// `IFA_TARGET_NETNSID` (not in the libc crate).
const IFA_TARGET_NETNSID: u16 = 10;
/// `NETLINK_GET_STRICT_CHK`: the kernel reads a dump request's attributes
/// (the target namespace) only under strict checking.
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;
const IFADDR_LEN: usize = size_of::<libc::ifaddrmsg>();
const BUF_LEN: usize = 64 * 1024;
/// Namespaces asked at most per lookup (a node runs a few hundred pods).
const MAX_NAMESPACES: usize = 4096;

/// Where an address lives, as seen from the calling thread's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostSide {
    /// Held inside another namespace behind this veth (the host-side end).
    Veth(Link),
    /// Held by an interface of this namespace: no interface of its own (a
    /// hostNetwork pod, or the node itself).
    Local(Link),
    /// Held inside another namespace whose interface has no veth peer
    /// here (ipvlan, macvlan, a physical device moved into a pod).
    NoVeth { netnsid: i32, ifindex: u32 },
    /// Not found anywhere this namespace can see.
    NotFound,
}

/// One interface address from an `RTM_NEWADDR` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub ifindex: u32,
    pub addr: IpAddr,
}

/// Finds where `addr` lives (see the module docs). Needs CAP_NET_ADMIN to
/// read other namespaces' addresses.
pub fn host_side(addr: IpAddr) -> Result<HostSide, CaptureError> {
    let mut nl = Dumper::open()?;
    let links = nl.links()?;
    if let Some(local) = nl.addresses(None)?.iter().find(|a| a.addr == addr) {
        return Ok(match links.iter().find(|l| l.index == local.ifindex) {
            Some(l) => HostSide::Local(l.clone()),
            None => HostSide::NotFound,
        });
    }
    let namespaces: BTreeSet<i32> = links
        .iter()
        .filter_map(|l| l.link_netnsid)
        .take(MAX_NAMESPACES)
        .collect();
    for nsid in namespaces {
        // A namespace can vanish between the two dumps (a pod ending).
        let Ok(addrs) = nl.addresses(Some(nsid)) else {
            continue;
        };
        if let Some(found) = addrs.iter().find(|a| a.addr == addr) {
            let veth = links
                .iter()
                .find(|l| l.link_netnsid == Some(nsid) && l.link == Some(found.ifindex));
            return Ok(match veth {
                Some(l) => HostSide::Veth(l.clone()),
                None => HostSide::NoVeth {
                    netnsid: nsid,
                    ifindex: found.ifindex,
                },
            });
        }
    }
    Ok(HostSide::NotFound)
}

/// Every link of the calling thread's namespace (one dump).
pub fn links() -> Result<Vec<Link>, CaptureError> {
    Dumper::open()?.links()
}

/// Every interface address of the calling thread's namespace (one dump).
pub fn addresses() -> Result<Vec<IfAddr>, CaptureError> {
    Dumper::open()?.addresses(None)
}

/// A netlink socket for one-shot dumps.
struct Dumper {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Dumper {
    fn open() -> Result<Dumper, CaptureError> {
        let fd = crate::links::query_socket()?;
        let on: libc::c_int = 1;
        sys::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            NETLINK_GET_STRICT_CHK,
            &on,
        )
        .map_err(|source| CaptureError::Setsockopt {
            what: "NETLINK_GET_STRICT_CHK",
            source,
        })?;
        Ok(Dumper {
            fd,
            seq: 0,
            buf: vec![0; BUF_LEN],
        })
    }

    fn links(&mut self) -> Result<Vec<Link>, CaptureError> {
        let mut body = [0u8; size_of::<libc::ifinfomsg>()];
        body[offset_of!(libc::ifinfomsg, ifi_family)] = libc::AF_UNSPEC as u8;
        let mut out = Vec::new();
        self.dump(libc::RTM_GETLINK, &body, |msg| {
            if let Ok(Some(LinkMessage::New(link))) = parse_link_message(msg) {
                out.push(link);
            }
        })?;
        Ok(out)
    }

    /// Addresses of this namespace (`None`) or of the one with this id.
    fn addresses(&mut self, nsid: Option<i32>) -> Result<Vec<IfAddr>, CaptureError> {
        let mut body = Vec::with_capacity(IFADDR_LEN + 8);
        body.resize(IFADDR_LEN, 0);
        body[offset_of!(libc::ifaddrmsg, ifa_family)] = libc::AF_UNSPEC as u8;
        if let Some(id) = nsid {
            body.extend_from_slice(&8u16.to_ne_bytes());
            body.extend_from_slice(&IFA_TARGET_NETNSID.to_ne_bytes());
            body.extend_from_slice(&id.to_ne_bytes());
        }
        let mut out = Vec::new();
        self.dump(libc::RTM_GETADDR, &body, |msg| {
            if let Ok(Some(a)) = parse_addr_message(msg) {
                out.push(a);
            }
        })?;
        Ok(out)
    }

    /// Sends a dump request and hands every reply message to `each`.
    fn dump(
        &mut self,
        ty: u16,
        body: &[u8],
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), CaptureError> {
        self.seq = self.seq.wrapping_add(1);
        let len = NLMSG_HDRLEN + body.len();
        let mut req = Vec::with_capacity(len);
        req.extend_from_slice(&(len as u32).to_ne_bytes());
        req.extend_from_slice(&ty.to_ne_bytes());
        req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        req.extend_from_slice(&self.seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(body);
        // SAFETY: `req` is readable for its length; an unconnected netlink
        // socket sends to the kernel.
        cvt(unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } as i32)
            .map_err(CaptureError::Netlink)?;
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            let n = match usize::try_from(n) {
                Ok(n) => n,
                Err(_) => {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EINTR) {
                        continue;
                    }
                    return Err(CaptureError::Netlink(e));
                }
            };
            for item in netlink::messages(&self.buf[..n]) {
                let Ok((h, msg)) = item else {
                    return Err(CaptureError::Netlink(io::ErrorKind::InvalidData.into()));
                };
                if h.seq != self.seq {
                    continue;
                }
                match i32::from(h.ty) {
                    libc::NLMSG_DONE => return Ok(()),
                    libc::NLMSG_ERROR => {
                        let code = msg
                            .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
                            .and_then(|b| b.try_into().ok())
                            .map_or(0, i32::from_ne_bytes);
                        if code != 0 {
                            return Err(CaptureError::Netlink(io::Error::from_raw_os_error(-code)));
                        }
                        return Ok(());
                    }
                    _ => each(msg),
                }
            }
        }
    }
}

/// Parses one `RTM_NEWADDR` message (header included); `Ok(None)` for
/// other messages and families.
pub fn parse_addr_message(msg: &[u8]) -> Result<Option<IfAddr>, ParseError> {
    let ty = msg
        .get(4..6)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .ok_or(ParseError::Truncated)?;
    if ty != libc::RTM_NEWADDR {
        return Ok(None);
    }
    let ifa = msg
        .get(NLMSG_HDRLEN..NLMSG_HDRLEN + IFADDR_LEN)
        .ok_or(ParseError::Truncated)?;
    let family = i32::from(ifa[offset_of!(libc::ifaddrmsg, ifa_family)]);
    let at = offset_of!(libc::ifaddrmsg, ifa_index);
    let ifindex = u32::from_ne_bytes(
        ifa[at..at + 4]
            .try_into()
            .map_err(|_| ParseError::Truncated)?,
    );
    let (mut address, mut local) = (None, None);
    for attr in netlink::attrs(&msg[NLMSG_HDRLEN + IFADDR_LEN..]) {
        let (kind, payload) = attr?;
        let ip = match (family, payload.len()) {
            (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(payload).unwrap_or_default(),
            )),
            (libc::AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(payload).unwrap_or_default(),
            )),
            _ => continue,
        };
        match kind {
            libc::IFA_ADDRESS => address = Some(ip),
            libc::IFA_LOCAL => local = Some(ip),
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer's; IFA_LOCAL is ours.
    Ok(local.or(address).map(|addr| IfAddr { ifindex, addr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    fn addr_message(family: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0u8; IFADDR_LEN];
        body[0] = family;
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        for a in attrs {
            body.extend_from_slice(a);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&libc::RTM_NEWADDR.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn ipv4_prefers_the_local_address() {
        let msg = addr_message(
            libc::AF_INET as u8,
            3,
            &[
                attr(libc::IFA_ADDRESS, &[10, 0, 0, 2]),
                attr(libc::IFA_LOCAL, &[10, 0, 0, 1]),
            ],
        );
        assert_eq!(
            parse_addr_message(&msg).unwrap(),
            Some(IfAddr {
                ifindex: 3,
                addr: "10.0.0.1".parse().unwrap()
            })
        );
    }

    #[test]
    fn ipv6_address() {
        let ip: Ipv6Addr = "fd00:88::10".parse().unwrap();
        let msg = addr_message(
            libc::AF_INET6 as u8,
            9,
            &[attr(libc::IFA_ADDRESS, &ip.octets())],
        );
        assert_eq!(
            parse_addr_message(&msg).unwrap(),
            Some(IfAddr {
                ifindex: 9,
                addr: IpAddr::V6(ip)
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..200 {
            let mut msg = addr_message(
                libc::AF_INET as u8,
                1,
                &[attr(libc::IFA_LOCAL, &[1, 2, 3, 4])],
            );
            msg.truncate(len.min(msg.len()));
            for b in msg.iter_mut().skip(16) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if seed.is_multiple_of(7) {
                    *b = (seed >> 16) as u8;
                }
            }
            let _ = parse_addr_message(&msg);
        }
    }

    #[test]
    fn finds_this_namespaces_loopback_as_local() {
        // Needs no privilege: reading one's own namespace is open to all.
        match host_side("127.0.0.1".parse().unwrap()) {
            Ok(HostSide::Local(link)) => assert_eq!(link.name, "lo"),
            Ok(other) => panic!("127.0.0.1 should be local, got {other:?}"),
            Err(e) => podwire_lab::skip::skipped(
                "finds_this_namespaces_loopback_as_local",
                &format!("netlink unavailable here: {e}"),
            ),
        }
    }
}
