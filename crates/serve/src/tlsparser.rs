//! k8spacket's TLS data source contract (`/tlsparser/api/data[/{id}]`):
//! one entry per client/server address pair, its latest handshake, and the
//! server certificate as the handshake carried it.
//!
//! k8spacket dials servers to fetch their certificates; podwire never
//! connects anywhere: the certificate is the one read passively from the
//! handshake (TLS 1.2 and earlier send it in clear; TLS 1.3 encrypts it,
//! so there the certificate's fields are `null`).

use crate::graph::endpoint_title;
use crate::nodegraph::GraphQuery;
use podwire_record::{Body, Record, Timestamp};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// One row of `GET /tlsparser/api/data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConnection {
    pub id: String,
    pub src: String,
    pub src_name: String,
    pub src_namespace: String,
    pub dst: String,
    pub dst_name: String,
    pub dst_port: u16,
    pub domain: String,
    #[serde(rename = "usedTLSVersion")]
    pub used_tls_version: String,
    pub used_cipher_suite: String,
    pub last_seen: Timestamp,
}

/// `GET /tlsparser/api/data/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    pub id: String,
    pub domain: String,
    pub dst: String,
    pub port: u16,
    #[serde(rename = "clientTLSVersions")]
    pub client_tls_versions: Vec<String>,
    pub client_cipher_suites: Vec<String>,
    #[serde(rename = "usedTLSVersion")]
    pub used_tls_version: String,
    pub used_cipher_suite: String,
    pub certificate: CertificateInfo,
}

/// The server certificate, as far as the handshake showed it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// Subject, issuer and names of the leaf certificate, one per line.
    pub server_chain: Option<String>,
    /// When the handshake that carried it was seen.
    pub last_scrape: Option<Timestamp>,
}

/// The id of an address pair: stable across agents and restarts, so a
/// cluster answer can join the rows of several agents and a Grafana link
/// to `/data/{id}` keeps working.
pub fn pair_id(src: &str, dst: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in src.bytes().chain([b'-']).chain(dst.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h.to_string()
}

/// The latest handshake of every address pair among `records`, with the
/// latest certificate seen for it; newest first.
pub fn collect<'a>(
    records: impl Iterator<Item = &'a Record>,
    q: &GraphQuery,
) -> Vec<(TlsConnection, TlsDetails)> {
    let mut t = TlsTable::default();
    for r in records {
        t.add(r, q);
    }
    t.finish()
}

/// [`collect`] one record at a time (and for answers of several agents:
/// [`TlsTable::insert`]).
#[derive(Debug, Default)]
pub struct TlsTable {
    by_pair: FxHashMap<String, (TlsConnection, TlsDetails)>,
}

impl TlsTable {
    /// Adds an entry another agent computed.
    pub fn insert(&mut self, row: TlsConnection, details: TlsDetails) {
        merge_into(&mut self.by_pair, row, details);
    }

    /// Rows newest first.
    pub fn finish(self) -> Vec<(TlsConnection, TlsDetails)> {
        let mut out: Vec<_> = self.by_pair.into_values().collect();
        out.sort_by(|a, b| b.0.last_seen.cmp(&a.0.last_seen).then(a.0.id.cmp(&b.0.id)));
        out
    }

    /// Adds a TLS record that passes `q` (others are ignored).
    pub fn add(&mut self, r: &Record, q: &GraphQuery) {
        let Body::Tls(t) = &r.body else { return };
        let ms = r.ts.nanos() / 1_000_000;
        if q.from_ms.is_some_and(|f| ms < f) || q.to_ms.is_some_and(|to| ms > to) {
            return;
        }
        if !q.keeps_endpoints(&r.client, &r.server) {
            return;
        }
        let (src, dst) = (
            r.client.ip.to_canonical().to_string(),
            r.server.ip.to_canonical().to_string(),
        );
        let id = pair_id(&src, &dst);
        let cert = t.certificate.as_ref().map(|c| CertificateInfo {
            not_before: c.not_before,
            not_after: c.not_after,
            server_chain: Some(format!(
                "subject: {}\nissuer: {}\nnames: {}",
                c.subject,
                c.issuer,
                c.sans.join(", ")
            )),
            last_scrape: Some(r.ts),
        });
        let domain = t.sni.clone().unwrap_or_default();
        let row = TlsConnection {
            id: id.clone(),
            src_name: endpoint_title(&r.client),
            src_namespace: namespace(&r.client),
            dst_name: endpoint_title(&r.server),
            dst_port: r.server.port,
            src,
            dst: dst.clone(),
            domain: domain.clone(),
            used_tls_version: t.version.clone().unwrap_or_default(),
            used_cipher_suite: t.cipher.clone().unwrap_or_default(),
            last_seen: r.ts,
        };
        let details = TlsDetails {
            id: id.clone(),
            domain,
            dst,
            port: r.server.port,
            client_tls_versions: t.client_versions.clone(),
            client_cipher_suites: t.client_ciphers.clone(),
            used_tls_version: row.used_tls_version.clone(),
            used_cipher_suite: row.used_cipher_suite.clone(),
            certificate: cert.unwrap_or_default(),
        };
        merge_into(&mut self.by_pair, row, details);
    }
}

/// Keeps the newer handshake of a pair, and the newer certificate of the
/// two (a TLS 1.3 handshake after a 1.2 one keeps the 1.2 certificate).
pub fn merge_into(
    by_pair: &mut FxHashMap<String, (TlsConnection, TlsDetails)>,
    row: TlsConnection,
    details: TlsDetails,
) {
    match by_pair.get_mut(&row.id) {
        None => {
            by_pair.insert(row.id.clone(), (row, details));
        }
        Some(known) => {
            let newer_cert = details.certificate.last_scrape > known.1.certificate.last_scrape;
            let cert = if newer_cert {
                details.certificate.clone()
            } else {
                known.1.certificate.clone()
            };
            if row.last_seen >= known.0.last_seen {
                *known = (row, details);
            }
            known.1.certificate = cert;
        }
    }
}

fn namespace(ep: &podwire_record::Endpoint) -> String {
    ep.identity
        .as_deref()
        .and_then(|i| i.namespace.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
