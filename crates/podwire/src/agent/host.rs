//! The host the agent runs on: its addresses and its name.
//!
//! An address held by an interface of the agent's network namespace (on a
//! node, the host namespace: the uplink, the bridges, loopback) is the
//! host itself, wherever a record found it. Such an endpoint is named as
//! the host ([`Identity::node`]: the node's name in Kubernetes, the host
//! name standalone) rather than left an address, which the UI would put
//! among the outside world's when it is public. The same set tells which
//! packets reach the agent's own API socket (see `own`).
//!
//! The addresses are one rtnetlink dump of the namespace, repeated at most
//! every [`REFRESH`] when asked (addresses change rarely: DHCP, a new
//! bridge), by whichever thread asks first; the others keep using the last
//! set meanwhile. The set is bounded ([`MAX_ADDRS`]).
//!
//! [`Identity::node`]: podwire_record::Identity::node

use podwire_record::{Endpoint, Record};
use rustc_hash::FxHashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How old the address set may get before the next ask refreshes it.
const REFRESH: Duration = Duration::from_secs(2);
/// Addresses kept at most (a node has a few per interface).
const MAX_ADDRS: usize = 4096;

/// See the module docs.
pub struct Host {
    /// `None`: not a live host (`read --serve`): nothing is local.
    name: Option<String>,
    addrs: RwLock<Arc<FxHashSet<IpAddr>>>,
    /// When the set was last read; held while one thread refreshes it.
    read_at: Mutex<Option<Instant>>,
}

impl Host {
    /// A host with no addresses, for records from files.
    pub fn none() -> Host {
        Host {
            name: None,
            addrs: RwLock::default(),
            read_at: Mutex::new(None),
        }
    }

    /// The agent's own host, named `name`.
    pub fn local(name: String) -> Host {
        let h = Host {
            name: Some(name),
            ..Host::none()
        };
        h.refresh();
        h
    }

    /// This machine's host name (`gethostname`), `localhost` if it has none.
    pub fn hostname() -> String {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its whole length, as gethostname needs.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        match String::from_utf8_lossy(&buf[..end]).trim() {
            n if rc == 0 && !n.is_empty() => n.to_string(),
            _ => "localhost".to_string(),
        }
    }

    /// The current address set (refreshed first when stale).
    pub fn addrs(&self) -> Arc<FxHashSet<IpAddr>> {
        self.refresh();
        Arc::clone(&podwire_sync::read(&self.addrs))
    }

    /// Whether `ip` is one of the host's own addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.name.is_some() && self.addrs().contains(&ip.to_canonical())
    }

    /// Re-reads the addresses when the set is older than [`REFRESH`];
    /// a thread that finds another refreshing goes on with the old set.
    fn refresh(&self) {
        if self.name.is_none() {
            return;
        }
        let Ok(mut at) = self.read_at.try_lock() else {
            return;
        };
        if at.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        *at = Some(Instant::now());
        // A failed dump keeps the last set: better stale than empty.
        if let Ok(list) = podwire_capture_live::podnet::addresses() {
            let set: FxHashSet<IpAddr> = list
                .into_iter()
                .map(|a| a.addr.to_canonical())
                .take(MAX_ADDRS)
                .collect();
            *podwire_sync::write(&self.addrs) = Arc::new(set);
        }
    }

    /// Names both endpoints of `rec` that are the host's own addresses.
    pub fn name(&self, rec: &mut Record) {
        let Some(name) = &self.name else { return };
        let addrs = self.addrs();
        if addrs.is_empty() {
            return;
        }
        for ep in [&mut rec.client, &mut rec.server] {
            name_endpoint(&addrs, name, ep);
        }
    }
}

fn name_endpoint(addrs: &FxHashSet<IpAddr>, name: &str, ep: &mut Endpoint) {
    if !addrs.contains(&ep.ip.to_canonical()) {
        return;
    }
    let id = ep.identity.get_or_insert_with(Box::default);
    if id.node.is_none() {
        id.node = Some(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_record::{Body, Http, Timestamp};

    #[test]
    fn the_hosts_addresses_are_named_as_the_host_and_nothing_else() {
        let addrs: FxHashSet<IpAddr> = ["127.0.0.1", "192.0.2.10"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let mut r = Record::new(
            Timestamp(1),
            Endpoint::new("198.51.100.7".parse().unwrap(), 40000),
            Endpoint::new("::ffff:192.0.2.10".parse().unwrap(), 443),
            Body::Http(Http::default()),
        );
        for ep in [&mut r.client, &mut r.server] {
            name_endpoint(&addrs, "node-1", ep);
        }
        assert!(r.client.identity.is_none());
        let id = r.server.identity.unwrap();
        assert_eq!(id.node.as_deref(), Some("node-1"));
    }

    #[test]
    fn the_live_host_holds_loopback() {
        // Every network namespace has `lo`; it is up wherever tests run.
        let h = Host::local("test".into());
        assert!(h.contains("127.0.0.1".parse().unwrap()));
        assert!(h.addrs().len() < MAX_ADDRS);
        assert!(!Host::none().contains("127.0.0.1".parse().unwrap()));
    }
}
