//! k8spacket's Node Graph data source contract (`/nodegraph/api/...`), so a
//! Grafana set up for k8spacket works after changing one URL. Shapes and
//! display names are k8spacket's (see `contracts-k8spacket.md` in the
//! product docs); the numbers come from a [`Graph`] at [`Level::Ip`].
//!
//! Node figures follow k8spacket: connection counts and durations are the
//! node's as a server; bytes are everything it received and sent on either
//! side, as rates over the time its connections were open.

use crate::graph::{Graph, Node, Stats};
use crate::query::{self, QueryError};
use podwire_record::{Body, Endpoint, Record};
use regex_lite::Regex;
use serde_json::{json, Value};

/// What the node and edge stats show (`stats-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatsType {
    #[default]
    Connection,
    Bytes,
    Duration,
}

impl StatsType {
    /// k8spacket's rule: anything unknown (or absent) means `connection`.
    pub fn parse(s: &str) -> StatsType {
        match s {
            "bytes" => StatsType::Bytes,
            "duration" => StatsType::Duration,
            _ => StatsType::Connection,
        }
    }

    /// (mainStat, secondaryStat, (arc__1 color, name), (arc__2 color, name)).
    fn names(
        self,
    ) -> (
        &'static str,
        &'static str,
        [(&'static str, &'static str); 2],
    ) {
        // The trailing spaces are k8spacket's: they keep Grafana from
        // merging the stat fields with the arc fields of the same name.
        match self {
            StatsType::Connection => (
                "All connections ",
                "Persistent connections ",
                [
                    ("green", "Persistent connections"),
                    ("red", "Short-lived connections"),
                ],
            ),
            StatsType::Bytes => (
                "Bytes received ",
                "Bytes responded ",
                [("blue", "Bytes received"), ("yellow", "Bytes responded")],
            ),
            StatsType::Duration => (
                "Average duration ",
                "Max duration ",
                [("purple", "Average duration"), ("white", "Max duration")],
            ),
        }
    }
}

/// `GET /nodegraph/api/graph/fields`.
pub fn fields(t: StatsType) -> Value {
    let (main, secondary, arcs) = t.names();
    let s = |name: &str| json!({"field_name": name, "type": "string"});
    json!({
        "edges_fields": [s("id"), s("source"), s("target"), s("mainStat"), s("secondaryStat")],
        "nodes_fields": [
            s("id"), s("title"), s("subTitle"),
            {"field_name": "mainStat", "type": "string", "displayName": main},
            {"field_name": "secondaryStat", "type": "string", "displayName": secondary},
            {"field_name": "arc__1", "type": "number", "color": arcs[0].0, "displayName": arcs[0].1},
            {"field_name": "arc__2", "type": "number", "color": arcs[1].0, "displayName": arcs[1].1},
        ],
    })
}

/// The query of `GET /nodegraph/api/graph/data` (and of the TLS list,
/// which shares `from`/`to`). Empty values mean "no condition", as
/// Grafana sends `namespace=&include=` for empty variables.
#[derive(Clone, Debug, Default)]
pub struct GraphQuery {
    pub stats: StatsType,
    /// Keeps a connection when either side's namespace matches (an end
    /// without one matches as the empty string, as in k8spacket).
    pub namespace: Option<Regex>,
    /// Keeps a connection when either side's address or name matches.
    pub include: Option<Regex>,
    /// Drops a connection when either side's address or name matches.
    pub exclude: Option<Regex>,
    /// Unix milliseconds; the connection's last activity must be in range.
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
}

impl GraphQuery {
    /// Parses k8spacket's query string. Unknown keys are ignored, as
    /// k8spacket ignores them (Grafana adds its own); a bad regular
    /// expression or time is an error naming it.
    pub fn parse(q: &str) -> Result<GraphQuery, QueryError> {
        let mut g = GraphQuery::default();
        for (key, value) in query::pairs(q)? {
            let regex =
                |v: &str| Regex::new(v).map_err(|e| QueryError::bad(&key, v, &e.to_string()));
            let ms = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| QueryError::bad(&key, v, "Unix milliseconds expected"))
            };
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "stats-type" => g.stats = StatsType::parse(&value),
                "namespace" => g.namespace = Some(regex(&value)?),
                "include" => g.include = Some(regex(&value)?),
                "exclude" => g.exclude = Some(regex(&value)?),
                "from" => g.from_ms = Some(ms(&value)?),
                "to" => g.to_ms = Some(ms(&value)?),
                _ => {}
            }
        }
        Ok(g)
    }

    /// Whether a connection record passes the filters.
    pub fn keeps(&self, rec: &Record) -> bool {
        let Body::Connection(c) = &rec.body else {
            return false;
        };
        let last = c.last_seen.nanos() / 1_000_000;
        if self.from_ms.is_some_and(|f| last < f) || self.to_ms.is_some_and(|t| last > t) {
            return false;
        }
        self.keeps_endpoints(&rec.client, &rec.server)
    }

    /// The namespace/include/exclude part, for any record with two ends.
    pub fn keeps_endpoints(&self, client: &Endpoint, server: &Endpoint) -> bool {
        if let Some(ns) = &self.namespace {
            // k8spacket matches its Go regexp against the namespace as a
            // string, empty for an end outside the cluster (a standalone
            // host, an external or hostNetwork address): `.*`, Grafana's
            // "All", keeps those too.
            let of = |e: &Endpoint| {
                let n = e.identity.as_deref().and_then(|i| i.namespace.as_deref());
                ns.is_match(n.unwrap_or(""))
            };
            if !of(client) && !of(server) {
                return false;
            }
        }
        let texts = || {
            [client, server].into_iter().flat_map(|e| {
                [
                    Some(e.ip.to_canonical().to_string()),
                    crate::names::display_name(e),
                ]
                .into_iter()
                .flatten()
            })
        };
        if let Some(inc) = &self.include {
            if !texts().any(|t| inc.is_match(&t)) {
                return false;
            }
        }
        if let Some(exc) = &self.exclude {
            if texts().any(|t| exc.is_match(&t)) {
                return false;
            }
        }
        true
    }
}

/// `GET /nodegraph/api/graph/data`: `graph` (at [`Level::Ip`]) rendered.
///
/// [`Level::Ip`]: crate::graph::Level::Ip
pub fn data(graph: &Graph, t: StatsType) -> Value {
    let nodes: Vec<Value> = graph.nodes.iter().map(|n| node(n, t)).collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|e| {
            let (main, secondary) = edge_stats(&e.stats, t);
            json!({
                "id": e.id,
                "source": e.source,
                "target": e.target,
                "mainStat": main,
                "secondaryStat": secondary,
            })
        })
        .collect();
    json!({"nodes": nodes, "edges": edges})
}

fn node(n: &Node, t: StatsType) -> Value {
    let (main, secondary, arc1, arc2) = node_stats(n, t);
    json!({
        "id": n.id,
        "title": n.title,
        "subTitle": n.subtitle,
        "mainStat": main,
        "secondaryStat": secondary,
        "arc__1": arc1,
        "arc__2": arc2,
    })
}

fn node_stats(n: &Node, t: StatsType) -> (String, String, f64, f64) {
    let (i, o) = (&n.inbound, &n.outbound);
    match t {
        StatsType::Connection => {
            if i.connections == 0 {
                return ("all: N/A".into(), "persistent: N/A".into(), 0.0, 0.0);
            }
            let all = i.connections as f64;
            (
                format!("all: {}", i.connections),
                format!("persistent: {}", i.persistent),
                i.persistent as f64 / all,
                (all - i.persistent as f64) / all,
            )
        }
        StatsType::Bytes => {
            let received = i.client_bytes + o.server_bytes;
            let sent = i.server_bytes + o.client_bytes;
            let secs = i.duration_seconds_sum + o.duration_seconds_sum;
            if received + sent == 0 || secs <= 0.0 {
                return ("recv: N/A".into(), "resp: N/A".into(), 0.0, 0.0);
            }
            let total = (received + sent) as f64;
            (
                format!("recv: {}/s", bytes(received as f64 / secs)),
                format!("resp: {}/s", bytes(sent as f64 / secs)),
                received as f64 / total,
                sent as f64 / total,
            )
        }
        StatsType::Duration => {
            let (avg, max) = (i.duration_seconds_avg(), i.duration_seconds_max);
            if i.connections == 0 {
                return ("avg: N/A".into(), "max: N/A".into(), 0.0, 0.0);
            }
            let (a1, a2) = if max > 0.0 {
                (avg / max, (max - avg) / max)
            } else {
                (1.0, 0.0)
            };
            (
                format!("avg: {}", duration(avg)),
                format!("max: {}", duration(max)),
                a1,
                a2,
            )
        }
    }
}

fn edge_stats(s: &Stats, t: StatsType) -> (String, String) {
    match t {
        StatsType::Connection => (
            format!("all: {}", s.connections),
            format!("persistent: {}", s.persistent),
        ),
        StatsType::Bytes => (
            format!("sent: {}", bytes(s.client_bytes as f64)),
            format!("recv: {}", bytes(s.server_bytes as f64)),
        ),
        StatsType::Duration => (
            format!("avg: {}", duration(s.duration_seconds_avg())),
            format!("max: {}", duration(s.duration_seconds_max)),
        ),
    }
}

/// Decimal (SI) bytes: `512 B`, `1.2 kB`, `3.4 MB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    // Decide on the rounded figure, so 999.6 B is 1.0 kB, not 1000 B.
    if n.round() < 1000.0 {
        return format!("{} B", n.round() as u64);
    }
    let mut v = n / 1000.0;
    let mut u = 0;
    while (v * 10.0).round() >= 10_000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A duration for people: `<0.001s`, `12.3ms`, `4.56s`, `2m5s`, `3h4m`.
pub fn duration(secs: f64) -> String {
    // Each unit is chosen on the figure as it will be rounded, so 0.99996 s
    // is 1.00s, not 1000.0ms, and 59.996 s is 1m0s, not 60.00s.
    if secs < 0.001 {
        "<0.001s".to_string()
    } else if (secs * 1e4).round() < 10_000.0 {
        format!("{:.1}ms", secs * 1e3)
    } else if (secs * 100.0).round() < 6000.0 {
        format!("{secs:.2}s")
    } else if secs.round() < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m{}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h{}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests;
