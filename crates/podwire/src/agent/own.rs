//! The agent's own API connections, left out of what it observes.
//!
//! Left alone, the agent watches itself: the web UI polling it, Prometheus
//! scraping it and peers asking it fill its tables and metrics, and a
//! capture whose stream crosses the captured interface captures its own
//! stream, which grows the stream, which is captured again. So by default
//! its own connections are left out of analysis (packets never reach the
//! trackers; kernel-only records are dropped) and out of captures, and
//! counted; `--observe-self` keeps them.
//!
//! Which connections are its own, and why these tests:
//!
//! - **Served**: a TCP packet to or from the listen port on the listen
//!   address, or, listening on an unspecified address, on any address of
//!   the agent's own network namespace ([`Host`]). The test is on packets
//!   seen in that namespace only (a ring in another one, `--netns`, has its
//!   own loopback and addresses): there, only the agent's socket can hold
//!   that address and port (a hostNetwork pod shares the namespace, so it
//!   cannot bind them too), while a pod serving on the same port number
//!   has an address of its own namespace and is kept. It holds from the
//!   first SYN, before `accept` returns. The rings' kernel filter makes
//!   the same test ([`Own::kernel_skip`]), so under load these packets do
//!   not even take ring space; the test after the ring remains for what
//!   the kernel filter cannot hold.
//! - **Outgoing** (requests to peers): the client socket is bound before
//!   it connects, and its local port and the peer's address are
//!   registered before the SYN leaves; the connection is (local port,
//!   peer) until shortly after it closes.
//! - **Kernel records**: the eBPF probe sees sockets of every namespace
//!   without saying which, so the address test could take another
//!   namespace's loopback socket for the agent's. Its sockets are instead
//!   matched exactly: every connection the API accepts is registered by
//!   (local port, client address) until [`LINGER`] after it closes, longer
//!   than the kernel table holds a closed socket, as outgoing ones are.
//! - **Captures**: the same packet test, in the capture thread, when the
//!   captured interface is in the agent's own namespace. Dropping there
//!   rather than in the kernel filter keeps the filter the caller's own
//!   tcpdump expression, and follows connections that begin after the
//!   capture did.
//!
//! Left out: the agent's connections to the Kubernetes API server and its
//! DNS and reverse DNS queries (not API traffic), and a ClusterIP in front
//! of the agent (a Service address, rewritten to the agent's only after
//! the packet was seen on the client's veth).

use super::host::Host;
use podwire_record::{Body, Record};
use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a closed connection is still the agent's: longer than the
/// kernel table keeps a closed socket before reporting it (8 s).
const LINGER: Duration = Duration::from_secs(30);
/// Connections registered at most; beyond, new ones are not (and their
/// kernel-only records are kept, counted in `unregistered`).
const MAX_CONNS: usize = 16_384;

/// (local port, remote address) of one of the agent's own connections.
type Key = (u16, SocketAddr);

/// See the module docs.
pub struct Own {
    observe: bool,
    /// The API's socket address, once bound (the port may be chosen then).
    listen: OnceLock<SocketAddr>,
    host: Arc<Host>,
    /// The agent's connections, open or lately closed.
    conns: Mutex<FxHashMap<Key, Entry>>,
    /// Registered connections per local port: the packet and record tests
    /// take the table's lock only for a port that has some, so the rest of
    /// the traffic pays two loads (at most [`MAX_CONNS`] per port: no
    /// overflow).
    ports: Box<[AtomicU16]>,
    /// Whether a ring's kernel filter leaves the API out yet: [`NO_RING`],
    /// [`PENDING`] or [`IN_PLACE`].
    kernel_filter: AtomicU8,
    pub counters: OwnCounters,
}

/// No capture ring in the agent's namespace: nothing to wait for.
const NO_RING: u8 = 0;
/// A ring will apply the filter once the API is bound.
const PENDING: u8 = 1;
/// Applied.
const IN_PLACE: u8 = 2;

/// What was left out, since start (defined in the telemetry catalogue).
pub use podwire_telemetry::catalogue::OwnCounters;

impl Own {
    /// `observe`: `--observe-self`, nothing is left out.
    pub fn new(observe: bool, host: Arc<Host>) -> Own {
        Own {
            observe,
            listen: OnceLock::new(),
            host,
            conns: Mutex::default(),
            ports: (0..=u16::MAX).map(|_| AtomicU16::new(0)).collect(),
            kernel_filter: AtomicU8::new(NO_RING),
            counters: OwnCounters::default(),
        }
    }

    /// Nothing is the agent's own (`read --serve`, or observing itself).
    pub fn off() -> Own {
        Own::new(true, Arc::new(Host::none()))
    }

    /// Where the API listens, once its socket is bound.
    pub fn set_listen(&self, addr: SocketAddr) {
        let _ = self.listen.set(addr);
    }

    /// A capture ring in the agent's namespace will put the API into its
    /// kernel filter ([`Own::kernel_skip`]); serving waits for it.
    pub fn expect_kernel_filter(&self) {
        if !self.observe {
            self.kernel_filter.store(PENDING, Ordering::Relaxed);
        }
    }

    /// A ring's kernel filter leaves the API's packets out now.
    pub fn kernel_filter_applied(&self) {
        self.kernel_filter.store(IN_PLACE, Ordering::Relaxed);
    }

    /// Waits (at most `limit`) until the kernel filter expected is in place.
    pub async fn kernel_filter_in_place(&self, limit: Duration) {
        let start = Instant::now();
        while self.kernel_filter.load(Ordering::Relaxed) == PENDING && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the API is bound and its packets are to be left out: the
    /// moment the kernel filter can take them (one atomic load).
    pub fn listening(&self) -> bool {
        !self.observe && self.listen.get().is_some()
    }

    /// Whether anything is left out at all.
    pub fn active(&self) -> bool {
        !self.observe
    }

    /// Whether a TCP packet between `a` and `b`, seen in the agent's own
    /// network namespace, belongs to one of its API connections.
    pub fn packet(&self, a: SocketAddr, b: SocketAddr) -> bool {
        if self.observe {
            return false;
        }
        if self.served(a) || self.served(b) {
            return true;
        }
        self.registered(a, b)
    }

    /// Whether the connection between `a` and `b` is registered, either end
    /// being the local one.
    fn registered(&self, a: SocketAddr, b: SocketAddr) -> bool {
        let some = |p: u16| self.ports[usize::from(p)].load(Ordering::Relaxed) > 0;
        (some(a.port()) || some(b.port())) && {
            let c = super::state::lock(&self.conns);
            c.contains_key(&(a.port(), b)) || c.contains_key(&(b.port(), a))
        }
    }

    /// Whether `end` is the agent's listening socket.
    fn served(&self, end: SocketAddr) -> bool {
        let Some(listen) = self.listen.get() else {
            return false;
        };
        if end.port() != listen.port() {
            return false;
        }
        let ip = end.ip().to_canonical();
        if listen.ip().is_unspecified() {
            self.host.contains(ip)
        } else {
            ip == listen.ip().to_canonical()
        }
    }

    /// What the packet rings of the agent's namespace drop in the kernel
    /// (see `podwire_capture_live::Skip`): the served test of [`Own::packet`],
    /// before the packets take ring space, so a busy API cannot crowd out
    /// the traffic the agent watches. The test after the ring stays (for
    /// peers, and for addresses beyond the kernel filter's bound). `None`
    /// before the API is bound, or observing itself.
    pub fn kernel_skip(&self) -> Option<(Vec<std::net::IpAddr>, u16)> {
        if self.observe {
            return None;
        }
        let listen = self.listen.get()?;
        let mut addrs: Vec<std::net::IpAddr> = if listen.ip().is_unspecified() {
            self.host.addrs().iter().copied().collect()
        } else {
            vec![listen.ip().to_canonical()]
        };
        // The kernel tests the first addresses only: loopback first (where
        // a dashboard or a port-forward arrives), then a stable order.
        addrs.sort_by_key(|ip| (!ip.is_loopback(), *ip));
        Some((addrs, listen.port()))
    }

    /// Whether a record the kernel table made alone is one of the agent's
    /// sockets (see the module docs: exact, registered connections only).
    pub fn kernel_record(&self, rec: &Record) -> bool {
        if self.observe || !matches!(rec.body, Body::Connection(_)) {
            return false;
        }
        let (c, s) = (
            SocketAddr::new(rec.client.ip.to_canonical(), rec.client.port),
            SocketAddr::new(rec.server.ip.to_canonical(), rec.server.port),
        );
        self.registered(c, s)
    }

    /// Drops the agent's own kernel-only records from `records`, counting.
    pub fn drop_kernel_records(&self, records: &mut Vec<Record>) {
        if self.observe || records.is_empty() {
            return;
        }
        let before = records.len();
        records.retain(|r| !self.kernel_record(r));
        let gone = (before - records.len()) as u64;
        if gone > 0 {
            self.counters.records.fetch_add(gone, Ordering::Relaxed);
        }
    }

    /// Registers a connection of the agent's (local port, remote), served or
    /// opened by it, until the guard drops and [`LINGER`] passes.
    pub fn register(self: &Arc<Self>, local_port: u16, remote: SocketAddr) -> Guard {
        if self.observe {
            return Guard(None);
        }
        let key = (
            local_port,
            SocketAddr::new(remote.ip().to_canonical(), remote.port()),
        );
        let mut c = super::state::lock(&self.conns);
        if c.len() >= MAX_CONNS {
            self.purge(&mut c);
        }
        if c.len() >= MAX_CONNS {
            self.counters.unregistered.fetch_add(1, Ordering::Relaxed);
            return Guard(None);
        }
        if c.insert(key, Entry { closed: None }).is_none() {
            self.ports[usize::from(local_port)].fetch_add(1, Ordering::Relaxed);
        }
        Guard(Some((Arc::clone(self), key)))
    }

    /// Forgets connections closed longer than [`LINGER`] ago.
    pub fn expire(&self) {
        self.purge(&mut super::state::lock(&self.conns));
    }

    fn purge(&self, c: &mut FxHashMap<Key, Entry>) {
        let now = Instant::now();
        c.retain(|&(port, _), e| {
            let keep = e.closed.is_none_or(|t| now.duration_since(t) < LINGER);
            if !keep {
                self.ports[usize::from(port)].fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }
}

/// The API's own connections, as `podwire_api` reports them.
impl podwire_api::OwnConns for Own {
    fn listening(&self, addr: SocketAddr) {
        self.set_listen(addr);
    }

    fn ready(&self, limit: Duration) -> podwire_api::backend::BoxFuture<'_, ()> {
        Box::pin(self.kernel_filter_in_place(limit))
    }

    fn register(self: Arc<Self>, local_port: u16, remote: SocketAddr) -> Box<dyn Send + Sync> {
        Box::new(Own::register(&self, local_port, remote))
    }
}

/// A registered connection.
struct Entry {
    /// When it closed; `None` while open.
    closed: Option<Instant>,
}

/// One registered connection; marks it closed when dropped.
pub struct Guard(Option<(Arc<Own>, Key)>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some((own, key)) = &self.0 {
            if let Some(e) = super::state::lock(&own.conns).get_mut(key) {
                e.closed = Some(Instant::now());
            }
        }
    }
}

/// Whether network namespace `path` (`None`: the agent's own) is the
/// agent's own: the same namespace file (device and inode) as its own.
pub fn is_own_netns(path: Option<&std::path::Path>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(path) = path else { return true };
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Connects to `addr` as the agent's own outgoing connection: the socket
/// is bound and registered before its SYN leaves, so not one of its
/// packets is taken for anyone else's.
pub async fn connect(
    own: Option<&Arc<Own>>,
    addr: SocketAddr,
) -> std::io::Result<(tokio::net::TcpStream, Guard)> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    let any = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    socket.bind(any)?;
    let guard = match own {
        Some(o) => o.register(socket.local_addr()?.port(), addr),
        None => Guard(None),
    };
    Ok((socket.connect(addr).await?, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_on(listen: &str) -> Own {
        let own = Own::new(false, Arc::new(Host::local("test".into())));
        own.set_listen(listen.parse().unwrap());
        own
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_listen_address_and_port_are_the_agents() {
        let own = own_on("127.0.0.1:6676");
        assert!(own.packet(sa("127.0.0.1:40000"), sa("127.0.0.1:6676")));
        assert!(own.packet(sa("127.0.0.1:6676"), sa("127.0.0.1:40000")));
        // The same port on another address is someone else's.
        assert!(!own.packet(sa("10.1.0.5:40000"), sa("10.1.0.7:6676")));
        assert!(!own.packet(sa("127.0.0.1:40000"), sa("127.0.0.1:6677")));
    }

    #[test]
    fn listening_everywhere_means_on_the_hosts_own_addresses() {
        let own = own_on("0.0.0.0:6676");
        assert!(own.packet(sa("127.0.0.1:40000"), sa("127.0.0.1:6676")));
        // An address on no interface here: a pod's.
        let pod = (1..=254u8)
            .map(|i| std::net::IpAddr::from([198, 51, 100, i]))
            .find(|ip| !own.host.contains(*ip))
            .expect("a free address");
        let client = SocketAddr::new(pod, 40000);
        assert!(!own.packet(client, SocketAddr::new(pod, 6676)));
    }

    #[test]
    fn outgoing_connections_are_the_agents_while_registered_and_lingering() {
        let own = Arc::new(own_on("127.0.0.1:6676"));
        let peer = sa("192.0.2.9:6676");
        let guard = own.register(50123, peer);
        assert!(own.packet(sa("192.0.2.1:50123"), peer));
        assert!(own.packet(peer, sa("192.0.2.1:50123")));
        assert!(!own.packet(sa("192.0.2.1:50124"), peer));
        drop(guard);
        own.expire();
        assert!(own.packet(peer, sa("192.0.2.1:50123")), "lingers");
        for e in own.conns.lock().unwrap().values_mut() {
            e.closed = Some(Instant::now() - LINGER);
        }
        own.expire();
        assert!(!own.packet(peer, sa("192.0.2.1:50123")));
        assert_eq!(own.ports[50123].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn kernel_records_match_registered_connections_exactly() {
        use podwire_record::{Close, Connection, DirectionStats, Endpoint, Timestamp, Transport};
        let own = Arc::new(own_on("0.0.0.0:6676"));
        let conn = |client: &str, server: &str| {
            let (c, s) = (sa(client), sa(server));
            Record::new(
                Timestamp(1),
                Endpoint::new(c.ip(), c.port()),
                Endpoint::new(s.ip(), s.port()),
                Body::Connection(Connection {
                    proto: Transport::Tcp,
                    first_seen: Timestamp(1),
                    last_seen: Timestamp(1),
                    duration_ms: 0.0,
                    close: Close::Fin,
                    handshake_rtt_ms: None,
                    retransmits: 0,
                    client_to_server: DirectionStats::default(),
                    server_to_client: DirectionStats::default(),
                    handshake_seen: false,
                    kernel: None,
                }),
            )
        };
        let _served = own.register(6676, sa("127.0.0.1:40000"));
        let mut records = vec![
            conn("127.0.0.1:40000", "127.0.0.1:6676"),
            // Another namespace's loopback server on the same port.
            conn("127.0.0.1:40001", "127.0.0.1:6676"),
        ];
        own.drop_kernel_records(&mut records);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].client.port, 40001);
        assert_eq!(own.counters.records.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn observing_itself_leaves_nothing_out() {
        let own = Arc::new(Own::new(true, Arc::new(Host::local("t".into()))));
        own.set_listen(sa("127.0.0.1:6676"));
        let _g = own.register(6676, sa("127.0.0.1:40000"));
        assert!(!own.packet(sa("127.0.0.1:40000"), sa("127.0.0.1:6676")));
        assert!(!own.active());
    }
}
