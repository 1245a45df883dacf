//! The agent about itself: `/metrics` (traffic and health, Prometheus),
//! `/api/v1/status` (every counter, JSON), `/api/v1/interfaces` and
//! `/api/v1/peers`.

use super::json_response;
use crate::agent::state::{lock, Shared};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
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
    let sources = lock(&shared.sources).clone();
    let mut doc = json!({
        "mode": shared.clock.mode(),
        "now": shared.now(),
        "sources": sources,
        "api": { "auth": shared.access.mode_name() },
        "own": { "observed": !shared.own.active() },
        "store": store,
    });
    // Every counter and gauge, at the paths the telemetry catalogue gives.
    let mut counters = shared.telemetry(&tracker);
    counters.add(&shared.metrics.counters);
    podwire_telemetry::merge_json(&mut doc, counters.status_json());
    json_response(serde_json::to_vec(&doc).unwrap_or_default())
}
