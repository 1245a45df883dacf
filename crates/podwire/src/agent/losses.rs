//! The agent's log lines about itself: once a minute, what was lost since
//! the last line (ring drops, eBPF events lost, evictions...: the
//! telemetry catalogue's `logged` definitions), nothing when nothing was;
//! and all of it at exit. Losses are counted in `/metrics` too, but a line
//! in the pod's log is where someone reading it after the fact looks.

use super::state::Shared;
use podwire_api::Api;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a line may be written.
const EVERY: Duration = Duration::from_secs(60);
/// How often the loop looks at `stop`.
const TICK: Duration = Duration::from_millis(500);

/// Writes a line every [`EVERY`] when something was lost, until `stop`;
/// `api` is the API, whose refusals count too.
pub fn run(shared: Arc<Shared>, api: Arc<Api>, stop: Arc<AtomicBool>) {
    let snapshot = |shared: &Shared| shared.telemetry(&shared.tracker_stats(), api.counters());
    let mut before = snapshot(&shared);
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if last.elapsed() < EVERY {
            continue;
        }
        last = Instant::now();
        let now = snapshot(&shared);
        let line = now.log_line_since(&before);
        if !line.is_empty() {
            eprintln!("podwire: lost in the last {}s: {line}", EVERY.as_secs());
        }
        before = now;
    }
}

/// The line at exit: every loss since start (empty when none).
pub fn at_exit(shared: &Shared, api: &Api) -> String {
    shared
        .telemetry(&shared.tracker_stats(), api.counters())
        .log_line()
}
