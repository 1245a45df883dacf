//! The agent about itself: the `/api/v1/status` document (every counter,
//! JSON), which `podwire_api` serves with the API's own part handed in.

use crate::agent::state::{lock, Shared};
use podwire_record::Timestamp;
use serde_json::json;
use std::sync::atomic::Ordering;

/// `/api/v1/status` at `now`; `api` is the API's own part.
pub fn status(shared: &Shared, now: Timestamp, api: serde_json::Value) -> serde_json::Value {
    let tracker = shared.tracker_stats();
    let c = &shared.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let kernel = shared.kernel_stats();
    let store = podwire_api::store_status(&lock(&shared.store).stats());
    let (names, names_forgotten) = {
        let n = lock(&shared.names);
        (n.len(), n.forgotten())
    };
    let sources = lock(&shared.sources).clone();
    json!({
        "mode": "live",
        "now": now,
        "sources": sources,
        "capture": {
            "frames": get(&c.frames),
            "packets": get(&c.packets),
            "copies_dropped": get(&c.copies),
            "skipped": get(&c.skipped),
            "ring_packets": get(&c.ring_packets),
            "ring_drops": get(&c.ring_drops),
            "ring_errors": get(&c.ring_errors),
            "netlink_errors": get(&c.netlink_errors),
            "filter_errors": get(&c.filter_errors),
            "links_added": get(&c.links_added),
            "links_removed": get(&c.links_removed),
            "defrag_dropped": get(&c.defrag_dropped),
        },
        "stream": { "lagged_records": get(&c.stream_lagged), "clients": shared.stream.receiver_count() },
        "metrics": { "pairs": shared.metrics.pairs() },
        "tracker": {
            "open": tracker.open,
            "tcp_connections": tracker.tcp_connections,
            "udp_flows": tracker.udp_flows,
            "evicted": tracker.evicted,
            "reassembly_limit_hits": tracker.reassembly_limit_hits,
            "reassembly_buffered_bytes": tracker.reassembly_buffered,
            "dns_malformed": tracker.dns_malformed,
            "dns_evicted": tracker.dns_evicted,
            "parsers_failed": tracker.parsers.failed,
            "tls_decrypted": tracker.parsers.tls_decrypted,
            "tls_no_key": tracker.parsers.tls_no_key,
            "tls_unsupported": tracker.parsers.tls_unsupported,
            "tls_auth_failed": tracker.parsers.tls_auth_failed,
        },
        "ebpf": {
            "events": get(&c.ebpf_events),
            "lost": get(&c.ebpf_lost),
            "sockets": kernel.sockets,
            "evicted": kernel.evicted,
            "unclaimed": kernel.unclaimed,
        },
        "names": { "known": names, "forgotten": names_forgotten },
        "api": api,
        "own": {
            "observed": !shared.own.active(),
            "packets_left_out": get(&shared.own.counters.packets),
            "records_left_out": get(&shared.own.counters.records),
            "capture_packets_left_out": get(&shared.own.counters.captured),
            "unregistered": get(&shared.own.counters.unregistered),
        },
        "store": store,
    })
}
