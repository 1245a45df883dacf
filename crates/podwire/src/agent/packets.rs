//! The agent's packet side: AF_PACKET rings into the shared pipeline.
//!
//! One TPACKET_V3 ring per network namespace watched (by default the
//! agent's own: on a node, the host namespace, where every pod's veth is),
//! bound to all its interfaces, so interfaces that come and go need no
//! socket of their own. A netlink monitor per namespace keeps the
//! interface table current for the API and, when only some interfaces are
//! wanted, for the ring's in-kernel ifindex filter. Frames are decoded
//! here, copies of one packet seen on two interfaces dropped
//! ([`Dedupe`]), and the rest dealt to the tracker shards.
//!
//! In front of the ifindex filter, the kernel drops what the agent would
//! discard after decoding anyway ([`Skip`]): loopback's outgoing copy of
//! each packet, and, in the agent's own namespace, its API connections
//! (`own`), so that neither takes ring space the watched traffic needs.

use super::config::{AgentConfig, Patterns};
use super::own::Own;
use super::state::{Counters, InterfaceInfo, Shared};
use anyhow::{Context, Result};
use podwire_capture_live::{in_netns, LinkEvent, LinkMonitor, Ring, RingConfig, Skip};
use podwire_decode::{Decoder, Dedupe};
use podwire_record::Timestamp;
use podwire_track::shard::Shards;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `sll_pkttype` of a packet the host sent.
const PACKET_OUTGOING: u8 = 4;
/// ARPHRD_LOOPBACK.
const ARPHRD_LOOPBACK: u16 = 772;
/// Two copies of one packet are at most this far apart (bridged or routed
/// within one host: microseconds).
const DEDUPE_WINDOW_NS: u64 = 2_000_000;
const DEDUPE_MAX: usize = 65_536;
/// How often counters and interfaces are published.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// One watched namespace.
struct Source {
    /// `None`: the agent's own.
    netns: Option<PathBuf>,
    ring: Ring,
    links: LinkMonitor,
    /// The agent's own namespace: its API connections are left out here
    /// (see `own`).
    own_ns: bool,
    /// What the ring's filter drops before its interface test.
    skip: Skip,
}

impl Source {
    fn open(netns: Option<PathBuf>, cfg: &AgentConfig) -> Result<Source> {
        let block_size = 1 << 20;
        let ring_cfg = RingConfig {
            block_size,
            block_count: (cfg.ring_bytes / block_size).max(2),
            ..RingConfig::default()
        };
        let (ring, links) = match &netns {
            None => (Ring::open(&ring_cfg)?, LinkMonitor::open()?),
            Some(path) => {
                let c = ring_cfg.clone();
                in_netns(path, move || -> Result<(Ring, LinkMonitor)> {
                    Ok((Ring::open(&c)?, LinkMonitor::open()?))
                })
                .with_context(|| format!("entering network namespace {}", path.display()))??
            }
        };
        let own_ns = super::own::is_own_netns(netns.as_deref());
        let src = Source {
            netns,
            ring,
            links,
            own_ns,
            skip: Skip {
                loopback_outgoing: true,
                ..Skip::default()
            },
        };
        Ok(src)
    }

    fn label(&self) -> String {
        label(&self.netns)
    }

    /// Points the ring's filter at the interfaces that match, behind
    /// [`Source::skip`].
    fn apply_filter(&self, patterns: &Patterns) -> Result<()> {
        if patterns.all() {
            return Ok(self.ring.set_filter(&self.skip, None)?);
        }
        let wanted: Vec<u32> = self
            .links
            .links()
            .filter(|l| patterns.matches(&l.name))
            .map(|l| l.index)
            .collect();
        Ok(self.ring.set_filter(&self.skip, Some(&wanted))?)
    }

    /// Follows the agent's own API socket into the kernel filter: its
    /// address set (the host's, when listening on all of them) changes
    /// rarely, and the filter is swapped only then.
    /// A filter the kernel refuses is counted and logged; the test after
    /// the ring still leaves the packets out.
    fn follow_own(&mut self, own: &Own, patterns: &Patterns, counters: &Counters) {
        if !self.own_ns {
            return;
        }
        let (addrs, ports) = match own.kernel_skip() {
            Some((addrs, port)) => (addrs, vec![port]),
            None => (Vec::new(), Vec::new()),
        };
        if addrs == self.skip.addrs && ports == self.skip.ports {
            return;
        }
        self.skip.addrs = addrs;
        self.skip.ports = ports;
        match self.apply_filter(patterns) {
            Ok(()) if !self.skip.ports.is_empty() => own.kernel_filter_applied(),
            Ok(()) => {}
            Err(e) => {
                let n = counters.filter_errors.fetch_add(1, Ordering::Relaxed) + 1;
                rare(n, &format!("own-traffic filter in {}: {e:#}", self.label()));
                // The test after the ring still leaves them out: serve.
                own.kernel_filter_applied();
            }
        }
    }
}

/// Opens a ring and link monitor in every namespace the config names.
pub fn open_sources(cfg: &AgentConfig) -> Result<Vec<SourceHandle>> {
    let namespaces: Vec<Option<PathBuf>> = if cfg.netns.is_empty() {
        vec![None]
    } else {
        cfg.netns.iter().cloned().map(Some).collect()
    };
    let mut out = Vec::new();
    for ns in namespaces {
        let what = ns
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the agent's network namespace".into());
        let src = Source::open(ns, cfg)
            .with_context(|| format!("opening a packet socket in {what} (needs CAP_NET_RAW)"))?;
        src.apply_filter(&cfg.interfaces)?;
        out.push(SourceHandle(src));
    }
    Ok(out)
}

/// An opened [`Source`], ready for [`run`].
pub struct SourceHandle(Source);

/// Reads every source until `stop`, dealing packets to the shards.
pub fn run(
    sources: Vec<SourceHandle>,
    patterns: Patterns,
    mut shards: Shards<()>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    let counters = &shared.counters;
    let interfaces = &shared.interfaces;
    let own = &shared.own;
    let mut sources: Vec<Source> = sources.into_iter().map(|h| h.0).collect();
    let mut decoder = Decoder::default();
    let mut dedupe = Dedupe::new(DEDUPE_WINDOW_NS, DEDUPE_MAX);
    let mut events = Vec::new();
    let mut last_publish = Instant::now() - PUBLISH_EVERY;
    // Several rings share the thread: none may block it for long.
    let wait = Duration::from_millis(if sources.len() == 1 { 100 } else { 10 });
    publish_interfaces(&sources, interfaces);
    while !stop.load(Ordering::Relaxed) {
        for (si, src) in sources.iter_mut().enumerate() {
            // Interfaces first, so a new veth's packets are named and filtered.
            events.clear();
            if let Err(e) = src.links.poll(&mut events) {
                let n = counters.netlink_errors.fetch_add(1, Ordering::Relaxed) + 1;
                rare(n, &format!("netlink in {}: {e}", src.label()));
            }
            if !events.is_empty() {
                for ev in &events {
                    match ev {
                        LinkEvent::Added(_) => counters.add(&counters.links_added, 1),
                        LinkEvent::Removed { .. } => counters.add(&counters.links_removed, 1),
                    }
                }
                if let Err(e) = src.apply_filter(&patterns) {
                    let n = counters.filter_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    rare(n, &format!("interface filter in {}: {e:#}", src.label()));
                }
                last_publish = Instant::now() - PUBLISH_EVERY;
            }
            // The API's packets are kept out of the ring from the moment it
            // is bound; later address changes follow at the next publish.
            if src.own_ns && src.skip.ports.is_empty() && own.listening() {
                src.follow_own(own, &patterns, counters);
            }
            let block = match src.ring.next_block(wait) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    let n = counters.ring_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    // Only `netns` is read: the ring is still borrowed here.
                    rare(n, &format!("packet ring in {}: {e}", label(&src.netns)));
                    std::thread::sleep(wait);
                    continue;
                }
            };
            let mut frames = 0;
            let mut packets = 0;
            let mut copies = 0;
            let mut skipped = 0;
            let mut own_packets = 0;
            let leave_own = src.own_ns && own.active();
            for frame in block.frames() {
                frames += 1;
                // Loopback's outgoing copies are dropped by the ring's filter
                // already (`Skip`), unless the filter had no room for it.
                if frame.link == 0
                    || (frame.pkttype == PACKET_OUTGOING && is_lo(&src.links, frame.ifindex))
                {
                    skipped += 1;
                    continue;
                }
                let pkt = match decoder.decode(frame.link, frame.ts_ns, frame.orig_len, frame.data)
                {
                    Ok(p) => p,
                    Err(_) => {
                        skipped += 1;
                        continue;
                    }
                };
                if leave_own && is_own(own, &pkt) {
                    own_packets += 1;
                    continue;
                }
                let iface = ((si as u64) << 32) | u64::from(frame.ifindex);
                if dedupe.is_copy(iface, frame.ts_ns, &pkt) {
                    copies += 1;
                    continue;
                }
                packets += 1;
                if shards
                    .push(Timestamp(frame.ts_ns), frame.orig_len, &pkt)
                    .is_err()
                {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
            counters.add(&counters.frames, frames);
            counters.add(&counters.packets, packets);
            counters.add(&counters.copies, copies);
            counters.add(&counters.skipped, skipped);
            counters.add(&own.counters.packets, own_packets);
        }
        // Live input: what came in goes on now, not when a batch fills.
        if shards.flush().is_err() {
            break;
        }
        if last_publish.elapsed() >= PUBLISH_EVERY {
            last_publish = Instant::now();
            let (mut pk, mut dr) = (0, 0);
            for src in &mut sources {
                if let Ok(s) = src.ring.stats() {
                    pk += s.packets;
                    dr += s.drops;
                }
            }
            counters.set(&counters.ring_packets, pk);
            counters.set(&counters.ring_drops, dr);
            counters.set(&counters.defrag_dropped, decoder.defrag_stats().dropped);
            own.expire();
            for src in &mut sources {
                src.follow_own(own, &patterns, counters);
            }
            publish_interfaces(&sources, interfaces);
        }
    }
    // Sources (rings, netlink sockets) close as they drop here.
    drop(sources);
    shards.finish();
}

/// How a watched namespace is named in logs and the API.
fn label(netns: &Option<PathBuf>) -> String {
    match netns {
        None => "host".to_string(),
        Some(p) => p.display().to_string(),
    }
}

/// Whether `pkt` belongs to one of the agent's own API connections.
pub(super) fn is_own(own: &Own, pkt: &podwire_decode::Packet<'_>) -> bool {
    match pkt.transport {
        podwire_decode::Transport::Tcp(h) => own.packet(
            std::net::SocketAddr::new(pkt.src, h.src_port),
            std::net::SocketAddr::new(pkt.dst, h.dst_port),
        ),
        podwire_decode::Transport::Udp { .. } => false,
    }
}

fn is_lo(links: &LinkMonitor, ifindex: u32) -> bool {
    links
        .get(ifindex)
        .is_some_and(|l| l.hatype == ARPHRD_LOOPBACK)
}

fn publish_interfaces(sources: &[Source], out: &Mutex<Vec<InterfaceInfo>>) {
    let mut list = Vec::new();
    for src in sources {
        let ns = src.label();
        for l in src.links.links() {
            list.push(InterfaceInfo {
                netns: ns.clone(),
                index: l.index,
                name: l.name.clone(),
                kind: l.kind.clone(),
                up: l.up,
                loopback: l.hatype == ARPHRD_LOOPBACK,
            });
        }
    }
    if let Ok(mut g) = out.lock() {
        *g = list;
    }
}

/// A line on standard error for the 1st, 2nd, 4th, 8th, ... occurrence of
/// a condition (its count is in the status either way), so a persistent
/// fault cannot flood the log.
fn rare(count: u64, msg: &str) {
    if count.is_power_of_two() {
        eprintln!("podwire: {msg} (occurrence {count})");
    }
}
