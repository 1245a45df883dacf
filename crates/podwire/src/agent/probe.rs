//! The agent's kernel side: the eBPF connection probe feeding the kernel
//! socket table, and the housekeeping every live pipeline needs (clock
//! ticks for the trackers, expiry of closed sockets). One thread, so the
//! agent runs the same with or without eBPF.

use super::state::{lock, Shared};
use podwire_ebpf::ConnProbe;
use podwire_record::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Runs until `stop`; drops (detaches) the probe on the way out.
pub fn run(mut probe: Option<ConnProbe>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    shared.deferred.set_active(probe.is_some());
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
