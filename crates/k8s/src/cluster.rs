//! The agent's picture of the cluster, and the names it gives.
//!
//! Watch events go in ([`Cluster::apply_pod`] and friends, each with the
//! time the agent learned it); names come out by address and time
//! ([`Cluster::identity`]) or by container and pod uid for local sockets
//! ([`Cluster::by_container`], [`Cluster::by_pod_uid`]), which is how
//! hostNetwork pods, which share their node's address, are told apart.
//!
//! Addresses are looked up in order: pod (its history), Service ClusterIP
//! (its history), node address (plus the NodePort service when the port is
//! one). The workload is resolved when a name is given, so a ReplicaSet
//! that arrives after its pods still names them by Deployment; before it
//! arrives, the `pod-template-hash` label does.
//!
//! Every table is bounded by `max_objects`; what is refused is counted.

use crate::history::IpHistory;
use crate::objects::{Node, Owned, Owner, Pod, Service, Slice};
use podwire_record::Identity;
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

/// Bounds and identity of the agent's view.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The agent's node: its pods keep container ids.
    pub node_name: Option<String>,
    /// Objects of each kind kept at once, and addresses with history.
    pub max_objects: usize,
    /// How long an address's ended holders are remembered, ns.
    pub retention_ns: u64,
    /// Services (namespace, name) whose endpoint addresses are kept: the
    /// headless Service through which agents find each other.
    pub peer_services: Vec<(String, String)>,
    /// Pods are watched on this node only: other nodes' pods are known
    /// from EndpointSlices (name, service, node; no workload).
    pub node_pods_only: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_name: None,
            max_objects: 200_000,
            retention_ns: 3600 * 1_000_000_000,
            peer_services: Vec::new(),
            node_pods_only: false,
        }
    }
}

/// Objects known, and what the bounds refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    pub pods: usize,
    pub services: usize,
    pub nodes: usize,
    pub slices: usize,
    pub owners: usize,
    pub addresses: usize,
    /// Objects or addresses not kept because a table was full.
    pub refused: u64,
}

type NsName = (String, String);

/// See the module documentation.
pub struct Cluster {
    cfg: ClusterConfig,
    pods: FxHashMap<String, Arc<Pod>>,
    pod_ips: IpHistory<Arc<Pod>>,
    services: FxHashMap<String, Arc<Service>>,
    service_ips: IpHistory<Arc<Service>>,
    node_ports: FxHashMap<u16, Arc<Service>>,
    /// Services by (namespace, name), and ExternalName targets: names for
    /// endpoints known only by a DNS name.
    services_by_name: FxHashMap<NsName, Arc<Service>>,
    external_names: FxHashMap<String, Arc<Service>>,
    nodes: FxHashMap<String, Arc<Node>>,
    node_ips: IpHistory<Arc<Node>>,
    /// Pod addresses from EndpointSlices (with `node_pods_only`).
    slice_ips: IpHistory<Arc<Identity>>,
    slices: FxHashMap<NsName, Slice>,
    /// (namespace, pod) -> services listing it, with a count of slices.
    pod_services: FxHashMap<NsName, BTreeMap<String, u32>>,
    /// (namespace, kind, name) of ReplicaSets and Jobs -> their owner.
    owners: FxHashMap<(String, &'static str, String), Option<Owner>>,
    containers: FxHashMap<String, String>,
    refused: u64,
}

fn key_of(uid: &str, fallback: &str) -> u64 {
    let mut h = FxHasher::default();
    if uid.is_empty() { fallback } else { uid }.hash(&mut h);
    h.finish()
}

impl Cluster {
    pub fn new(cfg: ClusterConfig) -> Cluster {
        let (max, keep) = (cfg.max_objects, cfg.retention_ns);
        Cluster {
            pod_ips: IpHistory::new(max, keep),
            service_ips: IpHistory::new(max, keep),
            node_ips: IpHistory::new(max, keep),
            slice_ips: IpHistory::new(max, keep),
            cfg,
            pods: FxHashMap::default(),
            services: FxHashMap::default(),
            node_ports: FxHashMap::default(),
            services_by_name: FxHashMap::default(),
            external_names: FxHashMap::default(),
            nodes: FxHashMap::default(),
            slices: FxHashMap::default(),
            pod_services: FxHashMap::default(),
            owners: FxHashMap::default(),
            containers: FxHashMap::default(),
            refused: 0,
        }
    }

    pub fn node_name(&self) -> Option<&str> {
        self.cfg.node_name.as_deref()
    }

    /// Whether a pod on `node` keeps its container ids.
    pub fn is_local(&self, node: Option<&str>) -> bool {
        self.cfg.node_name.is_some() && node == self.cfg.node_name.as_deref()
    }

    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            pods: self.pods.len(),
            services: self.services.len(),
            nodes: self.nodes.len(),
            slices: self.slices.len(),
            owners: self.owners.len(),
            addresses: self.pod_ips.len()
                + self.service_ips.len()
                + self.node_ips.len()
                + self.slice_ips.len(),
            refused: self.refused
                + self.pod_ips.refused
                + self.service_ips.refused
                + self.node_ips.refused
                + self.slice_ips.refused,
        }
    }

    // ---- pods

    /// A pod was added or changed; `now` is when the agent learned it.
    pub fn apply_pod(&mut self, pod: Pod, now: u64) {
        let uid = pod_key(&pod);
        if !admit(&self.pods, &uid, self.cfg.max_objects, &mut self.refused) {
            return;
        }
        let pod = Arc::new(pod);
        let key = key_of(&pod.uid, &uid);
        if let Some(old) = self.pods.get(&uid).cloned() {
            // Addresses it no longer holds.
            for ip in old.ips.iter().filter(|ip| !pod.ips.contains(ip)) {
                self.pod_ips.release(*ip, key, now);
            }
            for c in &old.containers {
                self.containers.remove(c);
            }
        }
        if !pod.host_network {
            for ip in &pod.ips {
                self.pod_ips.hold(*ip, key, Arc::clone(&pod), pod.created);
            }
        }
        for c in &pod.containers {
            self.containers.insert(c.clone(), uid.clone());
        }
        self.pods.insert(uid, pod);
    }

    /// A pod is gone (deleted, or no longer selected by the watch).
    pub fn delete_pod(&mut self, uid: &str, now: u64) {
        if let Some(old) = self.pods.remove(uid) {
            self.pod_ips
                .release_all(&old.ips, key_of(&old.uid, uid), now);
            for c in &old.containers {
                self.containers.remove(c);
            }
        }
    }

    /// Keys of known pods (to find which a relist no longer lists).
    /// The pod named `name` in `namespace`, if it is known now.
    pub fn pod_by_name(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods
            .values()
            .find(|p| p.name == name && p.namespace == namespace)
            .cloned()
    }

    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    // ---- services

    pub fn apply_service(&mut self, svc: Service, now: u64) {
        let uid = if svc.uid.is_empty() {
            format!("{}/{}", svc.namespace, svc.name)
        } else {
            svc.uid.clone()
        };
        if !admit(
            &self.services,
            &uid,
            self.cfg.max_objects,
            &mut self.refused,
        ) {
            return;
        }
        let key = key_of(&svc.uid, &uid);
        let svc = Arc::new(svc);
        if let Some(old) = self.services.get(&uid).cloned() {
            for ip in old.ips.iter().filter(|ip| !svc.ips.contains(ip)) {
                self.service_ips.release(*ip, key, now);
            }
            for p in &old.node_ports {
                self.node_ports.remove(p);
            }
        }
        for ip in &svc.ips {
            self.service_ips
                .hold(*ip, key, Arc::clone(&svc), svc.created);
        }
        for p in &svc.node_ports {
            self.node_ports.insert(*p, Arc::clone(&svc));
        }
        if let Some(old) = self
            .services
            .get(&uid)
            .and_then(|o| o.external_name.clone())
        {
            self.external_names.remove(&old);
        }
        if let Some(n) = &svc.external_name {
            self.external_names.insert(n.clone(), Arc::clone(&svc));
        }
        self.services_by_name
            .insert((svc.namespace.clone(), svc.name.clone()), Arc::clone(&svc));
        self.services.insert(uid, svc);
    }

    pub fn delete_service(&mut self, uid: &str, now: u64) {
        if let Some(old) = self.services.remove(uid) {
            self.service_ips
                .release_all(&old.ips, key_of(&old.uid, uid), now);
            for p in &old.node_ports {
                if self.node_ports.get(p).is_some_and(|s| Arc::ptr_eq(s, &old)) {
                    self.node_ports.remove(p);
                }
            }
            if let Some(n) = &old.external_name {
                self.external_names.remove(n);
            }
            self.services_by_name
                .remove(&(old.namespace.clone(), old.name.clone()));
        }
    }

    pub fn service_keys(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    // ---- nodes

    pub fn apply_node(&mut self, node: Node, now: u64) {
        let name = node.name.clone();
        if !admit(&self.nodes, &name, self.cfg.max_objects, &mut self.refused) {
            return;
        }
        let key = key_of(&node.uid, &name);
        let node = Arc::new(node);
        if let Some(old) = self.nodes.get(&name).cloned() {
            for ip in old.ips.iter().filter(|ip| !node.ips.contains(ip)) {
                self.node_ips.release(*ip, key, now);
            }
        }
        for ip in &node.ips {
            self.node_ips
                .hold(*ip, key, Arc::clone(&node), node.created);
        }
        self.nodes.insert(name, node);
    }

    pub fn delete_node(&mut self, name: &str, now: u64) {
        if let Some(old) = self.nodes.remove(name) {
            self.node_ips
                .release_all(&old.ips, key_of(&old.uid, name), now);
        }
    }

    pub fn node_keys(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    // ---- endpoint slices

    pub fn apply_slice(&mut self, slice: Slice) {
        self.apply_slice_at(slice, 0);
    }

    /// A slice added or changed at `now` (its endpoints' addresses are held
    /// from then; addresses it no longer lists are released then).
    pub fn apply_slice_at(&mut self, mut slice: Slice, now: u64) {
        let key = (slice.namespace.clone(), slice.name.clone());
        let wanted = self
            .cfg
            .peer_services
            .iter()
            .any(|(ns, svc)| *ns == slice.namespace && *svc == slice.service);
        if !wanted {
            slice.addresses = Vec::new();
        }
        if !self.cfg.node_pods_only {
            slice.endpoints = Vec::new();
        }
        if !admit(&self.slices, &key, self.cfg.max_objects, &mut self.refused) {
            return;
        }
        // Addresses the slice no longer lists are released; those it still
        // lists keep their interval.
        if let Some(old) = self.unlist_slice(&key) {
            for e in &old.endpoints {
                let k = key_of("", &format!("{}/{}", old.namespace, e.pod));
                for ip in &e.ips {
                    let kept = slice
                        .endpoints
                        .iter()
                        .any(|n| n.pod == e.pod && n.ips.contains(ip));
                    if !kept {
                        self.slice_ips.release(*ip, k, now);
                    }
                }
            }
        }
        for e in &slice.endpoints {
            let id = Arc::new(Identity {
                namespace: Some(slice.namespace.clone()),
                pod: Some(e.pod.clone()),
                service: Some(slice.service.clone()).filter(|s| !s.is_empty()),
                node: e.node.clone(),
                ..Identity::default()
            });
            let k = key_of("", &format!("{}/{}", slice.namespace, e.pod));
            for ip in &e.ips {
                self.slice_ips.hold(*ip, k, Arc::clone(&id), now);
            }
        }
        for pod in &slice.pods {
            let services = self
                .pod_services
                .entry((slice.namespace.clone(), pod.clone()))
                .or_default();
            *services.entry(slice.service.clone()).or_default() += 1;
        }
        self.slices.insert(key, slice);
    }

    pub fn delete_slice(&mut self, key: &NsName) {
        self.delete_slice_at(key, 0);
    }

    /// A slice gone at `now`: its endpoints' addresses are released then.
    pub fn delete_slice_at(&mut self, key: &NsName, now: u64) {
        if let Some(old) = self.unlist_slice(key) {
            for e in &old.endpoints {
                let k = key_of("", &format!("{}/{}", old.namespace, e.pod));
                self.slice_ips.release_all(&e.ips, k, now);
            }
        }
    }

    /// Removes a slice and its pods' service counts; returns it.
    fn unlist_slice(&mut self, key: &NsName) -> Option<Slice> {
        let old = self.slices.remove(key)?;
        for pod in &old.pods {
            let k = (old.namespace.clone(), pod.clone());
            if let Some(services) = self.pod_services.get_mut(&k) {
                if let Some(n) = services.get_mut(&old.service) {
                    *n -= 1;
                    if *n == 0 {
                        services.remove(&old.service);
                    }
                }
                if services.is_empty() {
                    self.pod_services.remove(&k);
                }
            }
        }
        Some(old)
    }

    /// Endpoint addresses of a service of
    /// [`ClusterConfig::peer_services`], from every slice of it.
    pub fn service_endpoints(&self, namespace: &str, service: &str) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .slices
            .values()
            .filter(|s| s.namespace == namespace && s.service == service)
            .flat_map(|s| s.addresses.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn slice_keys(&self) -> Vec<NsName> {
        self.slices.keys().cloned().collect()
    }

    // ---- owners (ReplicaSets, Jobs)

    pub fn apply_owned(&mut self, o: Owned) {
        let key = (o.namespace, o.kind, o.name);
        if !admit(&self.owners, &key, self.cfg.max_objects, &mut self.refused) {
            return;
        }
        self.owners.insert(key, o.owner);
    }

    pub fn delete_owned(&mut self, namespace: &str, kind: &'static str, name: &str) {
        self.owners
            .remove(&(namespace.to_string(), kind, name.to_string()));
    }

    pub fn owned_keys(&self, kind: &'static str) -> Vec<(String, String)> {
        self.owners
            .keys()
            .filter(|k| k.1 == kind)
            .map(|k| (k.0.clone(), k.2.clone()))
            .collect()
    }

    // ---- names

    /// Who `ip` (port `port`) was at `ts` (ns since the epoch).
    pub fn identity(&self, ip: IpAddr, port: u16, ts: u64) -> Option<Identity> {
        if let Some(pod) = self.pod_ips.at(ip, ts) {
            return Some(self.pod_identity(pod));
        }
        if let Some(svc) = self.service_ips.at(ip, ts) {
            return Some(service_identity(svc));
        }
        if let Some(id) = self.slice_ips.at(ip, ts) {
            return Some(Identity::clone(id));
        }
        let node = self.node_ips.at(ip, ts)?;
        let mut id = match self.node_ports.get(&port) {
            Some(svc) => service_identity(svc),
            None => Identity::default(),
        };
        id.node = Some(node.name.clone());
        Some(id)
    }

    /// The Service a DNS name stands for: `NAME.NAMESPACE.svc[.DOMAIN]`, or
    /// an ExternalName service's target (the name a client asked for, for
    /// an address outside the cluster).
    pub fn by_domain(&self, domain: &str) -> Option<Identity> {
        // Called for every record with an external endpoint: allocate
        // only when the name can match.
        let d = domain.trim_end_matches('.');
        if !self.external_names.is_empty() {
            if let Some(svc) = self.external_names.get(&d.to_ascii_lowercase()) {
                return Some(service_identity(svc));
            }
        }
        let mut labels = d.split('.');
        let (name, ns, svc) = (labels.next()?, labels.next()?, labels.next()?);
        if !svc.eq_ignore_ascii_case("svc") {
            return None;
        }
        self.services_by_name
            .get(&(ns.to_ascii_lowercase(), name.to_ascii_lowercase()))
            .map(|s| service_identity(s))
    }

    /// The pod running container `id` (runtime prefix stripped), on this
    /// node.
    pub fn by_container(&self, id: &str) -> Option<Identity> {
        let uid = self.containers.get(id)?;
        self.pods.get(uid).map(|p| self.pod_identity(p))
    }

    /// The namespace of the pod a container (by id) or, failing that, a
    /// pod (by uid) belongs to.
    pub fn namespace_of(&self, container: Option<&str>, pod_uid: Option<&str>) -> Option<&str> {
        let by_container = container.and_then(|c| self.containers.get(c));
        let pod = match by_container {
            Some(uid) => self.pods.get(uid),
            None => self.pods.get(pod_uid?),
        }?;
        Some(pod.namespace.as_str())
    }

    /// The pod with uid `uid`.
    pub fn by_pod_uid(&self, uid: &str) -> Option<Identity> {
        self.pods.get(uid).map(|p| self.pod_identity(p))
    }

    fn pod_identity(&self, pod: &Pod) -> Identity {
        Identity {
            namespace: Some(pod.namespace.clone()),
            pod: Some(pod.name.clone()),
            workload: self.workload(pod),
            service: self
                .pod_services
                .get(&(pod.namespace.clone(), pod.name.clone()))
                .and_then(|s| s.keys().next().cloned()),
            node: pod.node.clone(),
            ..Identity::default()
        }
    }

    /// `Kind/name` of the pod's top controller.
    pub fn workload(&self, pod: &Pod) -> Option<String> {
        let owner = pod.owner.as_ref()?;
        let (kind, name) = match owner.kind.as_str() {
            "ReplicaSet" => match self.owner_of(&pod.namespace, "ReplicaSet", &owner.name) {
                Some(Some(o)) => (o.kind.as_str(), o.name.as_str()),
                Some(None) => ("ReplicaSet", owner.name.as_str()),
                None => match deployment_by_hash(&owner.name, pod.template_hash.as_deref()) {
                    Some(d) => ("Deployment", d),
                    None => ("ReplicaSet", owner.name.as_str()),
                },
            },
            "Job" => match self.owner_of(&pod.namespace, "Job", &owner.name) {
                Some(Some(o)) => (o.kind.as_str(), o.name.as_str()),
                _ => ("Job", owner.name.as_str()),
            },
            // Static (mirror) pods are "owned" by their node: no workload.
            "Node" => return None,
            k => (k, owner.name.as_str()),
        };
        Some(format!("{kind}/{name}"))
    }

    fn owner_of(&self, ns: &str, kind: &'static str, name: &str) -> Option<Option<&Owner>> {
        self.owners
            .get(&(ns.to_string(), kind, name.to_string()))
            .map(Option::as_ref)
    }

    /// Forgets address history past its retention.
    pub fn prune(&mut self, now: u64) {
        self.pod_ips.prune(now);
        self.service_ips.prune(now);
        self.node_ips.prune(now);
        self.slice_ips.prune(now);
    }
}

fn service_identity(svc: &Service) -> Identity {
    Identity {
        namespace: Some(svc.namespace.clone()),
        service: Some(svc.name.clone()),
        ..Identity::default()
    }
}

/// `api-7d9f` with hash `7d9f` -> `api`: the Deployment a ReplicaSet was
/// made for, by the name the Deployment controller gives it.
fn deployment_by_hash<'a>(rs: &'a str, hash: Option<&str>) -> Option<&'a str> {
    let hash = hash?;
    rs.strip_suffix(hash)?
        .strip_suffix('-')
        .filter(|d| !d.is_empty())
}

fn pod_key(pod: &Pod) -> String {
    if pod.uid.is_empty() {
        format!("{}/{}", pod.namespace, pod.name)
    } else {
        pod.uid.clone()
    }
}

/// Whether `key` may be stored in `map` (already there, or room left);
/// counts a refusal.
fn admit<K: Eq + Hash, V>(map: &FxHashMap<K, V>, key: &K, max: usize, refused: &mut u64) -> bool {
    let ok = map.contains_key(key) || map.len() < max;
    if !ok {
        *refused += 1;
    }
    ok
}

#[cfg(test)]
mod tests;
