//! The API's listening socket: connections bounded in number, and TLS whose
//! certificate is re-read when its files change.
//!
//! - **Bound.** At most [`MAX_CONNECTIONS`] connections are served at once
//!   (a semaphore permit rides with each); beyond it new connections are
//!   closed at once and counted, so a flood of clients costs the agent a
//!   file descriptor for a moment and no memory.
//! - **TLS.** Handshakes run in tasks of their own, each with a deadline,
//!   so a client that connects and says nothing never holds up the others
//!   (axum's accept loop waits on [`ApiListener::accept`] alone). The
//!   certificate is the one in the files now: a handshake looks at the
//!   files' modification times at most once a second and loads them again
//!   when they changed (a Kubernetes Secret or cert-manager renewal
//!   replaces them under a running agent). A file that does not load keeps
//!   the previous certificate and says why once.

use crate::config::TlsFiles;
use crate::listen::ListenAddr;
use crate::OwnConns;
use crate::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long serving waits for the rings' kernel filter at start (the
/// capture thread applies it within one ring wait, 100 ms).
const KERNEL_FILTER_WAIT: Duration = Duration::from_secs(1);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a handshake may look at the certificate files.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Counts of the listener, for `/api/v1/status` and `/metrics` (defined
/// in the telemetry catalogue).
pub use podwire_telemetry::catalogue::ListenerCounters;

/// A served connection, plain or TLS, holding its slot while it lives.
pub struct Conn {
    io: Io,
    _slot: OwnedSemaphorePermit,
    /// Registers the connection as the agent's own while it lives.
    _own: Box<dyn Send + Sync>,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The address a request came from, for per-client limits (axum's
/// `ConnectInfo` of an [`ApiListener`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ApiListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ApiListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The API's listener (see the module comment).
pub struct ApiListener {
    local: SocketAddr,
    incoming: mpsc::Receiver<(Conn, SocketAddr)>,
}

impl ApiListener {
    /// Binds `listen`; with `tls`, the certificate must load now.
    pub async fn bind(
        listen: &ListenAddr,
        tls: Option<&TlsFiles>,
        counters: Arc<ListenerCounters>,
        own: Arc<dyn OwnConns>,
    ) -> Result<ApiListener> {
        let acceptor = match tls {
            Some(files) => Some(acceptor(files, Arc::clone(&counters))?),
            None => None,
        };
        let tcp = TcpListener::bind(listen.addrs())
            .await
            .map_err(|error| Error::Listen {
                listen: listen.to_string(),
                error,
            })?;
        let local = tcp.local_addr().map_err(Error::LocalAddr)?;
        own.listening(local);
        // Nothing is accepted before the capture rings drop the API's own
        // packets in the kernel (see `own`), so a burst of clients at start
        // cannot crowd the watched traffic out of them either.
        own.ready(KERNEL_FILTER_WAIT).await;
        let (tx, incoming) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, acceptor, tx, counters, own));
        Ok(ApiListener { local, incoming })
    }
}

impl axum::serve::Listener for ApiListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.incoming.recv().await {
            Some(c) => c,
            // The accept loop only ends with the runtime.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
    counters: Arc<ListenerCounters>,
    own: Arc<dyn OwnConns>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait a little, as axum does.
                eprintln!("podwire: API accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            counters.refused_busy.fetch_add(1, Ordering::Relaxed);
            continue; // dropping the stream closes it
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        // Registered at once: not one request of this connection is taken
        // for anyone else's traffic.
        let port = stream.local_addr().map_or(0, |a| a.port());
        let own = Arc::clone(&own).register(port, peer);
        match &tls {
            None => {
                let conn = Conn {
                    io: Io::Plain(stream),
                    _slot: slot,
                    _own: own,
                };
                if tx.send((conn, peer)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let (acceptor, tx, counters) =
                    (acceptor.clone(), tx.clone(), Arc::clone(&counters));
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let conn = Conn {
                                io: Io::Tls(Box::new(s)),
                                _slot: slot,
                                _own: own,
                            };
                            let _ = tx.send((conn, peer)).await;
                        }
                        _ => {
                            counters
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        }
    }
}

fn acceptor(files: &TlsFiles, counters: Arc<ListenerCounters>) -> Result<TlsAcceptor> {
    let resolver = Reloading::new(files.clone(), counters)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls("TLS protocol versions", e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificate of the files as they are now (see the module comment).
#[derive(Debug)]
struct Reloading {
    files: TlsFiles,
    counters: Arc<ListenerCounters>,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
    /// The last load error said, so a bad file is reported once.
    said: Option<String>,
}

impl Reloading {
    fn new(files: TlsFiles, counters: Arc<ListenerCounters>) -> Result<Reloading> {
        let stamp = stamp(&files);
        let key = load(&files)?;
        Ok(Reloading {
            files,
            counters,
            state: Mutex::new(Loaded {
                key,
                stamp,
                checked: Instant::now(),
                said: None,
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut s = podwire_sync::lock(&self.state);
        if s.checked.elapsed() >= RELOAD_CHECK {
            s.checked = Instant::now();
            let now = stamp(&self.files);
            if now != s.stamp {
                match load(&self.files) {
                    Ok(key) => {
                        s.key = key;
                        s.stamp = now;
                        s.said = None;
                        self.counters
                            .certificate_reloads
                            .fetch_add(1, Ordering::Relaxed);
                        eprintln!("podwire: API certificate reloaded");
                    }
                    Err(e) => {
                        let why = format!("{e:#}");
                        if s.said.as_ref() != Some(&why) {
                            eprintln!("podwire: API certificate not reloaded, keeping the last one: {why}");
                            s.said = Some(why);
                        }
                    }
                }
            }
        }
        Arc::clone(&s.key)
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp(files: &TlsFiles) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(&files.cert), m(&files.key))
}

fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::tls(format!("tls-cert {}", files.cert.display()), e))?;
    if certs.is_empty() {
        return Err(Error::tls(
            format!("tls-cert {}", files.cert.display()),
            "no certificate in it",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| Error::tls(format!("tls-key {}", files.key.display()), e))?;
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
        Error::tls(
            format!("tls-key {} does not fit tls-cert", files.key.display()),
            e,
        )
    })?;
    Ok(Arc::new(key))
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}
