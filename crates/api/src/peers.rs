//! Cluster answers: ask every agent of the cluster the same question.
//!
//! Peers are `HOST:PORT` entries; a host name resolving to many addresses
//! (a Kubernetes headless Service) stands for all of them. In Kubernetes,
//! `k8s://NAMESPACE/SERVICE:PORT` stands for every endpoint address of that
//! Service's EndpointSlices, read from the agent's own watch (no request
//! per question, no pod listing). Lookups are cached for [`LOOKUP_TTL`], so
//! a burst of dashboard queries does not become a burst of DNS queries. Every peer is asked at most
//! `concurrency` at a time, each within `timeout`; a peer that fails or
//! runs late is reported by name in the answer, never waited for beyond
//! the timeout, and never silently left out.

use crate::lock;
use crate::peer_client::PeerClient;
use hyper::body::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a peer lookup is reused.
pub const LOOKUP_TTL: Duration = Duration::from_secs(30);

/// Endpoint addresses of a Service (namespace, name), from the agent's
/// Kubernetes watch.
pub type Discover = Arc<dyn Fn(&str, &str) -> Vec<IpAddr> + Send + Sync>;

/// The cluster's agents; see the module docs.
pub struct Peers {
    specs: Vec<String>,
    timeout: Duration,
    concurrency: usize,
    cache: Mutex<Option<(Instant, Vec<Target>)>>,
    discover: Option<Discover>,
    client: Arc<PeerClient>,
}

/// `k8s://NAMESPACE/SERVICE:PORT` -> (namespace, service, port).
pub fn service_spec(spec: &str) -> Option<(&str, &str, u16)> {
    let rest = spec.strip_prefix("k8s://")?;
    let (ns_svc, port) = rest.rsplit_once(':')?;
    let (ns, svc) = ns_svc.split_once('/')?;
    let port = port.parse().ok()?;
    (!ns.is_empty() && !svc.is_empty() && !svc.contains('/')).then_some((ns, svc, port))
}

/// One peer to ask, or a spec that did not resolve.
#[derive(Clone, Debug)]
enum Target {
    Addr(SocketAddr),
    Unresolved { spec: String, error: String },
}

/// What one peer answered.
#[derive(Debug)]
pub struct Answer {
    /// `ip:port`, or the spec that did not resolve.
    pub peer: String,
    pub body: Result<Bytes, String>,
    pub elapsed: Duration,
}

impl Peers {
    pub fn new(specs: Vec<String>, timeout: Duration, concurrency: usize) -> Peers {
        Peers {
            specs,
            timeout,
            concurrency: concurrency.max(1),
            cache: Mutex::new(None),
            discover: None,
            client: Arc::default(),
        }
    }

    /// Resolves `k8s://` peers with `discover`.
    pub fn set_discover(&mut self, discover: Discover) {
        self.discover = Some(discover);
    }

    /// Asks peers this way (TLS, token) rather than in plain HTTP.
    pub fn set_client(&mut self, client: PeerClient) {
        self.client = Arc::new(client);
    }

    /// Whether cluster answers are possible (any peer configured).
    pub fn configured(&self) -> bool {
        !self.specs.is_empty()
    }

    async fn targets(&self) -> Vec<Target> {
        if let Some((at, t)) = &*lock(&self.cache) {
            if at.elapsed() < LOOKUP_TTL {
                return t.clone();
            }
        }
        let mut out = Vec::new();
        for spec in &self.specs {
            if let Some((ns, svc, port)) = service_spec(spec) {
                let addrs = match &self.discover {
                    Some(d) => d(ns, svc),
                    None => Vec::new(),
                };
                if addrs.is_empty() {
                    out.push(Target::Unresolved {
                        spec: spec.clone(),
                        error: "no endpoints known (yet) for this Service".into(),
                    });
                }
                for ip in addrs {
                    let a = SocketAddr::new(ip, port);
                    if !out.iter().any(|o| matches!(o, Target::Addr(x) if *x == a)) {
                        out.push(Target::Addr(a));
                    }
                }
                continue;
            }
            match tokio::net::lookup_host(spec.as_str()).await {
                Ok(addrs) => {
                    let before = out.len();
                    for a in addrs {
                        let t = Target::Addr(a);
                        if !out.iter().any(|o| matches!(o, Target::Addr(x) if *x == a)) {
                            out.push(t);
                        }
                    }
                    if out.len() == before {
                        out.push(Target::Unresolved {
                            spec: spec.clone(),
                            error: "no addresses".into(),
                        });
                    }
                }
                Err(e) => out.push(Target::Unresolved {
                    spec: spec.clone(),
                    error: e.to_string(),
                }),
            }
        }
        *lock(&self.cache) = Some((Instant::now(), out.clone()));
        out
    }

    /// Asks every peer `GET path_and_query`; one answer per peer, in the
    /// order of the peer list.
    pub async fn ask(&self, path_and_query: &str) -> Vec<Answer> {
        let targets = self.targets().await;
        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = Vec::with_capacity(targets.len());
        for t in targets {
            let (limit, path, timeout, client) = (
                Arc::clone(&limit),
                path_and_query.to_string(),
                self.timeout,
                Arc::clone(&self.client),
            );
            tasks.push(tokio::spawn(async move {
                match t {
                    Target::Unresolved { spec, error } => Answer {
                        peer: spec,
                        body: Err(format!("lookup failed: {error}")),
                        elapsed: Duration::ZERO,
                    },
                    Target::Addr(addr) => {
                        let _permit = limit.acquire_owned().await;
                        let start = Instant::now();
                        let body = match tokio::time::timeout(timeout, client.get(addr, &path))
                            .await
                        {
                            Ok(r) => r,
                            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                        };
                        Answer {
                            peer: addr.to_string(),
                            body,
                            elapsed: start.elapsed(),
                        }
                    }
                }
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            match t.await {
                Ok(a) => out.push(a),
                Err(e) => out.push(Answer {
                    peer: "?".into(),
                    body: Err(format!("task failed: {e}")),
                    elapsed: Duration::ZERO,
                }),
            }
        }
        out
    }
}
