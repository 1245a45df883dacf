//! One running capture: a thread that owns a packet ring on one interface
//! and turns its frames into pcapng chunks for the HTTP body.
//!
//! The ring carries the compiled filter, so the kernel drops what the
//! caller did not ask for before it costs anything. Chunks go to the HTTP
//! side through a bounded channel; when the client reads slower than
//! packets come, the thread waits, the kernel ring fills and the kernel
//! drops and counts, which the stream's closing statistics block reports
//! (as `ifdrop`, with the packets over the agent's rate cap). The thread
//! checks its limits, the client and the interface at least every 100 ms,
//! so every way a capture can end (limit reached, client gone, interface
//! gone, agent stopping) frees the ring within a fraction of a second.

use super::request::CaptureRequest;
use super::{CaptureCounters, Place, RateBudget, Slot};
use crate::agent::state::lock;
use axum::body::{Body, Bytes};
use podwire_capture::{InterfaceInfo, PcapNgWriter};
use podwire_capture_live::pcap_filter::Program;
use podwire_capture_live::{in_netns, Frame, Ring, RingConfig, LINKTYPE_ETHERNET};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// A chunk is sent once this much pcapng is buffered (or a block ends).
const CHUNK: usize = 64 * 1024;
/// Chunks queued for the client at most.
const QUEUED_CHUNKS: usize = 64;
/// The ring hands over a partly filled block after this long: the delay a
/// quiet capture's packets see before they reach the client.
const BLOCK_TIMEOUT_MS: u32 = 20;
const BLOCK_SIZE: usize = 1 << 20;
const TICK: Duration = Duration::from_millis(100);

/// Everything a capture thread needs.
pub struct Session {
    pub audit: String,
    pub request: CaptureRequest,
    pub place: Place,
    pub program: Program,
    pub ring_bytes: usize,
    pub budget: Arc<Mutex<RateBudget>>,
    pub stopping: Arc<AtomicBool>,
    pub counters: Arc<CaptureCounters>,
    /// Set when the agent's own API connections are to be left out of
    /// this capture (the interface is in its namespace).
    pub own: Option<Arc<crate::agent::own::Own>>,
    pub(super) slot: Slot,
}

/// Opens the ring and starts the thread; the body streams what it captures.
pub async fn start(s: Session) -> anyhow::Result<Body> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUED_CHUNKS);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("podwire-sniff".into())
        .spawn(move || run(s, tx, ready_tx))?;
    ready_rx
        .await
        .map_err(|_| anyhow::anyhow!("the capture thread ended before it started"))?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), rx))
    });
    Ok(Body::from_stream(stream))
}

/// Why a capture ended, for the audit log and the stream's last block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Duration,
    Count,
    Bytes,
    ClientGone,
    InterfaceGone,
    AgentStopping,
    Error,
}

impl End {
    fn text(self) -> &'static str {
        match self {
            End::Duration => "duration reached",
            End::Count => "packet count reached",
            End::Bytes => "byte limit reached",
            End::ClientGone => "client disconnected",
            End::InterfaceGone => "interface removed",
            End::AgentStopping => "agent stopping",
            End::Error => "capture error",
        }
    }
}

struct Output {
    tx: mpsc::Sender<Vec<u8>>,
    writer: PcapNgWriter<Vec<u8>>,
    sent: u64,
}

impl Output {
    /// Hands what is buffered to the client, waiting while its queue is
    /// full; `false` when the client is gone (or `give_up` says stop).
    fn flush(&mut self, give_up: &dyn Fn() -> bool) -> bool {
        let buf = self.writer.get_mut();
        if buf.is_empty() {
            return !self.tx.is_closed();
        }
        let mut chunk = std::mem::replace(buf, Vec::with_capacity(CHUNK + 2048));
        self.sent += chunk.len() as u64;
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if give_up() {
                        return false;
                    }
                    chunk = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn interface_exists(place: &Place) -> bool {
    let exists = || {
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: `buf` has room for IF_NAMESIZE bytes, as if_indextoname needs.
        !unsafe { libc::if_indextoname(place.ifindex, buf.as_mut_ptr()) }.is_null()
    };
    match &place.netns {
        None => exists(),
        // A namespace that cannot be entered any more is gone with its interfaces.
        Some(ns) => in_netns(ns, exists).unwrap_or(false),
    }
}

fn run(
    s: Session,
    tx: mpsc::Sender<Vec<u8>>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let cfg = RingConfig {
        block_size: BLOCK_SIZE,
        block_count: (s.ring_bytes / BLOCK_SIZE).max(2),
        block_timeout_ms: BLOCK_TIMEOUT_MS,
        ..RingConfig::default()
    };
    let mut program = s.program.to_sock_filters();
    if s.place.loopback {
        program = podwire_capture_live::skip_outgoing(&program);
    }
    let open = || Ring::open_on(&cfg, s.place.ifindex, &program);
    let opened = match &s.place.netns {
        None => open(),
        Some(ns) => in_netns(ns, open).and_then(|r| r),
    };
    let mut ring = match opened {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot capture on {}: {e}", s.place.interface)));
            return;
        }
    };
    let mut writer = match PcapNgWriter::new(
        Vec::with_capacity(CHUNK + 2048),
        concat!("podwire ", env!("CARGO_PKG_VERSION")),
    ) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let snaplen = s.request.snaplen;
    let _ = writer.interface(&InterfaceInfo {
        linktype: LINKTYPE_ETHERNET as u16,
        snaplen,
        name: &s.place.name,
        description: &s.place.description,
    });
    eprintln!("podwire: {} started", s.audit);
    if ready.send(Ok(())).is_err() {
        return; // the request was abandoned before it started
    }
    let mut out = Output {
        tx,
        writer,
        sent: 0,
    };
    let started = Instant::now();
    let (mut packets, mut over_rate, mut vlan_buf) = (0u64, 0u64, Vec::new());
    // Only to recognise the agent's own connections (see `own`).
    let mut decoder = podwire_decode::Decoder::default();
    let mut own_packets = 0u64;
    let mut checked = Instant::now();
    let stopping = || s.stopping.load(Ordering::Relaxed) || started.elapsed() >= s.request.duration;
    // The header and interface block go out at once: the client knows the
    // capture is running before the first packet.
    let mut end = if out.flush(&stopping) {
        None
    } else {
        Some(End::ClientGone)
    };
    while end.is_none() {
        if s.stopping.load(Ordering::Relaxed) {
            end = Some(End::AgentStopping);
            break;
        }
        if started.elapsed() >= s.request.duration {
            end = Some(End::Duration);
            break;
        }
        if out.tx.is_closed() {
            end = Some(End::ClientGone);
            break;
        }
        if checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            if !interface_exists(&s.place) {
                end = Some(End::InterfaceGone);
                break;
            }
        }
        let block = match ring.next_block(TICK) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("podwire: capture on {}: {e}", s.place.interface);
                end = Some(End::Error);
                break;
            }
        };
        for frame in &block {
            if s.request.count.is_some_and(|c| packets >= c) {
                end = Some(End::Count);
                break;
            }
            if frame.link != LINKTYPE_ETHERNET {
                continue;
            }
            if let Some(own) = &s.own {
                let pkt = decoder.decode(frame.link, frame.ts_ns, frame.orig_len, frame.data);
                if pkt.is_ok_and(|p| crate::agent::packets::is_own(own, &p)) {
                    own_packets += 1;
                    continue;
                }
            }
            let (data, orig_len) = match with_vlan_tag(&frame, &mut vlan_buf) {
                Some(len) => (&vlan_buf[..], len),
                None => (frame.data, frame.orig_len),
            };
            let size = data.len() as u64 + 32;
            if out.sent + out.writer.get_mut().len() as u64 + size > s.request.bytes {
                end = Some(End::Bytes);
                break;
            }
            if !lock(&s.budget).take(size) {
                over_rate += 1;
                continue;
            }
            let _ = out.writer.packet(0, frame.ts_ns, orig_len, data);
            packets += 1;
            if out.writer.get_mut().len() >= CHUNK && !out.flush(&stopping) {
                end = Some(End::ClientGone);
                break;
            }
        }
        drop(block);
        if s.request.count.is_some_and(|c| packets >= c) && end.is_none() {
            end = Some(End::Count);
        }
        if !out.flush(&stopping) && end.is_none() {
            end = Some(End::ClientGone);
        }
    }
    let end = end.unwrap_or(End::Error);
    let stats = ring.stats().unwrap_or_default();
    drop(ring);
    let dropped = stats.drops + over_rate;
    let mut comment = end.text().to_string();
    if over_rate > 0 {
        comment.push_str(&format!(
            "; {over_rate} packets over the agent's capture rate cap"
        ));
    }
    if own_packets > 0 {
        comment.push_str(&format!(
            "; {own_packets} packets of the agent's own API connections left out (--observe-self keeps them)"
        ));
    }
    if let Some(own) = &s.own {
        own.counters
            .captured
            .fetch_add(own_packets, Ordering::Relaxed);
    }
    let _ = out
        .writer
        .statistics(0, now_ns(), packets + dropped, dropped, &comment);
    if end != End::ClientGone {
        // Even at shutdown the last block reaches a client still reading.
        let _ = out.flush(&|| started.elapsed() > s.request.duration + Duration::from_secs(2));
    }
    s.counters.bytes.fetch_add(out.sent, Ordering::Relaxed);
    s.counters.packets.fetch_add(packets, Ordering::Relaxed);
    s.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
    eprintln!(
        "podwire: {} ended: {}; {packets} packets, {} bytes streamed, {} dropped by the kernel, {over_rate} over the rate cap, {:.1}s",
        s.audit,
        end.text(),
        out.sent,
        stats.drops,
        started.elapsed().as_secs_f64()
    );
    drop(s.slot);
}

/// The frame as it was on the wire: a VLAN tag the kernel took off into
/// metadata (hardware offload) is put back after the MAC addresses, as
/// tcpdump does.
/// Returns the tagged frame's wire length, with the frame in `buf`; `None`
/// when the frame had no tag taken off.
fn with_vlan_tag(frame: &Frame<'_>, buf: &mut Vec<u8>) -> Option<u32> {
    let tci = frame.vlan_tci?;
    let (macs, rest) = frame.data.split_at_checked(12)?;
    buf.clear();
    buf.extend_from_slice(macs);
    buf.extend_from_slice(&[0x81, 0x00]);
    buf.extend_from_slice(&tci.to_be_bytes());
    buf.extend_from_slice(rest);
    Some(frame.orig_len.saturating_add(4))
}
