//! The service graph: connection records folded into nodes and edges.
//!
//! One fold serves every consumer: the JSON API's `/api/v1/graph`, the
//! k8spacket Node Graph answers and the cluster fan-out. An agent folds its
//! own records into a [`Graph`] of plain counters; a cluster answer is the
//! [`Graph::merge`] of every agent's graph, which only adds (counts, bytes,
//! duration sums) or takes maxima, so the order peers answer in never
//! changes the result and no peer's numbers overwrite another's.
//!
//! Nodes are endpoints named at a chosen [`Level`]; edges go from client to
//! server. Per-node figures are derived from the edges ([`Graph::finish`]),
//! never merged directly, so a merged graph's nodes always agree with its
//! edges.

use crate::names::{display_name, node_key, NodeKey};
use podwire_record::{Body, Close, Endpoint, Record, Transport};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// How finely endpoints are grouped into nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// One node per IP address (k8spacket's graph).
    Ip,
    /// One node per pod; outside Kubernetes per process and address.
    #[default]
    Pod,
    /// One node per workload (Deployment, StatefulSet, ...), else as `Pod`.
    Workload,
    /// One node per namespace, else as `Pod`.
    Namespace,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "ip" => Level::Ip,
            "pod" => Level::Pod,
            "workload" => Level::Workload,
            "namespace" => Level::Namespace,
            _ => return None,
        })
    }
}

/// Counters of the connections between two nodes (or into or out of one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections (TCP) and flows (UDP) active in the window.
    pub connections: u64,
    /// Of those, still open when counted.
    pub open: u64,
    /// Of those, that lived at least the persistence threshold.
    pub persistent: u64,
    /// Frame bytes from client to server.
    pub client_bytes: u64,
    /// Frame bytes from server to client.
    pub server_bytes: u64,
    /// Sum of the connections' durations, in seconds.
    pub duration_seconds_sum: f64,
    /// The longest connection, in seconds.
    pub duration_seconds_max: f64,
    /// TCP retransmissions seen (packets or kernel, whichever is larger).
    pub retransmits: u64,
    /// Last activity, Unix milliseconds.
    pub last_seen_ms: u64,
}

impl Stats {
    /// Adds `o` in: sums and maxima only.
    pub fn add(&mut self, o: &Stats) {
        self.connections += o.connections;
        self.open += o.open;
        self.persistent += o.persistent;
        self.client_bytes += o.client_bytes;
        self.server_bytes += o.server_bytes;
        self.duration_seconds_sum += o.duration_seconds_sum;
        self.duration_seconds_max = self.duration_seconds_max.max(o.duration_seconds_max);
        self.retransmits += o.retransmits;
        self.last_seen_ms = self.last_seen_ms.max(o.last_seen_ms);
    }

    /// Mean connection duration in seconds (0 without connections).
    pub fn duration_seconds_avg(&self) -> f64 {
        if self.connections == 0 {
            0.0
        } else {
            self.duration_seconds_sum / self.connections as f64
        }
    }
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Stable key at the graph's level (`prod/api-7d9f`, `10.0.0.7`, ...).
    pub id: String,
    /// What to call it: pod, workload, process, domain or address.
    pub title: String,
    /// The address, or the kind of node when it groups many.
    pub subtitle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Connections this node served (it was the server).
    #[serde(default)]
    pub inbound: Stats,
    /// Connections this node opened (it was the client).
    #[serde(default)]
    pub outbound: Stats,
}

/// A client -> server edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// `source-target` (k8spacket's edge ids).
    pub id: String,
    pub source: String,
    pub target: String,
    /// `tcp`, `udp` or both, sorted.
    pub protocols: Vec<String>,
    pub stats: Stats,
}

/// A folded graph; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub level: Level,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Builds a [`Graph`] from connection records.
pub struct GraphBuilder {
    level: Level,
    persistent_ms: f64,
    /// First fold, without building any string: per pair of (address,
    /// identity hash), the stats and one copy of each endpoint. Graphs are
    /// asked for over a hundred thousand records; names are built once per
    /// distinct endpoint pair in [`GraphBuilder::finish`].
    pairs: FxHashMap<PairKey, Pending>,
}

type PairKey = (IpAddr, u64, IpAddr, u64);

struct Pending {
    client: Endpoint,
    server: Endpoint,
    stats: Stats,
    protos: [bool; 2],
}

/// A hash of an endpoint's identity (0 without one).
fn identity_hash(ep: &Endpoint) -> u64 {
    let Some(id) = ep.identity.as_deref() else {
        return 0;
    };
    let mut h = rustc_hash::FxHasher::default();
    id.hash(&mut h);
    h.finish() | 1
}

impl GraphBuilder {
    /// `persistent_ms`: a connection that lived at least this long counts
    /// as persistent (k8spacket's default is 10 s).
    pub fn new(level: Level, persistent_ms: f64) -> GraphBuilder {
        GraphBuilder {
            level,
            persistent_ms,
            pairs: FxHashMap::default(),
        }
    }

    /// Folds one record in; records other than connections are ignored.
    pub fn add(&mut self, rec: &Record) {
        let Body::Connection(c) = &rec.body else {
            return;
        };
        let stats = Stats {
            connections: 1,
            open: u64::from(c.close == Close::Open),
            persistent: u64::from(c.duration_ms >= self.persistent_ms),
            client_bytes: c.client_to_server.bytes,
            server_bytes: c.server_to_client.bytes,
            duration_seconds_sum: c.duration_ms / 1e3,
            duration_seconds_max: c.duration_ms / 1e3,
            retransmits: c
                .retransmits
                .max(c.kernel.as_ref().map_or(0, |k| k.retransmits)),
            last_seen_ms: c.last_seen.nanos() / 1_000_000,
        };
        let key = (
            rec.client.ip.to_canonical(),
            identity_hash(&rec.client),
            rec.server.ip.to_canonical(),
            identity_hash(&rec.server),
        );
        let p = self.pairs.entry(key).or_insert_with(|| Pending {
            client: rec.client.clone(),
            server: rec.server.clone(),
            stats: Stats::default(),
            protos: [false; 2],
        });
        p.stats.add(&stats);
        match c.proto {
            Transport::Tcp => p.protos[0] = true,
            Transport::Udp => p.protos[1] = true,
        }
    }

    /// The graph, nodes and edges sorted by id.
    pub fn finish(self) -> Graph {
        let mut nodes: FxHashMap<String, NodeKey> = FxHashMap::default();
        let mut edges: FxHashMap<(String, String), (Stats, [bool; 2])> = FxHashMap::default();
        for p in self.pairs.into_values() {
            let client = node_key(&p.client, self.level);
            let server = node_key(&p.server, self.level);
            let e = edges
                .entry((client.id.clone(), server.id.clone()))
                .or_default();
            e.0.add(&p.stats);
            e.1[0] |= p.protos[0];
            e.1[1] |= p.protos[1];
            for n in [client, server] {
                match nodes.get_mut(&n.id) {
                    Some(known) => known.absorb(n),
                    None => {
                        nodes.insert(n.id.clone(), n);
                    }
                }
            }
        }
        let mut g = Graph {
            level: self.level,
            nodes: nodes
                .into_values()
                .map(|k| Node {
                    title: k.title.unwrap_or_else(|| k.id.clone()),
                    id: k.id,
                    subtitle: k.subtitle,
                    namespace: k.namespace,
                    inbound: Stats::default(),
                    outbound: Stats::default(),
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|((source, target), (stats, protos))| Edge {
                    id: format!("{source}-{target}"),
                    source,
                    target,
                    protocols: protocols(protos),
                    stats,
                })
                .collect(),
        };
        g.finish();
        g
    }
}

fn protocols(p: [bool; 2]) -> Vec<String> {
    let mut v = Vec::with_capacity(2);
    if p[0] {
        v.push("tcp".to_string());
    }
    if p[1] {
        v.push("udp".to_string());
    }
    v
}

impl Graph {
    /// Adds another agent's graph of the same level: edges with the same
    /// ends sum, nodes with the same id keep the more specific title.
    pub fn merge(&mut self, other: Graph) {
        let mut nodes: FxHashMap<String, Node> =
            self.nodes.drain(..).map(|n| (n.id.clone(), n)).collect();
        for n in other.nodes {
            match nodes.get_mut(&n.id) {
                Some(known) => {
                    // A title that is only the address loses to a name.
                    if known.title == known.id && n.title != n.id {
                        known.title = n.title;
                        known.subtitle = n.subtitle;
                    }
                    // Whichever agent knew the namespace (as `absorb` does).
                    if known.namespace.is_none() {
                        known.namespace = n.namespace;
                    }
                }
                None => {
                    nodes.insert(n.id.clone(), n);
                }
            }
        }
        let mut edges: FxHashMap<(String, String), Edge> = self
            .edges
            .drain(..)
            .map(|e| ((e.source.clone(), e.target.clone()), e))
            .collect();
        for e in other.edges {
            match edges.get_mut(&(e.source.clone(), e.target.clone())) {
                Some(known) => {
                    known.stats.add(&e.stats);
                    for p in e.protocols {
                        if !known.protocols.contains(&p) {
                            known.protocols.push(p);
                        }
                    }
                    known.protocols.sort();
                }
                None => {
                    edges.insert((e.source.clone(), e.target.clone()), e);
                }
            }
        }
        self.nodes = nodes.into_values().collect();
        self.edges = edges.into_values().collect();
        self.finish();
    }

    /// Sorts nodes and edges and derives each node's inbound and outbound
    /// figures from the edges (a node no edge touches is dropped).
    pub fn finish(&mut self) {
        let mut index: FxHashMap<String, usize> = FxHashMap::default();
        self.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        for (i, n) in self.nodes.iter_mut().enumerate() {
            n.inbound = Stats::default();
            n.outbound = Stats::default();
            index.insert(n.id.clone(), i);
        }
        self.edges
            .sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
        for e in &self.edges {
            if let Some(&i) = index.get(&e.source) {
                self.nodes[i].outbound.add(&e.stats);
            }
            if let Some(&i) = index.get(&e.target) {
                self.nodes[i].inbound.add(&e.stats);
            }
        }
        // Edges name their ends; a node without edges is left from a merge
        // of a peer's malformed answer and would float alone.
        let used: rustc_hash::FxHashSet<&str> = self
            .edges
            .iter()
            .flat_map(|e| [e.source.as_str(), e.target.as_str()])
            .collect();
        self.nodes.retain(|n| used.contains(n.id.as_str()));
    }

    /// Total over every edge.
    pub fn total(&self) -> Stats {
        let mut t = Stats::default();
        for e in &self.edges {
            t.add(&e.stats);
        }
        t
    }
}

/// The best name for one endpoint, for titles elsewhere (TLS answers).
pub fn endpoint_title(ep: &podwire_record::Endpoint) -> String {
    display_name(ep).unwrap_or_else(|| ep.ip.to_canonical().to_string())
}

#[cfg(test)]
mod tests;
