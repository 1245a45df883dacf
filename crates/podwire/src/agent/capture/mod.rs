//! Packet captures on demand: `GET /api/v1/capture` streams pcapng.
//!
//! The order of a request is the order of trust: authenticate the caller
//! ([`auth`]), authorize them for the target before saying anything about
//! it, take a slot (captures at once are capped), find where to capture,
//! compile the filter (tcpdump's own compiler, so an invalid expression is
//! refused before a byte is captured), open the ring, and only then answer
//! 200 and stream ([`session`]).
//!
//! A pod is captured on the host side of its veth (see
//! [`podwire_capture_live::podnet`]): the agent never enters or touches the
//! pod, needs no CAP_SYS_ADMIN (`setns` would), and sees exactly the
//! packets the pod sent and received, before the node routes or NATs them.
//! Containers of a pod share its network namespace, so a container's
//! capture is its pod's. A hostNetwork pod has no interface of its own and
//! is refused with a hint to capture the node's interface instead.

mod request;
mod session;
mod subject;

pub use podwire_api::auth::Auth;

use super::state::Shared;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use podwire_api::auth;
use podwire_capture_live::pcap_filter;
use podwire_capture_live::podnet::{self, HostSide};
use request::{CaptureRequest, Target};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subject::Subject;

/// `ARPHRD_LOOPBACK`.
const ARPHRD_LOOPBACK: u16 = 772;

/// Limits every capture runs under.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Captures at once; more are refused with 429.
    pub max_streams: usize,
    /// Longest capture (a request may ask for less, never more).
    pub max_duration: Duration,
    /// Most bytes one capture streams.
    pub max_bytes: u64,
    /// Bytes per second all captures together may stream; packets beyond
    /// are dropped and counted in the stream's statistics.
    pub rate_bytes: u64,
    /// Packet ring of each capture.
    pub ring_bytes: usize,
    /// Namespaces the agent captures in (`--netns`); empty: its own.
    pub netns: Vec<PathBuf>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            max_streams: 4,
            max_duration: Duration::from_secs(3600),
            max_bytes: 2 << 30,
            rate_bytes: 32 << 20,
            ring_bytes: 4 << 20,
            netns: Vec::new(),
        }
    }
}

/// Counters of captures since start (defined in the telemetry catalogue).
pub use podwire_telemetry::catalogue::CaptureCounters;

/// The agent's capture service.
pub struct Captures {
    cfg: CaptureConfig,
    auth: Auth,
    next_id: AtomicU64,
    /// Set at shutdown: every capture ends and its stream closes.
    stopping: Arc<AtomicBool>,
    budget: Arc<Mutex<RateBudget>>,
    pub counters: Arc<CaptureCounters>,
}

impl Captures {
    pub fn new(cfg: CaptureConfig, auth: Auth) -> Captures {
        Captures {
            budget: Arc::new(Mutex::new(RateBudget::new(cfg.rate_bytes))),
            cfg,
            auth,
            next_id: AtomicU64::new(1),
            stopping: Arc::new(AtomicBool::new(false)),
            counters: Arc::default(),
        }
    }

    /// Ends every capture (at shutdown, so streams do not hold it up).
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn slot(self: &Arc<Self>) -> Option<Slot> {
        let max = self.cfg.max_streams as u64;
        self.counters
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }
}

/// One capture's place among the allowed; given back when dropped.
struct Slot(Arc<Captures>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.counters.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A token bucket over bytes, shared by all captures: a second's worth at
/// most, refilled continuously.
pub(crate) struct RateBudget {
    rate: u64,
    tokens: f64,
    at: Instant,
}

impl RateBudget {
    fn new(rate: u64) -> RateBudget {
        RateBudget {
            rate,
            tokens: rate as f64,
            at: Instant::now(),
        }
    }

    /// Whether `bytes` may go out now (and takes them if so).
    pub(crate) fn take(&mut self, bytes: u64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate as f64;
        self.tokens = (self.tokens + refill).min(self.rate as f64);
        self.at = now;
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "error": message.to_string() }).to_string();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// `GET /api/v1/capture`.
pub async fn capture(shared: Arc<Shared>, headers: HeaderMap, query: Option<String>) -> Response {
    let Some(caps) = shared.captures.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this server does not capture packets",
        );
    };
    let counted = |r: Response| {
        caps.counters.refused.fetch_add(1, Ordering::Relaxed);
        r
    };
    let user = match caps
        .auth
        .authenticate(auth::token(&headers), "a capture")
        .await
    {
        Ok(u) => u,
        Err(r) => return counted(refuse(r.status, r.message)),
    };
    let req = match CaptureRequest::parse(query.as_deref().unwrap_or(""), &caps.cfg) {
        Ok(r) => r,
        Err(e) => return counted(refuse(StatusCode::BAD_REQUEST, e)),
    };
    let node = shared
        .kube
        .as_ref()
        .and_then(|k| k.node_name().map(String::from))
        .unwrap_or_default();
    let subject = match &req.target {
        Target::Pod {
            namespace, name, ..
        } => Subject::Pod { namespace, name },
        Target::Interface(_) | Target::Netns { .. } => Subject::Node { name: &node },
    };
    if let Err(r) = caps
        .auth
        .authorize(&user, &subject.access(), &subject.describe())
        .await
    {
        eprintln!(
            "podwire: capture refused: user={:?} target={} reason={:?}",
            user.username, req.target, r.message
        );
        return counted(refuse(r.status, r.message));
    }
    let Some(slot) = caps.slot() else {
        return counted(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} captures are running, the most this agent allows (--capture-max-streams)",
                caps.cfg.max_streams
            ),
        ));
    };
    let place = match locate(&shared, &req.target, &node, &caps.cfg.netns).await {
        Ok(p) => p,
        Err((status, message)) => return counted(refuse(status, message)),
    };
    let (expr, snaplen) = (req.filter.clone(), req.snaplen);
    let compiled = tokio::task::spawn_blocking(move || {
        pcap_filter::compile(&expr, podwire_capture_live::LINKTYPE_ETHERNET, snaplen)
    })
    .await;
    let program = match compiled {
        Ok(Ok(p)) => p,
        Ok(Err(e @ pcap_filter::FilterError::Unavailable(_))) => {
            return counted(refuse(StatusCode::NOT_IMPLEMENTED, e))
        }
        Ok(Err(e)) => return counted(refuse(StatusCode::BAD_REQUEST, e)),
        Err(_) => {
            return counted(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "filter compiler failed",
            ))
        }
    };
    let id = caps.next_id.fetch_add(1, Ordering::Relaxed);
    let audit = format!(
        "capture {id}: user={:?} groups={:?} target={} interface={} filter={:?} snaplen={} limits(duration={:?} count={:?} bytes={})",
        user.username,
        user.groups,
        req.target,
        place.interface,
        req.filter,
        req.snaplen,
        req.duration,
        req.count,
        req.bytes,
    );
    let started = session::start(session::Session {
        audit,
        request: req,
        place: place.clone(),
        program,
        ring_bytes: caps.cfg.ring_bytes,
        budget: Arc::clone(&caps.budget),
        stopping: Arc::clone(&caps.stopping),
        counters: Arc::clone(&caps.counters),
        own: (shared.own.active() && crate::agent::own::is_own_netns(place.netns.as_deref()))
            .then(|| Arc::clone(&shared.own)),
        slot,
    })
    .await;
    let body = match started {
        Ok(b) => b,
        Err(e) => return counted(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    };
    caps.counters.started.fetch_add(1, Ordering::Relaxed);
    let file: String = place
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut r = (
        [
            (header::CONTENT_TYPE, "application/x-pcapng".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.pcapng\""),
            ),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&place.interface) {
        r.headers_mut().insert("x-podwire-interface", v);
    }
    r
}

/// Where a capture happens and what it is called in the stream.
#[derive(Clone, Debug)]
pub struct Place {
    pub ifindex: u32,
    /// The interface captured on (`veth1a2b`).
    pub interface: String,
    /// The stream's interface name (`shop/web-1`, or the interface's own).
    pub name: String,
    /// `veth1a2b on node-3`.
    pub description: String,
    /// The namespace the interface is in (`None`: the agent's own).
    pub netns: Option<PathBuf>,
    /// A loopback device: every packet passes it twice (see
    /// [`podwire_capture_live::skip_outgoing`]).
    pub loopback: bool,
}

/// Runs a (netlink, namespace-entering) lookup off the async runtime.
async fn lookup<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, (StatusCode, String)> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "interface lookup failed".into(),
        )
    })
}

/// Runs `f` in each namespace the agent captures in (its own when none
/// is configured) until one gives `Some`.
fn in_each<T: Send>(
    netns: &[PathBuf],
    f: impl Fn() -> Result<Option<T>, podwire_capture_live::CaptureError> + Send + Sync,
) -> Result<Option<(Option<PathBuf>, T)>, String> {
    if netns.is_empty() {
        return f().map(|t| t.map(|t| (None, t))).map_err(|e| e.to_string());
    }
    for ns in netns {
        match podwire_capture_live::in_netns(ns, &f) {
            Ok(Ok(Some(t))) => return Ok(Some((Some(ns.clone()), t))),
            Ok(Ok(None)) => {}
            Ok(Err(e)) | Err(e) => return Err(e.to_string()),
        }
    }
    Ok(None)
}

async fn locate(
    shared: &Shared,
    target: &Target,
    node: &str,
    netns: &[PathBuf],
) -> Result<Place, (StatusCode, String)> {
    let netns = netns.to_vec();
    let on_node = if node.is_empty() {
        String::new()
    } else {
        format!(" on {node}")
    };
    match target {
        Target::Interface(name) => {
            let name = name.clone();
            let wanted = name.clone();
            let found = lookup(move || {
                in_each(&netns, || {
                    Ok(podnet::links()?.into_iter().find(|l| l.name == wanted))
                })
            })
            .await?
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
            let (netns, link) = found.ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no interface {name:?} on this host"),
                )
            })?;
            Ok(Place {
                netns,
                ifindex: link.index,
                description: format!("{}{on_node}", link.name),
                name: link.name.clone(),
                loopback: link.hatype == ARPHRD_LOOPBACK,
                interface: link.name,
            })
        }
        Target::Netns { path, interface } => {
            let (path, wanted) = (path.clone(), interface.clone());
            let ns = path.clone();
            let links =
                lookup(move || podwire_capture_live::in_netns(&ns, podnet::links).and_then(|r| r))
                    .await?
                    .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
            // Loopback (ARPHRD_LOOPBACK, 772) is not "the namespace's
            // traffic" unless asked for by name.
            let candidates: Vec<_> = links
                .into_iter()
                .filter(|l| match &wanted {
                    Some(w) => &l.name == w,
                    None => l.hatype != ARPHRD_LOOPBACK,
                })
                .collect();
            let link = match candidates.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err((
                        StatusCode::NOT_FOUND,
                        format!("no such interface in {target}"),
                    ))
                }
                many => {
                    let names: Vec<&str> = many.iter().map(|l| l.name.as_str()).collect();
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!(
                            "{target} has interfaces {}: say which (interface=NAME)",
                            names.join(", ")
                        ),
                    ));
                }
            };
            Ok(Place {
                ifindex: link.index,
                loopback: link.hatype == ARPHRD_LOOPBACK,
                description: format!("{} in {}{on_node}", link.name, path.display()),
                name: format!("{}/{}", path.display(), link.name),
                interface: link.name,
                netns: Some(path),
            })
        }
        Target::Pod {
            namespace, name, ..
        } => {
            let Some(kube) = &shared.kube else {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "this agent does not watch Kubernetes: capture an interface instead".into(),
                ));
            };
            let pod = kube.pod(namespace, name).ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no pod {namespace}/{name} known to this agent"),
                )
            })?;
            if pod
                .node
                .as_deref()
                .is_some_and(|n| !node.is_empty() && n != node)
            {
                return Err((
                    StatusCode::MISDIRECTED_REQUEST,
                    format!(
                        "pod {namespace}/{name} runs on {}, not{on_node}: ask that node's agent",
                        pod.node.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if pod.host_network {
                return Err((
                    StatusCode::CONFLICT,
                    format!("pod {namespace}/{name} uses the node's network: it has no interface of its own; capture the node's interface (-i) with a filter instead"),
                ));
            }
            let ips: Vec<IpAddr> = pod.ips.clone();
            let found = lookup(move || {
                in_each(&netns, || {
                    for ip in &ips {
                        if let HostSide::Veth(link) = podnet::host_side(*ip)? {
                            return Ok(Some(link));
                        }
                    }
                    Ok(None)
                })
            })
            .await?
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
            let (netns, link) = found.ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!(
                        "no veth on this node leads to pod {namespace}/{name} ({}): is it running here, on a veth-based CNI?",
                        pod.ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            Ok(Place {
                netns,
                ifindex: link.index,
                description: format!("{}{on_node}", link.name),
                interface: link.name,
                name: format!("{namespace}/{name}"),
                loopback: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_budget_holds_a_second_and_refills() {
        let mut b = RateBudget::new(1000);
        assert!(b.take(600));
        assert!(b.take(400));
        assert!(!b.take(100), "a second's worth is spent");
        std::thread::sleep(Duration::from_millis(150));
        assert!(b.take(100), "refilled at 1000 bytes/s");
        assert!(!b.take(900));
        b.at -= Duration::from_secs(10);
        assert!(
            b.take(1000) && !b.take(1),
            "never more than a second's worth"
        );
    }

    #[test]
    fn slots_are_capped_and_given_back() {
        let caps = Arc::new(Captures::new(
            CaptureConfig {
                max_streams: 2,
                ..CaptureConfig::default()
            },
            Auth::Off("test"),
        ));
        let a = caps.slot().expect("first");
        let b = caps.slot().expect("second");
        assert!(caps.slot().is_none(), "a third is refused");
        drop(a);
        assert_eq!(caps.counters.active.load(Ordering::Relaxed), 1);
        let _c = caps.slot().expect("a freed slot is reused");
        drop(b);
        assert_eq!(caps.counters.active.load(Ordering::Relaxed), 1);
    }
}
