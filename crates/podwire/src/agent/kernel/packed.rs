//! Compact forms of what the socket table holds per socket, because it is
//! the agent's largest table: at 10,000 connections a second with both
//! ends local it holds its full 131,072 sockets, and every event probes it.
//! Two `SocketAddr`s are 64 bytes; packed they are 36, and a process name
//! kept inline costs no allocation per socket.

use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// One end of a socket: IPv4 as a v4-mapped IPv6 address. The table's
/// addresses are canonical (a v4-mapped address is stored as IPv4), so no
/// IPv6 address is mistaken for an IPv4 one on the way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct End {
    ip: [u8; 16],
    port: u16,
}

impl End {
    fn of(a: SocketAddr) -> End {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        End {
            ip: ip.octets(),
            port: a.port(),
        }
    }

    fn addr(self) -> SocketAddr {
        SocketAddr::new(Ipv6Addr::from(self.ip).to_canonical(), self.port)
    }
}

/// A socket's (local, remote) address, packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packed(End, End);

impl Packed {
    pub fn of((local, remote): (SocketAddr, SocketAddr)) -> Packed {
        Packed(End::of(local), End::of(remote))
    }

    pub fn unpack(self) -> (SocketAddr, SocketAddr) {
        (self.0.addr(), self.1.addr())
    }
}

/// A map keyed by (local, remote) socket address, stored packed.
pub struct SockMap<V>(FxHashMap<Packed, V>);

impl<V> Default for SockMap<V> {
    fn default() -> Self {
        SockMap(FxHashMap::default())
    }
}

impl<V> SockMap<V> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, key: &(SocketAddr, SocketAddr)) -> Option<&V> {
        self.0.get(&Packed::of(*key))
    }

    pub fn get_packed(&self, key: &Packed) -> Option<&V> {
        self.0.get(key)
    }

    pub fn get_mut(&mut self, key: &(SocketAddr, SocketAddr)) -> Option<&mut V> {
        self.0.get_mut(&Packed::of(*key))
    }

    pub fn contains_key(&self, key: &(SocketAddr, SocketAddr)) -> bool {
        self.0.contains_key(&Packed::of(*key))
    }

    pub fn insert(&mut self, key: (SocketAddr, SocketAddr), v: V) {
        self.0.insert(Packed::of(key), v);
    }

    pub fn remove(&mut self, key: &(SocketAddr, SocketAddr)) -> Option<V> {
        self.0.remove(&Packed::of(*key))
    }

    pub fn iter(&self) -> impl Iterator<Item = ((SocketAddr, SocketAddr), &V)> {
        self.0.iter().map(|(k, v)| (k.unpack(), v))
    }
}

/// A process name as the kernel keeps it: at most 16 bytes, NUL-padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Comm([u8; 16]);

impl Comm {
    pub const EMPTY: Comm = Comm([0; 16]);

    pub fn new(bytes: [u8; 16]) -> Comm {
        Comm(bytes)
    }

    /// From `/proc/PID/comm`'s text: up to its newline, at most 15 bytes
    /// (the kernel's own bound, leaving the NUL).
    pub fn from_name(name: &[u8]) -> Comm {
        let name = name
            .split(|&b| b == b'\n' || b == 0)
            .next()
            .unwrap_or_default();
        let mut bytes = [0u8; 16];
        let n = name.len().min(15);
        bytes[..n].copy_from_slice(&name[..n]);
        Comm(bytes)
    }

    /// The name up to its NUL. A name is any bytes: one that is not UTF-8
    /// reads as its valid beginning.
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let b = &self.0[..end];
        match std::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_back_as_they_went_in() {
        for (l, r) in [
            ("10.0.0.1:43512", "10.0.0.2:80"),
            ("[2001:db8::1]:443", "[2001:db8::2]:50000"),
            ("0.0.0.0:0", "[::]:0"),
            ("[fe80::1]:1", "127.0.0.1:65535"),
        ] {
            let key = (l.parse().unwrap(), r.parse().unwrap());
            assert_eq!(Packed::of(key).unpack(), key);
        }
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_ne!(Packed::of((v4, v6)), Packed::of((v6, v4)));
    }

    #[test]
    fn a_map_finds_by_address_and_iterates_unpacked() {
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut m = SockMap::default();
        m.insert((a, b), 1);
        m.insert((b, a), 2);
        assert_eq!(m.get(&(a, b)), Some(&1));
        assert_eq!(m.get(&(b, a)), Some(&2));
        *m.get_mut(&(a, b)).unwrap() += 10;
        assert_eq!(m.remove(&(a, b)), Some(11));
        assert!(!m.contains_key(&(a, b)));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![((b, a), &2)]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn names_read_to_their_nul_and_stop_at_bad_bytes() {
        let mut b = [0u8; 16];
        b[..5].copy_from_slice(b"nginx");
        assert_eq!(Comm::new(b).as_str(), "nginx");
        assert_eq!(Comm::new(*b"sixteen-letters!").as_str(), "sixteen-letters!");
        let mut bad = [0u8; 16];
        bad[..4].copy_from_slice(&[b'a', b'b', 0xff, b'c']);
        assert_eq!(Comm::new(bad).as_str(), "ab");
        assert_eq!(Comm::default().as_str(), "");
    }
}
