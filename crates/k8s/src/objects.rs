//! The few fields podwire keeps of each Kubernetes object, and how they are
//! read from the API's types.
//!
//! A cluster's objects are large (a Node's status lists every image it
//! holds); naming needs a handful of strings per object. Converting on
//! arrival keeps the agent's memory proportional to what it uses, and keeps
//! the naming logic free of the API's `Option` nesting.

use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod, Service as KService};
use k8s_openapi::api::discovery::v1::EndpointSlice as KSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::net::IpAddr;

/// A pod as naming needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub host_network: bool,
    /// Its addresses (none while pending, none once terminal).
    pub ips: Vec<IpAddr>,
    /// Its controller (`ReplicaSet`, `StatefulSet`, `Job`, ...).
    pub owner: Option<Owner>,
    /// The `pod-template-hash` label, to name a Deployment before its
    /// ReplicaSet is known.
    pub template_hash: Option<String>,
    /// Container ids without the runtime prefix (`containerd://`).
    pub containers: Vec<String>,
    /// Creation, ns since the epoch.
    pub created: u64,
}

/// An object's controlling owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A Service as naming needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// ClusterIPs (none for headless and ExternalName services).
    pub ips: Vec<IpAddr>,
    pub node_ports: Vec<u16>,
    /// An ExternalName service's DNS name (lowercase, no trailing dot).
    pub external_name: Option<String>,
    pub created: u64,
}

/// A Node: its name and addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub uid: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub created: u64,
}

/// An EndpointSlice: which pods back which service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    pub namespace: String,
    pub name: String,
    pub service: String,
    /// Backing pods by name (same namespace).
    pub pods: Vec<String>,
    /// Endpoint addresses (kept only for the services
    /// [`ClusterConfig::peer_services`](crate::ClusterConfig) names).
    pub addresses: Vec<IpAddr>,
    /// Each backing pod's addresses and node: the cluster's pod addresses
    /// "in brief", for agents that watch only their own node's pods.
    pub endpoints: Vec<SliceEndpoint>,
}

/// One pod behind a Service, as its EndpointSlice lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceEndpoint {
    pub pod: String,
    pub node: Option<String>,
    pub ips: Vec<IpAddr>,
}

/// A ReplicaSet's or Job's controller, from its metadata alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
    pub owner: Option<Owner>,
}

fn nanos(meta: &ObjectMeta) -> u64 {
    meta.creation_timestamp
        .as_ref()
        .map(|t| t.0.as_nanosecond().clamp(0, u64::MAX as i128) as u64)
        .unwrap_or(0)
}

fn controller(refs: &Option<Vec<OwnerReference>>) -> Option<Owner> {
    let refs = refs.as_ref()?;
    let r = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or(refs.first())?;
    Some(Owner {
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

fn ips<'a>(texts: impl Iterator<Item = &'a String>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = texts.filter_map(|t| t.parse().ok()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `containerd://abc` -> `abc`.
pub fn strip_runtime(id: &str) -> &str {
    id.split_once("://").map_or(id, |(_, rest)| rest)
}

impl Pod {
    /// `containers`: whether to keep container ids (only pods of the
    /// agent's own node need them).
    pub fn from_api(p: &KPod, keep_containers: bool) -> Pod {
        let meta = &p.metadata;
        let spec = p.spec.as_ref();
        let status = p.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        let terminal = matches!(phase, Some("Succeeded" | "Failed"));
        let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
        let ips = match status {
            Some(s) if !terminal => {
                let mut all: Vec<&String> = s.pod_ip.iter().collect();
                all.extend(s.pod_ips.iter().flatten().map(|i| &i.ip));
                ips(all.into_iter())
            }
            _ => Vec::new(),
        };
        let containers = if keep_containers {
            status
                .into_iter()
                .flat_map(|s| {
                    s.container_statuses
                        .iter()
                        .flatten()
                        .chain(s.init_container_statuses.iter().flatten())
                        .chain(s.ephemeral_container_statuses.iter().flatten())
                })
                .filter_map(|c| c.container_id.as_deref())
                .map(|id| strip_runtime(id).to_string())
                .filter(|id| !id.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        Pod {
            uid: meta.uid.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()),
            host_network,
            ips,
            owner: controller(&meta.owner_references),
            template_hash: meta
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash").cloned()),
            containers,
            created: nanos(meta),
        }
    }
}

impl Service {
    pub fn from_api(s: &KService) -> Service {
        let meta = &s.metadata;
        let spec = s.spec.as_ref();
        let mut texts: Vec<&String> = Vec::new();
        if let Some(spec) = spec {
            texts.extend(spec.cluster_ip.iter());
            texts.extend(spec.cluster_ips.iter().flatten());
        }
        // "None" (headless) does not parse and drops out here.
        let node_ports = spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.node_port)
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        Service {
            uid: meta.uid.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            ips: ips(texts.into_iter()),
            node_ports,
            external_name: spec
                .and_then(|s| s.external_name.as_deref())
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty()),
            created: nanos(meta),
        }
    }
}

impl Node {
    pub fn from_api(n: &KNode) -> Node {
        let addrs = n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .map(|a| &a.address);
        Node {
            uid: n.metadata.uid.clone().unwrap_or_default(),
            name: n.metadata.name.clone().unwrap_or_default(),
            ips: ips(addrs),
            created: nanos(&n.metadata),
        }
    }
}

impl Slice {
    pub fn from_api(s: &KSlice) -> Slice {
        let meta = &s.metadata;
        let service = meta
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name").cloned())
            .unwrap_or_default();
        let mut pods: Vec<String> = s
            .endpoints
            .iter()
            .filter_map(|e| e.target_ref.as_ref())
            .filter(|t| t.kind.as_deref() == Some("Pod"))
            .filter_map(|t| t.name.clone())
            .collect();
        pods.sort_unstable();
        pods.dedup();
        let addresses = ips(s.endpoints.iter().flat_map(|e| e.addresses.iter()));
        let endpoints = s
            .endpoints
            .iter()
            .filter_map(|e| {
                let t = e.target_ref.as_ref()?;
                (t.kind.as_deref() == Some("Pod")).then_some(())?;
                Some(SliceEndpoint {
                    pod: t.name.clone()?,
                    node: e.node_name.clone(),
                    ips: ips(e.addresses.iter()),
                })
            })
            .collect();
        Slice {
            addresses,
            endpoints,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            service,
            pods,
        }
    }
}

impl Owned {
    pub fn from_meta(kind: &'static str, meta: &ObjectMeta) -> Owned {
        Owned {
            namespace: meta.namespace.clone().unwrap_or_default(),
            kind,
            name: meta.name.clone().unwrap_or_default(),
            owner: controller(&meta.owner_references),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_fields_from_the_api_shape() {
        let p: KPod = serde_json::from_value(json!({
            "metadata": {"name": "api-7d9f-x", "namespace": "shop", "uid": "u1",
                "creationTimestamp": "2026-11-22T10:00:00Z",
                "labels": {"pod-template-hash": "7d9f"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "api-7d9f", "uid": "r1", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "podIP": "10.1.0.5",
                "podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true,
                    "restartCount": 0, "containerID": "containerd://abc123"}]}
        }))
        .unwrap();
        let pod = Pod::from_api(&p, true);
        assert_eq!(pod.name, "api-7d9f-x");
        assert_eq!(
            pod.ips,
            vec![
                "10.1.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
        assert_eq!(pod.owner.as_ref().unwrap().kind, "ReplicaSet");
        assert_eq!(pod.template_hash.as_deref(), Some("7d9f"));
        assert_eq!(pod.containers, vec!["abc123"]);
        assert_eq!(pod.created, 1_795_341_600 * 1_000_000_000);
        assert!(Pod::from_api(&p, false).containers.is_empty());
    }

    #[test]
    fn terminal_pods_hold_no_address() {
        let p: KPod = serde_json::from_value(json!({
            "metadata": {"name": "job-x", "namespace": "a"},
            "status": {"phase": "Succeeded", "podIP": "10.1.0.9"}
        }))
        .unwrap();
        assert!(Pod::from_api(&p, false).ips.is_empty());
    }

    #[test]
    fn headless_services_have_no_ip_and_node_ports_are_kept() {
        let s: KService = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "a"},
            "spec": {"clusterIP": "None", "clusterIPs": ["None"],
                "ports": [{"port": 80, "nodePort": 30080}]}
        }))
        .unwrap();
        let s = Service::from_api(&s);
        assert!(s.ips.is_empty());
        assert_eq!(s.node_ports, vec![30080]);
    }
}
