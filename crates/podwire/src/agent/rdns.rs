//! Optional reverse DNS (`--reverse-dns`, off by default): a name for an
//! address nothing else named.
//!
//! Off by default because it sends queries the workloads did not send (to
//! the host's resolver, or `--reverse-dns-server`), and because a PTR name
//! is whatever the address's owner chose to publish. When on, an endpoint
//! without a Kubernetes name and without a DNS/SNI `domain` gets the PTR
//! name as its `domain`. Lookups run on a thread of their own, never in
//! the ingest path: a record is named from the cache or not at all, and an
//! address it misses is queued (a bounded queue; overflow is counted) so
//! that later records are named. Answers are cached by their TTL (clamped),
//! failures for a while too, and queries are rate-limited.

use podwire_record::Endpoint;
use podwire_telemetry::catalogue::ReverseDnsCounters;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Addresses remembered (named or not).
const MAX_CACHED: usize = 65_536;
/// Addresses waiting for a lookup.
const QUEUE: usize = 1024;
/// Queries sent per second at most.
const MAX_RATE: u32 = 50;
const TIMEOUT: Duration = Duration::from_secs(1);
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(3600);
/// How long an address without a PTR name is not asked again.
const NEGATIVE_TTL: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
struct Entry {
    name: Option<Arc<str>>,
    until: Instant,
}

/// Reverse names, shared by the ingest path (reads) and the lookup thread.
pub struct ReverseDns {
    cache: Mutex<Cache>,
    queue: SyncSender<IpAddr>,
    /// Queries sent, addresses not queued (defined in the telemetry
    /// catalogue).
    pub counters: ReverseDnsCounters,
}

#[derive(Default)]
struct Cache {
    entries: FxHashMap<IpAddr, Entry>,
    order: VecDeque<IpAddr>,
}

impl ReverseDns {
    /// Starts the lookup thread, asking `server` (a resolver's address).
    pub fn start(server: SocketAddr) -> std::io::Result<Arc<ReverseDns>> {
        let (tx, rx) = sync_channel(QUEUE);
        let r = Arc::new(ReverseDns {
            cache: Mutex::new(Cache::default()),
            queue: tx,
            counters: ReverseDnsCounters::default(),
        });
        let me = Arc::clone(&r);
        std::thread::Builder::new()
            .name("podwire-rdns".into())
            .spawn(move || me.run(rx, server))?;
        Ok(r)
    }

    /// Gives `ep` its PTR name as `domain` when it has no name at all;
    /// queues a lookup for an address not yet asked.
    pub fn name(&self, ep: &mut Endpoint) {
        let named = ep.identity.as_deref().is_some_and(|id| {
            id.domain.is_some() || id.pod.is_some() || id.service.is_some() || id.node.is_some()
        });
        let ip = ep.ip.to_canonical();
        if named || ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
            return;
        }
        let now = Instant::now();
        let hit = {
            let c = super::state::lock(&self.cache);
            c.entries.get(&ip).map(|e| (e.name.clone(), e.until > now))
        };
        match hit {
            Some((Some(name), _)) => {
                ep.identity.get_or_insert_with(Box::default).domain = Some(name.to_string());
            }
            Some((None, true)) => {}
            Some((None, false)) | None => {
                // Mark it asked, so one address is queued once.
                self.remember(ip, None, now + NEGATIVE_TTL);
                if let Err(TrySendError::Full(_)) = self.queue.try_send(ip) {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn remember(&self, ip: IpAddr, name: Option<Arc<str>>, until: Instant) {
        let mut c = super::state::lock(&self.cache);
        if !c.entries.contains_key(&ip) {
            while c.entries.len() >= MAX_CACHED {
                match c.order.pop_front() {
                    Some(old) => {
                        c.entries.remove(&old);
                    }
                    None => break,
                }
            }
            c.order.push_back(ip);
        }
        c.entries.insert(ip, Entry { name, until });
    }

    fn run(&self, rx: Receiver<IpAddr>, server: SocketAddr) {
        let bind: SocketAddr = match server {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        }
        .parse()
        .expect("literal address");
        let sock = match UdpSocket::bind(bind).and_then(|s| {
            s.set_read_timeout(Some(TIMEOUT))?;
            s.connect(server)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("podwire: reverse DNS unavailable ({server}: {e})");
                return;
            }
        };
        let mut id: u16 = std::process::id() as u16;
        let mut window = (Instant::now(), 0u32);
        for ip in rx {
            if window.0.elapsed() >= Duration::from_secs(1) {
                window = (Instant::now(), 0);
            }
            if window.1 >= MAX_RATE {
                std::thread::sleep(Duration::from_secs(1).saturating_sub(window.0.elapsed()));
                window = (Instant::now(), 0);
            }
            window.1 += 1;
            id = id.wrapping_add(1);
            self.counters.queries.fetch_add(1, Ordering::Relaxed);
            let (name, ttl) = match lookup(&sock, id, ip) {
                Some((name, ttl)) => (Some(Arc::from(name)), ttl.clamp(MIN_TTL, MAX_TTL)),
                None => (None, NEGATIVE_TTL),
            };
            self.remember(ip, name, Instant::now() + ttl);
        }
    }
}

/// `10.1.2.3` -> `3.2.1.10.in-addr.arpa`; IPv6 nibbles under `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A PTR query for `ip`, recursion desired.
pub fn query(id: u16, ip: IpAddr) -> Vec<u8> {
    let mut q = Vec::with_capacity(96);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in reverse_name(ip).split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 12, 0, 1]);
    q
}

/// The first PTR name in an answer to query `id`, with its TTL.
pub fn ptr_answer(id: u16, answer: &[u8]) -> Option<(String, Duration)> {
    let m = podwire_dns::parse(answer).ok()?;
    if m.id != id || !m.response || m.rcode != 0 {
        return None;
    }
    m.answers
        .iter()
        .find(|a| a.rtype == "PTR")
        .map(|a| {
            (
                a.data.trim_end_matches('.').to_string(),
                Duration::from_secs(a.ttl.into()),
            )
        })
        .filter(|(n, _)| !n.is_empty())
}

fn lookup(sock: &UdpSocket, id: u16, ip: IpAddr) -> Option<(String, Duration)> {
    sock.send(&query(id, ip)).ok()?;
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        let n = sock.recv(&mut buf).ok()?;
        if let Some(found) = ptr_answer(id, &buf[..n]) {
            return Some(found);
        }
        if buf.get(..2) == Some(&id.to_be_bytes()[..]) {
            return None; // our answer, without a name
        }
    }
    None
}

/// The first `nameserver` of `/etc/resolv.conf`, port 53.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("10.1.2.3".parse().unwrap()),
            "3.2.1.10.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            reverse_name("::ffff:10.0.0.1".parse().unwrap()),
            "1.0.0.10.in-addr.arpa"
        );
    }

    #[test]
    fn the_query_parses_as_a_ptr_question() {
        let q = query(0x1234, "192.0.2.7".parse().unwrap());
        let m = podwire_dns::parse(&q).unwrap();
        assert_eq!(m.id, 0x1234);
        let question = m.question.unwrap();
        assert_eq!(
            (question.name.as_str(), question.qtype),
            ("7.2.0.192.in-addr.arpa", 12)
        );
    }

    #[test]
    fn answers_to_other_queries_or_without_a_ptr_name_nothing() {
        // A real answer's shape: the question, then one PTR record pointing
        // back at the question's name.
        let mut a = query(7, "192.0.2.7".parse().unwrap());
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = 1; // ANCOUNT
        a.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0x0e, 0x10]);
        let name = b"\x03web\x03lab\x04test\x00";
        a.extend_from_slice(&(name.len() as u16).to_be_bytes());
        a.extend_from_slice(name);
        assert_eq!(
            ptr_answer(7, &a),
            Some(("web.lab.test".into(), Duration::from_secs(3600)))
        );
        assert_eq!(ptr_answer(8, &a), None, "another query's answer");
        for n in 0..a.len() {
            let _ = ptr_answer(7, &a[..n]);
        }
    }
}
