//! Connection tracking: the `track` stage of the pipeline.
//!
//! The [`Tracker`] takes decoded packets in capture order and keeps one
//! entry per TCP connection or UDP flow: who is client and who is server,
//! per-direction packet/byte/payload counts, handshake RTT,
//! retransmissions, and how it ended. For TCP it reassembles each
//! direction ([`stream`]) and feeds the bytes to the parser that content
//! detection picked ([`app`]); DNS over UDP is parsed per datagram and
//! paired across the flow table. Records come out when a connection ends,
//! times out, is pushed out by the table's bound, or the input ends.
//!
//! Time is the capture's: nothing here reads a clock, so `podwire read` and
//! the live agent behave the same, and tests are exact.

mod app;
mod conn;
mod key;
mod orient;
mod plain;
pub mod shard;
mod stream;
mod tls;

pub use app::{ParserConfig, ParserStats};
pub use key::Addr;
pub use plain::{Plaintext, PENDING_MAX_AGE_NS, PENDING_MAX_BYTES};

use app::{Found, Parsed};
use conn::{Conn, ConnState, ParseCx, TcpSeen};
use key::FlowKey;
use podwire_decode::{tcp_flags, Packet, Transport};
use podwire_dns::{DnsEvent, DnsPairer, DNS_PORTS};
use podwire_parse::Direction;
use podwire_record::{Body, Close, DnsTransport, Endpoint, Record, Timestamp};
use rustc_hash::FxHashMap;
use stream::Budget;

/// Limits and timeouts of the tracker. Every table is bounded.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// A TCP connection with no packet for this long is closed as `timeout`.
    pub tcp_idle_timeout_ns: u64,
    /// A UDP flow with no packet for this long ends.
    pub udp_idle_timeout_ns: u64,
    /// How long a closed TCP connection keeps absorbing stray packets
    /// (final ACKs, retransmitted FINs) before it is reported.
    pub close_linger_ns: u64,
    /// Connections and flows tracked at once; beyond it the least recently
    /// active are reported early (as `open`) and counted as evicted.
    pub max_connections: usize,
    /// Out-of-order bytes buffered per connection direction.
    pub max_buffered_per_connection: usize,
    /// Out-of-order bytes buffered for all connections together.
    pub max_buffered_total: usize,
    pub parsers: ParserConfig,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            tcp_idle_timeout_ns: 300_000_000_000,
            udp_idle_timeout_ns: 60_000_000_000,
            close_linger_ns: 5_000_000_000,
            max_connections: 262_144,
            max_buffered_per_connection: 256 << 10,
            max_buffered_total: 64 << 20,
            parsers: ParserConfig::default(),
        }
    }
}

/// What the tracker counted.
#[derive(Clone, Debug, Default)]
pub struct TrackerStats {
    pub tcp_connections: u64,
    pub udp_flows: u64,
    /// Connections reported early because the table was full.
    pub evicted: u64,
    /// Times reassembly gave up a hole because a buffer limit was reached.
    pub reassembly_limit_hits: u64,
    /// Bytes buffered for reassembly right now.
    pub reassembly_buffered: usize,
    pub parsers: ParserStats,
    /// DNS datagrams that did not parse (or parsed only in part).
    pub dns_malformed: u64,
    /// DNS queries pushed out of the pairing table unanswered.
    pub dns_evicted: u64,
    /// DNS messages with no question that no query named (not emitted).
    pub dns_unnamed: u64,
    /// Connections and flows tracked right now.
    pub open: u64,
    /// TLS library calls whose plaintext was parsed on a tracked
    /// connection (live agent; the other end's calls on a connection whose
    /// both ends are here are not counted: one end's are parsed).
    pub tls_plaintext_calls: u64,
    /// Calls whose plaintext was dropped: its connection was never tracked
    /// within `PENDING_MAX_AGE_NS`, or too much was waiting.
    pub tls_plaintext_dropped: u64,
}

/// Wall of a sweep: idle entries are looked for once per second of capture time.
const SWEEP_INTERVAL_NS: u64 = 1_000_000_000;

/// The connection table and everything that hangs off it.
pub struct Tracker {
    cfg: TrackerConfig,
    table: FxHashMap<FlowKey, Conn>,
    budget: Budget,
    dns_udp: DnsPairer<(Addr, Addr)>,
    stats: TrackerStats,
    now: Timestamp,
    last_sweep: Timestamp,
    parsed: Found,
    dns_events: Vec<DnsEvent<(Addr, Addr)>>,
    /// Plaintext waiting for its connection's packets.
    pending: plain::Pending,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        let budget = Budget {
            max: cfg.max_buffered_total,
            ..Default::default()
        };
        let dns_udp = DnsPairer::new(&cfg.parsers.dns, DnsTransport::Udp);
        Tracker {
            cfg,
            table: FxHashMap::default(),
            budget,
            dns_udp,
            stats: TrackerStats::default(),
            now: Timestamp(0),
            last_sweep: Timestamp(0),
            parsed: Found::default(),
            dns_events: Vec::new(),
            pending: plain::Pending::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> TrackerStats {
        let mut s = self.stats.clone();
        s.reassembly_limit_hits = self.budget.limit_hits;
        s.reassembly_buffered = self.budget.used;
        s.dns_evicted = self.dns_udp.evicted();
        s.dns_unnamed = self.dns_udp.unnamed();
        s.open = self.table.len() as u64;
        s
    }

    /// One decoded packet, captured at `ts`, whose frame was `frame_len`
    /// bytes on the wire. Finished records are appended to `out`.
    pub fn packet(
        &mut self,
        ts: Timestamp,
        frame_len: u32,
        pkt: &Packet<'_>,
        out: &mut Vec<Record>,
    ) {
        if ts > self.now {
            self.now = ts;
        }
        if self.now.0.saturating_sub(self.last_sweep.0) >= SWEEP_INTERVAL_NS {
            self.last_sweep = self.now;
            self.sweep(out);
        }
        let (sport, dport) = pkt.transport.ports();
        let src = Addr {
            ip: pkt.src,
            port: sport,
        };
        let dst = Addr {
            ip: pkt.dst,
            port: dport,
        };
        if pkt.count_only {
            self.quoted(ts, frame_len, src, dst, pkt, out);
            return;
        }
        match pkt.transport {
            Transport::Tcp(h) => self.tcp(ts, frame_len, h, pkt, out),
            Transport::Udp { .. } => self.udp(ts, frame_len, src, dst, pkt, out),
        }
    }

    /// A packet only counted in its flow (see `Packet::count_only`).
    fn quoted(
        &mut self,
        ts: Timestamp,
        frame_len: u32,
        src: Addr,
        dst: Addr,
        pkt: &Packet<'_>,
        out: &mut Vec<Record>,
    ) {
        let (key, _) = FlowKey::of(src, dst, matches!(pkt.transport, Transport::Tcp(_)));
        if !self.table.contains_key(&key) {
            self.make_room(out);
            let conn = match pkt.transport {
                Transport::Tcp(h) => {
                    self.stats.tcp_connections += 1;
                    Conn::new_tcp(ts, src, dst, &h)
                }
                Transport::Udp { .. } => {
                    self.stats.udp_flows += 1;
                    Conn::new_udp(ts, src, dst)
                }
            };
            self.table.insert(key, conn);
        }
        if let Some(conn) = self.table.get_mut(&key) {
            let dir = direction(conn.client, src);
            conn.count(ts, frame_len, dir, pkt.payload_len);
        }
    }

    /// Plaintext a TLS library moved on a TCP connection (the live agent's
    /// uprobes): parsed beside the connection's packets, its records marked
    /// as found inside TLS. Plaintext of a connection not tracked yet waits
    /// for it (see `plain`).
    pub fn plaintext(&mut self, p: &Plaintext<'_>, out: &mut Vec<Record>) {
        let (key, local) = plain::key_of(p);
        if !self.table.contains_key(&key) {
            if !self.pending.keep(key, p) {
                self.stats.tls_plaintext_dropped += 1;
            }
            return;
        }
        self.feed_plaintext(key, local, p, out);
    }

    fn feed_plaintext(
        &mut self,
        key: FlowKey,
        local: Addr,
        p: &Plaintext<'_>,
        out: &mut Vec<Record>,
    ) {
        let Some(conn) = self.table.get_mut(&key) else {
            return;
        };
        // The local end's sends travel from it.
        let from_local = if p.sent {
            local
        } else {
            other_end(&key, local)
        };
        let dir = direction(conn.client, from_local);
        if conn.plaintext(
            local,
            dir,
            p,
            &self.cfg,
            &mut self.parsed,
            &mut self.stats.parsers,
        ) {
            self.stats.tls_plaintext_calls += 1;
        }
        records_of(&mut self.parsed.parsed, conn.client, conn.server, out);
    }

    /// Feeds what waited for a connection that was just tracked.
    fn take_pending(&mut self, key: FlowKey, out: &mut Vec<Record>) {
        for w in self.pending.take(&key) {
            let p = w.plaintext();
            let (_, local) = plain::key_of(&p);
            self.feed_plaintext(key, local, &p, out);
        }
    }

    /// Live capture: moves the clock to `now` (wall time) when packets are
    /// quiet, so idle connections still end on time. Ignored when `now` is
    /// behind the packets already seen.
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Record>) {
        if now > self.now {
            self.now = now;
        }
        if self.now.0.saturating_sub(self.last_sweep.0) >= SWEEP_INTERVAL_NS {
            self.last_sweep = self.now;
            self.sweep(out);
        }
    }

    /// Connection records of everything tracked right now, as it stands
    /// (`close` is `open` unless a FIN or RST was already seen). The table
    /// is left as it is.
    pub fn snapshot(&self, out: &mut Vec<Record>) {
        out.reserve(self.table.len());
        self.for_each_open(|r| out.push(r));
    }

    /// Like [`snapshot`](Self::snapshot), one record at a time (so a caller
    /// that keeps few of them never holds them all).
    pub fn for_each_open(&self, mut f: impl FnMut(Record)) {
        for c in self.table.values() {
            f(c.record(None));
        }
    }

    /// Connections and flows tracked right now.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The input ended: report every connection and pending DNS query.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        while self.flush_some(usize::MAX, out) {}
    }

    /// Like [`flush`](Self::flush), a piece at a time: reports at most
    /// `limit` connections and returns whether any are left. Lets the caller
    /// write records as they come instead of holding them all at once (a
    /// full table turned into records at once would double its memory).
    pub fn flush_some(&mut self, limit: usize, out: &mut Vec<Record>) -> bool {
        let keys: Vec<FlowKey> = self.table.keys().take(limit).copied().collect();
        for k in keys {
            if let Some(c) = self.table.remove(&k) {
                self.finish(c, None, out);
            }
        }
        if !self.table.is_empty() {
            return true;
        }
        self.dns_udp.drain(&mut self.dns_events);
        self.emit_dns(out);
        false
    }

    fn tcp(
        &mut self,
        ts: Timestamp,
        frame_len: u32,
        h: podwire_decode::TcpHeader,
        pkt: &Packet<'_>,
        out: &mut Vec<Record>,
    ) {
        let src = Addr {
            ip: pkt.src,
            port: h.src_port,
        };
        let dst = Addr {
            ip: pkt.dst,
            port: h.dst_port,
        };
        let (key, _) = FlowKey::of(src, dst, true);
        let syn_only = h.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        // The common case first: a known connection, one lookup.
        let known = match self.table.get_mut(&key) {
            // A new SYN on a known 4-tuple is port reuse, unless it repeats
            // the SYN that opened the connection.
            Some(conn) if !(syn_only && conn.is_new_syn(h.seq)) => Some(conn),
            _ => None,
        };
        let seen = TcpSeen {
            ts,
            frame_len,
            src,
            h: &h,
            pkt,
        };
        if let Some(conn) = known {
            conn.tcp_packet(
                seen,
                ParseCx {
                    cfg: &self.cfg,
                    budget: &mut self.budget,
                    out: &mut self.parsed,
                    pstats: &mut self.stats.parsers,
                },
            );
            records_of(&mut self.parsed.parsed, conn.client, conn.server, out);
            return;
        }
        if let Some(old) = self.table.remove(&key) {
            self.finish(old, None, out);
        }
        self.make_room(out);
        self.stats.tcp_connections += 1;
        let mut conn = Conn::new_tcp(ts, src, dst, &h);
        conn.tcp_packet(
            seen,
            ParseCx {
                cfg: &self.cfg,
                budget: &mut self.budget,
                out: &mut self.parsed,
                pstats: &mut self.stats.parsers,
            },
        );
        records_of(&mut self.parsed.parsed, conn.client, conn.server, out);
        self.table.insert(key, conn);
        self.take_pending(key, out);
    }

    fn udp(
        &mut self,
        ts: Timestamp,
        frame_len: u32,
        src: Addr,
        dst: Addr,
        pkt: &Packet<'_>,
        out: &mut Vec<Record>,
    ) {
        let (key, _) = FlowKey::of(src, dst, false);
        if !self.table.contains_key(&key) {
            self.make_room(out);
            self.stats.udp_flows += 1;
            self.table.insert(key, Conn::new_udp(ts, src, dst));
        }
        let Some(conn) = self.table.get_mut(&key) else {
            return;
        };
        conn.udp_packet(ts, frame_len, src, pkt);
        if pkt.payload.is_empty() {
            return;
        }
        let dns = match conn.state {
            ConnState::Udp { ref mut dns } => {
                let is_dns = *dns.get_or_insert_with(|| {
                    DNS_PORTS.contains(&src.port)
                        || DNS_PORTS.contains(&dst.port)
                        || podwire_dns::looks_like_dns(pkt.payload)
                });
                is_dns
            }
            _ => false,
        };
        if !dns {
            return;
        }
        match podwire_dns::parse(pkt.payload) {
            Ok(msg) => {
                if msg.malformed {
                    self.stats.dns_malformed += 1;
                }
                // Pair by (client, server) as the message says: queries go to
                // the server, responses come from it.
                let pair = if msg.response { (dst, src) } else { (src, dst) };
                self.dns_udp.message(pair, ts, msg, &mut self.dns_events);
                self.emit_dns(out);
            }
            Err(_) => self.stats.dns_malformed += 1,
        }
    }

    fn emit_dns(&mut self, out: &mut Vec<Record>) {
        for ev in self.dns_events.drain(..) {
            let (c, s) = ev.key;
            out.push(Record::new(
                ev.ts,
                endpoint(c),
                endpoint(s),
                Body::Dns(ev.dns),
            ));
        }
    }

    /// Reports a connection: flushes its parser, then its connection record.
    fn finish(&mut self, mut conn: Conn, close: Option<Close>, out: &mut Vec<Record>) {
        conn.finish_streams(ParseCx {
            cfg: &self.cfg,
            budget: &mut self.budget,
            out: &mut self.parsed,
            pstats: &mut self.stats.parsers,
        });
        records_of(&mut self.parsed.parsed, conn.client, conn.server, out);
        out.push(conn.record(close));
    }

    /// Ends what has been idle too long (capture time) and expires DNS queries.
    fn sweep(&mut self, out: &mut Vec<Record>) {
        let now = self.now.0;
        let cfg = &self.cfg;
        let expired: Vec<(FlowKey, Close)> = self
            .table
            .iter()
            .filter_map(|(k, c)| {
                let idle = now.saturating_sub(c.last_seen.0);
                match c.state {
                    ConnState::Tcp(ref t) if t.closed() && idle >= cfg.close_linger_ns => {
                        Some((*k, t.close_reason()))
                    }
                    ConnState::Tcp(_) if idle >= cfg.tcp_idle_timeout_ns => {
                        Some((*k, Close::Timeout))
                    }
                    ConnState::Udp { .. } if idle >= cfg.udp_idle_timeout_ns => {
                        Some((*k, Close::Timeout))
                    }
                    _ => None,
                }
            })
            .collect();
        for (k, close) in expired {
            if let Some(c) = self.table.remove(&k) {
                self.finish(c, Some(close), out);
            }
        }
        self.stats.tls_plaintext_dropped += self.pending.expire(self.now);
        self.dns_udp.expire(self.now, &mut self.dns_events);
        self.emit_dns(out);
    }

    /// Keeps the table within its bound: first what is idle, then the least
    /// recently active sixteenth.
    fn make_room(&mut self, out: &mut Vec<Record>) {
        if self.table.len() < self.cfg.max_connections.max(1) {
            return;
        }
        self.sweep(out);
        if self.table.len() < self.cfg.max_connections.max(1) {
            return;
        }
        let mut seen: Vec<u64> = self.table.values().map(|c| c.last_seen.0).collect();
        let n = (seen.len() / 16).max(1);
        let (_, cutoff, _) = seen.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        let victims: Vec<FlowKey> = self
            .table
            .iter()
            .filter(|(_, c)| c.last_seen.0 <= cutoff)
            .map(|(k, _)| *k)
            .take(n)
            .collect();
        for k in victims {
            if let Some(c) = self.table.remove(&k) {
                self.stats.evicted += 1;
                self.finish(c, Some(Close::Open), out);
            }
        }
    }
}

/// Turns what the parsers found on one connection into records.
fn records_of(parsed: &mut Vec<Parsed>, client: Addr, server: Addr, out: &mut Vec<Record>) {
    for p in parsed.drain(..) {
        let mut rec = Record::new(p.ts, endpoint(client), endpoint(server), p.body);
        rec.inside_tls = p.inside_tls;
        out.push(rec);
    }
}

fn endpoint(a: Addr) -> Endpoint {
    Endpoint::new(a.ip, a.port)
}

/// The end of `key` that is not `end`.
fn other_end(key: &FlowKey, end: Addr) -> Addr {
    if key.lo == end {
        key.hi
    } else {
        key.lo
    }
}

/// The direction of a packet from `src` in a connection with this client.
pub(crate) fn direction(client: Addr, src: Addr) -> Direction {
    if src == client {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}
