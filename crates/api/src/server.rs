//! The API's state beside its [`Backend`] (who may read, how much one
//! client may ask, the listener's counts, the peers) and serving it until
//! SIGTERM or SIGINT.

use crate::access::ApiAccess;
use crate::config::{ApiConfig, ServeConfig};
use crate::limits::Limits;
use crate::listen::ListenAddr;
use crate::listener::{ApiListener, ClientAddr, ListenerCounters};
use crate::peers::Peers;
use crate::{Backend, OwnConns};
use crate::{Error, Result};
use podwire_telemetry::Snapshot;
use std::sync::Arc;

/// What every route is handed.
pub struct Api {
    /// What is served.
    pub backend: Arc<dyn Backend>,
    /// Who may read from the API.
    pub access: ApiAccess,
    /// What one API client may ask.
    pub limits: Limits,
    /// The API listener's counts.
    pub listener: Arc<ListenerCounters>,
    /// The other agents of a cluster answer.
    pub peers: Peers,
    /// The API's own connections, for the host side to leave out.
    pub own: Arc<dyn OwnConns>,
    /// Set when the server is shutting down: streams end at once instead
    /// of holding the graceful shutdown open for as long as a client stays.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Connections open at least this long count as persistent in graphs.
    pub persistent_ms: f64,
}

impl Api {
    /// An open API over `backend` with `serve`'s peers (no client to ask
    /// them with yet: see [`Peers::set_client`]).
    pub fn new(backend: Arc<dyn Backend>, serve: &ServeConfig, own: Arc<dyn OwnConns>) -> Api {
        Api {
            backend,
            access: ApiAccess::default(),
            limits: Limits::new(),
            listener: Arc::default(),
            peers: Peers::new(
                serve.peers.clone(),
                serve.peer_timeout,
                serve.peer_concurrency,
            ),
            own,
            stopping: tokio::sync::watch::channel(false).0,
            persistent_ms: serve.metrics.persistent_ms,
        }
    }

    /// The API's refusals and the listener's counts (telemetry catalogue
    /// counters), read now for `/metrics` and `/api/v1/status`.
    pub fn counters(&self) -> Snapshot {
        Snapshot::of(&[
            &*self.access.counters,
            &*self.listener,
            &self.limits.counters,
        ])
    }
}

/// Serves `api` on `listen` until SIGTERM or SIGINT (`what` names the
/// server in the log line).
pub async fn serve(listen: &ListenAddr, cfg: &ApiConfig, api: Arc<Api>, what: &str) -> Result<()> {
    let listener = ApiListener::bind(
        listen,
        cfg.tls.as_ref(),
        Arc::clone(&api.listener),
        Arc::clone(&api.own),
    )
    .await?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let local = axum::serve::Listener::local_addr(&listener).map_err(Error::LocalAddr)?;
    eprintln!("podwire: {what} serving {scheme}://{local}");
    if cfg.warn_open {
        eprintln!(
            "podwire: WARNING: anyone who reaches {local} may read every record (--api-auth none)"
        );
    }
    let backend = Arc::clone(&api.backend);
    let stopping = api.stopping.clone();
    let app = crate::router(api).into_make_service_with_connect_info::<ClientAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown().await;
            // Streams would otherwise hold the graceful shutdown open.
            stopping.send_replace(true);
            backend.stop();
        })
        .await
        .map_err(Error::Serve)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
