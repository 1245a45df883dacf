//! The server about itself: `/metrics` (traffic and health, Prometheus),
//! `/api/v1/status` (every counter, JSON), `/api/v1/interfaces` and
//! `/api/v1/peers`; and `/api/v1/capture`, which the backend answers. The
//! figures are the backend's, with the API's own counts handed in.

use crate::{json_response, Api};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `GET /metrics`: OpenMetrics text when the scraper asks for it (as
/// Prometheus does), the classic text format otherwise.
pub async fn metrics(State(shared): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let api = shared.counters();
    let backend = Arc::clone(&shared.backend);
    let Ok(text) = tokio::task::spawn_blocking(move || backend.metrics(api)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
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
pub async fn peers(State(shared): State<Arc<Api>>) -> Response {
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

/// `GET /api/v1/interfaces`.
pub async fn interfaces(State(shared): State<Arc<Api>>) -> Response {
    let list = shared.backend.interfaces();
    json_response(serde_json::to_vec(&list).unwrap_or_default())
}

/// `GET /api/v1/status`.
pub async fn status(State(shared): State<Arc<Api>>) -> Response {
    let (auth, api) = (shared.access.mode_name(), shared.counters());
    let backend = Arc::clone(&shared.backend);
    let Ok(doc) = tokio::task::spawn_blocking(move || backend.status(auth, api)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    json_response(serde_json::to_vec(&doc).unwrap_or_default())
}

/// `GET /api/v1/capture`: the backend checks its callers itself.
pub async fn capture(
    State(shared): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    Arc::clone(&shared.backend).capture(headers, query).await
}

/// The `store` part of `/api/v1/status`: each table's records, bytes and
/// drops.
pub fn store_status(stats: &podwire_store::StoreStats) -> serde_json::Value {
    stats
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
        .collect()
}
