//! The agent's health at scrape time, as `/metrics` shows it: what
//! [`Health`] carries beside the telemetry catalogue's counters (store
//! tables, Kubernetes watches, OTLP),
//! and its families in the text format.

#[cfg(doc)]
use super::Metrics;
use podwire_telemetry::Snapshot;
use std::fmt::Write;

/// The agent's own state at scrape time; see [`Metrics::encode`].
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// The agent's own counters and gauges (`podwire_telemetry`'s
    /// catalogue), read once for this scrape; [`Metrics::encode`] adds the
    /// metrics' own ([`Metrics::counters`]), so this holds the others.
    pub telemetry: Snapshot,
    /// Per store table: (name, records, bytes, budget bytes, dropped records).
    pub store: Vec<(&'static str, u64, u64, u64, u64)>,
    /// Kubernetes naming, when the agent watches the API server.
    pub kubernetes: Option<KubeHealth>,
    /// OpenTelemetry export, when on.
    pub otlp: Option<OtlpHealth>,
}

impl Health {
    /// [`Health::store`]'s rows from a store's statistics.
    pub fn store_rows(
        stats: &podwire_store::StoreStats,
    ) -> Vec<(&'static str, u64, u64, u64, u64)> {
        stats
            .tables
            .iter()
            .map(|t| {
                (
                    t.table.name(),
                    t.records as u64,
                    t.bytes as u64,
                    t.budget_bytes as u64,
                    t.dropped_records_total,
                )
            })
            .collect()
    }
}

/// The OTLP exporter's counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpHealth {
    /// Per signal (`traces`, `metrics`, `logs`).
    pub signals: Vec<OtlpSignalHealth>,
    /// Metric observations dropped because the series cap was reached.
    pub series_dropped_total: u64,
    /// Encoded requests waiting now, and the queue's budget.
    pub queue_bytes: u64,
    pub queue_budget_bytes: u64,
}

/// One OTLP signal's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpSignalHealth {
    pub signal: &'static str,
    /// Items put in the export queue.
    pub queued_total: u64,
    /// Items (spans, data points, log records) the collector accepted.
    pub sent_total: u64,
    /// Items dropped: the queue was full, the collector refused them, or
    /// they were still queued at shutdown.
    pub dropped_queue_full_total: u64,
    pub dropped_rejected_total: u64,
    pub dropped_shutdown_total: u64,
    pub requests_ok_total: u64,
    pub requests_failed_total: u64,
    pub retries_total: u64,
}

/// How the agent's Kubernetes watches are doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeHealth {
    /// Per watched resource: (name, events, full lists, errors, synced).
    pub resources: Vec<(&'static str, u64, u64, u64, bool)>,
    /// Per kind: objects (and addresses with history) held.
    pub objects: Vec<(&'static str, u64)>,
    /// Objects refused because a table was full.
    pub refused_total: u64,
    /// ClusterIP copies of conversations also captured rewritten to a pod
    /// on this node, not kept.
    pub rewritten_copies_total: u64,
}

/// The figures of [`Health`] that are not in the telemetry catalogue yet:
/// per-table, per-resource and per-signal families, and the optional
/// parts.
pub(super) fn encode(h: &Health, out: &mut String) -> std::fmt::Result {
    let family = |out: &mut String, name: &str, kind: &str, unit: Option<&str>, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        if let Some(u) = unit {
            let _ = writeln!(out, "# UNIT {name} {u}");
        }
    };
    for (name, help) in [(
        "podwire_store_dropped_records",
        "Records dropped from a store table (oldest first) to stay within its budget",
    )] {
        family(out, name, "counter", None, help);
        for t in &h.store {
            writeln!(out, "{name}_total{{table=\"{}\"}} {}", t.0, t.4)?;
        }
    }
    for (name, help, col) in [
        (
            "podwire_store_records",
            "Records held per store table",
            1usize,
        ),
        ("podwire_store_bytes", "Bytes held per store table", 2),
        (
            "podwire_store_budget_bytes",
            "Byte budget per store table",
            3,
        ),
    ] {
        let unit = name.ends_with("_bytes").then_some("bytes");
        family(out, name, "gauge", unit, help);
        for t in &h.store {
            let v = [t.1, t.1, t.2, t.3][col];
            writeln!(out, "{name}{{table=\"{}\"}} {v}", t.0)?;
        }
    }
    if let Some(k) = &h.kubernetes {
        encode_kube(k, out)?;
    }
    if let Some(o) = &h.otlp {
        encode_otlp(o, out)?;
    }
    Ok(())
}

fn encode_kube(k: &KubeHealth, out: &mut String) -> std::fmt::Result {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    for (name, help, col) in [
        (
            "podwire_kubernetes_watch_events",
            "Objects added, changed or deleted, per watched resource",
            0usize,
        ),
        (
            "podwire_kubernetes_lists",
            "Full lists per watched resource (the first, then after 410 Gone)",
            1,
        ),
        (
            "podwire_kubernetes_watch_errors",
            "Failed list or watch requests per resource (each followed by a backoff)",
            2,
        ),
    ] {
        family(out, name, "counter", help);
        for r in &k.resources {
            let v = [r.1, r.2, r.3][col];
            writeln!(out, "{name}_total{{resource=\"{}\"}} {v}", r.0)?;
        }
    }
    family(
        out,
        "podwire_kubernetes_synced",
        "gauge",
        "1 once a resource has been listed completely",
    );
    for r in &k.resources {
        writeln!(
            out,
            "podwire_kubernetes_synced{{resource=\"{}\"}} {}",
            r.0,
            u8::from(r.4)
        )?;
    }
    family(
        out,
        "podwire_kubernetes_objects",
        "gauge",
        "Kubernetes objects held for naming, per kind",
    );
    for (kind, n) in &k.objects {
        writeln!(out, "podwire_kubernetes_objects{{kind=\"{kind}\"}} {n}")?;
    }
    family(
        out,
        "podwire_kubernetes_refused_objects",
        "counter",
        "Kubernetes objects not held because a table was full",
    );
    writeln!(
        out,
        "podwire_kubernetes_refused_objects_total {}",
        k.refused_total
    )?;
    family(
        out,
        "podwire_kubernetes_rewritten_copies",
        "counter",
        "Records of a conversation to a ClusterIP not kept because this node also captured it rewritten to the backend pod (counted once, there)",
    );
    writeln!(
        out,
        "podwire_kubernetes_rewritten_copies_total {}",
        k.rewritten_copies_total
    )
}

/// `podwire_otlp_*`: what the OTLP exporter sent, retried and lost.
fn encode_otlp(o: &OtlpHealth, out: &mut String) -> std::fmt::Result {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    family(
        out,
        "podwire_otlp_items_queued",
        "counter",
        "Spans, metric data points and log records put in the export queue",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_items_queued_total{{signal=\"{}\"}} {}",
            s.signal, s.queued_total
        )?;
    }
    family(
        out,
        "podwire_otlp_items_sent",
        "counter",
        "Spans, metric data points and log records the collector accepted",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_items_sent_total{{signal=\"{}\"}} {}",
            s.signal, s.sent_total
        )?;
    }
    family(
        out,
        "podwire_otlp_items_dropped",
        "counter",
        "Items lost: queue full (collector slow or away), rejected by the collector, or queued at shutdown",
    );
    for s in &o.signals {
        for (reason, v) in [
            ("queue_full", s.dropped_queue_full_total),
            ("rejected", s.dropped_rejected_total),
            ("shutdown", s.dropped_shutdown_total),
        ] {
            writeln!(
                out,
                "podwire_otlp_items_dropped_total{{signal=\"{}\",reason=\"{reason}\"}} {v}",
                s.signal
            )?;
        }
    }
    family(
        out,
        "podwire_otlp_requests",
        "counter",
        "Export requests by result (ok: a 2xx answer)",
    );
    for s in &o.signals {
        for (result, v) in [
            ("ok", s.requests_ok_total),
            ("failed", s.requests_failed_total),
        ] {
            writeln!(
                out,
                "podwire_otlp_requests_total{{signal=\"{}\",result=\"{result}\"}} {v}",
                s.signal
            )?;
        }
    }
    family(
        out,
        "podwire_otlp_retries",
        "counter",
        "Export requests scheduled again after a 429/502/503/504 or a network error",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_retries_total{{signal=\"{}\"}} {}",
            s.signal, s.retries_total
        )?;
    }
    family(
        out,
        "podwire_otlp_metric_series_dropped",
        "counter",
        "Metric observations dropped because the series cap was reached",
    );
    writeln!(
        out,
        "podwire_otlp_metric_series_dropped_total {}",
        o.series_dropped_total
    )?;
    for (name, help, v) in [
        (
            "podwire_otlp_queue_bytes",
            "Encoded export requests waiting to be sent",
            o.queue_bytes,
        ),
        (
            "podwire_otlp_queue_budget_bytes",
            "The export queue's byte budget (--otlp-queue-kib)",
            o.queue_budget_bytes,
        ),
    ] {
        family(out, name, "gauge", help);
        writeln!(out, "# UNIT {name} bytes")?;
        writeln!(out, "{name} {v}")?;
    }
    Ok(())
}
