//! How one peer is asked: an HTTP/1.1 GET, over TLS when the agents serve
//! it, carrying this agent's bearer token when it has one.
//!
//! Peers are reached by address (endpoints of a headless Service), so a
//! certificate cannot be checked against the address; every agent's
//! certificate carries one shared name instead (`--peer-server-name`, the
//! chart's certificate has it) and is verified against the peer CA. The
//! token file is read at every request, so a rotated service account token
//! is used as soon as the kubelet writes it.

use crate::config::ServeConfig;
use crate::OwnConns;
use crate::{Error, Result};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// The largest answer read from one peer.
const MAX_ANSWER: usize = 64 << 20;

/// How peers are asked (see the module comment).
#[derive(Clone, Default)]
pub struct PeerClient {
    tls: Option<(TlsConnector, ServerName<'static>)>,
    token_file: Option<PathBuf>,
    /// Where requests are registered as the agent's own connections, left
    /// out of what it observes (live agents only).
    own: Option<Arc<dyn OwnConns>>,
}

impl PeerClient {
    pub fn new(cfg: &ServeConfig, own: Option<Arc<dyn OwnConns>>) -> Result<PeerClient> {
        let tls = match &cfg.peer_tls {
            None => None,
            Some(t) => {
                let connector = crate::tls_client::connector(&t.ca)
                    .map_err(|e| Error::tls(format!("peer-ca {}", t.ca.display()), e))?;
                let name = ServerName::try_from(t.server_name.clone()).map_err(|e| {
                    Error::Config(format!("peer-server-name {:?}: {e}", t.server_name))
                })?;
                Some((connector, name))
            }
        };
        Ok(PeerClient {
            tls,
            token_file: cfg.peer_token_file.clone(),
            own,
        })
    }

    /// `GET path` of the peer at `addr`: the body of a 200, else an error
    /// saying what came.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> Result<Bytes, String> {
        let token = match &self.token_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| format!("peer token file {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        // The guard lives as long as the connection: until this returns.
        let (stream, _own) = connect(self.own.as_ref(), addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => exchange(stream, addr, path, token.as_deref()).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                exchange(tls, addr, path, token.as_deref()).await
            }
        }
    }
}

/// Connects to `addr` as one of the API's own outgoing connections: the
/// socket is bound and registered before its SYN leaves, so not one of its
/// packets is taken for anyone else's.
async fn connect(
    own: Option<&Arc<dyn OwnConns>>,
    addr: SocketAddr,
) -> std::io::Result<(tokio::net::TcpStream, Box<dyn Send + Sync>)> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    let any = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    socket.bind(any)?;
    let guard: Box<dyn Send + Sync> = match own {
        Some(o) => Arc::clone(o).register(socket.local_addr()?.port(), addr),
        None => Box::new(()),
    };
    Ok((socket.connect(addr).await?, guard))
}

async fn exchange<S>(
    stream: S,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<Bytes, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header(hyper::header::HOST, addr.to_string());
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
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
