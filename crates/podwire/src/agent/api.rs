//! The agent's HTTP API (the `serve` stage, standalone part): `/healthz`,
//! record tables as JSON arrays under `/api/v1/`, the watched interfaces,
//! and a status document with every counter. Filters are the query string
//! (see `podwire_store::Filter`); a bad filter is a 400 naming the key.

use super::state::{lock, Shared};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use podwire_store::{Filter, Table};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/connections", get(connections))
        .route("/api/v1/tls", get(tls))
        .route("/api/v1/http", get(http))
        .route("/api/v1/dns", get(dns))
        .route("/api/v1/interfaces", get(interfaces))
        .route("/api/v1/status", get(status))
        .with_state(shared)
}

async fn connections(s: State<Arc<Shared>>, q: RawQuery) -> Response {
    table(s, q, Table::Connection).await
}
async fn tls(s: State<Arc<Shared>>, q: RawQuery) -> Response {
    table(s, q, Table::Tls).await
}
async fn http(s: State<Arc<Shared>>, q: RawQuery) -> Response {
    table(s, q, Table::Http).await
}
async fn dns(s: State<Arc<Shared>>, q: RawQuery) -> Response {
    table(s, q, Table::Dns).await
}

async fn table(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery, t: Table) -> Response {
    let filter = match Filter::parse_query(q.as_deref().unwrap_or(""), super::probe::now()) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    // Snapshots wait on the tracker threads: not on the async thread.
    match tokio::task::spawn_blocking(move || shared.query(t, &filter)).await {
        Ok(body) => json_response(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn interfaces(State(shared): State<Arc<Shared>>) -> Response {
    let list = lock(&shared.interfaces).clone();
    json_response(serde_json::to_vec(&list).unwrap_or_default())
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
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
        },
        "ebpf": {
            "events": get(&c.ebpf_events),
            "lost": get(&c.ebpf_lost),
            "sockets": kernel.sockets,
            "evicted": kernel.evicted,
            "unclaimed": kernel.unclaimed,
        },
        "names": { "known": names, "forgotten": names_forgotten },
        "store": store,
    });
    json_response(serde_json::to_vec(&doc).unwrap_or_default())
}
