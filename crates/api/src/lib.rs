//! The HTTP half of the `serve` stage: one port for people, scripts,
//! Grafana and Prometheus, written against a [`Backend`] so that the live
//! agent (`podwire agent`) and capture files (`podwire read --serve`)
//! serve the same routes, answers and access rules without the one
//! knowing the other. What holds the records, counts them and captures
//! packets is the backend's; what is HTTP (routes, access control,
//! per-client limits, the TLS listener, the UI, the live stream, asking
//! peers) is here.
//!
//! * [`records`]: `/api/v1/{connections,tls,http,dns}`, filtered (see
//!   `podwire_store::Filter`) and paginated, local or cluster-wide.
//! * [`graph`]: `/api/v1/graph`, and k8spacket's Grafana data sources
//!   `/nodegraph/api/...` and `/tlsparser/api/...`.
//! * [`stream`]: `/api/v1/stream`, new records as server-sent events.
//! * [`status`]: `/healthz`, `/metrics`, `/api/v1/status`,
//!   `/api/v1/interfaces`.
//! * [`ui`]: the built-in web UI, `/` and `/ui/...`.
//! * [`access`]: who may read which of these; [`limits`]: how much one
//!   client may ask; [`listener`]: how many connect at once, and TLS.
//!
//! Cluster answers (`scope=cluster`, the default when peers are
//! configured) ask every peer for its local answer and merge by summing
//! or concatenating; peers that did not answer are named in the answer
//! (`X-Podwire-Missing-Peers` on list answers, `missing` in objects).

pub mod access;
pub mod auth;
pub mod backend;
pub mod config;
mod error;
mod graph;
pub mod limits;
pub mod listen;
pub mod listener;
pub mod peer_client;
pub mod peers;
mod records;
mod server;
mod status;
mod stream;
pub mod tls_client;
mod ui;

pub use backend::{Backend, NoOwn, OwnConns};
pub use config::{api_auth, ApiAuth, ApiConfig, PeerTls, ServeConfig, TlsFiles};
pub use error::{Error, Result};
pub use server::{serve, Api};
pub use status::store_status;

use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The OpenAPI description of this API, served at `/api/v1/openapi.json`.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every route, over `shared` (see the module comment).
pub fn router(shared: Arc<Api>) -> Router {
    let grafana = Router::new()
        .route("/nodegraph/api/health", get(graph::health))
        .route("/nodegraph/api/graph/fields", get(graph::fields))
        .route("/nodegraph/api/graph/data", get(graph::data))
        .route("/nodegraph/api/graph/raw", get(graph::raw))
        .route("/tlsparser/api/data", get(graph::tls_list))
        .route("/tlsparser/api/raw", get(graph::tls_raw))
        .route("/tlsparser/api/data/{id}", get(graph::tls_details))
        .layer(axum::middleware::map_response(allow_any_origin));
    // Everything that holds data needs the records grant (see `access`).
    let records = Router::new()
        .route("/api/v1/connections", get(records::connections))
        .route("/api/v1/tls", get(records::tls))
        .route("/api/v1/http", get(records::http))
        .route("/api/v1/dns", get(records::dns))
        .route("/api/v1/postgres", get(records::postgres))
        .route("/api/v1/mysql", get(records::mysql))
        .route("/api/v1/redis", get(records::redis))
        .route("/api/v1/kafka", get(records::kafka))
        .route("/api/v1/graph", get(graph::graph))
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/interfaces", get(status::interfaces))
        .route("/api/v1/status", get(status::status))
        .route("/api/v1/peers", get(status::peers))
        .merge(grafana)
        .route_layer(from_fn_with_state(Arc::clone(&shared), access::records));
    let metrics = Router::new()
        .route("/metrics", get(status::metrics))
        .route_layer(from_fn_with_state(Arc::clone(&shared), access::metrics));
    Router::new()
        .route("/", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui/{asset}", get(ui::asset))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/api/v1/openapi.json",
            get(|| async { json_response(OPENAPI.as_bytes().to_vec()) }),
        )
        // Captures check their callers themselves, more strictly.
        .route("/api/v1/capture", get(status::capture))
        .merge(records)
        .merge(metrics)
        .layer(from_fn_with_state(Arc::clone(&shared), limits::guard))
        .with_state(shared)
}

pub use podwire_sync::lock;

/// Grafana's data sources read from the browser: every answer of theirs,
/// errors included, carries `Access-Control-Allow-Origin: *`.
async fn allow_any_origin(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

pub(crate) fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// JSON for Grafana's data sources, which read it from the browser.
pub(crate) fn cors_json(body: Vec<u8>) -> Response {
    let mut r = json_response(body);
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

pub(crate) fn bad_request(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

pub(crate) fn internal_error() -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Whose data an answer covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// This agent's own records.
    Local,
    /// The records this agent counts in cluster sums: what peers are
    /// asked for (see [`podwire_store::accounted_on`]).
    Node,
    /// Every peer's `node` answer, merged.
    Cluster,
}

impl Scope {
    /// `scope=local|cluster`; without it, cluster when peers are configured.
    pub(crate) fn parse(value: Option<&str>, shared: &Api) -> Result<Scope, String> {
        match value {
            None if shared.peers.configured() => Ok(Scope::Cluster),
            None | Some("local") => Ok(Scope::Local),
            Some("node") => Ok(Scope::Node),
            Some("cluster") if shared.peers.configured() => Ok(Scope::Cluster),
            Some("cluster") => Err("scope=cluster: no peers are configured (--peers)".into()),
            Some(v) => Err(format!(
                "bad value `{}` for `scope`: expected `local`, `node` or `cluster`",
                v.chars().take(64).collect::<String>()
            )),
        }
    }
}

impl Scope {
    /// The node whose share a local answer is cut to (`scope=node` on an
    /// agent that knows its Kubernetes node).
    pub(crate) fn accounted_by(self, shared: &Api) -> Option<String> {
        match self {
            Scope::Node => shared.backend.node_name(),
            _ => None,
        }
    }
}

/// `query` with `scope=node` in place of any scope, for asking peers: each
/// answers with the records it counts, so the sum counts each once.
pub(crate) fn local_query(path: &str, query: &str) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("scope="))
        .collect();
    if kept.is_empty() {
        format!("{path}?scope=node")
    } else {
        format!("{path}?{}&scope=node", kept.join("&"))
    }
}

/// `[{"peer", "error"}]` of the peers that did not answer.
pub(crate) fn missing(answers: &[peers::Answer]) -> Vec<serde_json::Value> {
    answers
        .iter()
        .filter_map(|a| {
            a.body.as_ref().err().map(|e| {
                serde_json::json!({"peer": a.peer, "error": e, "ms": a.elapsed.as_millis() as u64})
            })
        })
        .collect()
}
