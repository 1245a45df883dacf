//! The agent about itself: the `/api/v1/status` document (every counter,
//! JSON), which `podwire_api` serves with the API's own part handed in.
//! The counters come from the telemetry catalogue's definitions, at the
//! status paths they give; only what is not a counter is written here.

use crate::agent::state::{lock, Shared};
use podwire_record::Timestamp;
use podwire_telemetry::Snapshot;
use serde_json::json;

/// `/api/v1/status` at `now`; `auth` and `api` are the API's own part (its
/// access mode and counters).
pub fn status(shared: &Shared, now: Timestamp, auth: &str, api: Snapshot) -> serde_json::Value {
    let tracker = shared.tracker_stats();
    let store = podwire_api::store_status(&lock(&shared.store).stats());
    let sources = lock(&shared.sources).clone();
    let mut doc = json!({
        "mode": "live",
        "now": now,
        "sources": sources,
        "api": { "auth": auth },
        "own": { "observed": !shared.own.active() },
        "store": store,
        "otlp": shared.otlp.as_deref().map(crate::otlp::status),
    });
    // Every counter and gauge, at the paths the telemetry catalogue gives.
    let mut counters = shared.telemetry(&tracker, api);
    counters.add(&shared.metrics.counters);
    podwire_telemetry::merge_json(&mut doc, counters.status_json());
    doc
}
