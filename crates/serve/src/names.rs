//! What to call an endpoint in a graph, a table or a metric label.
//!
//! One precedence everywhere, most specific first: pod, workload, service,
//! process, node, domain, address. Kubernetes names exist when the agent
//! runs in a cluster; standalone, a local endpoint is named by its process
//! and a remote one by the DNS answer or TLS SNI the host saw for it. An
//! address of the host itself with no process is named as the host (its
//! `node`: the Kubernetes node, or the host name standalone), one node
//! `node:NAME` for all its addresses.

use crate::graph::Level;
use podwire_record::{Endpoint, Identity};

/// The best human name of an endpoint, if it has one besides its address.
pub fn display_name(ep: &Endpoint) -> Option<String> {
    let id = ep.identity.as_deref()?;
    id.pod
        .clone()
        .or_else(|| id.workload.as_deref().map(|w| workload_name(w).to_string()))
        .or_else(|| id.service.clone())
        .or_else(|| id.process.clone())
        .or_else(|| id.node.clone())
        .or_else(|| id.domain.clone())
}

/// `api` of `Deployment/api`.
pub fn workload_name(w: &str) -> &str {
    w.rsplit_once('/').map_or(w, |(_, name)| name)
}

/// A node's key and labels at one [`Level`], before it is a graph node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeKey {
    pub id: String,
    pub title: Option<String>,
    pub subtitle: String,
    pub namespace: Option<String>,
}

impl NodeKey {
    /// Keeps what `other` knows that `self` does not (the same address
    /// can be seen unnamed first and named later).
    pub fn absorb(&mut self, other: NodeKey) {
        if self.title.is_none() {
            self.title = other.title;
        }
        if self.namespace.is_none() {
            self.namespace = other.namespace;
        }
    }
}

/// The node `ep` belongs to at `level`.
pub fn node_key(ep: &Endpoint, level: Level) -> NodeKey {
    let ip = ep.ip.to_canonical().to_string();
    let id = ep.identity.as_deref();
    let ns = id.and_then(|i| i.namespace.clone());
    if level == Level::Ip {
        return NodeKey {
            id: ip.clone(),
            title: display_name(ep),
            subtitle: ip,
            namespace: ns,
        };
    }
    if let Some(i) = id {
        if let Some(k) = grouped(i, level) {
            return k;
        }
        if let (Some(ns), Some(pod)) = (&i.namespace, &i.pod) {
            return NodeKey {
                id: format!("{ns}/{pod}"),
                title: Some(pod.clone()),
                subtitle: ip,
                namespace: Some(ns.clone()),
            };
        }
        if let Some(p) = &i.process {
            return NodeKey {
                id: format!("{p}@{ip}"),
                title: Some(p.clone()),
                subtitle: ip,
                namespace: ns,
            };
        }
        if let Some(n) = &i.node {
            return NodeKey {
                id: format!("node:{n}"),
                title: Some(n.clone()),
                subtitle: "node".to_string(),
                namespace: ns,
            };
        }
        if let Some(d) = &i.domain {
            return NodeKey {
                id: d.clone(),
                title: Some(d.clone()),
                subtitle: "domain".to_string(),
                namespace: ns,
            };
        }
    }
    NodeKey {
        id: ip.clone(),
        title: None,
        subtitle: ip,
        namespace: ns,
    }
}

/// Workload and namespace nodes, when the identity has what they need.
fn grouped(i: &Identity, level: Level) -> Option<NodeKey> {
    let ns = i.namespace.as_ref()?;
    match level {
        Level::Workload => {
            let (title, kind) = match (&i.workload, &i.service) {
                (Some(w), _) => (
                    workload_name(w).to_string(),
                    w.split_once('/').map_or("workload", |(k, _)| k).to_string(),
                ),
                (None, Some(s)) => (s.clone(), "Service".to_string()),
                (None, None) => return None,
            };
            Some(NodeKey {
                id: format!("{ns}/{}", i.workload.as_ref().unwrap_or(&title)),
                title: Some(title),
                subtitle: kind,
                namespace: Some(ns.clone()),
            })
        }
        Level::Namespace => Some(NodeKey {
            id: ns.clone(),
            title: Some(ns.clone()),
            subtitle: "namespace".to_string(),
            namespace: Some(ns.clone()),
        }),
        Level::Ip | Level::Pod => None,
    }
}
