//! TLS 1.3 certificates, fetched (`--tls-cert-fetch on`, off by default).
//!
//! TLS 1.3 encrypts the server's Certificate message, so a TLS 1.3 record
//! from packets has no certificate, and certificate expiry (what
//! k8spacket users watch) is lost for most servers. Like k8spacket, the
//! agent can ask the server itself: it opens its own TLS connection to the
//! same address with the same SNI, reads the leaf certificate the server
//! presents, and closes. Later TLS 1.3 records of that (name, address) carry
//! it, marked `fetched`.
//!
//! Connecting to workloads is an action, not observation, so it is opt-in
//! and bounded: at most one handshake per [`INTERVAL`] for the whole agent,
//! at most [`MAX_QUEUED`] waiting, one per (SNI, address, port) per
//! [`FRESH`] ([`RETRY`] after a failure), [`MAX_ENTRIES`] remembered; what
//! is not fetched is counted. Nothing is verified or trusted: the handshake
//! accepts any certificate, sends no client certificate and no data, and the
//! certificate only describes what the server presents. The agent's own
//! handshakes are left out of its records (unless `--observe-self`), as its
//! API's connections are: they are the agent's doing, not the workloads'.

use super::state::lock;
use podwire_record::{Body, Certificate, Record};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

/// Handshakes at most one per this, agent-wide.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// A fetched certificate is used this long, then fetched again.
pub const FRESH: Duration = Duration::from_secs(3600);
/// A failed fetch is tried again after this long.
pub const RETRY: Duration = Duration::from_secs(600);
/// (SNI, address, port) entries remembered at most.
pub const MAX_ENTRIES: usize = 4096;
/// The agent's own fetch connections remembered (by local address) to
/// leave their records out: minutes of fetches at one a second.
const MAX_OWN: usize = 256;
/// Fetches waiting at most.
pub const MAX_QUEUED: usize = 64;
/// Failed fetches logged at most (all are counted).
const MAX_LOGGED: u64 = 16;
/// Connect, handshake and each read or write time out after this.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Who the certificate belongs to: the name the client asked for, where.
type Key = (Option<String>, IpAddr, u16);

enum Entry {
    Pending,
    Fetched(Certificate, Instant),
    Failed(Instant),
}

/// Counters, exported on `/metrics` and `/api/v1/status` (defined in the
/// telemetry catalogue).
pub use podwire_telemetry::catalogue::CertFetchCounters as CertCounters;

/// See the module docs.
pub struct CertFetcher {
    entries: Mutex<HashMap<Key, Entry>>,
    queue: SyncSender<Key>,
    /// Local addresses of the agent's own fetch connections, newest last.
    own: Mutex<VecDeque<SocketAddr>>,
    pub counters: Arc<CertCounters>,
}

impl CertFetcher {
    /// Starts the fetching thread; handshakes go out from `netns` (the
    /// namespace the agent captures in, where the addresses it sees are
    /// reachable), or the agent's own namespace.
    pub fn start(netns: Option<PathBuf>) -> io::Result<Arc<CertFetcher>> {
        let (queue, rx) = sync_channel(MAX_QUEUED);
        let fetcher = Arc::new(CertFetcher {
            entries: Mutex::new(HashMap::new()),
            queue,
            own: Mutex::new(VecDeque::new()),
            counters: Arc::default(),
        });
        let weak = Arc::downgrade(&fetcher);
        std::thread::Builder::new()
            .name("cert-fetch".into())
            .spawn(move || {
                let config = Arc::new(client_config());
                run(&rx, |key| {
                    let Some(f) = weak.upgrade() else { return };
                    let result = fetch_in(netns.as_deref(), &config, &key, &|local| f.mine(local));
                    f.done(key, result);
                });
            })?;
        Ok(fetcher)
    }

    fn mine(&self, local: SocketAddr) {
        let mut own = lock(&self.own);
        if own.len() >= MAX_OWN {
            own.pop_front();
        }
        own.push_back(local);
    }

    /// Leaves out the records of the agent's own fetch connections.
    pub fn drop_own(&self, records: &mut Vec<Record>) {
        let own = lock(&self.own);
        if own.is_empty() {
            return;
        }
        records.retain(|r| !own.contains(&SocketAddr::new(r.client.ip, r.client.port)));
    }

    /// Gives TLS 1.3 records without a certificate the one fetched for
    /// their (SNI, server), and asks for it when there is none yet.
    pub fn fill(&self, records: &mut [Record]) {
        for rec in records {
            let Body::Tls(t) = &mut rec.body else {
                continue;
            };
            if t.certificate.is_some() || t.version.as_deref() != Some("TLS 1.3") {
                continue;
            }
            let key = (t.sni.clone(), rec.server.ip, rec.server.port);
            let now = Instant::now();
            let mut entries = lock(&self.entries);
            let ask = match entries.get(&key) {
                Some(Entry::Fetched(cert, at)) => {
                    t.certificate = Some(cert.clone());
                    self.counters.used.fetch_add(1, Ordering::Relaxed);
                    now.duration_since(*at) >= FRESH
                }
                Some(Entry::Failed(at)) => now.duration_since(*at) >= RETRY,
                Some(Entry::Pending) => false,
                None => true,
            };
            if !ask {
                continue;
            }
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                forget_stale(&mut entries, now);
                if entries.len() >= MAX_ENTRIES {
                    self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            match self.queue.try_send(key.clone()) {
                Ok(()) => match entries.get_mut(&key) {
                    // Asked again: keep serving the stale certificate
                    // until the answer replaces it, and do not ask again
                    // meanwhile (a busy server's records would fill the
                    // queue with the same fetch).
                    Some(Entry::Fetched(_, at)) => *at = now,
                    _ => {
                        entries.insert(key, Entry::Pending);
                    }
                },
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn done(&self, key: Key, result: Result<Certificate, String>) {
        let now = Instant::now();
        let entry = match result {
            Ok(mut cert) => {
                cert.fetched = true;
                self.counters.fetched.fetch_add(1, Ordering::Relaxed);
                Entry::Fetched(cert, now)
            }
            Err(why) => {
                let n = self.counters.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if n <= MAX_LOGGED {
                    let (sni, ip, port) = &key;
                    let sni = sni.as_deref().unwrap_or("no SNI");
                    let addr = SocketAddr::new(*ip, *port);
                    eprintln!("podwire: TLS certificate fetch from {addr} ({sni}) failed: {why}");
                }
                Entry::Failed(now)
            }
        };
        lock(&self.entries).insert(key, entry);
    }
}

/// Drops failures past their retry time and certificates past their
/// freshness, to make room.
fn forget_stale(entries: &mut HashMap<Key, Entry>, now: Instant) {
    entries.retain(|_, e| match e {
        Entry::Pending => true,
        Entry::Fetched(_, at) => now.duration_since(*at) < FRESH,
        Entry::Failed(at) => now.duration_since(*at) < RETRY,
    });
}

/// Takes fetches off the queue, at most one per [`INTERVAL`], until every
/// sender is gone.
fn run(rx: &Receiver<Key>, mut fetch: impl FnMut(Key)) {
    let mut next = Instant::now();
    while let Ok(key) = rx.recv() {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next = Instant::now() + INTERVAL;
        fetch(key);
    }
}

/// [`fetch`] from `netns`; `mine` is told the local address before any
/// packet is sent.
fn fetch_in(
    netns: Option<&std::path::Path>,
    config: &Arc<rustls::ClientConfig>,
    key: &Key,
    mine: &(dyn Fn(SocketAddr) + Sync),
) -> Result<Certificate, String> {
    match netns {
        None => fetch(config, key, mine),
        Some(path) => podwire_capture_live::in_netns(path, || fetch(config, key, mine))
            .map_err(|e| e.to_string())?,
    }
}

/// One handshake: connect, send the ClientHello with the SNI, read up to
/// the server's Finished, take the leaf certificate, close.
fn fetch(
    config: &Arc<rustls::ClientConfig>,
    key: &Key,
    mine: &(dyn Fn(SocketAddr) + Sync),
) -> Result<Certificate, String> {
    let (sni, ip, port) = key;
    let name = match sni {
        Some(s) => rustls::pki_types::ServerName::try_from(s.clone()).map_err(|e| e.to_string())?,
        // No SNI was sent: neither is one now.
        None => rustls::pki_types::ServerName::IpAddress((*ip).into()),
    };
    let mut sock = TcpStream::connect_timeout(&SocketAddr::new(*ip, *port), TIMEOUT)
        .map_err(|e| e.to_string())?;
    // The SYN is out already, but records are made at close.
    if let Ok(local) = sock.local_addr() {
        mine(local);
    }
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT;
    while conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err("handshake timed out".into());
        }
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let der = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    let cert = podwire_tls::certificate_from_der(der).ok_or("certificate does not parse")?;
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(cert)
}

/// A client that accepts whatever the server presents: the point is to
/// read the certificate, not to trust it, and nothing is sent after the
/// handshake.
fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAny(provider.clone()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| rustls::ClientConfig::builder())
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_record::{Endpoint, Timestamp, Tls};
    use std::sync::mpsc::sync_channel;

    fn tls13(sni: &str, port: u16) -> Record {
        Record::new(
            Timestamp(1),
            Endpoint::new(IpAddr::from([10, 0, 0, 1]), 40001),
            Endpoint::new(IpAddr::from([10, 0, 0, 2]), port),
            Body::Tls(Tls {
                sni: Some(sni.into()),
                version: Some("TLS 1.3".into()),
                ..Tls::default()
            }),
        )
    }

    fn cert(subject: &str) -> Certificate {
        Certificate {
            subject: subject.into(),
            issuer: subject.into(),
            sans: vec![],
            not_before: None,
            not_after: None,
            fetched: false,
        }
    }

    fn certificate_of(rec: &Record) -> Option<&Certificate> {
        match &rec.body {
            Body::Tls(t) => t.certificate.as_ref(),
            _ => None,
        }
    }

    #[test]
    fn one_fetch_per_name_and_address_then_records_carry_it() {
        let (queue, rx) = sync_channel(2);
        let f = CertFetcher {
            entries: Mutex::new(HashMap::new()),
            queue,
            own: Mutex::new(VecDeque::new()),
            counters: Arc::default(),
        };
        let mut recs = vec![
            tls13("a.test", 443),
            tls13("a.test", 443),
            tls13("b.test", 443),
        ];
        // TLS 1.2 shows its certificate: never fetched.
        let mut seen = tls13("c.test", 443);
        if let Body::Tls(t) = &mut seen.body {
            t.version = Some("TLS 1.2".into());
        }
        recs.push(seen);
        f.fill(&mut recs);
        let asked: Vec<Key> = rx.try_iter().collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(recs.iter().all(|r| certificate_of(r).is_none()));
        // The queue holds two: a third name is counted, not queued.
        f.fill(&mut [
            tls13("d.test", 443),
            tls13("e.test", 443),
            tls13("f.test", 443),
        ]);
        assert_eq!(f.counters.skipped.load(Ordering::Relaxed), 1);

        f.done(asked[0].clone(), Ok(cert("CN=a")));
        f.done(asked[1].clone(), Err("refused".into()));
        let mut later = vec![
            tls13("a.test", 443),
            tls13("b.test", 443),
            tls13("a.test", 8443),
        ];
        f.fill(&mut later);
        let a = certificate_of(&later[0]).expect("fetched");
        assert_eq!((a.subject.as_str(), a.fetched), ("CN=a", true));
        assert!(
            certificate_of(&later[1]).is_none(),
            "failed: not again before RETRY"
        );
        assert!(
            certificate_of(&later[2]).is_none(),
            "another port is another server"
        );
        assert_eq!(f.counters.used.load(Ordering::Relaxed), 1);
        assert_eq!(f.counters.failed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stale_certificate_is_fetched_again_once_and_served_meanwhile() {
        let (queue, rx) = sync_channel(8);
        let f = CertFetcher {
            entries: Mutex::new(HashMap::new()),
            queue,
            own: Mutex::new(VecDeque::new()),
            counters: Arc::default(),
        };
        let key: Key = (Some("a.test".into()), IpAddr::from([10, 0, 0, 2]), 443);
        let Some(long_ago) = Instant::now().checked_sub(FRESH + Duration::from_secs(1)) else {
            return; // a clock this young cannot be stale
        };
        let mut stale = cert("CN=old");
        stale.fetched = true;
        lock(&f.entries).insert(key.clone(), Entry::Fetched(stale, long_ago));
        let mut recs = vec![
            tls13("a.test", 443),
            tls13("a.test", 443),
            tls13("a.test", 443),
        ];
        f.fill(&mut recs);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [key], "asked once");
        assert!(recs
            .iter()
            .all(|r| certificate_of(r).is_some_and(|c| c.subject == "CN=old")));
    }

    #[test]
    fn the_agents_own_fetch_connections_are_left_out() {
        let (queue, _rx) = sync_channel(1);
        let f = CertFetcher {
            entries: Mutex::new(HashMap::new()),
            queue,
            own: Mutex::new(VecDeque::new()),
            counters: Arc::default(),
        };
        let mut recs = vec![tls13("a.test", 443), tls13("a.test", 443)];
        recs[1].client.port = 40000;
        f.mine(SocketAddr::new(recs[1].client.ip, 40000));
        f.drop_own(&mut recs);
        assert_eq!(recs.len(), 1);
        assert_ne!(recs[0].client.port, 40000);
    }

    #[test]
    fn fetches_are_spaced_by_the_interval() {
        let (tx, rx) = sync_channel(8);
        for port in 1..=3 {
            tx.send((None, IpAddr::from([127, 0, 0, 1]), port)).unwrap();
        }
        drop(tx);
        let mut at = Vec::new();
        run(&rx, |_| at.push(Instant::now()));
        assert_eq!(at.len(), 3);
        for w in at.windows(2) {
            assert!(w[1] - w[0] >= INTERVAL, "{:?}", w[1] - w[0]);
        }
    }
}
