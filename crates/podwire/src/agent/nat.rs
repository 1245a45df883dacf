//! This node's address rewrites (conntrack), for the two places that need
//! them: naming a ClusterIP by the pod that answered
//! ([`Kube`](super::kube::Kube)), and matching a socket that connected to
//! a ClusterIP with the packets that left with the rewritten destination
//! ([`KernelTable::merge`](super::kernel::KernelTable::merge)).
//!
//! One ctnetlink socket, used under a lock; when the kernel refuses a
//! lookup (no CAP_NET_ADMIN) the agent says so once and stops asking.

use podwire_capture_live::conntrack::Conntrack;
use std::net::SocketAddr;
use std::sync::Mutex;

pub struct Nat(Mutex<Option<Conntrack>>);

impl Nat {
    /// Opens the lookup socket in the agent's own network namespace.
    pub fn open() -> Nat {
        Nat(Mutex::new(Conntrack::open().ok()))
    }

    /// Who answered `client -> server` if this node rewrote it (`proto` is
    /// the IP protocol number); `None` when not rewritten or not known.
    pub fn reply_source(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        proto: u8,
    ) -> Option<SocketAddr> {
        let mut ct = super::state::lock(&self.0);
        match ct.as_mut()?.reply_source(client, server, proto) {
            Ok(found) => found.filter(|b| *b != server),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    eprintln!(
                        "podwire: conntrack lookups refused ({e}): rewritten connections (ClusterIPs) are not followed"
                    );
                    *ct = None;
                }
                None
            }
        }
    }
}
