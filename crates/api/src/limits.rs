//! What one client may ask of the API, so that no client (a script in a
//! loop, a scanner, a forgotten browser tab) costs the agent more than its
//! share: every refusal is counted and exported.
//!
//! - A request target longer than [`MAX_TARGET`] bytes is refused (414,
//!   no body) before anything parses it; the HTTP layer already bounds the whole
//!   request head.
//! - Requests per client address: a token bucket of [`RATE`] requests a
//!   second with bursts of [`BURST`] (429 with `Retry-After`). Clients
//!   behind one proxy (the API server's pod proxy, a Grafana) share a
//!   bucket, so the rate is generous: it stops floods, not users. Buckets
//!   are kept for [`MAX_CLIENTS`] addresses; when full, idle ones are
//!   dropped first and a new address is let through uncounted rather than
//!   refused.
//! - Live streams at once: [`MAX_STREAMS`] (see `stream`).

use crate::listener::ClientAddr;
use crate::{lock, Api};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The longest request target (path and query), bytes.
pub const MAX_TARGET: usize = 16 * 1024;
/// Requests a second one client address may make, sustained.
pub const RATE: f64 = 100.0;
/// Requests one client address may make at once after a quiet while.
pub const BURST: f64 = 400.0;
/// Client addresses whose buckets are kept.
pub const MAX_CLIENTS: usize = 4096;
/// Live streams (`/api/v1/stream`) open at once.
pub const MAX_STREAMS: usize = 64;

/// Counts of what was refused, for `/api/v1/status` and `/metrics`
/// (defined in the telemetry catalogue).
pub use podwire_telemetry::catalogue::LimitCounters;

/// The per-client buckets.
pub struct Limits {
    buckets: Mutex<FxHashMap<IpAddr, Bucket>>,
    pub counters: LimitCounters,
    /// Live streams open now.
    pub streams: Arc<tokio::sync::Semaphore>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new()
    }
}

impl Limits {
    pub fn new() -> Limits {
        Limits {
            buckets: Mutex::default(),
            counters: LimitCounters::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        }
    }

    /// Takes one request from `ip`'s bucket; `false` when it is empty.
    fn take(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = lock(&self.buckets);
        if !buckets.contains_key(&ip) && buckets.len() >= MAX_CLIENTS {
            // Full buckets only matter to clients that are still busy.
            buckets.retain(|_, b| refill(*b, now) < BURST);
            if buckets.len() >= MAX_CLIENTS {
                return true;
            }
        }
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        b.tokens = refill(*b, now);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refill(b: Bucket, now: Instant) -> f64 {
    (b.tokens + now.duration_since(b.at).as_secs_f64() * RATE).min(BURST)
}

/// Middleware of every route.
pub async fn guard(
    State(shared): State<Arc<Api>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    req: Request,
    next: Next,
) -> Response {
    let l = &shared.limits;
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    // Only GET and HEAD are served: anything else gets its 405 from the
    // router, whatever its length.
    let served = matches!(*req.method(), Method::GET | Method::HEAD);
    if target > MAX_TARGET && served {
        l.counters.target_too_long.fetch_add(1, Ordering::Relaxed);
        // No body, like hyper's own 414 for targets beyond what it parses
        // (64 KiB): one documented answer whoever refuses.
        return StatusCode::URI_TOO_LONG.into_response();
    }
    if !l.take(peer.ip(), Instant::now()) {
        l.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {RATE} requests a second from {}\n", peer.ip()),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let l = Limits::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        let allowed = (0..1000).filter(|_| l.take(ip, t0)).count();
        assert_eq!(allowed, BURST as usize);
        assert!(!l.take(ip, t0));
        // A tenth of a second later: RATE / 10 more.
        let t1 = t0 + Duration::from_millis(100);
        let more = (0..1000).filter(|_| l.take(ip, t1)).count();
        assert_eq!(more, (RATE / 10.0) as usize);
        // Another address has its own bucket.
        assert!(l.take("10.0.0.2".parse().unwrap(), t1));
    }

    #[test]
    fn buckets_stay_bounded() {
        let l = Limits::new();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 100) {
            assert!(l.take(IpAddr::from(i.to_be_bytes()), t0));
        }
        assert!(lock(&l.buckets).len() <= MAX_CLIENTS);
    }
}
