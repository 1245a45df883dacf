//! Who may read from the agent: records (URLs, SQL, commands: payload
//! people would not hand to everyone on the node network) and metrics.
//!
//! Three kinds of route:
//! - open: `/healthz`, the UI's static files and the OpenAPI document,
//!   which hold no data (the UI asks for a token when the API refuses it);
//! - [`Grant::Records`]: every record, graph, stream, status and Grafana
//!   data-source route. In Kubernetes the caller needs `get` on
//!   `records.podwire.io`, a resource of no real API group that exists only
//!   in RBAC rules, so it is granted by binding a ClusterRole (the chart's
//!   `podwire-reader`) and by nothing built in but cluster-admin's `*`;
//! - [`Grant::Metrics`]: `/metrics`, `get` on the non-resource URL
//!   `/metrics`, the rule Prometheus's own ClusterRole already has (as with
//!   kube-rbac-proxy), so it scrapes with its service account token;
//!   `--metrics-open` opens it alone.
//!
//! Captures have their own, stricter check (see `capture`).
//!
//! A Kubernetes answer is kept for a short while (allowed for a minute,
//! refused for ten seconds, as the kubelet caches its reviews) so the UI's
//! polling does not turn into two API server calls per request; the cache
//! is bounded, and a full one only means asking again.

use crate::auth::{token, Auth, Refusal};
use crate::{lock, Api};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use podwire_k8s::auth::Access;
use rustc_hash::FxHashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API group of the agent's RBAC resource.
pub const GROUP: &str = "podwire.io";
/// The resource whose `get` lets a caller read records.
pub const RESOURCE: &str = "records";

/// Answers kept at once; beyond it nothing more is kept until some expire.
const CACHE_ENTRIES: usize = 4096;
const ALLOWED_TTL: Duration = Duration::from_secs(60);
const REFUSED_TTL: Duration = Duration::from_secs(10);

/// A kept answer and until when it holds.
type Kept = (Instant, Result<(), Refusal>);

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grant {
    Records,
    Metrics,
}

impl Grant {
    fn access(self) -> Access {
        match self {
            Grant::Records => Access {
                verb: "get".into(),
                group: GROUP.into(),
                resource: RESOURCE.into(),
                ..Access::default()
            },
            Grant::Metrics => Access {
                verb: "get".into(),
                non_resource_path: "/metrics".into(),
                ..Access::default()
            },
        }
    }

    fn describe(self) -> String {
        match self {
            Grant::Records => format!("get resource \"{RESOURCE}\" in API group \"{GROUP}\""),
            Grant::Metrics => "get path \"/metrics\"".into(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Grant::Records => "reading records",
            Grant::Metrics => "reading metrics",
        }
    }
}

/// How callers of the read routes are checked.
pub enum Mode {
    /// Anyone who reaches the port may read.
    Open,
    /// The callers' tokens are checked (the token file or Kubernetes).
    Checked(Auth),
}

/// Counts of the checks, for `/api/v1/status` and `/metrics` (defined in
/// the telemetry catalogue).
pub use podwire_telemetry::catalogue::AccessCounters;

/// The read routes' access control.
pub struct ApiAccess {
    mode: Mode,
    metrics_open: bool,
    cache: Mutex<FxHashMap<(String, Grant), Kept>>,
    pub counters: Arc<AccessCounters>,
}

impl Default for ApiAccess {
    fn default() -> Self {
        ApiAccess::new(Mode::Open, false)
    }
}

impl ApiAccess {
    pub fn new(mode: Mode, metrics_open: bool) -> ApiAccess {
        ApiAccess {
            mode,
            metrics_open,
            cache: Mutex::default(),
            counters: Arc::default(),
        }
    }

    /// `open`, `token-file` or `kubernetes`, for the status answer.
    pub fn mode_name(&self) -> &'static str {
        match &self.mode {
            Mode::Open | Mode::Checked(Auth::Off(_)) => "open",
            Mode::Checked(Auth::TokenFile(_)) => "token-file",
            Mode::Checked(Auth::Kubernetes(_)) => "kubernetes",
        }
    }

    /// Whether a caller with `token` may have `grant`.
    pub async fn check(&self, token: Option<&str>, grant: Grant) -> Result<(), Refusal> {
        let auth = match &self.mode {
            Mode::Checked(auth) if !(grant == Grant::Metrics && self.metrics_open) => auth,
            _ => return Ok(()),
        };
        let cached = matches!(auth, Auth::Kubernetes(_));
        if let (true, Some(t)) = (cached, token) {
            let key = (t.to_string(), grant);
            if let Some((until, answer)) = lock(&self.cache).get(&key) {
                if Instant::now() < *until {
                    return answer.clone();
                }
            }
        }
        let answer = match auth.authenticate(token, grant.what()).await {
            Ok(user) => {
                auth.authorize(&user, &grant.access(), &grant.describe())
                    .await
            }
            Err(r) => Err(r),
        };
        let ttl = match &answer {
            Ok(()) => Some(ALLOWED_TTL),
            Err(r) if r.status == StatusCode::SERVICE_UNAVAILABLE => None,
            Err(_) => Some(REFUSED_TTL),
        };
        if let (true, Some(t), Some(ttl)) = (cached, token, ttl) {
            self.remember(t, grant, Instant::now() + ttl, &answer);
        }
        answer
    }

    fn remember(&self, token: &str, grant: Grant, until: Instant, answer: &Result<(), Refusal>) {
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, (t, _)| *t > now);
        }
        if cache.len() >= CACHE_ENTRIES {
            self.counters.cache_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        cache.insert((token.to_string(), grant), (until, answer.clone()));
    }

    fn count(&self, answer: &Result<(), Refusal>) {
        let c = &self.counters;
        let counter = match answer {
            Ok(()) => &c.allowed,
            Err(r) if r.status == StatusCode::UNAUTHORIZED => &c.unauthenticated,
            Err(r) if r.status == StatusCode::FORBIDDEN => &c.forbidden,
            Err(_) => &c.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Middleware of the record routes.
pub async fn records(State(shared): State<Arc<Api>>, req: Request, next: Next) -> Response {
    guard(&shared, Grant::Records, req, next).await
}

/// Middleware of `/metrics`.
pub async fn metrics(State(shared): State<Arc<Api>>, req: Request, next: Next) -> Response {
    guard(&shared, Grant::Metrics, req, next).await
}

async fn guard(shared: &Api, grant: Grant, req: Request, next: Next) -> Response {
    let answer = shared.access.check(token(req.headers()), grant).await;
    shared.access.count(&answer);
    match answer {
        Ok(()) => next.run(req).await,
        Err(r) => refuse(r),
    }
}

/// A refusal as plain text; 401s say how to authenticate (RFC 6750).
/// Who may read from an API served with `cfg`; `client` is the
/// Kubernetes client tokens are reviewed with, or why there is none
/// (`None`: not in Kubernetes). Without a client to review tokens with,
/// no one may read: reads fail closed.
pub fn from_config(
    cfg: &crate::ApiConfig,
    client: Option<&Result<podwire_k8s::Client, podwire_k8s::Error>>,
) -> ApiAccess {
    use crate::ApiAuth;
    let mode = match (&cfg.auth, client) {
        (ApiAuth::Open, _) => Mode::Open,
        (ApiAuth::TokenFile(path), _) => Mode::Checked(Auth::TokenFile(path.clone())),
        (ApiAuth::Kubernetes, Some(Ok(client))) => Mode::Checked(Auth::Kubernetes(client.clone())),
        (ApiAuth::Kubernetes, _) => Mode::Checked(Auth::Off(
            "the agent has no Kubernetes client to review tokens with",
        )),
    };
    ApiAccess::new(mode, cfg.metrics_open)
}

pub fn refuse(r: Refusal) -> Response {
    let mut resp = (r.status, format!("{}\n", r.message)).into_response();
    if r.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"podwire\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn open_lets_everyone_read() {
        let a = ApiAccess::new(Mode::Open, false);
        assert!(block_on(a.check(None, Grant::Records)).is_ok());
        assert_eq!(a.mode_name(), "open");
    }

    #[test]
    fn token_file_guards_records_and_metrics_unless_metrics_are_open() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "s3cret alice").unwrap();
        let file = || Mode::Checked(Auth::TokenFile(f.path().to_path_buf()));
        let a = ApiAccess::new(file(), false);
        for grant in [Grant::Records, Grant::Metrics] {
            let none = block_on(a.check(None, grant)).unwrap_err();
            assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{grant:?}");
            let bad = block_on(a.check(Some("nope"), grant)).unwrap_err();
            assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
            assert!(block_on(a.check(Some("s3cret"), grant)).is_ok());
        }
        let open_metrics = ApiAccess::new(file(), true);
        assert!(block_on(open_metrics.check(None, Grant::Metrics)).is_ok());
        assert!(block_on(open_metrics.check(None, Grant::Records)).is_err());
    }

    #[test]
    fn refusals_say_how_to_authenticate() {
        let r = refuse(Refusal::new(StatusCode::UNAUTHORIZED, "no"));
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"podwire\""
        );
        let r = refuse(Refusal::new(StatusCode::FORBIDDEN, "no"));
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
