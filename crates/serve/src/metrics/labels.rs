//! Label values, bounded: the `(src, dst)` pair of an endpoint's names,
//! protocol tokens off the wire mapped onto fixed lists (the rest is
//! `OTHER`), and escaping for the text formats. The caps on how many
//! distinct values are kept are in the parent module.

use crate::names::workload_name;
use podwire_record::{Endpoint, Record};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::fmt::Write;
use std::sync::Arc;

/// A label value made of names (a process may call itself anything, a
/// domain comes off the wire): escaped when encoded, since prometheus-client
/// writes label values as they are.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct Name(pub(super) Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, e: &mut LabelValueEncoder) -> std::fmt::Result {
        e.write_str(&esc(&self.0))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Pair {
    pub(super) src_namespace: Name,
    pub(super) src: Name,
    pub(super) dst_namespace: Name,
    pub(super) dst: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ConnLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ClosedLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) proto: &'static str,
    pub(super) close: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BytesLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) proto: &'static str,
    pub(super) direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TlsLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) version: Arc<str>,
    pub(super) cipher: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) method: &'static str,
    pub(super) status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLatencyLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DnsLabels {
    #[prometheus(flatten)]
    pub(super) pair: Pair,
    pub(super) qtype: &'static str,
    pub(super) rcode: &'static str,
}

pub(super) type Hist<L> = Family<L, Histogram, fn() -> Histogram>;

pub(super) fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

pub(super) fn duration_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0,
    ])
}

/// An endpoint's `(namespace, name)` label values: workload, service,
/// pod, process or domain; the address when none is known.
pub fn endpoint_label(ep: &Endpoint) -> (Arc<str>, Arc<str>) {
    let id = ep.identity.as_deref();
    let ns = id.and_then(|i| i.namespace.as_deref()).unwrap_or("");
    let name = id.and_then(|i| {
        i.workload
            .as_deref()
            .map(workload_name)
            .or(i.service.as_deref())
            .or(i.pod.as_deref())
            .or(i.process.as_deref())
            .or(i.domain.as_deref())
    });
    let name = match name {
        Some(n) => Arc::from(n),
        None => ip(ep),
    };
    (Arc::from(ns), name)
}

pub(super) fn ip(ep: &Endpoint) -> Arc<str> {
    Arc::from(ep.ip.to_canonical().to_string())
}

/// k8spacket's connection labels: ns, src, src_name, src_port, dst,
/// dst_name, dst_port, persistent. Client ports are always "dynamic"; a
/// pair past the cap (`admitted` false) is `other`, as podwire's own are.
pub(super) fn k8s_conn_labels(rec: &Record, persistent: bool, admitted: bool) -> [Arc<str>; 8] {
    let persistent: Arc<str> = Arc::from(if persistent { "true" } else { "false" });
    if !admitted {
        let other: Arc<str> = Arc::from("other");
        return [
            Arc::from(""),
            other.clone(),
            other.clone(),
            Arc::from("dynamic"),
            other.clone(),
            other.clone(),
            other,
            persistent,
        ];
    }
    let (src_ns, src_name) = endpoint_label(&rec.client);
    let (dst_ns, dst_name) = endpoint_label(&rec.server);
    let ns = if src_ns.is_empty() { dst_ns } else { src_ns };
    [
        ns,
        ip(&rec.client),
        src_name,
        Arc::from("dynamic"),
        ip(&rec.server),
        dst_name,
        Arc::from(rec.server.port.to_string()),
        persistent,
    ]
}

/// Label-value escaping of the text formats.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

pub(super) const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
pub(super) const QTYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "HTTPS", "SVCB", "CAA", "DS",
    "DNSKEY", "NAPTR", "ANY",
];
pub(super) const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "BADVERS",
];

pub(super) fn known(v: &str, list: &[&'static str]) -> &'static str {
    list.iter().find(|k| **k == v).copied().unwrap_or("OTHER")
}

pub(super) fn http_method(m: Option<&str>) -> &'static str {
    m.map_or("OTHER", |m| known(m, METHODS))
}

/// Versions as the TLS parser names them; drafts and unknown codes fold.
pub(super) fn tls_version(v: Option<&str>) -> Arc<str> {
    const VERSIONS: &[&str] = &["SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"];
    Arc::from(match v {
        Some(v) => known(v, VERSIONS),
        None => "unknown",
    })
}

/// IANA cipher suite names pass (the parser names every registered suite,
/// a few hundred); codes it could not name fold into `OTHER`.
pub(super) fn cipher(c: Option<&str>) -> Arc<str> {
    match c {
        Some(c) if (c.starts_with("TLS_") || c.starts_with("SSL_")) && c.len() <= 64 => {
            Arc::from(c)
        }
        Some(_) => Arc::from("OTHER"),
        None => Arc::from("unknown"),
    }
}
