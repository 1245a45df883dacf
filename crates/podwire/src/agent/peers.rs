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

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a peer lookup is reused.
pub const LOOKUP_TTL: Duration = Duration::from_secs(30);
/// The largest answer read from one peer.
const MAX_ANSWER: usize = 64 << 20;

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
    /// Where the agent's own connections are registered (left out of
    /// what it observes).
    own: Option<Arc<super::own::Own>>,
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
            own: None,
        }
    }

    /// Registers every request to a peer as the agent's own connection.
    pub fn set_own(&mut self, own: Arc<super::own::Own>) {
        self.own = Some(own);
    }

    /// Resolves `k8s://` peers with `discover`.
    pub fn set_discover(&mut self, discover: Discover) {
        self.discover = Some(discover);
    }

    /// Whether cluster answers are possible (any peer configured).
    pub fn configured(&self) -> bool {
        !self.specs.is_empty()
    }

    async fn targets(&self) -> Vec<Target> {
        if let Some((at, t)) = &*super::state::lock(&self.cache) {
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
        *super::state::lock(&self.cache) = Some((Instant::now(), out.clone()));
        out
    }

    /// Asks every peer `GET path_and_query`; one answer per peer, in the
    /// order of the peer list.
    pub async fn ask(&self, path_and_query: &str) -> Vec<Answer> {
        let targets = self.targets().await;
        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = Vec::with_capacity(targets.len());
        for t in targets {
            let (limit, path, timeout) =
                (Arc::clone(&limit), path_and_query.to_string(), self.timeout);
            let own = self.own.clone();
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
                        let body =
                            match tokio::time::timeout(timeout, get(own.as_ref(), addr, &path))
                                .await
                            {
                                Ok(r) => r,
                                Err(_) => {
                                    Err(format!("no answer within {} ms", timeout.as_millis()))
                                }
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

/// One HTTP/1.1 GET; the body of a 200, else an error saying what came.
async fn get(
    own: Option<&Arc<super::own::Own>>,
    addr: SocketAddr,
    path: &str,
) -> Result<Bytes, String> {
    // The guard lives as long as the connection: until this returns.
    let (stream, _own) = super::own::connect(own, addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    conn.abort();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("HTTP {status}: {}", text.trim()));
    }
    Ok(body)
}
