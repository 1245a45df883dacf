//! The kernel's view of TCP sockets, from the eBPF probe, kept per socket
//! so connection records built from packets can be given the process on
//! each end and the kernel's own counters.
//!
//! A socket is keyed by (local, remote) address: on one host both ends of a
//! connection can be local (pod to pod on one node), and then the client's
//! socket and the server's socket are two entries with mirrored keys.
//! Closed sockets stay for a while ([`KernelConfig::linger_ns`]), longer
//! than the tracker lingers over a closed connection, so the packet record
//! finds them; a closed socket no packet record claimed is reported on its
//! own (the agent saw no packets of it: another interface, another
//! namespace, or packets alone were dropped).
//!
//! Accepted sockets learn their process only when it closes them (accept
//! runs in softirq); until then the process of the listening address
//! stands in: learned at `listen()` (a wildcard address covers every
//! address of the port), and from each accepted socket its owner closes.

pub mod listening;
mod packed;

use packed::{Comm, Packed, SockMap};
use podwire_ebpf::{ConnEvent, KIND_ACCEPT, KIND_CLOSE, KIND_CONNECT, KIND_LISTEN, KIND_UNLISTEN};
use podwire_record::{
    Body, Close, Connection, DirectionStats, Endpoint, KernelCounters, Record, Side, Timestamp,
    Transport,
};
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bounds and timing of the table.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// Sockets remembered at once (open and recently closed); beyond it the
    /// oldest are forgotten and counted.
    pub max_sockets: usize,
    /// How long a closed socket waits to be claimed by a packet record.
    pub linger_ns: u64,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            max_sockets: 131_072,
            // The tracker reports a closed connection 5 s after its last
            // packet (plus up to 1 s until its sweep).
            linger_ns: 8_000_000_000,
        }
    }
}

/// Key of one socket: its local and remote address.
type SockKey = (SocketAddr, SocketAddr);

#[derive(Clone, Debug)]
struct Sock {
    side: Side,
    pid: u32,
    comm: Comm,
    cgroup_id: u64,
    /// Wall-clock start (connect or accept).
    start: Timestamp,
    closed: Option<Closed>,
    /// A packet record took its identity and counters.
    claimed: bool,
    /// The last snapshot in which a packet record covered this socket.
    covered: u64,
}

/// Who serves on a listening address: the owner of accepted sockets
/// until they close themselves. Learned at `listen()` and from the last
/// close of an accepted socket.
#[derive(Clone, Debug)]
struct Listener {
    /// 0: [`Listener::AMBIGUOUS`].
    pid: u32,
    comm: Comm,
    cgroup_id: u64,
}

impl Listener {
    /// Two different programs listen on the address at once: possible for
    /// a wildcard or loopback address, as the table does not tell network
    /// namespaces (pods) apart. Naming neither is better than naming the
    /// wrong one; their accepted sockets are named when they close.
    const AMBIGUOUS: Listener = Listener {
        pid: 0,
        comm: Comm::EMPTY,
        cgroup_id: 0,
    };

    /// Another process of the same program in the same cgroup (a prefork
    /// or SO_REUSEPORT server, a restart) rather than another program.
    fn same_program(&self, other: &Listener) -> bool {
        self.comm == other.comm && self.cgroup_id == other.cgroup_id
    }
}

#[derive(Clone, Copy, Debug)]
struct Closed {
    at: Timestamp,
    bytes_acked: u64,
    bytes_received: u64,
    srtt_us: u32,
    retransmits: u32,
}

/// What the table counted.
#[derive(Clone, Debug, Default)]
pub struct KernelStats {
    pub events: u64,
    /// Sockets forgotten because the table was full.
    pub evicted: u64,
    /// Closed sockets no packet record claimed, reported on their own.
    pub unclaimed: u64,
    /// Sockets known right now.
    pub sockets: u64,
}

/// Socket table; see the module docs.
pub struct KernelTable {
    cfg: KernelConfig,
    /// Converts the probe's monotonic clock to wall-clock time.
    mono_to_wall_ns: i128,
    socks: SockMap<Sock>,
    /// Open sockets by start, for eviction once no closed one is left;
    /// may hold stale keys (compacted when it outgrows the table).
    opened: VecDeque<(Packed, Timestamp)>,
    /// Closed sockets by close, for expiry and eviction; may hold stale
    /// keys (expiry drains them).
    closed: VecDeque<(Packed, Timestamp)>,
    /// Who serves on a local address, learned when they close accepted sockets.
    listeners: FxHashMap<SocketAddr, Listener>,
    /// Client sockets by local address: the remote each connected to, to
    /// find a socket whose destination this node rewrote (a ClusterIP).
    client_remote: FxHashMap<SocketAddr, SocketAddr>,
    /// Counts snapshots: see [`begin_snapshot`](Self::begin_snapshot).
    generation: u64,
    /// Closed, unclaimed sockets pushed out by the bound: reported at the
    /// next [`expire`](Self::expire) rather than lost.
    pushed_out: Vec<Record>,
    stats: KernelStats,
}

impl KernelTable {
    /// `mono_to_wall_ns`: wall-clock minus monotonic time, in nanoseconds.
    pub fn new(cfg: KernelConfig, mono_to_wall_ns: i128) -> KernelTable {
        KernelTable {
            cfg,
            mono_to_wall_ns,
            socks: SockMap::default(),
            opened: VecDeque::new(),
            closed: VecDeque::new(),
            listeners: FxHashMap::default(),
            client_remote: FxHashMap::default(),
            generation: 0,
            pushed_out: Vec::new(),
            stats: KernelStats::default(),
        }
    }

    pub fn stats(&self) -> KernelStats {
        KernelStats {
            sockets: self.socks.len() as u64,
            ..self.stats.clone()
        }
    }

    fn wall(&self, mono_ns: u64) -> Timestamp {
        let t = i128::from(mono_ns) + self.mono_to_wall_ns;
        Timestamp(t.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// One event from the probe.
    pub fn event(&mut self, ev: &ConnEvent) {
        self.stats.events += 1;
        let (Some(l), Some(r)) = (ev.local_addr(), ev.remote_addr()) else {
            return;
        };
        // An IPv6 socket talking IPv4 reports v4-mapped addresses; packets
        // (and every record) carry the IPv4 ones.
        let (l, r) = (l.to_canonical(), r.to_canonical());
        let key = (SocketAddr::new(l, ev.sport), SocketAddr::new(r, ev.dport));
        let comm = Comm::new(ev.comm);
        match ev.kind {
            KIND_LISTEN if ev.sport != 0 && ev.pid != 0 => {
                let l = Listener {
                    pid: ev.pid,
                    comm,
                    cgroup_id: ev.cgroup_id,
                };
                let l = match self.listeners.get(&key.0) {
                    Some(old) if !old.same_program(&l) => Listener::AMBIGUOUS,
                    _ => l,
                };
                self.learn_listener(key.0, l);
            }
            // The last process to close a shared listening socket may not
            // be the one named (a prefork server's): the same program in
            // the same cgroup is enough.
            KIND_UNLISTEN
                if self.listeners.get(&key.0).is_some_and(|l| {
                    l.same_program(&Listener {
                        pid: ev.pid,
                        comm,
                        cgroup_id: ev.cgroup_id,
                    })
                }) =>
            {
                self.listeners.remove(&key.0);
            }
            KIND_CONNECT | KIND_ACCEPT => {
                let side = if ev.kind == KIND_CONNECT {
                    Side::Client
                } else {
                    Side::Server
                };
                let sock = self.sock(ev, side, comm, None);
                self.insert(key, sock);
            }
            KIND_CLOSE => {
                let at = self.wall(ev.ts_ns);
                let closed = Closed {
                    at,
                    bytes_acked: ev.bytes_acked,
                    bytes_received: ev.bytes_received,
                    srtt_us: ev.srtt_us,
                    retransmits: ev.total_retrans,
                };
                if let Some(s) = self.socks.get_mut(&key) {
                    s.closed = Some(closed);
                    if s.pid == 0 && ev.pid != 0 {
                        s.pid = ev.pid;
                        s.comm = comm;
                        s.cgroup_id = ev.cgroup_id;
                    }
                    if s.side == Side::Server && ev.pid != 0 {
                        self.learn_listener(
                            key.0,
                            Listener {
                                pid: ev.pid,
                                comm,
                                cgroup_id: ev.cgroup_id,
                            },
                        );
                    }
                    // Expiry counts from the close.
                    self.closed.push_back((Packed::of(key), at));
                } else {
                    // Opened before the probe was loaded: the side is a guess
                    // (the ephemeral port is the client's).
                    let side = if ev.sport > ev.dport {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    let sock = self.sock(ev, side, comm, Some(closed));
                    self.insert(key, sock);
                }
            }
            _ => {}
        }
    }

    /// A socket as its first event describes it.
    fn sock(&self, ev: &ConnEvent, side: Side, comm: Comm, closed: Option<Closed>) -> Sock {
        let start = if ev.start_ns != 0 {
            ev.start_ns
        } else {
            ev.ts_ns
        };
        Sock {
            side,
            pid: ev.pid,
            comm,
            cgroup_id: ev.cgroup_id,
            start: self.wall(start),
            closed,
            claimed: false,
            covered: 0,
        }
    }

    /// What the start-up scan of `/proc` found (see [`listening`]); what
    /// events taught meanwhile is kept.
    pub fn learn_scanned(&mut self, found: Vec<listening::Found>) {
        let room = (self.cfg.max_sockets / 4).saturating_sub(self.listeners.len());
        let mut seen: FxHashMap<SocketAddr, Listener> = FxHashMap::default();
        for f in found {
            let l = Listener {
                pid: f.pid,
                comm: f.comm,
                cgroup_id: f.cgroup_id,
            };
            let full = seen.len() >= room;
            match seen.entry(f.local) {
                Entry::Occupied(mut e) if !e.get().same_program(&l) => {
                    e.insert(Listener::AMBIGUOUS);
                }
                Entry::Vacant(e) if !full => {
                    e.insert(l);
                }
                _ => {}
            }
        }
        listening::merge(&mut self.listeners, seen);
    }

    fn learn_listener(&mut self, local: SocketAddr, l: Listener) {
        if self.listeners.len() >= self.cfg.max_sockets / 4 && !self.listeners.contains_key(&local)
        {
            self.listeners.clear();
        }
        self.listeners.insert(local, l);
    }

    /// Adds a socket, making room first: the longest-closed socket goes
    /// (reported now rather than at the end of its linger), and an open
    /// one, the oldest, only when no closed socket is left. A busy host's
    /// short connections so never push out its long-lived ones.
    fn insert(&mut self, key: SockKey, sock: Sock) {
        while self.socks.len() >= self.cfg.max_sockets.max(1) {
            let (old, at) = match self.closed.pop_front() {
                Some(e) => e,
                None => match self.opened.pop_front() {
                    Some(e) => e,
                    None => break,
                },
            };
            // A stale entry (closed since, or the key was reused) evicts
            // nothing.
            let current = self.socks.get_packed(&old).is_some_and(|s| match s.closed {
                Some(c) => c.at == at,
                None => s.start == at,
            });
            if !current {
                continue;
            }
            let old = old.unpack();
            if let Some(s) = self.socks.remove(&old) {
                self.unindex(old);
                self.stats.evicted += 1;
                if s.closed.is_some() && !s.claimed {
                    self.stats.unclaimed += 1;
                    let rec = self.report_alone(old, &s);
                    self.pushed_out.push(rec);
                }
            }
        }
        match sock.closed {
            Some(c) => self.closed.push_back((Packed::of(key), c.at)),
            None => {
                self.opened.push_back((Packed::of(key), sock.start));
                self.compact_opened();
            }
        }
        if sock.side == Side::Client {
            self.client_remote.insert(key.0, key.1);
        }
        self.socks.insert(key, sock);
    }

    /// Drops the stale entries of `opened` once it holds twice the table:
    /// sockets that closed are not taken out of it one by one, and a
    /// long-lived socket at its front would keep them there.
    fn compact_opened(&mut self) {
        if self.opened.len() <= 2 * self.cfg.max_sockets.max(1) + 1024 {
            return;
        }
        let socks = &self.socks;
        self.opened.retain(|(k, at)| {
            socks
                .get_packed(k)
                .is_some_and(|s| s.closed.is_none() && s.start == *at)
        });
    }

    fn unindex(&mut self, key: SockKey) {
        if self.client_remote.get(&key.0) == Some(&key.1) {
            self.client_remote.remove(&key.0);
        }
    }

    /// Adds what the kernel knows to a connection record built from
    /// packets: process on each local end, and the counters of one socket
    /// (the client's when both are here). `nat(client, dst)` says who
    /// answered a connection this node rewrote, so that a socket that
    /// connected to a ClusterIP matches packets that left rewritten.
    pub fn merge(
        &mut self,
        rec: &mut Record,
        nat: &mut dyn FnMut(SocketAddr, SocketAddr) -> Option<SocketAddr>,
    ) {
        let c = SocketAddr::new(rec.client.ip, rec.client.port);
        let s = SocketAddr::new(rec.server.ip, rec.server.port);
        let conn = match &mut rec.body {
            Body::Connection(conn) if conn.proto == Transport::Tcp => conn,
            Body::Connection(_) => return,
            _ => {
                // A request or handshake record: the same process names as
                // its connection's, without claiming the sockets (the
                // connection record does that) or touching counters.
                if request_over_tcp(&rec.body) {
                    let client_key = self.client_key(c, s, nat);
                    if let Some(sock) = self.socks.get(&client_key) {
                        name(&mut rec.client, sock.pid, sock.comm.as_str());
                    }
                    if let Some(sock) = self.socks.get(&(s, c)) {
                        let (pid, comm) = self.owner(s, sock);
                        name(&mut rec.server, pid, comm);
                    }
                }
                return;
            }
        };
        let open = conn.close == Close::Open;
        let mut counters = None;
        let generation = self.generation;
        let client_key = self.client_key(c, s, nat);
        if let Some(sock) = self.socks.get_mut(&client_key) {
            name(&mut rec.client, sock.pid, sock.comm.as_str());
            counters = counters.or(kernel_counters(sock, Side::Client));
            sock.claimed |= !open;
            sock.covered = generation;
        }
        if let Some(sock) = self.socks.get(&(s, c)) {
            let (pid, comm) = self.owner(s, sock);
            name(&mut rec.server, pid, comm);
            counters = counters.or(kernel_counters(sock, Side::Server));
        }
        if let Some(sock) = self.socks.get_mut(&(s, c)) {
            sock.claimed |= !open;
            sock.covered = generation;
        }
        // A record made from the kernel alone already carries its counters.
        if counters.is_some() {
            conn.kernel = counters;
        }
    }

    /// The client socket of a conversation seen as `c -> s` on the wire: its
    /// own key, or the one it connected with before this node rewrote the
    /// destination (a ClusterIP).
    fn client_key(
        &self,
        c: SocketAddr,
        s: SocketAddr,
        nat: &mut dyn FnMut(SocketAddr, SocketAddr) -> Option<SocketAddr>,
    ) -> (SocketAddr, SocketAddr) {
        if self.socks.contains_key(&(c, s)) {
            return (c, s);
        }
        match self.client_remote.get(&c) {
            Some(&dst) if dst != s && nat(c, dst) == Some(s) => (c, dst),
            _ => (c, s),
        }
    }

    /// Starts a snapshot: every socket a packet record is merged with from
    /// now on counts as covered by packets in it. Returns its generation,
    /// for [`open_records`](Self::open_records).
    pub fn begin_snapshot(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Open sockets no packet record covered in snapshot `generation`, as
    /// connection records: one per connection, even when both its sockets
    /// are here (the client's record names the server's process too).
    /// `keep` may add to a record and says whether to keep it.
    pub fn open_records(
        &self,
        generation: u64,
        mut keep: impl FnMut(&mut Record) -> bool,
    ) -> Vec<Record> {
        let mut out = Vec::new();
        for ((l, r), s) in self.socks.iter() {
            if s.closed.is_some() || s.covered == generation {
                continue;
            }
            let peer = self.socks.get(&(r, l));
            if s.side == Side::Server && peer.is_some_and(|p| p.side == Side::Client) {
                continue;
            }
            let mut rec = self.record((l, r), s);
            if let Some(p) = peer.filter(|p| p.side == Side::Server) {
                let (pid, comm) = self.owner(r, p);
                name(&mut rec.server, pid, comm);
            }
            if keep(&mut rec) {
                out.push(rec);
            }
        }
        out
    }

    /// Who serves on a local address: the owner learned on that address,
    /// else the one listening on any address of its port (a listener on
    /// `[::]` takes IPv4 connections too; an IPv6-only one is never asked
    /// for an IPv4 address, as no IPv4 connection reaches its port).
    /// `None` when two programs listen there ([`Listener::AMBIGUOUS`]).
    fn listener(&self, local: SocketAddr) -> Option<&Listener> {
        if self.listeners.is_empty() {
            return None;
        }
        let any = |ip: IpAddr| self.listeners.get(&SocketAddr::new(ip, local.port()));
        self.listeners
            .get(&local)
            .or_else(|| match local.ip() {
                IpAddr::V4(_) => any(Ipv4Addr::UNSPECIFIED.into()),
                IpAddr::V6(_) => None,
            })
            .or_else(|| any(Ipv6Addr::UNSPECIFIED.into()))
            .filter(|l| l.pid != 0)
    }

    /// Who owns a local socket: its own process, else its listener's.
    fn owner<'a>(&'a self, local: SocketAddr, s: &'a Sock) -> (u32, &'a str) {
        match (s.pid, self.listener(local)) {
            (0, Some(l)) if s.side == Side::Server => (l.pid, l.comm.as_str()),
            _ => (s.pid, s.comm.as_str()),
        }
    }

    /// Ends closed sockets that waited long enough; those no packet record
    /// claimed become records of their own.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Record>) {
        out.append(&mut self.pushed_out);
        while let Some(&(key, at)) = self.closed.front() {
            if now.0.saturating_sub(at.0) < self.cfg.linger_ns {
                break;
            }
            let key = key.unpack();
            self.closed.pop_front();
            let done = match self.socks.get(&key) {
                Some(s) => s.closed.is_some_and(|c| c.at == at),
                None => false,
            };
            if !done {
                continue;
            }
            let Some(s) = self.socks.remove(&key) else {
                continue;
            };
            self.unindex(key);
            // Both ends here: the peer's socket may have been claimed, and
            // if it closed too, the two are one connection, one record.
            let rev = (key.1, key.0);
            let peer = self.socks.get(&rev);
            if s.claimed || peer.is_some_and(|p| p.claimed) {
                continue;
            }
            self.stats.unclaimed += 1;
            match peer.filter(|p| p.closed.is_some() && p.side != s.side) {
                Some(p) => {
                    let p = p.clone();
                    self.socks.remove(&rev);
                    self.unindex(rev);
                    let ((ck, c), (sk, srv)) = if s.side == Side::Client {
                        ((key, &s), (rev, &p))
                    } else {
                        ((rev, &p), (key, &s))
                    };
                    let mut rec = self.record(ck, c);
                    let (pid, comm) = self.owner(sk.0, srv);
                    name(&mut rec.server, pid, comm);
                    out.push(rec);
                }
                None => {
                    let rec = self.report_alone(key, &s);
                    out.push(rec);
                }
            }
        }
    }

    /// The record of a closed socket no packet record claimed, reported
    /// without its peer's socket: the other end's process is named if that
    /// socket is here (still open), and it is marked claimed so that its
    /// own close does not report the connection a second time.
    fn report_alone(&mut self, key: SockKey, s: &Sock) -> Record {
        let mut rec = self.record(key, s);
        let rev = (key.1, key.0);
        if let Some(p) = self.socks.get(&rev).filter(|p| p.side != s.side) {
            let (pid, comm) = self.owner(rev.0, p);
            let other = match s.side {
                Side::Client => &mut rec.server,
                Side::Server => &mut rec.client,
            };
            name(other, pid, comm);
            if let Some(p) = self.socks.get_mut(&rev) {
                p.claimed = true;
            }
        }
        rec
    }

    /// A connection record from one socket alone: no packet counts.
    fn record(&self, (local, remote): SockKey, s: &Sock) -> Record {
        let (mut client, mut server) = match s.side {
            Side::Client => (ep(local), ep(remote)),
            Side::Server => (ep(remote), ep(local)),
        };
        let pid_comm = self.owner(local, s);
        match s.side {
            Side::Client => name(&mut client, pid_comm.0, pid_comm.1),
            Side::Server => name(&mut server, pid_comm.0, pid_comm.1),
        }
        let last = s.closed.map(|c| c.at).unwrap_or(s.start);
        let body = Connection {
            proto: Transport::Tcp,
            first_seen: s.start,
            last_seen: last,
            duration_ms: s.start.millis_until(last),
            close: if s.closed.is_some() {
                Close::Fin
            } else {
                Close::Open
            },
            handshake_rtt_ms: None,
            retransmits: s.closed.map(|c| u64::from(c.retransmits)).unwrap_or(0),
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            handshake_seen: false,
            kernel: kernel_counters(s, s.side),
        };
        Record::new(s.start, client, server, Body::Connection(body))
    }

    /// The cgroup id of the process on a local socket, when known (an
    /// accepted socket's is its listener's until its owner closes it).
    pub fn cgroup_of(&self, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
        let s = self.socks.get(&(local, remote))?;
        match (s.cgroup_id, s.side) {
            (0, Side::Server) => self.listener(local).map(|l| l.cgroup_id),
            (id, _) => Some(id),
        }
        .filter(|&c| c != 0)
    }

    /// The cgroup ids of a record's client and server sockets, where they
    /// are local.
    pub fn cgroups(&self, rec: &Record) -> (Option<u64>, Option<u64>) {
        let c = SocketAddr::new(rec.client.ip, rec.client.port);
        let s = SocketAddr::new(rec.server.ip, rec.server.port);
        (self.cgroup_of(c, s), self.cgroup_of(s, c))
    }
}

fn ep(a: SocketAddr) -> Endpoint {
    Endpoint::new(a.ip(), a.port())
}

fn kernel_counters(s: &Sock, side: Side) -> Option<KernelCounters> {
    if s.side != side {
        return None;
    }
    Some(match s.closed {
        Some(c) => KernelCounters {
            side,
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            srtt_ms: Some(f64::from(c.srtt_us) / 1e3),
            retransmits: u64::from(c.retransmits),
        },
        // Counters are read at close; an open socket has none yet.
        None => return None,
    })
}

/// Whether a record other than a connection rode on TCP (the probe knows
/// only TCP sockets).
pub(crate) fn request_over_tcp(body: &Body) -> bool {
    match body {
        Body::Connection(_) => false,
        Body::Dns(d) => d.transport == podwire_record::DnsTransport::Tcp,
        Body::Tls(_)
        | Body::Http(_)
        | Body::Postgres(_)
        | Body::Mysql(_)
        | Body::Redis(_)
        | Body::Kafka(_) => true,
    }
}

/// Puts a process on an endpoint (nothing when the probe did not know it).
fn name(ep: &mut Endpoint, pid: u32, comm: &str) {
    if pid == 0 && comm.is_empty() {
        return;
    }
    let id = ep.identity.get_or_insert_with(Box::default);
    if !comm.is_empty() {
        id.process = Some(comm.to_string());
    }
    if pid != 0 {
        id.pid = Some(pid);
    }
}

#[cfg(test)]
mod tests;
