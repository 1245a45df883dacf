//! The API's settings, validated: how it is served (TLS, who may read)
//! and what the HTTP side needs for answers (metrics shape, peers).

use crate::listen::ListenAddr;
use crate::{Error, Result};
use podwire_serve::metrics::MetricsConfig;
use std::path::PathBuf;
use std::time::Duration;

/// How the API is served and who may read from it.
#[derive(Clone, Debug, Default)]
pub struct ApiConfig {
    pub auth: ApiAuth,
    /// `/metrics` open whatever `auth` says.
    pub metrics_open: bool,
    /// HTTPS with these files; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Say at start that a listener beyond loopback is open to all.
    pub warn_open: bool,
}

/// Who checks readers of the API (see `api::access`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ApiAuth {
    #[default]
    Open,
    TokenFile(PathBuf),
    Kubernetes,
}

/// A certificate chain and its key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the HTTP side needs: metrics shape and cluster fan-out.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub metrics: MetricsConfig,
    /// `HOST:PORT` of every agent of the cluster (this one included).
    pub peers: Vec<String>,
    pub peer_timeout: Duration,
    pub peer_concurrency: usize,
    /// Peers asked over HTTPS, verified this way; `None`: plain HTTP.
    pub peer_tls: Option<PeerTls>,
    /// The bearer token peers are sent, re-read each time.
    pub peer_token_file: Option<PathBuf>,
}

/// How peers' certificates are verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTls {
    /// Certificate authorities (PEM).
    pub ca: PathBuf,
    /// The name every peer's certificate must carry.
    pub server_name: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            metrics: MetricsConfig::default(),
            peers: Vec::new(),
            peer_timeout: Duration::from_secs(2),
            peer_concurrency: 16,
            peer_tls: None,
            peer_token_file: None,
        }
    }
}

/// Who checks readers, from `--api-auth` (`None`: auto) and
/// `--api-token-file`, for an API on `listen`, with Kubernetes on or not.
pub fn api_auth(
    mode: Option<&str>,
    token_file: Option<PathBuf>,
    listen: &ListenAddr,
    kube: bool,
) -> Result<ApiAuth> {
    let local = listen.is_loopback();
    Ok(match (mode.unwrap_or("auto"), token_file) {
        ("auto" | "token-file", Some(file)) => ApiAuth::TokenFile(file),
        ("token-file", None) => {
            return Err(Error::Config(
                "api-auth token-file needs --api-token-file".into(),
            ))
        }
        ("kubernetes", _) if !kube => {
            return Err(Error::Config(
                "api-auth kubernetes needs Kubernetes (--kubernetes on)".into(),
            ))
        }
        ("kubernetes", _) => ApiAuth::Kubernetes,
        ("auto", None) if kube && !local => ApiAuth::Kubernetes,
        ("auto", None) if !local => {
            return Err(Error::Config(format!(
                "the API would listen on {listen} with nobody checking who reads it: give \
                 --api-token-file (or run in Kubernetes), listen on 127.0.0.1, or say \
                 --api-auth none to serve it open"
            )))
        }
        ("auto" | "none", _) => ApiAuth::Open,
        (m, _) => {
            return Err(Error::Config(format!(
                "api-auth: {m:?} is not auto, token-file, kubernetes or none"
            )))
        }
    })
}
