//! A fake Kubernetes API server with honest list/watch semantics, for
//! testing the agent's Kubernetes naming.
//!
//! No real kube-apiserver can run where these tests run, and a fake that
//! only answers "the pods are X" would test nothing that matters: the agent
//! (kube-rs `watcher` and `metadata_watcher`) lives or dies by the
//! resourceVersion protocol. So this server keeps what a real one keeps,
//! and answers the way a real one answers:
//!
//! - one global resourceVersion, bumped by every change, with a bounded
//!   history of changes (compacted automatically, or on demand with
//!   [`FakeApiServer::compact`]);
//! - LIST of the current state, or a consistent snapshot across `limit` /
//!   `continue` pages; `410 Gone` for snapshots compacted away;
//! - WATCH replaying history after a resourceVersion (or starting with
//!   synthetic ADDED events), then live events, BOOKMARKs, and a clean end
//!   at `timeoutSeconds`; an `ERROR` event with a 410 `Status` when the
//!   resourceVersion is too old;
//! - `fieldSelector` / `labelSelector`, with objects that move out of (into)
//!   a watch's selection sent as DELETED (ADDED), as the watch cache does;
//! - metadata-only (`PartialObjectMetadata`) lists, gets and watches;
//! - HTTP/1.1 keep-alive, chunked watch streams, and test controls that cut
//!   connections or take the server down, like a network or control-plane
//!   failure.
//!
//! Objects change only through [`FakeApiServer::apply`] and
//! [`FakeApiServer::delete`]: the watched resources (Pods, Services, Nodes,
//! EndpointSlices, ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs
//! and CronJobs) are served to GET only.
//!
//! What `podwire sniff` needs of a cluster is served too, because its
//! security rests on the real server's behaviour:
//!
//! - bearer tokens that authenticate as users with groups
//!   ([`FakeApiServer::add_token`]) and RBAC-like rules
//!   ([`FakeApiServer::allow`]), with 401 and 403 answered as a real server
//!   words them;
//! - POST of TokenReviews and SubjectAccessReviews (how the agent checks
//!   its callers), answered from those tokens and rules;
//! - the pod proxy (`GET .../pods/{name}[:port]/proxy/{path}`, how the
//!   client reaches an agent), which authorizes `get` on `pods/proxy`,
//!   deletes the caller's `Authorization` header as the real server does,
//!   and streams the pod's answer back as it comes, closing the connection
//!   to the pod when the client goes away.
//!
//! The watched resources stay open to anyone authenticated (or to anyone
//! at all when no token is required): rules govern only the reviews and the
//! proxy. Plain HTTP, std only: one thread per connection.

mod auth;
mod list;
mod podtls;
mod proxy;
mod render;
mod resource;
mod review;
mod select;
mod serve;
mod store;
mod watch;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;

use auth::{Identity, Policy, Rule};
use podwire_sync::lock;
use resource::{by_kind, RESOURCES};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use store::{Key, Store};

/// How many request lines [`FakeApiServer::requests`] keeps.
const REQUEST_LOG: usize = 10_000;
/// Bookmark interval unless set otherwise (short, so tests are fast).
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest bookmark interval, so bookmarks cannot crowd out events.
const MIN_BOOKMARK_INTERVAL: Duration = Duration::from_millis(10);
/// How long a watch without `timeoutSeconds` lasts.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(300);
/// The token in written kubeconfigs when none is required.
const DEFAULT_TOKEN: &str = "podwire-lab-token";

/// Cumulative counts of what the server did.
#[derive(Clone, Debug, Default)]
pub struct ApiStats {
    /// LIST requests.
    pub lists: u64,
    /// WATCH requests.
    pub watches: u64,
    /// GETs of one object.
    pub gets: u64,
    /// Everything else (`/version`, 404s, 400s, 401s, 405s, 413s).
    pub other: u64,
    /// TokenReview requests (refused ones included).
    pub token_reviews: u64,
    /// SubjectAccessReview requests (refused ones included).
    pub access_reviews: u64,
    /// Pod proxy requests (refused ones included).
    pub proxied: u64,
    /// 410 Gone answers and ERROR events.
    pub gone_410: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Watch events other than bookmarks (ERROR events included).
    pub events_sent: u64,
    pub bookmarks_sent: u64,
    /// Requests per resource plural (`pods`, `services`, ...).
    pub per_resource: BTreeMap<String, u64>,
}

/// A running fake API server on 127.0.0.1; dropping it stops it and cuts
/// every connection.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    /// The listening socket, to wake the acceptor on drop (a connection to
    /// it would not do when the server listens in another namespace).
    listener: TcpListener,
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on a free port and serves in background threads.
    pub fn start() -> io::Result<FakeApiServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let shared = Arc::new(Shared::new(listener.local_addr()?));
        let wake = listener.try_clone()?;
        let for_thread = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("kubeapi-accept".into())
            .spawn(move || accept_loop(listener, for_thread))?;
        Ok(FakeApiServer {
            shared,
            acceptor: Some(acceptor),
            listener: wake,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Writes a kubeconfig whose current context points at this server,
    /// namespace `default`, with a bearer-token user (the required token,
    /// if one is set). Its token authenticates as the cluster admin
    /// (`kubernetes-admin` in `system:masters`).
    pub fn write_kubeconfig(&self, path: &Path) -> io::Result<()> {
        let token = lock(&self.shared.settings)
            .token
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN.to_string());
        self.write_kubeconfig_with_token(path, &token)
    }

    /// Writes a kubeconfig like [`write_kubeconfig`] with another token,
    /// e.g. one of [`add_token`], to act as a less privileged user.
    ///
    /// [`write_kubeconfig`]: FakeApiServer::write_kubeconfig
    /// [`add_token`]: FakeApiServer::add_token
    pub fn write_kubeconfig_with_token(&self, path: &Path, token: &str) -> io::Result<()> {
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: podwire-lab\n  cluster:\n    \
             server: {url}\nusers:\n- name: podwire-lab\n  user:\n    token: {token:?}\n\
             contexts:\n- name: podwire-lab\n  context:\n    cluster: podwire-lab\n    \
             user: podwire-lab\n    namespace: default\ncurrent-context: podwire-lab\n\
             preferences: {{}}\n",
            url = self.url(),
        );
        std::fs::write(path, config)
    }

    /// Creates or replaces an object, identified by apiVersion, kind,
    /// namespace and name; its new resourceVersion. Fills in `uid`,
    /// `creationTimestamp` (kept from the object replaced), the namespace
    /// of namespaced kinds (`default` if missing) and `resourceVersion`.
    /// A replacement identical to the stored object is a no-op, as on a
    /// real server: no event, and the existing resourceVersion.
    ///
    /// # Panics
    ///
    /// If the object is not a served kind or has no `metadata.name`: a bug
    /// in the test.
    pub fn apply(&self, obj: serde_json::Value) -> u64 {
        let applied = lock(&self.shared.store).apply(obj);
        self.shared.changed.notify_all();
        applied.unwrap_or_else(|e| panic!("FakeApiServer::apply: {e}"))
    }

    /// Deletes an object; the deletion's resourceVersion, or `None` if it
    /// did not exist. `namespace` `None` means `default` for namespaced
    /// kinds and is ignored for cluster-scoped ones.
    ///
    /// # Panics
    ///
    /// If `api_version` and `kind` are not a served kind.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<u64> {
        let key = key_of(api_version, kind, namespace, name);
        let deleted = lock(&self.shared.store).delete(&key);
        self.shared.changed.notify_all();
        deleted
    }

    /// The stored object, as a full-object GET would answer it.
    ///
    /// # Panics
    ///
    /// If `api_version` and `kind` are not a served kind.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        let key = key_of(api_version, kind, namespace, name);
        let found = lock(&self.shared.store).get(&key);
        found.map(|obj| (*obj).clone())
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).rv()
    }

    /// Forgets all history up to now: watches from an older resourceVersion
    /// and continue tokens of older snapshots get 410 Gone.
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
        self.shared.changed.notify_all();
    }

    /// How many changes the history keeps (100,000 by default); older ones
    /// are compacted away.
    pub fn set_history_limit(&self, events: usize) {
        lock(&self.shared.store).set_history_limit(events);
    }

    /// Abruptly closes every open connection (watches mid-stream, without
    /// their terminating chunk, and idle keep-alive ones), like a network
    /// cut.
    pub fn drop_connections(&self) {
        self.shared.cut_all();
    }

    /// How often watches that allow bookmarks get one (1 s by default; at
    /// least every 10 ms).
    pub fn set_bookmark_interval(&self, interval: Duration) {
        lock(&self.shared.settings).bookmark_interval = interval.max(MIN_BOOKMARK_INTERVAL);
        self.shared.changed.notify_all();
    }

    /// While down, new connections are accepted and closed at once; going
    /// down cuts every open connection.
    pub fn set_unavailable(&self, down: bool) {
        self.shared.unavailable.store(down, Ordering::SeqCst);
        if down {
            self.shared.cut_all();
        }
    }

    /// Requires `Authorization: Bearer <token>` or a token of
    /// [`add_token`] (answering others 401), or with `None` accepts anything
    /// again for the watched resources (the reviews and the pod proxy always
    /// want a known token).
    ///
    /// [`add_token`]: FakeApiServer::add_token
    pub fn require_token(&self, token: Option<&str>) {
        lock(&self.shared.settings).token = token.map(str::to_string);
    }

    /// Registers (or replaces) a bearer token that authenticates as `user`,
    /// with uid `uid-<user>`, in `groups` and `system:authenticated`.
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let identity = Identity::new(user, groups);
        lock(&self.shared.settings)
            .policy
            .add_token(token, identity);
    }

    /// Lets `subject` (a user or group name) do `verb` on `resource` of API
    /// group `group` (`""` for the core group) in `namespace`, or in every
    /// namespace and at the cluster scope with `None` (a cluster role
    /// binding). `resource` is a plural (`pods`) or a subresource
    /// (`pods/proxy`), which a rule on the resource does not cover, as in
    /// RBAC; `"*"` matches any verb, group or resource, and `"*/proxy"` the
    /// `proxy` subresource of any resource. Rules only add: there is no
    /// denying.
    ///
    /// The agent's rights are `allow("agent", "create",
    /// "authentication.k8s.io", "tokenreviews", None)` and the same for
    /// `subjectaccessreviews` in `authorization.k8s.io`; a client's are
    /// `allow("alice", "get", "", "pods/proxy", Some("podwire"))`.
    pub fn allow(
        &self,
        subject: &str,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) {
        let rule = Rule {
            subject: subject.to_string(),
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
        };
        lock(&self.shared.settings).policy.allow(rule);
    }

    /// Lets `subject` do `verb` on the non-resource URL `path` (RBAC's
    /// `nonResourceURLs`): an exact path, or a prefix ending in `*`.
    pub fn allow_non_resource(&self, subject: &str, verb: &str, path: &str) {
        lock(&self.shared.settings)
            .policy
            .allow_non_resource(subject, verb, path);
    }

    /// Cumulative counts since start (or the last [`reset_stats`]).
    ///
    /// [`reset_stats`]: FakeApiServer::reset_stats
    pub fn stats(&self) -> ApiStats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = ApiStats::default();
    }

    /// The request lines received (`GET /api/v1/pods?watch=true&...`,
    /// `POST /apis/authentication.k8s.io/v1/tokenreviews`, pod proxy GETs),
    /// the most recent 10,000, oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).iter().cloned().collect()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.cut_all();
        // Wake the acceptor so it sees the flag: shutdown(2) on a listening
        // socket makes a blocked accept(2) return.
        // SAFETY: shutdown on a descriptor this handle owns; no memory.
        unsafe {
            libc::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(&self.listener),
                libc::SHUT_RDWR,
            );
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn key_of(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    let res = by_kind(api_version, kind)
        .unwrap_or_else(|| panic!("FakeApiServer: unserved kind {kind} of {api_version}"));
    let namespace = match RESOURCES[res].namespaced {
        true => namespace.unwrap_or("default").to_string(),
        false => String::new(),
    };
    (res, namespace, name.to_string())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or similar: do not spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if shared.unavailable.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let for_thread = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("kubeapi-conn".into())
            .spawn(move || serve::connection(for_thread, stream));
    }
}

/// Settings tests may change while the server runs.
struct Settings {
    bookmark_interval: Duration,
    watch_timeout: Duration,
    token: Option<String>,
    /// Registered tokens and authorization rules.
    policy: Policy,
}

/// State shared by the handle and every connection thread.
struct Shared {
    addr: SocketAddr,
    store: Mutex<Store>,
    /// Signalled on every change of the store (and on cuts).
    changed: Condvar,
    stats: Mutex<ApiStats>,
    requests: Mutex<VecDeque<String>>,
    settings: Mutex<Settings>,
    /// Open connections, to cut them.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    /// Bumped by every cut; a watch that sees it change stops.
    cuts: AtomicU64,
    stopped: AtomicBool,
    unavailable: AtomicBool,
}

impl Shared {
    fn new(addr: SocketAddr) -> Shared {
        Shared {
            addr,
            store: Mutex::new(Store::new()),
            changed: Condvar::new(),
            stats: Mutex::new(ApiStats::default()),
            requests: Mutex::new(VecDeque::new()),
            settings: Mutex::new(Settings {
                bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
                watch_timeout: DEFAULT_WATCH_TIMEOUT,
                token: None,
                policy: Policy::default(),
            }),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            unavailable: AtomicBool::new(false),
        }
    }

    fn count(&self, update: impl FnOnce(&mut ApiStats)) {
        update(&mut lock(&self.stats));
    }

    fn log_request(&self, req: &wire::Request) {
        let mut log = lock(&self.requests);
        if log.len() >= REQUEST_LOG {
            log.pop_front();
        }
        log.push_back(format!("{} {}", req.method, req.target));
    }

    /// Remembers a connection so it can be cut; its id.
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let clone = stream.try_clone().ok()?;
        let id = self.next_conn.fetch_add(1, Ordering::SeqCst);
        lock(&self.conns).insert(id, clone);
        Some(id)
    }

    fn unregister(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.conns).remove(&id);
        }
    }

    /// Shuts every open connection down and wakes every watch to notice.
    fn cut_all(&self) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
        for stream in lock(&self.conns).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Taking the store lock orders the wake-up after any watch's check.
        let _store = lock(&self.store);
        self.changed.notify_all();
    }
}
