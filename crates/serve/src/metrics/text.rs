//! Writing the metrics out: the OpenMetrics text of [`Metrics::encode`]
//! (the families, the certificate gauges, the agent's telemetry and
//! health, k8spacket's names), and the classic Prometheus text for
//! scrapers that do not ask for OpenMetrics.

use super::labels::esc;
use super::{health, Health, K8sCompat, Metrics, State};
use podwire_telemetry::Snapshot;
use prometheus_client::encoding::text;
use rustc_hash::FxHashSet;
use std::fmt::Write;
use std::sync::Arc;

impl Metrics {
    /// The text exposition (OpenMetrics 1.0, which Prometheus reads) of
    /// every metric, with `health` as the agent's own figures.
    pub fn encode(&self, health: &Health) -> String {
        let mut out = String::with_capacity(64 << 10);
        // Writing into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let st = self.state();
        let _ = encode_certificates(&st, &mut out);
        Snapshot::of(&[&self.counters]).write_openmetrics(&mut out);
        health.telemetry.write_openmetrics(&mut out);
        let _ = health::encode(health, &mut out);
        if self.cfg.k8spacket {
            let _ = self.encode_k8spacket(&st.k8s, &mut out);
        }
        drop(st);
        let _ = text::encode_eof(&mut out);
        out
    }

    fn encode_k8spacket(&self, k: &K8sCompat, out: &mut String) -> std::fmt::Result {
        const CONN: [&str; 8] = [
            "ns",
            "src",
            "src_name",
            "src_port",
            "dst",
            "dst_name",
            "dst_port",
            "persistent",
        ];
        const TLS: [&str; 9] = [
            "ns",
            "src",
            "src_name",
            "dst",
            "dst_name",
            "dst_port",
            "domain",
            "tls_version",
            "cipher_suite",
        ];
        let labels = |names: &[&str], values: &[Arc<str>]| {
            let mut s = String::new();
            for (i, (n, v)) in names.iter().zip(values).enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{n}=\"{}\"", esc(v));
            }
            s
        };
        let mut conns: Vec<_> = k.conns.iter().collect();
        conns.sort_by(|a, b| a.0.cmp(b.0));
        for (slot, name, help) in [
            (
                0,
                "k8s_packet_bytes_sent",
                "Bytes sent by the client per closed TCP connection",
            ),
            (
                1,
                "k8s_packet_bytes_received",
                "Bytes received by the client per closed TCP connection",
            ),
            (
                2,
                "k8s_packet_duration_seconds",
                "Duration of closed TCP connections, in seconds",
            ),
        ] {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} summary")?;
            for (key, v) in &conns {
                let l = labels(&CONN, &key[..]);
                writeln!(out, "{name}_sum{{{l}}} {}", v[slot].0)?;
                writeln!(out, "{name}_count{{{l}}} {}", v[slot].1)?;
            }
        }
        // k8spacket's counter has no `_total`; OpenMetrics would require
        // one on a `counter`, so it is exposed untyped under its own name.
        writeln!(
            out,
            "# HELP k8s_packet_tls_record TLS handshakes (k8spacket's name)"
        )?;
        writeln!(out, "# TYPE k8s_packet_tls_record unknown")?;
        let mut tls: Vec<_> = k.tls.iter().collect();
        tls.sort_by(|a, b| a.0.cmp(b.0));
        for (key, n) in tls {
            writeln!(
                out,
                "k8s_packet_tls_record{{{}}} {n}",
                labels(&TLS, &key[..])
            )?;
        }
        writeln!(
            out,
            "# HELP k8s_packet_tls_cert_expiry Certificate expiry, Unix seconds (k8spacket's name)"
        )?;
        writeln!(out, "# TYPE k8s_packet_tls_cert_expiry gauge")?;
        let mut certs: Vec<_> = k.certs.iter().collect();
        certs.sort_by(|a, b| a.0.cmp(b.0));
        for (key, secs) in certs {
            writeln!(
                out,
                "k8s_packet_tls_cert_expiry{{{}}} {secs}",
                labels(&["dst", "dst_port", "domain"], &key[..])
            )?;
        }
        Ok(())
    }
}

/// `podwire_tls_certificate_expiry_timestamp_seconds`: a gauge per
/// certificate seen, replaced when seen again.
fn encode_certificates(st: &State, out: &mut String) -> std::fmt::Result {
    let name = "podwire_tls_certificate_expiry_timestamp_seconds";
    writeln!(
        out,
        "# HELP {name} When the server certificate seen in a handshake expires (Unix time)"
    )?;
    writeln!(out, "# TYPE {name} gauge")?;
    writeln!(out, "# UNIT {name} seconds")?;
    let mut certs: Vec<_> = st.certs.iter().collect();
    certs.sort_by(|a, b| a.0.cmp(b.0));
    for ((ns, dst, domain), secs) in certs {
        writeln!(
            out,
            "{name}{{dst_namespace=\"{}\",dst=\"{}\",domain=\"{}\"}} {secs}",
            esc(ns),
            esc(dst),
            esc(domain)
        )?;
    }
    Ok(())
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics text from
/// [`Metrics::encode`], for scrapers and tools that do not ask for
/// OpenMetrics (`promtool check metrics`, older Prometheus servers):
/// counter families are named with their `_total` suffix, `unknown` is
/// `untyped`, and the `# UNIT` and `# EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: FxHashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 1024);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = if counters.contains(name) {
                    format!("{name}_total")
                } else {
                    name.to_string()
                };
                let tail = if p == "# TYPE " && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                };
                let _ = writeln!(out, "{p}{name} {tail}");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
