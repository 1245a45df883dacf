//! Which backend answered a Service's virtual IP: one conntrack lookup.
//!
//! kube-proxy (iptables, nftables or IPVS) rewrites a connection to a
//! ClusterIP on the client's node; the capture there (the client's veth)
//! and the client's socket only ever show the ClusterIP. The node's
//! connection tracking table knows the rewrite: for the original tuple
//! (client -> ClusterIP) the reply tuple's source is the pod that answered.
//! This asks for exactly that entry over ctnetlink (`IPCTNL_MSG_CT_GET`,
//! needs CAP_NET_ADMIN), one request per question, in the agent's own
//! network namespace (the node's, for a hostNetwork agent).
//!
//! Building the request and reading the answer are pure functions of bytes,
//! bounds-checked: a short or malformed answer is an error, never a panic.

use crate::netlink::{attrs, messages, ParseError, NLMSG_HDRLEN};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
/// How long one lookup may wait for the kernel.
const TIMEOUT: Duration = Duration::from_millis(200);

/// IP protocol numbers conntrack is asked about.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

fn nested(out: &mut Vec<u8>, kind: u16, build: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    build(&mut inner);
    attr(out, kind | NLA_F_NESTED, &inner);
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The `CT_GET` request for the entry whose original direction is
/// `client -> server` over IP protocol `proto`.
pub fn request(seq: u32, client: SocketAddr, server: SocketAddr, proto: u8) -> Vec<u8> {
    let (client, server) = (canonical(client), canonical(server));
    let v6 = client.is_ipv6();
    let mut body = Vec::new();
    // nfgenmsg: family, version 0, resource id 0 (big endian).
    body.push(if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8);
    body.extend_from_slice(&[0, 0, 0]);
    nested(&mut body, CTA_TUPLE_ORIG, |t| {
        nested(t, CTA_TUPLE_IP, |ip| {
            let (src, dst) = if v6 {
                (CTA_IP_V6_SRC, CTA_IP_V6_DST)
            } else {
                (CTA_IP_V4_SRC, CTA_IP_V4_DST)
            };
            attr(ip, src, &ip_bytes(client.ip()));
            attr(ip, dst, &ip_bytes(server.ip()));
        });
        nested(t, CTA_TUPLE_PROTO, |p| {
            attr(p, CTA_PROTO_NUM, &[proto]);
            attr(p, CTA_PROTO_SRC_PORT, &client.port().to_be_bytes());
            attr(p, CTA_PROTO_DST_PORT, &server.port().to_be_bytes());
        });
    });
    let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    let len = (NLMSG_HDRLEN + body.len()) as u32;
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET).to_ne_bytes());
    msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// The reply tuple's source in a `CT_NEW` answer: who answered. `Ok(None)`
/// for a netlink error (no such entry) or an answer without it.
pub fn parse_reply(buf: &[u8]) -> Result<Option<SocketAddr>, ParseError> {
    for m in messages(buf) {
        let (h, msg) = m?;
        if h.ty == libc::NLMSG_ERROR as u16 || h.ty == libc::NLMSG_DONE as u16 {
            return Ok(None);
        }
        let body = msg.get(NLMSG_HDRLEN + 4..).ok_or(ParseError::Truncated)?;
        for a in attrs(body) {
            let (kind, payload) = a?;
            if kind == CTA_TUPLE_REPLY {
                return tuple_source(payload);
            }
        }
    }
    Ok(None)
}

fn tuple_source(tuple: &[u8]) -> Result<Option<SocketAddr>, ParseError> {
    let (mut ip, mut port) = (None, None);
    for a in attrs(tuple) {
        let (kind, payload) = a?;
        match kind {
            CTA_TUPLE_IP => {
                for a in attrs(payload) {
                    let (k, p) = a?;
                    ip = match (k, p.len()) {
                        (CTA_IP_V4_SRC, 4) => {
                            Some(IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3])))
                        }
                        (CTA_IP_V6_SRC, 16) => {
                            let b: [u8; 16] = p.try_into().map_err(|_| ParseError::BadAttribute)?;
                            Some(IpAddr::V6(Ipv6Addr::from(b)))
                        }
                        (CTA_IP_V4_SRC | CTA_IP_V6_SRC, len) => {
                            return Err(ParseError::BadAttributeSize { kind: k, len })
                        }
                        _ => ip,
                    };
                }
            }
            CTA_TUPLE_PROTO => {
                for a in attrs(payload) {
                    let (k, p) = a?;
                    if k == CTA_PROTO_SRC_PORT {
                        let b: [u8; 2] =
                            p.try_into().map_err(|_| ParseError::BadAttributeSize {
                                kind: k,
                                len: p.len(),
                            })?;
                        port = Some(u16::from_be_bytes(b));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ip.zip(port).map(|(ip, port)| SocketAddr::new(ip, port)))
}

/// A ctnetlink socket for lookups.
pub struct Conntrack {
    fd: OwnedFd,
    seq: u32,
}

impl Conntrack {
    /// Opens the socket (any process may; the lookup needs CAP_NET_ADMIN).
    pub fn open() -> io::Result<Conntrack> {
        let fd = crate::sys::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )?;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: TIMEOUT.as_micros() as libc::suseconds_t,
        };
        crate::sys::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        Ok(Conntrack { fd, seq: 0 })
    }

    /// Who answered `client -> server` (the rewritten destination), if the
    /// node rewrote it; `Ok(None)` when conntrack has no such entry.
    pub fn reply_source(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        proto: u8,
    ) -> io::Result<Option<SocketAddr>> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(self.seq, client, server, proto);
        // SAFETY: sends `req` (a valid slice) on our own socket.
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: receives into `buf`, at most its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let got = &buf[..n as usize];
            // Answers to an earlier, timed-out request are skipped.
            let current = messages(got)
                .next()
                .and_then(Result::ok)
                .is_some_and(|(h, _)| h.seq == self.seq);
            if current {
                return parse_reply(got).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A `CT_NEW` answer as the kernel sends it: original and reply tuples.
    fn answer(orig: (SocketAddr, SocketAddr), reply: (SocketAddr, SocketAddr)) -> Vec<u8> {
        let mut msg = request(7, orig.0, orig.1, TCP);
        // Reuse the request's layout, then append the reply tuple.
        let mut body = Vec::new();
        nested(&mut body, CTA_TUPLE_REPLY, |t| {
            nested(t, CTA_TUPLE_IP, |ip| {
                let v6 = reply.0.is_ipv6();
                let (s, d) = if v6 {
                    (CTA_IP_V6_SRC, CTA_IP_V6_DST)
                } else {
                    (CTA_IP_V4_SRC, CTA_IP_V4_DST)
                };
                attr(ip, s, &ip_bytes(reply.0.ip()));
                attr(ip, d, &ip_bytes(reply.1.ip()));
            });
            nested(t, CTA_TUPLE_PROTO, |p| {
                attr(p, CTA_PROTO_NUM, &[TCP]);
                attr(p, CTA_PROTO_SRC_PORT, &reply.0.port().to_be_bytes());
                attr(p, CTA_PROTO_DST_PORT, &reply.1.port().to_be_bytes());
            });
        });
        msg.extend_from_slice(&body);
        let len = msg.len() as u32;
        msg[..4].copy_from_slice(&len.to_ne_bytes());
        msg
    }

    #[test]
    fn the_reply_tuples_source_is_the_backend() {
        let client = addr("10.244.1.5:40000");
        let vip = addr("10.96.0.10:80");
        let backend = addr("10.244.2.9:8080");
        let a = answer((client, vip), (backend, client));
        assert_eq!(parse_reply(&a).unwrap(), Some(backend));
        let v6 = answer(
            (addr("[fd00::5]:1"), addr("[fd00:96::a]:80")),
            (addr("[fd00::9]:8080"), addr("[fd00::5]:1")),
        );
        assert_eq!(parse_reply(&v6).unwrap(), Some(addr("[fd00::9]:8080")));
    }

    #[test]
    fn errors_and_garbage_never_panic() {
        let a = answer(
            (addr("10.0.0.1:1"), addr("10.0.0.2:2")),
            (addr("10.0.0.3:3"), addr("10.0.0.1:1")),
        );
        for n in 0..a.len() {
            let _ = parse_reply(&a[..n]);
        }
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut b = a.clone();
            for _ in 0..3 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (x as usize >> 8) % b.len();
                b[i] = (x >> 16) as u8;
            }
            let _ = parse_reply(&b);
        }
        // An NLMSG_ERROR (no such entry) is a plain "not found".
        let mut err = vec![0u8; NLMSG_HDRLEN + 4];
        let len = err.len() as u32;
        err[..4].copy_from_slice(&len.to_ne_bytes());
        err[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        assert_eq!(parse_reply(&err).unwrap(), None);
    }

    #[test]
    fn ipv4_mapped_addresses_are_asked_as_ipv4() {
        let r = request(
            1,
            addr("[::ffff:10.0.0.1]:5"),
            addr("[::ffff:10.96.0.1]:443"),
            TCP,
        );
        assert_eq!(r[NLMSG_HDRLEN], libc::AF_INET as u8);
    }
}
