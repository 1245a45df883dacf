//! The record the kernel side writes to the ring buffer.
//!
//! This is the Rust half of the one kernel <-> user struct; the C half is
//! `bpf/conn_event.h`, and each field's meaning is documented there. Both
//! sides assert the size, so a field added on one side only breaks the build
//! instead of silently shifting every field after it, and
//! `tests/layout.rs` compares every field's offset and size with the
//! compiled object's BTF, so a field moved on one side fails the tests.

use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `conn_event.kind`: a client socket sent its SYN (`connect()`).
pub const KIND_CONNECT: u8 = 1;
/// `conn_event.kind`: a server socket completed the handshake (accept side).
pub const KIND_ACCEPT: u8 = 2;
/// `conn_event.kind`: a socket reached `TCP_CLOSE`; counters are final.
pub const KIND_CLOSE: u8 = 3;
/// `conn_event.kind`: a socket started listening (`listen()`): `pid` serves
/// on the local address (a wildcard address: any of the host's).
pub const KIND_LISTEN: u8 = 4;
/// `conn_event.kind`: a listening socket closed, or its `listen()` failed.
pub const KIND_UNLISTEN: u8 = 5;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Mirror of `struct conn_event` in `bpf/conn_event.h` (see there for the
/// meaning of each field). Plain integers only: the kernel wrote these
/// bytes, so every bit pattern must be a valid value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnEvent {
    pub ts_ns: u64,
    pub start_ns: u64,
    pub skaddr: u64,
    pub cgroup_id: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub pid: u32,
    pub tid: u32,
    pub srtt_us: u32,
    pub total_retrans: u32,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub kind: u8,
    pub oldstate: u8,
    pub comm: [u8; 16],
}

/// Size of `struct conn_event`, asserted in C too (`_Static_assert`).
pub const CONN_EVENT_SIZE: usize = 120;
const _: () = assert!(size_of::<ConnEvent>() == CONN_EVENT_SIZE);

impl ConnEvent {
    /// Reads an event from ring-buffer bytes; `None` if too short (a record
    /// from a mismatched object, which the size assertions should prevent).
    pub fn from_bytes(bytes: &[u8]) -> Option<ConnEvent> {
        if bytes.len() < CONN_EVENT_SIZE {
            return None;
        }
        // SAFETY: `bytes` holds at least size_of::<ConnEvent>() bytes (checked
        // above); ConnEvent is repr(C) of integers and integer arrays, so any
        // bit pattern is valid; read_unaligned does not need the ring
        // buffer's 8-byte alignment to match.
        Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<ConnEvent>()) })
    }

    /// Local address, `None` for an unknown family.
    pub fn local_addr(&self) -> Option<IpAddr> {
        addr(self.family, &self.saddr)
    }

    /// Remote address, `None` for an unknown family.
    pub fn remote_addr(&self) -> Option<IpAddr> {
        addr(self.family, &self.daddr)
    }

    /// Task name up to its NUL (lossy: comm is bytes, usually ASCII).
    pub fn comm(&self) -> String {
        comm(&self.comm)
    }
}

/// A task name up to its NUL (lossy: comm is bytes, usually ASCII).
pub(crate) fn comm(c: &[u8; 16]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

pub(crate) fn addr(family: u16, a: &[u8; 16]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*a))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_record_is_rejected() {
        assert_eq!(ConnEvent::from_bytes(&[0; CONN_EVENT_SIZE - 1]), None);
    }

    #[test]
    fn fields_sit_where_the_c_header_puts_them() {
        let mut b = [0u8; CONN_EVENT_SIZE];
        b[48..52].copy_from_slice(&4242u32.to_ne_bytes()); // pid
        b[64..68].copy_from_slice(&[127, 0, 0, 1]); // saddr
        b[96..98].copy_from_slice(&8080u16.to_ne_bytes()); // sport
        b[100..102].copy_from_slice(&AF_INET.to_ne_bytes()); // family
        b[102] = KIND_CLOSE;
        b[104..108].copy_from_slice(b"curl");
        let ev = ConnEvent::from_bytes(&b).expect("long enough");
        assert_eq!(ev.pid, 4242);
        assert_eq!(ev.sport, 8080);
        assert_eq!(ev.kind, KIND_CLOSE);
        assert_eq!(ev.local_addr(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(ev.comm(), "curl");
    }
}
