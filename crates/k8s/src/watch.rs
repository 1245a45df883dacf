//! Following the API server: one kube-rs watcher per kind, feeding the
//! [`Cluster`].
//!
//! What is watched, and why it stays cheap for the API server of a large
//! cluster:
//! - Pods, all namespaces, but not finished ones
//!   (`status.phase!=Succeeded,status.phase!=Failed`): a finished pod holds
//!   no address, and the server then sends it as deleted, which is exactly
//!   when its address is free. Container ids are kept for this node's pods
//!   only.
//! - Services, EndpointSlices and Nodes, whole (converted on arrival to the
//!   few fields naming needs).
//! - ReplicaSets and Jobs as metadata only (`PartialObjectMetadata`): only
//!   their owner is needed, to name the Deployment or CronJob.
//!
//! Lists are served from the API server's watch cache (`resourceVersion=0`
//! semantics, [`ListSemantic::Any`]), in pages; watches ask for bookmarks
//! so that a reconnect resumes where it left off instead of listing again;
//! a `410 Gone` makes the watcher list again, and errors back off
//! exponentially with jitter, so thousands of agents losing the server at
//! once do not come back in one wave. A relist that no longer lists an
//! object deletes it, at the time of the relist.
//!
//! While the server is unreachable nothing here blocks capture: the
//! [`Cluster`] keeps the last names it had.

use crate::cluster::Cluster;
use crate::objects::{Node, Owned, Pod, Service, Slice};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod, Service as KService};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, watcher, Event, ListSemantic};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource, ResourceExt};
use podwire_sync::write;
use rustc_hash::FxHashSet;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall clock, ns since the epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The kinds watched, in the order of [`WatchStatus::resources`].
pub const RESOURCES: [&str; 6] = [
    "pods",
    "services",
    "endpointslices",
    "nodes",
    "replicasets",
    "jobs",
];

/// How one watch is doing.
#[derive(Debug, Default)]
pub struct ResourceStatus {
    /// Objects added, changed or deleted (including those of lists).
    pub events: AtomicU64,
    /// Full lists: the first, and one after each `410 Gone` or a watch
    /// that could not resume.
    pub lists: AtomicU64,
    /// Failed requests (each followed by a backoff).
    pub errors: AtomicU64,
    /// A complete list has arrived at least once.
    pub synced: AtomicBool,
}

/// Every watch's status, shared with the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct WatchStatus {
    pub resources: [ResourceStatus; 6],
}

impl WatchStatus {
    /// Whether every kind has been listed completely once.
    pub fn synced(&self) -> bool {
        self.resources
            .iter()
            .all(|r| r.synced.load(Ordering::Relaxed))
    }
}

/// One watched kind: how its objects go into the [`Cluster`].
trait Follow: Clone + Debug + Send + DeserializeOwned + 'static {
    const INDEX: usize;
    /// What identifies it across its events.
    fn key(&self) -> String;
    fn apply(self, c: &mut Cluster, now: u64);
    fn delete(key: &str, c: &mut Cluster, now: u64);
    fn keys(c: &Cluster) -> Vec<String>;
}

fn ns_name<K: Resource>(k: &K) -> String {
    format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any())
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

impl Follow for KPod {
    const INDEX: usize = 0;
    fn key(&self) -> String {
        match &self.metadata.uid {
            Some(uid) if !uid.is_empty() => uid.clone(),
            _ => ns_name(self),
        }
    }
    fn apply(self, c: &mut Cluster, now: u64) {
        let node = self.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let local = c.is_local(node);
        c.apply_pod(Pod::from_api(&self, local), now);
    }
    fn delete(key: &str, c: &mut Cluster, now: u64) {
        c.delete_pod(key, now);
    }
    fn keys(c: &Cluster) -> Vec<String> {
        c.pod_keys()
    }
}

impl Follow for KService {
    const INDEX: usize = 1;
    fn key(&self) -> String {
        match &self.metadata.uid {
            Some(uid) if !uid.is_empty() => uid.clone(),
            _ => ns_name(self),
        }
    }
    fn apply(self, c: &mut Cluster, now: u64) {
        c.apply_service(Service::from_api(&self), now);
    }
    fn delete(key: &str, c: &mut Cluster, now: u64) {
        c.delete_service(key, now);
    }
    fn keys(c: &Cluster) -> Vec<String> {
        c.service_keys()
    }
}

impl Follow for EndpointSlice {
    const INDEX: usize = 2;
    fn key(&self) -> String {
        ns_name(self)
    }
    fn apply(self, c: &mut Cluster, now: u64) {
        c.apply_slice_at(Slice::from_api(&self), now);
    }
    fn delete(key: &str, c: &mut Cluster, now: u64) {
        let (ns, name) = split(key);
        c.delete_slice_at(&(ns.to_string(), name.to_string()), now);
    }
    fn keys(c: &Cluster) -> Vec<String> {
        c.slice_keys()
            .into_iter()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect()
    }
}

impl Follow for KNode {
    const INDEX: usize = 3;
    fn key(&self) -> String {
        self.name_any()
    }
    fn apply(self, c: &mut Cluster, now: u64) {
        c.apply_node(Node::from_api(&self), now);
    }
    fn delete(key: &str, c: &mut Cluster, now: u64) {
        c.delete_node(key, now);
    }
    fn keys(c: &Cluster) -> Vec<String> {
        c.node_keys()
    }
}

macro_rules! follow_owned {
    ($k:ty, $index:expr, $kind:expr) => {
        impl Follow for PartialObjectMeta<$k> {
            const INDEX: usize = $index;
            fn key(&self) -> String {
                ns_name(self)
            }
            fn apply(self, c: &mut Cluster, _now: u64) {
                c.apply_owned(Owned::from_meta($kind, &self.metadata));
            }
            fn delete(key: &str, c: &mut Cluster, _now: u64) {
                let (ns, name) = split(key);
                c.delete_owned(ns, $kind, name);
            }
            fn keys(c: &Cluster) -> Vec<String> {
                c.owned_keys($kind)
                    .into_iter()
                    .map(|(ns, n)| format!("{ns}/{n}"))
                    .collect()
            }
        }
    };
}
follow_owned!(ReplicaSet, 4, "ReplicaSet");
follow_owned!(Job, 5, "Job");

/// Watches every kind until the runtime stops; names go into `cluster`.
/// `node`: watch only this node's pods (other nodes' pods are then known
/// from EndpointSlices).
pub async fn run(
    client: Client,
    cluster: Arc<RwLock<Cluster>>,
    status: Arc<WatchStatus>,
    node: Option<&str>,
) {
    let base = watcher::Config::default().list_semantic(ListSemantic::Any);
    let mut selector = "status.phase!=Succeeded,status.phase!=Failed".to_string();
    if let Some(node) = node {
        selector.push_str(&format!(",spec.nodeName={node}"));
    }
    let pods = base.clone().fields(&selector);
    tokio::join!(
        follow(Api::<KPod>::all(client.clone()), pods, &cluster, &status),
        follow(
            Api::<KService>::all(client.clone()),
            base.clone(),
            &cluster,
            &status
        ),
        follow(
            Api::<EndpointSlice>::all(client.clone()),
            base.clone(),
            &cluster,
            &status
        ),
        follow(
            Api::<KNode>::all(client.clone()),
            base.clone(),
            &cluster,
            &status
        ),
        follow(
            Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()),
            base.clone(),
            &cluster,
            &status
        ),
        follow(
            Api::<PartialObjectMeta<Job>>::all(client),
            base,
            &cluster,
            &status
        ),
        prune(&cluster),
    );
}

async fn prune(cluster: &RwLock<Cluster>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        write(cluster).prune(now_ns());
    }
}

async fn follow<K>(
    api: Api<K>,
    cfg: watcher::Config,
    cluster: &RwLock<Cluster>,
    status: &WatchStatus,
) where
    K: Follow + Resource,
    K::DynamicType: Default,
{
    let st = &status.resources[K::INDEX];
    let mut listed: Option<FxHashSet<String>> = None;
    let mut cfg = cfg;
    'watch: loop {
        let mut events = std::pin::pin!(watcher(api.clone(), cfg.clone()).default_backoff());
        while let Some(ev) = events.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    st.errors.fetch_add(1, Ordering::Relaxed);
                    // A server that does not support the field selector (a
                    // minimal or older one) gets the unfiltered watch: finished
                    // pods then arrive too, and hold no address anyway.
                    if cfg.field_selector.is_some() && selector_refused(&e) {
                        cfg.field_selector = None;
                        continue 'watch;
                    }
                    continue;
                }
            };
            let now = now_ns();
            match ev {
                Event::Init => {
                    st.lists.fetch_add(1, Ordering::Relaxed);
                    listed = Some(FxHashSet::default());
                }
                Event::InitApply(obj) => {
                    st.events.fetch_add(1, Ordering::Relaxed);
                    if let Some(l) = listed.as_mut() {
                        l.insert(obj.key());
                    }
                    obj.apply(&mut write(cluster), now);
                }
                Event::InitDone => {
                    let seen = listed.take().unwrap_or_default();
                    let mut c = write(cluster);
                    for gone in K::keys(&c).into_iter().filter(|k| !seen.contains(k)) {
                        K::delete(&gone, &mut c, now);
                    }
                    st.synced.store(true, Ordering::Relaxed);
                }
                Event::Apply(obj) => {
                    st.events.fetch_add(1, Ordering::Relaxed);
                    obj.apply(&mut write(cluster), now);
                }
                Event::Delete(obj) => {
                    st.events.fetch_add(1, Ordering::Relaxed);
                    K::delete(&obj.key(), &mut write(cluster), now);
                }
            }
        }
        return;
    }
}

/// Whether the server refused the request itself (400), as it does for a
/// field selector it does not support.
fn selector_refused(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 400,
        _ => false,
    }
}
