//! Flow keys: one key for both directions of a conversation.

use std::net::IpAddr;

/// One end of a flow: address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Addr {
    pub ip: IpAddr,
    pub port: u16,
}

/// The same for both directions: the two ends in a canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FlowKey {
    pub lo: Addr,
    pub hi: Addr,
    pub tcp: bool,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and whether `src` is the `lo` end.
    pub fn of(src: Addr, dst: Addr, tcp: bool) -> (FlowKey, bool) {
        if (src.ip, src.port) <= (dst.ip, dst.port) {
            (
                FlowKey {
                    lo: src,
                    hi: dst,
                    tcp,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    lo: dst,
                    hi: src,
                    tcp,
                },
                false,
            )
        }
    }
}

/// Ports that name a service when the handshake did not say who is the server.
pub(crate) fn likely_server(a: Addr, b: Addr) -> Option<bool> {
    // Returns Some(true) when `a` looks like the server, Some(false) for `b`.
    let rank = |p: u16| -> u8 {
        match p {
            0 => 0,
            1..=1023 => 3,
            // Registered ports commonly served in clusters.
            1024..=32767 => 2,
            // Linux (and IANA) ephemeral ranges.
            _ => 1,
        }
    };
    let (ra, rb) = (rank(a.port), rank(b.port));
    if ra > rb {
        Some(true)
    } else if rb > ra {
        Some(false)
    } else if ra >= 2 && a.port != b.port {
        // Two service-range ports: the lower is the more likely listener.
        Some(a.port < b.port)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str, port: u16) -> Addr {
        Addr {
            ip: s.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn key_is_direction_independent() {
        let (k1, d1) = FlowKey::of(addr("10.0.0.2", 80), addr("10.0.0.1", 5555), true);
        let (k2, d2) = FlowKey::of(addr("10.0.0.1", 5555), addr("10.0.0.2", 80), true);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
    }

    #[test]
    fn well_known_port_is_the_server() {
        assert_eq!(
            likely_server(addr("10.0.0.1", 443), addr("10.0.0.2", 51000)),
            Some(true)
        );
        assert_eq!(
            likely_server(addr("10.0.0.1", 51000), addr("10.0.0.2", 8080)),
            Some(false)
        );
        assert_eq!(
            likely_server(addr("10.0.0.1", 50000), addr("10.0.0.2", 51000)),
            None
        );
    }
}
