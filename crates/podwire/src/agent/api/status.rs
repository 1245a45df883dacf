//! The agent about itself: `/metrics` (traffic and health, Prometheus),
//! `/api/v1/status` (every counter, JSON), `/api/v1/interfaces` and
//! `/api/v1/peers`.

use super::json_response;
use crate::agent::state::{lock, Shared};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `GET /metrics`: OpenMetrics text when the scraper asks for it (as
/// Prometheus does), the classic text format otherwise.
pub async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let s = Arc::clone(&shared);
    let Ok(health) = tokio::task::spawn_blocking(move || s.health()).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = shared.metrics.encode(&health);
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            podwire_serve::metrics::to_prometheus_text(&text),
        )
            .into_response()
    }
}

/// `GET /api/v1/peers`: every peer's status document (`scope=cluster`
/// semantics: who answered, how fast, and what the others said).
pub async fn peers(State(shared): State<Arc<Shared>>) -> Response {
    let answers = shared.peers.ask("/api/v1/status").await;
    let list: Vec<_> = answers
        .iter()
        .map(|a| match &a.body {
            Ok(body) => json!({
                "peer": a.peer,
                "ok": true,
                "ms": a.elapsed.as_millis() as u64,
                "status": serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default(),
            }),
            Err(e) => {
                json!({"peer": a.peer, "ok": false, "ms": a.elapsed.as_millis() as u64, "error": e})
            }
        })
        .collect();
    json_response(serde_json::to_vec(&list).unwrap_or_default())
}

pub async fn interfaces(State(shared): State<Arc<Shared>>) -> Response {
    let list = lock(&shared.interfaces).clone();
    json_response(serde_json::to_vec(&list).unwrap_or_default())
}

pub async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let s2 = Arc::clone(&shared);
    let Ok(tracker) = tokio::task::spawn_blocking(move || s2.tracker_stats()).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let c = &shared.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let kernel = shared.kernel_stats();
    let store: Vec<_> = lock(&shared.store)
        .stats()
        .tables
        .iter()
        .map(|t| {
            json!({
                "table": t.table.name(),
                "records": t.records,
                "bytes": t.bytes,
                "budget_bytes": t.budget_bytes,
                "inserted": t.inserted_total,
                "dropped_records": t.dropped_records_total,
                "dropped_bytes": t.dropped_bytes_total,
            })
        })
        .collect();
    let (names, names_forgotten) = {
        let n = lock(&shared.names);
        (n.len(), n.forgotten())
    };
    let sources = lock(&shared.sources).clone();
    let doc = json!({
        "mode": shared.clock.mode(),
        "now": shared.now(),
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
        "api": {
            "auth": shared.access.mode_name(),
            "access": &*shared.access.counters,
            "listener": &*shared.listener,
            "limits": &shared.limits.counters,
        },
        "own": {
            "observed": !shared.own.active(),
            "packets_left_out": get(&shared.own.counters.packets),
            "records_left_out": get(&shared.own.counters.records),
            "capture_packets_left_out": get(&shared.own.counters.captured),
            "unregistered": get(&shared.own.counters.unregistered),
        },
        "store": store,
        "otlp": shared.otlp.as_deref().map(crate::otlp::status),
    });
    json_response(serde_json::to_vec(&doc).unwrap_or_default())
}
