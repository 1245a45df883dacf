//! The agent's kernel side: the eBPF connection probe feeding the kernel
//! socket table, and the housekeeping every live pipeline needs (clock
//! ticks for the trackers, expiry of closed sockets). One thread, so the
//! agent runs the same with or without eBPF.

use super::kernel::listening;
use super::state::{lock, Shared};
use podwire_ebpf::ConnProbe;
use podwire_record::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often trackers get the time and closed sockets are expired.
const TICK: Duration = Duration::from_millis(250);
/// How often the eBPF ring is read when it is quiet; the probe never wakes
/// the reader (see [`ConnProbe::next_poll`]), so this bounds how late an
/// event is seen.
const POLL: Duration = Duration::from_millis(50);

/// Wall-clock now.
pub fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// Wall clock minus CLOCK_MONOTONIC (what bpf_ktime_get_ns reads), in ns.
pub fn mono_to_wall_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC
    // always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let mono = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    i128::from(now().0) - mono
}

/// How long the start-up scan for listening sockets may take.
const SCAN_BUDGET: Duration = Duration::from_secs(5);

/// Runs until `stop`; drops (detaches) the probe on the way out.
/// `cgroup_root`: the host's cgroup filesystem (for the owners' cgroup ids
/// of the listeners found at start).
pub fn run(
    mut probe: Option<ConnProbe>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    cgroup_root: PathBuf,
) {
    shared.deferred.set_active(probe.is_some());
    // Listeners from before the probe: scanned beside this loop, which
    // must keep reading the ring meanwhile.
    let mut scanned = probe.as_ref().and_then(|_| scan_listeners(cgroup_root));
    let mut events = Vec::new();
    let mut records = Vec::new();
    let mut last_tick = Instant::now();
    let mut wait = POLL;
    let mut last_read = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match probe.as_mut() {
            Some(p) => {
                // A sleep, not poll(2) on the ring: that returns at once
                // whenever an event is waiting, and a busy host would be
                // read an event or two at a time.
                std::thread::sleep(wait);
                let read = shared.deferred.begin_read();
                p.poll(&mut events);
                wait = ConnProbe::next_poll(events.len(), last_read.elapsed(), POLL);
                last_read = Instant::now();
                if !events.is_empty() {
                    shared
                        .counters
                        .add(&shared.counters.ebpf_events, events.len() as u64);
                    let mut k = lock(&shared.kernel);
                    for ev in events.drain(..) {
                        k.event(&ev);
                    }
                }
                shared.release_deferred(Some(read));
                if let Some(Ok(scan)) = scanned.as_ref().map(Receiver::try_recv) {
                    lock(&shared.kernel).learn_scanned(scan.found);
                    scanned = None;
                }
            }
            None => std::thread::sleep(TICK),
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let t = now();
            if let Some(c) = lock(&shared.control).as_ref() {
                c.tick(t);
            }
            lock(&shared.kernel).expire(t, &mut records);
            shared.ingest_merged(&mut records);
            if let Some(p) = &probe {
                shared.counters.set(&shared.counters.ebpf_lost, p.lost());
            }
        }
    }
    shared.deferred.set_active(false);
    shared.release_deferred(None);
    drop(probe);
}

/// Starts the scan of `/proc` for listening sockets (see
/// [`listening`](super::kernel::listening)); its result arrives once.
fn scan_listeners(cgroup_root: PathBuf) -> Option<Receiver<listening::Scan>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned =
        std::thread::Builder::new()
            .name("podwire-listeners".into())
            .spawn(move || {
                let v2 = podwire_k8s::cgroup::v2_root(&cgroup_root);
                let started = Instant::now();
                let scan = listening::scan(Path::new("/proc"), &v2, SCAN_BUDGET);
                let cut = if scan.truncated { ", cut short" } else { "" };
                eprintln!(
                    "podwire: {} listening sockets found at start in {} processes, {} ms ({} unreadable{cut})",
                    scan.found.len(),
                    scan.processes,
                    started.elapsed().as_millis(),
                    scan.unreadable,
                );
                let _ = tx.send(scan);
            });
    spawned.ok().map(|_| rx)
}
