//! Requests inside TLS, live: the TLS probe's plaintext into the trackers.
//!
//! One thread keeps the probe ([`podwire_ebpf::TlsProbe`]) on every TLS
//! library a process on the host maps ([`libraries`]), reads the plaintext
//! of their `SSL_read`/`SSL_write` calls, and deals it to the tracker shard
//! of its connection, where it is parsed beside the connection's packets
//! (`podwire_track::Plaintext`). Plaintext is never stored: it only passes
//! through the parsers, whose redaction rules apply as to any bytes.
//!
//! The probe is optional: when it cannot load (no BTF, no privileges) the
//! agent says so once and carries on with packets.

pub mod libraries;

use super::state::{lock, Shared};
use libraries::{Libraries, SCAN_NEW};
use podwire_ebpf::TlsProbe;
use podwire_record::Timestamp;
use podwire_track::shard::OwnedPlaintext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the probe's ring is read. The probe never wakes the reader;
/// its 4 MiB ring holds about 10,000 calls of a few hundred bytes.
const POLL: Duration = Duration::from_millis(20);
/// Refused files logged at most (each once); all are counted.
const MAX_LOGGED: u64 = 16;

/// What the thread counted (the trackers count the rest, copied in when
/// read); defined in the telemetry catalogue.
pub use podwire_telemetry::catalogue::TlsCounters;

/// Loads the probe, or says why not (one line).
pub fn load() -> anyhow::Result<TlsProbe> {
    TlsProbe::load().map_err(|e| {
        eprintln!("podwire: TLS plaintext unavailable, TLS connections show handshakes only: {e}");
        anyhow::Error::new(e)
    })
}

/// Runs until `stop`; detaches everything on the way out. The calls of
/// pods in the `exclude` namespaces are left alone in the kernel (their
/// containers' cgroups, found again at each scan).
pub fn run(
    mut probe: TlsProbe,
    shared: Arc<Shared>,
    exclude: Vec<String>,
    counters: Arc<TlsCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut libs = Libraries::new("/proc");
    let mut next_scan = Instant::now();
    let mono_to_wall = super::probe::mono_to_wall_ns();
    let mut batch: Vec<OwnedPlaintext> = Vec::new();
    let mut warned_full = false;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_scan {
            // Exclusions first, so a file probed in this scan is never read
            // for an excluded process; and with namespaces to exclude,
            // nothing is probed before the API server's pods are known.
            let mut hold = false;
            if let (false, Some(kube)) = (exclude.is_empty(), shared.kube.as_ref()) {
                hold = !kube.synced();
                let ids = kube.cgroups_in(&exclude);
                let (now, refused) = probe.exclude(&ids);
                counters
                    .excluded_cgroups
                    .store(now as u64, Ordering::Relaxed);
                if refused > 0 && !warned_full {
                    warned_full = true;
                    eprintln!(
                        "podwire: TLS plaintext: {refused} cgroups of excluded namespaces over \
                         the {} the probe holds: their calls are read",
                        podwire_ebpf::MAX_EXCLUDED_CGROUPS
                    );
                }
            }
            if !hold {
                let scan = libs.scan(&mut probe);
                for why in &scan.refused {
                    let n = counters.refused.fetch_add(1, Ordering::Relaxed) + 1;
                    if n <= MAX_LOGGED {
                        eprintln!("podwire: TLS plaintext: not probing {why}");
                    }
                }
                counters
                    .libraries
                    .store(libs.attached() as u64, Ordering::Relaxed);
            }
            next_scan = Instant::now() + SCAN_NEW;
        }
        let mut unattributed = 0;
        probe.poll(|ev, data| {
            let (Some(local), Some(remote)) = (ev.local(), ev.remote()) else {
                unattributed += 1;
                return;
            };
            let wall = i128::from(ev.ts_ns) + mono_to_wall;
            batch.push(OwnedPlaintext {
                ts: Timestamp(u64::try_from(wall.max(0)).unwrap_or(u64::MAX)),
                local,
                remote,
                sent: ev.is_write(),
                data: data.to_vec(),
                missing: ev.missing(),
            });
        });
        counters
            .unattributed
            .fetch_add(unattributed, Ordering::Relaxed);
        let lost = probe.lost();
        counters
            .lost
            .store(lost.ring_full + lost.no_entry, Ordering::Relaxed);
        counters.excluded.store(lost.excluded, Ordering::Relaxed);
        if !batch.is_empty() {
            let calls = std::mem::take(&mut batch);
            if let Some(c) = lock(&shared.control).as_ref() {
                c.plaintext(calls);
            }
        }
        std::thread::sleep(POLL);
    }
}
