//! The service graph (`/api/v1/graph`) and k8spacket's Grafana data
//! sources (`/nodegraph/api/...`, `/tlsparser/api/...`).
//!
//! Every graph is folded from connection records, open and stored, into
//! plain counters; a cluster graph is the sum of every peer's. For that,
//! the k8spacket endpoints have a numeric twin that peers answer:
//! `/nodegraph/api/graph/raw` (the graph before rendering) and
//! `/tlsparser/api/raw` (rows with their details).

use crate::records::peer_headers;
use crate::{
    bad_request, cors_json, internal_error, json_response, local_query, missing, Api, Scope,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use podwire_serve::nodegraph::{self, GraphQuery, StatsType};
use podwire_serve::tlsparser::{TlsConnection, TlsDetails, TlsTable};
use podwire_serve::{Graph, GraphBuilder, Level};
use podwire_store::{Filter, Table};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `GET /api/v1/graph?level=pod|workload|namespace|ip&<filter>`.
pub async fn graph(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let (mut filter, own) =
        match Filter::parse_query_with(&q, shared.backend.now(), &["level", "scope"]) {
            Ok(f) => f,
            Err(e) => return bad_request(e),
        };
    let mut level = Level::default();
    let mut scope = None;
    for (k, v) in &own {
        match k.as_str() {
            "level" => match Level::parse(v) {
                Some(l) => level = l,
                None => {
                    return bad_request(format!(
                    "bad value `{v}` for `level`: expected `ip`, `pod`, `workload` or `namespace`"
                ))
                }
            },
            _ => scope = Some(v.as_str()),
        }
    }
    let scope = match Scope::parse(scope, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    if filter.after.is_some() {
        return bad_request("`after` pages record lists; a graph is one answer");
    }
    if scope == Scope::Cluster {
        let (g, answers, failed) = cluster_graph(&shared, "/api/v1/graph", &q, level).await;
        return graph_answer(&g, answers, &failed);
    }
    filter.accounted_by = scope.accounted_by(&shared);
    let persistent_ms = shared.persistent_ms;
    let s = Arc::clone(&shared);
    let Ok(g) = tokio::task::spawn_blocking(move || {
        let mut b = GraphBuilder::new(level, persistent_ms);
        s.backend.each_connection(&filter, &mut |r| b.add(r));
        b.finish()
    })
    .await
    else {
        return internal_error();
    };
    json_response(serde_json::to_vec(&g).unwrap_or_default())
}

/// A merged graph with `peers` (asked) and `missing` (did not answer).
fn graph_answer(g: &Graph, asked: usize, failed: &[serde_json::Value]) -> Response {
    let mut v = serde_json::to_value(g).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("peers".into(), asked.into());
        o.insert("missing".into(), failed.to_vec().into());
    }
    let mut r = json_response(serde_json::to_vec(&v).unwrap_or_default());
    peer_headers(&mut r, asked, failed);
    r
}

/// Every peer's local graph for `path?query`, summed.
async fn cluster_graph(
    shared: &Api,
    path: &str,
    q: &str,
    level: Level,
) -> (Graph, usize, Vec<serde_json::Value>) {
    let answers = shared.peers.ask(&local_query(path, q)).await;
    let mut failed = missing(&answers);
    let mut merged = Graph {
        level,
        ..Graph::default()
    };
    for a in &answers {
        let Ok(body) = &a.body else { continue };
        let error = match serde_json::from_slice::<Graph>(body) {
            Ok(g) if g.level == level => {
                merged.merge(g);
                continue;
            }
            Ok(_) => "graph of another level".to_string(),
            Err(e) => format!("not a graph: {e}"),
        };
        failed.push(serde_json::json!({"peer": a.peer, "error": error}));
    }
    merged.finish();
    (merged, answers.len(), failed)
}

pub async fn health() -> Response {
    cors_json(b"{\"status\":\"ok\"}".to_vec())
}

pub async fn fields(RawQuery(q): RawQuery) -> Response {
    let t = podwire_store::pairs(q.as_deref().unwrap_or(""))
        .ok()
        .and_then(|p| p.into_iter().find(|(k, _)| k == "stats-type"))
        .map_or(StatsType::Connection, |(_, v)| StatsType::parse(&v));
    cors_json(serde_json::to_vec(&nodegraph::fields(t)).unwrap_or_default())
}

/// k8spacket's query, and whether to ask the peers.
#[allow(clippy::result_large_err)] // an axum Response, returned at once
fn k8s_query(shared: &Api, q: &str) -> Result<(GraphQuery, Scope), Response> {
    let gq = GraphQuery::parse(q).map_err(bad_request)?;
    let scope = podwire_store::pairs(q)
        .ok()
        .and_then(|p| p.into_iter().find(|(k, _)| k == "scope"))
        .map(|(_, v)| v);
    let scope = Scope::parse(scope.as_deref(), shared).map_err(bad_request)?;
    Ok((gq, scope))
}

/// The k8spacket graph (one node per address) of this agent's records.
async fn local_ip_graph(shared: &Arc<Api>, gq: GraphQuery, scope: Scope) -> Option<Graph> {
    let persistent_ms = shared.persistent_ms;
    let s = Arc::clone(shared);
    let filter = Filter {
        accounted_by: scope.accounted_by(shared),
        ..Filter::default()
    };
    tokio::task::spawn_blocking(move || {
        let mut b = GraphBuilder::new(Level::Ip, persistent_ms);
        s.backend.each_connection(&filter, &mut |r| {
            if gq.keeps(r) {
                b.add(r)
            }
        });
        b.finish()
    })
    .await
    .ok()
}

/// `GET /nodegraph/api/graph/data`.
pub async fn data(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let (gq, scope) = match k8s_query(&shared, &q) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let stats = gq.stats;
    let (g, peers) = if scope == Scope::Cluster {
        let (g, asked, failed) =
            cluster_graph(&shared, "/nodegraph/api/graph/raw", &q, Level::Ip).await;
        (g, Some((asked, failed)))
    } else {
        match local_ip_graph(&shared, gq, scope).await {
            Some(g) => (g, None),
            None => return internal_error(),
        }
    };
    let mut r = cors_json(serde_json::to_vec(&nodegraph::data(&g, stats)).unwrap_or_default());
    if let Some((asked, failed)) = peers {
        peer_headers(&mut r, asked, &failed);
    }
    r
}

/// `GET /nodegraph/api/graph/raw`: the graph `data` renders, as numbers.
pub async fn raw(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let (gq, scope) = match k8s_query(&shared, &q) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if scope == Scope::Cluster {
        let (g, asked, failed) =
            cluster_graph(&shared, "/nodegraph/api/graph/raw", &q, Level::Ip).await;
        return graph_answer(&g, asked, &failed);
    }
    match local_ip_graph(&shared, gq, scope).await {
        Some(g) => cors_json(serde_json::to_vec(&g).unwrap_or_default()),
        None => internal_error(),
    }
}

/// One row of `/tlsparser/api/raw`.
#[derive(Serialize, Deserialize)]
struct TlsEntry {
    row: TlsConnection,
    details: TlsDetails,
}

/// Every TLS pair the query selects, from this agent or every peer.
async fn tls_entries(
    shared: &Arc<Api>,
    q: &str,
) -> Result<
    (
        Vec<(TlsConnection, TlsDetails)>,
        Option<(usize, Vec<serde_json::Value>)>,
    ),
    Response,
> {
    let (gq, scope) = k8s_query(shared, q)?;
    if scope == Scope::Cluster {
        let answers = shared
            .peers
            .ask(&local_query("/tlsparser/api/raw", q))
            .await;
        let mut failed = missing(&answers);
        let mut table = TlsTable::default();
        for a in &answers {
            let Ok(body) = &a.body else { continue };
            match serde_json::from_slice::<Vec<TlsEntry>>(body) {
                Ok(entries) => {
                    for e in entries {
                        table.insert(e.row, e.details);
                    }
                }
                Err(e) => failed.push(
                    serde_json::json!({"peer": a.peer, "error": format!("not TLS entries: {e}")}),
                ),
            }
        }
        return Ok((table.finish(), Some((answers.len(), failed))));
    }
    let s = Arc::clone(shared);
    let filter = Filter {
        accounted_by: scope.accounted_by(shared),
        ..Filter::default()
    };
    let entries = tokio::task::spawn_blocking(move || {
        let mut table = TlsTable::default();
        s.backend
            .each_stored(Table::Tls, &filter, &mut |r| table.add(r, &gq));
        table.finish()
    })
    .await
    .map_err(|_| internal_error())?;
    Ok((entries, None))
}

/// `GET /tlsparser/api/data?from=&to=`.
pub async fn tls_list(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let (entries, peers) = match tls_entries(&shared, &q.unwrap_or_default()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rows: Vec<&TlsConnection> = entries.iter().map(|e| &e.0).collect();
    let mut r = cors_json(serde_json::to_vec(&rows).unwrap_or_default());
    if let Some((asked, failed)) = peers {
        peer_headers(&mut r, asked, &failed);
    }
    r
}

/// `GET /tlsparser/api/data/{id}`; 404 for an unknown id.
pub async fn tls_details(
    State(shared): State<Arc<Api>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let (entries, _) = match tls_entries(&shared, &q.unwrap_or_default()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match entries.into_iter().find(|e| e.0.id == id) {
        Some((_, details)) => cors_json(serde_json::to_vec(&details).unwrap_or_default()),
        None => {
            let mut r = (StatusCode::NOT_FOUND, "no TLS connection with this id\n").into_response();
            r.headers_mut().insert(
                axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                axum::http::HeaderValue::from_static("*"),
            );
            r
        }
    }
}

/// `GET /tlsparser/api/raw`: rows with their details, for cluster merges.
pub async fn tls_raw(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let (entries, peers) = match tls_entries(&shared, &q.unwrap_or_default()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list: Vec<TlsEntry> = entries
        .into_iter()
        .map(|(row, details)| TlsEntry { row, details })
        .collect();
    let mut r = json_response(serde_json::to_vec(&list).unwrap_or_default());
    if let Some((asked, failed)) = peers {
        peer_headers(&mut r, asked, &failed);
    }
    r
}
