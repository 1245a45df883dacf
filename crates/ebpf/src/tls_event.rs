//! The record the TLS probe writes: plaintext of one SSL call (or a part
//! of it) and the socket it went through.
//!
//! The Rust half of `bpf/tls_event.h`, where each field is documented; both
//! sides assert the header's size. A record is the header followed by
//! `size` bytes of plaintext.

use crate::event::{addr, comm};
use std::mem::size_of;
use std::net::SocketAddr;

/// Plaintext bytes one record carries at most (`TLS_CHUNK`).
pub const TLS_CHUNK: usize = 16384;
/// Records one call is cut into at most (`TLS_MAX_CHUNKS`): beyond
/// `TLS_CHUNK * TLS_MAX_CHUNKS` bytes a call's plaintext is not copied, but
/// its length is still known.
pub const TLS_MAX_CHUNKS: usize = 4;
/// `tls_event.op`: the process sent the bytes (`SSL_write`).
pub const OP_WRITE: u8 = 1;
/// `tls_event.op`: the process received the bytes (`SSL_read`).
pub const OP_READ: u8 = 2;
/// `tls_event.flags`: the call made no syscall; the descriptor is the one
/// its SSL object used last.
pub const FD_CACHED: u8 = 1;
/// `tls_event.flags`: from Go's crypto/tls; `ssl` is the `*tls.Conn`.
pub const FROM_GO: u8 = 2;

/// Mirror of `struct tls_event` (see `bpf/tls_event.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsEvent {
    pub ts_ns: u64,
    pub ssl: u64,
    pub pid: u32,
    pub tid: u32,
    pub len: u32,
    pub offset: u32,
    pub size: u32,
    pub fd: i32,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub op: u8,
    pub flags: u8,
    pub comm: [u8; 16],
}

/// Size of `struct tls_event`, asserted in C too.
pub const TLS_EVENT_SIZE: usize = 96;
const _: () = assert!(size_of::<TlsEvent>() == TLS_EVENT_SIZE);

impl TlsEvent {
    /// The header and the plaintext of one ring-buffer record; `None` if it
    /// is shorter than its header says.
    pub fn parse(bytes: &[u8]) -> Option<(TlsEvent, &[u8])> {
        let head = bytes.get(..TLS_EVENT_SIZE)?;
        // SAFETY: `head` is exactly size_of::<TlsEvent>() bytes; TlsEvent is
        // repr(C) of integers and integer arrays, so any bit pattern is
        // valid, and read_unaligned needs no alignment.
        let ev = unsafe { std::ptr::read_unaligned(head.as_ptr().cast::<TlsEvent>()) };
        let size = usize::try_from(ev.size).ok()?.min(TLS_CHUNK);
        let data = bytes.get(TLS_EVENT_SIZE..TLS_EVENT_SIZE.checked_add(size)?)?;
        Some((ev, data))
    }

    /// The local end of the socket, `None` when no TCP socket was found.
    pub fn local(&self) -> Option<SocketAddr> {
        (self.sport != 0).then_some(())?;
        Some(SocketAddr::new(addr(self.family, &self.saddr)?, self.sport))
    }

    /// The remote end of the socket.
    pub fn remote(&self) -> Option<SocketAddr> {
        (self.sport != 0).then_some(())?;
        Some(SocketAddr::new(addr(self.family, &self.daddr)?, self.dport))
    }

    /// Whether the process sent these bytes (else it received them).
    pub fn is_write(&self) -> bool {
        self.op == OP_WRITE
    }

    /// The process's name.
    pub fn comm(&self) -> String {
        comm(&self.comm)
    }

    /// Bytes of the call after this record's data that no record carries:
    /// what of this record's span was not copied, and, for the call's last
    /// record, everything past it (beyond `TLS_CHUNK * TLS_MAX_CHUNKS`). A
    /// parser of the stream has a gap of this many bytes here.
    pub fn missing(&self) -> u32 {
        let span_end = if self.is_last() {
            self.len
        } else {
            self.offset.saturating_add(TLS_CHUNK as u32)
        };
        span_end
            .saturating_sub(self.offset)
            .saturating_sub(self.size)
    }

    /// Whether this is the call's last record.
    pub fn is_last(&self) -> bool {
        let next = u64::from(self.offset) + TLS_CHUNK as u64;
        next >= u64::from(self.len) || next >= (TLS_CHUNK * TLS_MAX_CHUNKS) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(size: u32, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; TLS_EVENT_SIZE];
        b[16..20].copy_from_slice(&77u32.to_ne_bytes()); // pid
        b[24..28].copy_from_slice(&(size + 5).to_ne_bytes()); // len
        b[32..36].copy_from_slice(&size.to_ne_bytes()); // size
        b[40..44].copy_from_slice(&[10, 0, 0, 1]); // saddr
        b[72..74].copy_from_slice(&443u16.to_ne_bytes()); // sport
        b[74..76].copy_from_slice(&50000u16.to_ne_bytes()); // dport
        b[76..78].copy_from_slice(&2u16.to_ne_bytes()); // family
        b[78] = OP_READ;
        b[80..84].copy_from_slice(b"ngin");
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn fields_sit_where_the_c_header_puts_them() {
        let b = record(3, b"GET");
        let (ev, data) = TlsEvent::parse(&b).expect("whole record");
        assert_eq!(ev.pid, 77);
        assert_eq!(data, b"GET");
        assert_eq!(ev.local(), Some("10.0.0.1:443".parse().unwrap()));
        assert_eq!(ev.remote().map(|r| r.port()), Some(50000));
        assert!(!ev.is_write());
        assert_eq!(ev.comm(), "ngin");
        assert_eq!(ev.missing(), 5);
    }

    #[test]
    fn a_record_shorter_than_its_header_says_is_rejected() {
        let b = record(4, b"GET");
        assert_eq!(TlsEvent::parse(&b), None);
        assert_eq!(TlsEvent::parse(&b[..TLS_EVENT_SIZE - 1]), None);
    }
}
