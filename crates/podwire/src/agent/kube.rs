//! Kubernetes names in the agent: the watchers on a thread of their own,
//! and the naming of each record as it is stored.
//!
//! A local socket (one the eBPF probe saw, with its cgroup) is named by its
//! container's pod: the only way to tell hostNetwork pods apart, and exact
//! for every other pod too. Any other address is named by who held it when
//! the connection started ([`Cluster::identity`]); a Service's ClusterIP is
//! named by the Service and, when this node's connection tracking rewrote
//! the connection (kube-proxy on the client's node), by the backend pod
//! that answered. The watchers run on
//! their own thread and runtime, so a large initial list never delays the
//! HTTP API, and an unreachable API server never delays capture.

use super::config::KubeConfig;
use super::nat::Nat;
use super::state::lock;
use podwire_capture_live::conntrack;
use podwire_k8s::{Cgroups, Cluster, WatchStatus, RESOURCES};
use podwire_record::{Body, DnsTransport, Endpoint, Identity, Record, Transport};
use podwire_serve::metrics::KubeHealth;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The agent's Kubernetes view, shared by the watchers and the naming.
pub struct Kube {
    node: Option<String>,
    cluster: Arc<RwLock<Cluster>>,
    cgroups: Mutex<Cgroups>,
    status: Arc<WatchStatus>,
    /// ClusterIP -> backend lookups.
    nat: Arc<Nat>,
    /// Records not kept: the ClusterIP copy of a conversation this node
    /// also captured rewritten to the backend.
    copies: AtomicU64,
}

impl Kube {
    /// Starts watching (on a thread of its own) and returns the view.
    pub fn start(cfg: KubeConfig, nat: Arc<Nat>) -> Arc<Kube> {
        let kube = Arc::new(Kube {
            node: cfg.cluster.node_name.clone(),
            cluster: Arc::new(RwLock::new(Cluster::new(cfg.cluster.clone()))),
            cgroups: Mutex::new(Cgroups::new(cfg.cgroup_root.clone())),
            status: Arc::new(WatchStatus::default()),
            nat,
            copies: AtomicU64::new(0),
        });
        let (cluster, status) = (Arc::clone(&kube.cluster), Arc::clone(&kube.status));
        let node = cfg.cluster.node_name.clone().unwrap_or_default();
        let spawned = std::thread::Builder::new()
            .name("podwire-k8s".into())
            .spawn(move || watch(cfg, cluster, status, node));
        if let Err(e) = spawned {
            eprintln!("podwire: Kubernetes: could not start the watch thread: {e}");
        }
        kube
    }

    /// Whether every watched kind has been listed once.
    pub fn synced(&self) -> bool {
        self.status.synced()
    }

    /// The cgroups (by id) of the containers and pods, on this node, of
    /// pods in any of `namespaces` (`--tls-plaintext-exclude-namespaces`).
    pub fn cgroups_in(&self, namespaces: &[String]) -> HashSet<u64> {
        let cluster = podwire_sync::read(&self.cluster);
        let mut cgroups = lock(&self.cgroups);
        cgroups
            .all()
            .filter(|(_, owner)| {
                cluster
                    .namespace_of(owner.container.as_deref(), owner.pod_uid.as_deref())
                    .is_some_and(|ns| namespaces.iter().any(|n| n == ns))
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Endpoint addresses of a peer Service (see
    /// [`ClusterConfig::peer_services`](podwire_k8s::ClusterConfig)).
    pub fn service_endpoints(&self, namespace: &str, service: &str) -> Vec<std::net::IpAddr> {
        podwire_sync::read(&self.cluster).service_endpoints(namespace, service)
    }

    /// The pod `namespace/name` as the watchers know it now.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<podwire_k8s::objects::Pod>> {
        podwire_sync::read(&self.cluster).pod_by_name(namespace, name)
    }

    /// This node's name.
    pub fn node_name(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Names both endpoints of `rec`; `cgroups` are its local sockets'
    /// cgroup ids ([`KernelTable::cgroups`](super::kernel::KernelTable::cgroups)).
    ///
    /// Returns whether to keep it: not when it is packets' copy of a
    /// conversation to a ClusterIP that this node rewrote to a pod on this
    /// node, whose veth (`packets` captured) shows the same conversation
    /// rewritten: that copy, named by the pod, is the one counted.
    pub fn name(
        &self,
        rec: &mut Record,
        cgroups: (Option<u64>, Option<u64>),
        packets: bool,
    ) -> bool {
        let cluster = podwire_sync::read(&self.cluster);
        let ts = rec.ts.nanos();
        let proto = ip_proto(&rec.body);
        let client = SocketAddr::new(rec.client.ip, rec.client.port);
        let mut rewritten_here = false;
        for (ep, cg) in [(&mut rec.client, cgroups.0), (&mut rec.server, cgroups.1)] {
            let id = match cg.and_then(|id| self.by_cgroup(&cluster, id)) {
                Some(id) => Some(id),
                None => cluster.identity(ep.ip, ep.port, ts).map(|id| {
                    let (id, to_pod) = self.backend(&cluster, id, client, ep, proto, ts);
                    rewritten_here |=
                        to_pod && id.node.is_some() && id.node.as_deref() == cluster.node_name();
                    id
                }),
            };
            // Known only by a DNS name: an ExternalName service's target,
            // or a service's own cluster name.
            let id = id.or_else(|| {
                let domain = ep.identity.as_deref()?.domain.as_deref()?;
                cluster.by_domain(domain)
            });
            if let Some(id) = id {
                fill(ep, id);
            }
        }
        !(rewritten_here && packets && !kernel_only(rec))
    }

    /// Counts records [`name`](Self::name) said not to keep, once stored.
    pub fn count_copies(&self, n: u64) {
        self.copies.fetch_add(n, Ordering::Relaxed);
    }

    /// For a Service's ClusterIP (`id` names a service, no pod): the pod
    /// that answered, if this node's conntrack rewrote the connection (and
    /// whether it did).
    fn backend(
        &self,
        cluster: &Cluster,
        id: Identity,
        client: SocketAddr,
        server: &Endpoint,
        proto: u8,
        ts: u64,
    ) -> (Identity, bool) {
        if id.service.is_none() || id.pod.is_some() || id.node.is_some() {
            return (id, false);
        }
        let vip = SocketAddr::new(server.ip, server.port);
        let Some(backend) = self.nat.reply_source(client, vip, proto) else {
            return (id, false);
        };
        match cluster.identity(backend.ip(), backend.port(), ts) {
            Some(mut pod) if pod.pod.is_some() => {
                pod.service = id.service;
                (pod, true)
            }
            _ => (id, false),
        }
    }

    fn by_cgroup(&self, cluster: &Cluster, id: u64) -> Option<Identity> {
        let owner = lock(&self.cgroups).owner(id).cloned()?;
        owner
            .container
            .and_then(|c| cluster.by_container(&c))
            .or_else(|| owner.pod_uid.and_then(|u| cluster.by_pod_uid(&u)))
    }

    /// Watch progress and table sizes, for `/metrics` and the status page.
    pub fn health(&self) -> KubeHealth {
        let stats = podwire_sync::read(&self.cluster).stats();
        KubeHealth {
            resources: RESOURCES
                .iter()
                .zip(&self.status.resources)
                .map(|(name, r)| {
                    (
                        *name,
                        r.events.load(Ordering::Relaxed),
                        r.lists.load(Ordering::Relaxed),
                        r.errors.load(Ordering::Relaxed),
                        r.synced.load(Ordering::Relaxed),
                    )
                })
                .collect(),
            objects: vec![
                ("pods", stats.pods as u64),
                ("services", stats.services as u64),
                ("endpointslices", stats.slices as u64),
                ("nodes", stats.nodes as u64),
                ("owners", stats.owners as u64),
                ("addresses", stats.addresses as u64),
            ],
            refused_total: stats.refused,
            rewritten_copies_total: self.copies.load(Ordering::Relaxed),
        }
    }
}

/// A connection record made from the kernel alone (no packet seen).
fn kernel_only(rec: &Record) -> bool {
    matches!(&rec.body, Body::Connection(c)
        if c.client_to_server.packets == 0 && c.server_to_client.packets == 0)
}

/// The IP protocol a record travelled over.
fn ip_proto(body: &Body) -> u8 {
    match body {
        Body::Connection(c) if c.proto == Transport::Udp => conntrack::UDP,
        Body::Dns(d) if d.transport == DnsTransport::Udp => conntrack::UDP,
        _ => conntrack::TCP,
    }
}

/// Adds the Kubernetes fields to an endpoint, keeping what it had
/// (process, pid, domain).
fn fill(ep: &mut Endpoint, id: Identity) {
    let have = ep.identity.get_or_insert_with(Box::default);
    have.namespace = id.namespace.or(have.namespace.take());
    have.pod = id.pod.or(have.pod.take());
    have.workload = id.workload.or(have.workload.take());
    have.service = id.service.or(have.service.take());
    have.node = id.node.or(have.node.take());
}

fn watch(cfg: KubeConfig, cluster: Arc<RwLock<Cluster>>, status: Arc<WatchStatus>, node: String) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("podwire: Kubernetes: no runtime for the watchers: {e}");
            return;
        }
    };
    rt.block_on(async move {
        match podwire_k8s::client(cfg.kubeconfig.as_deref()).await {
            Ok((client, url)) => {
                eprintln!("podwire: Kubernetes: watching {url} as node {node:?}");
                let only = cfg.cluster.node_pods_only.then_some(node.as_str());
                podwire_k8s::watch::run(client, cluster, status, only).await;
            }
            // One line for both users of the client (names here, token
            // reviews for capture): what is missing and what to do.
            Err(e) => eprintln!(
                "podwire: Kubernetes is off (no pod names, no capture authorization): {e}; \
                 run the agent in a pod, give it --kubeconfig FILE, or start it with --kubernetes off"
            ),
        }
    });
}
