//! The namespace's interfaces, kept current through rtnetlink.
//!
//! [`LinkMonitor`] holds two netlink sockets created in the same namespace:
//! one subscribed to link notifications (nonblocking, drained by
//! [`LinkMonitor::poll`]) and one for dump requests. Subscribing before the
//! first dump means no change is missed: a change that races the dump is
//! also queued as a notification and applied after it. When the kernel drops
//! notifications because we read too slowly (ENOBUFS), the monitor drains
//! what is left, dumps again and reports the difference, so consumers see a
//! consistent sequence of events either way.
//!
//! Interfaces vanish all the time on a node (pods end); nothing here treats
//! a missing, down or address-less interface as an error.

use crate::netlink::{self, parse_link_message, Link, LinkMessage, NLMSG_HDRLEN};
use crate::sys::{self, cvt};
use crate::CaptureError;
use std::collections::BTreeMap;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A change to the link table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link appeared or changed (name, state, master, ...); carries its new state.
    Added(Link),
    /// A link is gone; `name` is the last name it had.
    Removed { index: u32, name: String },
}

/// Receive buffer: larger than any single rtnetlink datagram the kernel builds.
const BUF_LEN: usize = 64 * 1024;
/// Socket buffer asked for notifications, to make ENOBUFS rare.
const EVENTS_RCVBUF: libc::c_int = 1 << 20;
/// Datagrams handled per `poll`, so a storm cannot keep the caller forever.
const MAX_DATAGRAMS_PER_POLL: usize = 4096;
/// A dump interrupted by concurrent changes is retried this often.
const DUMP_ATTEMPTS: usize = 5;

/// The link table of one network namespace, kept current.
#[derive(Debug)]
pub struct LinkMonitor {
    events: OwnedFd,
    query: OwnedFd,
    table: BTreeMap<u32, Link>,
    buf: Vec<u8>,
    seq: u32,
    malformed: u64,
    resyncs: u64,
    resync_pending: bool,
}

fn netlink_socket(flags: libc::c_int, groups: u32) -> Result<OwnedFd, CaptureError> {
    let fd = sys::socket(
        libc::AF_NETLINK,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
        libc::NETLINK_ROUTE,
    )
    .map_err(CaptureError::Socket)?;
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a valid sockaddr_nl and the length matches it.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })
    .map_err(CaptureError::Netlink)?;
    Ok(fd)
}

/// A netlink socket for requests and their answers, which gives up on a
/// kernel that does not answer within 5 s.
pub(crate) fn query_socket() -> Result<OwnedFd, CaptureError> {
    let query = netlink_socket(0, 0)?;
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    sys::setsockopt(
        query.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        &timeout,
    )
    .map_err(|source| CaptureError::Setsockopt {
        what: "SO_RCVTIMEO",
        source,
    })?;
    Ok(query)
}

/// Receives one datagram; returns its full length (which may exceed
/// `buf.len()`, meaning it was cut) and the sender's port id (0 = kernel).
fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<(usize, u32)> {
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut from_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `buf` is writable for `buf.len()` bytes and `from` for
    // `from_len`; the kernel writes no more than that.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_TRUNC,
            (&mut from as *mut libc::sockaddr_nl).cast(),
            &mut from_len,
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    Ok((n, from.nl_pid))
}

impl LinkMonitor {
    /// Subscribes to link changes in the calling thread's network namespace
    /// (wrap in [`in_netns`](crate::in_netns) to choose another) and reads
    /// the current table.
    pub fn open() -> Result<LinkMonitor, CaptureError> {
        let events = netlink_socket(libc::SOCK_NONBLOCK, libc::RTMGRP_LINK as u32)?;
        // Best effort: SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN.
        if sys::setsockopt(
            events.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &EVENTS_RCVBUF,
        )
        .is_err()
        {
            let _ = sys::setsockopt(
                events.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &EVENTS_RCVBUF,
            );
        }
        let query = query_socket()?;
        let mut monitor = LinkMonitor {
            events,
            query,
            table: BTreeMap::new(),
            buf: vec![0; BUF_LEN],
            seq: 0,
            malformed: 0,
            resyncs: 0,
            resync_pending: false,
        };
        monitor.table = monitor.dump()?;
        Ok(monitor)
    }

    /// Every known link, by index.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.table.values()
    }

    /// The link with this index, if it (still) exists.
    pub fn get(&self, index: u32) -> Option<&Link> {
        self.table.get(&index)
    }

    /// Messages that could not be parsed (or arrived cut) and were skipped.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Times the table was rebuilt from a fresh dump after lost notifications.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// The notification socket, for an event loop (readable = call `poll`).
    pub fn fd(&self) -> RawFd {
        self.events.as_raw_fd()
    }

    /// Applies pending notifications without blocking and appends what
    /// changed to `out`. Lost notifications trigger a re-dump, not an error.
    pub fn poll(&mut self, out: &mut Vec<LinkEvent>) -> Result<(), CaptureError> {
        let mut drained = false;
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            let (n, from) = match recv(self.events.as_raw_fd(), &mut self.buf, libc::MSG_DONTWAIT) {
                Ok(got) => got,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        drained = true;
                        break;
                    }
                    Some(libc::ENOBUFS) => {
                        self.resync_pending = true;
                        continue;
                    }
                    _ => return Err(CaptureError::Netlink(e)),
                },
            };
            if n > self.buf.len() {
                // Cut short: whatever it said is lost, as with ENOBUFS.
                self.malformed += 1;
                self.resync_pending = true;
                continue;
            }
            if from != 0 {
                continue; // not from the kernel
            }
            for item in netlink::messages(&self.buf[..n]) {
                match item.and_then(|(_, msg)| parse_link_message(msg)) {
                    Ok(Some(LinkMessage::New(link))) => {
                        if self.table.get(&link.index) != Some(&link) {
                            self.table.insert(link.index, link.clone());
                            out.push(LinkEvent::Added(link));
                        }
                    }
                    Ok(Some(LinkMessage::Deleted { index, .. })) => {
                        if let Some(old) = self.table.remove(&index) {
                            out.push(LinkEvent::Removed {
                                index,
                                name: old.name,
                            });
                        }
                    }
                    Ok(None) => {}
                    Err(_) => self.malformed += 1,
                }
            }
        }
        // Re-dump only once the stale backlog is gone, so nothing older than
        // the dump is applied after it.
        if drained && self.resync_pending {
            let fresh = self.dump()?;
            self.resync_pending = false;
            self.resyncs += 1;
            for (index, old) in &self.table {
                if !fresh.contains_key(index) {
                    out.push(LinkEvent::Removed {
                        index: *index,
                        name: old.name.clone(),
                    });
                }
            }
            for (index, link) in &fresh {
                if self.table.get(index) != Some(link) {
                    out.push(LinkEvent::Added(link.clone()));
                }
            }
            self.table = fresh;
        }
        Ok(())
    }

    /// Asks the kernel for every link (RTM_GETLINK dump) on the query socket.
    fn dump(&mut self) -> Result<BTreeMap<u32, Link>, CaptureError> {
        let mut table = BTreeMap::new();
        for _ in 0..DUMP_ATTEMPTS {
            table.clear();
            self.seq = self.seq.wrapping_add(1);
            self.send_dump_request()?;
            if !self.read_dump(&mut table)? {
                return Ok(table);
            }
        }
        // Still changing under us: the last table is as good as any, and the
        // notifications queued meanwhile bring it up to date.
        Ok(table)
    }

    fn send_dump_request(&self) -> Result<(), CaptureError> {
        const LEN: usize = NLMSG_HDRLEN + size_of::<libc::ifinfomsg>();
        let mut req = [0u8; LEN];
        req[0..4].copy_from_slice(&(LEN as u32).to_ne_bytes());
        req[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
        req[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        req[NLMSG_HDRLEN] = libc::AF_UNSPEC as u8;
        // SAFETY: `req` is readable for its length; an unconnected netlink
        // socket sends to the kernel.
        let sent = unsafe { libc::send(self.query.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(CaptureError::Netlink(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Reads one dump's replies into `table`; `true` if the kernel says the
    /// dump was interrupted by a concurrent change.
    fn read_dump(&mut self, table: &mut BTreeMap<u32, Link>) -> Result<bool, CaptureError> {
        let mut interrupted = false;
        loop {
            let (n, from) = match recv(self.query.as_raw_fd(), &mut self.buf, 0) {
                Ok(got) => got,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(CaptureError::Netlink(e)),
            };
            if n > self.buf.len() {
                self.malformed += 1;
                interrupted = true;
                continue;
            }
            if from != 0 {
                continue;
            }
            for item in netlink::messages(&self.buf[..n]) {
                let (h, msg) = match item {
                    Ok(m) => m,
                    Err(_) => {
                        self.malformed += 1;
                        interrupted = true;
                        break;
                    }
                };
                if h.seq != self.seq {
                    continue; // a late reply to an earlier, abandoned dump
                }
                if h.flags & libc::NLM_F_DUMP_INTR as u16 != 0 {
                    interrupted = true;
                }
                match i32::from(h.ty) {
                    libc::NLMSG_DONE => return Ok(interrupted),
                    libc::NLMSG_ERROR => {
                        let code = msg
                            .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
                            .and_then(|b| b.try_into().ok())
                            .map_or(0, i32::from_ne_bytes);
                        if code != 0 {
                            return Err(CaptureError::Netlink(io::Error::from_raw_os_error(-code)));
                        }
                    }
                    _ => match parse_link_message(msg) {
                        Ok(Some(LinkMessage::New(link))) => {
                            table.insert(link.index, link);
                        }
                        Ok(_) => {}
                        Err(_) => self.malformed += 1,
                    },
                }
            }
        }
    }
}
