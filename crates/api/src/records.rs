//! `/api/v1/{connections,tls,http,dns,postgres,mysql,redis,kafka}`: record tables as JSON arrays,
//! newest first.
//!
//! Local answers are paginated: when more records match than `limit`, the
//! answer carries `X-Podwire-Next-Cursor` (and a `Link: rel="next"`), and
//! `after=<cursor>` asks for the next page. Cursors are positions in the
//! order (time, then a hash of the record), so pages neither repeat nor
//! skip records while new ones arrive. Cluster answers concatenate every
//! peer's newest records and keep the newest `limit`; they are not
//! paginated.

use crate::Api;
use crate::{bad_request, internal_error, json_response, local_query, missing, Scope};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use podwire_store::{Filter, Table};
use std::sync::Arc;

pub async fn connections(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Connection).await
}
pub async fn tls(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Tls).await
}
pub async fn http(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Http).await
}
pub async fn dns(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Dns).await
}
pub async fn postgres(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Postgres).await
}
pub async fn mysql(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Mysql).await
}
pub async fn redis(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Redis).await
}
pub async fn kafka(s: State<Arc<Api>>, q: RawQuery) -> Response {
    table(s, q, Table::Kafka).await
}

async fn table(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery, t: Table) -> Response {
    let q = q.unwrap_or_default();
    let (mut filter, own) = match Filter::parse_query_with(&q, shared.backend.now(), &["scope"]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let scope = match Scope::parse(own.first().map(|(_, v)| v.as_str()), &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let path = format!("/api/v1/{}", path_name(t));
    if scope == Scope::Cluster {
        return cluster(&shared, &path, &q, filter.limit).await;
    }
    filter.accounted_by = scope.accounted_by(&shared);
    // Snapshots wait on the tracker threads: not on the async thread.
    let Ok((body, next)) =
        tokio::task::spawn_blocking(move || shared.backend.query(t, &filter)).await
    else {
        return internal_error();
    };
    let mut r = json_response(body);
    if let Some(c) = next {
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            h.insert(HeaderName::from_static("x-podwire-next-cursor"), v);
        }
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("after="))
            .collect();
        let mut link = format!("<{path}?");
        for p in kept {
            link.push_str(p);
            link.push('&');
        }
        link.push_str(&format!("after={c}>; rel=\"next\""));
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.insert(axum::http::header::LINK, v);
        }
    }
    r
}

fn path_name(t: Table) -> &'static str {
    match t {
        Table::Connection => "connections",
        Table::Tls => "tls",
        Table::Http => "http",
        Table::Dns => "dns",
        Table::Postgres => "postgres",
        Table::Mysql => "mysql",
        Table::Redis => "redis",
        Table::Kafka => "kafka",
    }
}

async fn cluster(shared: &Api, path: &str, q: &str, limit: usize) -> Response {
    let answers = shared.peers.ask(&local_query(path, q)).await;
    let mut all: Vec<serde_json::Value> = Vec::new();
    let mut failed = missing(&answers);
    for a in &answers {
        let Ok(body) = &a.body else { continue };
        match serde_json::from_slice::<Vec<serde_json::Value>>(body) {
            Ok(records) => all.extend(records),
            Err(e) => failed.push(
                serde_json::json!({"peer": a.peer, "error": format!("not a record array: {e}")}),
            ),
        }
    }
    // Times are RFC 3339 with nine fraction digits: text order is time order.
    let ts = |v: &serde_json::Value| {
        v.get("ts")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_string()
    };
    all.sort_by_cached_key(|v| std::cmp::Reverse(ts(v)));
    all.truncate(limit);
    let mut r = json_response(serde_json::to_vec(&all).unwrap_or_default());
    peer_headers(&mut r, answers.len(), &failed);
    r
}

/// `X-Podwire-Peers: <answered>/<asked>` and, when some failed,
/// `X-Podwire-Missing-Peers: <peer> (<error>), ...`.
pub(crate) fn peer_headers(r: &mut Response, asked: usize, failed: &[serde_json::Value]) {
    let h = r.headers_mut();
    let answered = asked.saturating_sub(failed.len());
    if let Ok(v) = HeaderValue::from_str(&format!("{answered}/{asked}")) {
        h.insert(HeaderName::from_static("x-podwire-peers"), v);
    }
    if failed.is_empty() {
        return;
    }
    let text: Vec<String> = failed
        .iter()
        .map(|f| {
            let s = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            format!("{} ({})", s("peer"), s("error"))
        })
        .collect();
    let clean: String = text
        .join(", ")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(4000)
        .collect();
    if let Ok(v) = HeaderValue::from_str(&clean) {
        h.insert(HeaderName::from_static("x-podwire-missing-peers"), v);
    }
}
