//! The RED metrics as OTLP histograms (which a backend can merge across
//! nodes, unlike summaries) and connection counters, aggregated here and
//! sent every interval with delta or cumulative temporality.
//!
//! Series are keyed by (resource, metric, attribute set); attributes are
//! the bounded ones the span mapping chose. The number of series is
//! capped: an observation for a new series beyond the cap is dropped and
//! counted.

use crate::proto::{
    AggregationTemporality, Histogram, HistogramDataPoint, KeyValue, Metric, MetricData,
    NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum,
};
use crate::span::Observation;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Bucket bounds in seconds: the semantic conventions' advice for HTTP
/// request durations, used for every duration histogram.
pub const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How successive exports relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Each export holds what happened since the previous one.
    Delta,
    /// Each export holds everything since the exporter started.
    Cumulative,
}

#[derive(Clone, Debug, Default)]
struct Hist {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: [u64; BOUNDS.len() + 1],
}

impl Hist {
    fn observe(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        // Buckets are (previous bound, bound]: the first bound >= v.
        let i = BOUNDS.partition_point(|&b| b < v);
        if let Some(c) = self.buckets.get_mut(i) {
            *c += 1;
        }
    }
}

/// A series within one resource.
type Key = (&'static str, Vec<KeyValue>);

/// Counters: `(name, unit, description)`.
pub const CONNECTIONS: (&str, &str, &str) = (
    "podwire.connections",
    "{connection}",
    "Connections and UDP flows that ended (or were reported open)",
);
pub const CONNECTION_BYTES: (&str, &str, &str) = (
    "podwire.connection.io",
    "By",
    "Bytes of finished connections as on the wire, by direction",
);

/// The aggregation state.
pub struct Aggregator {
    temporality: Temporality,
    max_series: usize,
    /// Start of the current interval (delta) or of everything (cumulative).
    start: u64,
    /// Per resource (looked up by reference: a resource is cloned once,
    /// when its first series appears).
    hists: FxHashMap<Resource, FxHashMap<Key, Hist>>,
    sums: FxHashMap<Resource, FxHashMap<Key, u64>>,
    /// Series held, both maps together.
    series: usize,
    /// Observations dropped because the series cap was reached.
    pub dropped: u64,
}

impl Aggregator {
    pub fn new(temporality: Temporality, max_series: usize, now: u64) -> Aggregator {
        Aggregator {
            temporality,
            max_series,
            start: now,
            hists: FxHashMap::default(),
            sums: FxHashMap::default(),
            series: 0,
            dropped: 0,
        }
    }

    /// One duration into its histogram.
    pub fn observe(&mut self, resource: &Resource, obs: Observation) {
        let full = self.series >= self.max_series;
        let key = (obs.metric, obs.attrs);
        if let Some(h) = self.hists.get_mut(resource).and_then(|m| m.get_mut(&key)) {
            h.observe(obs.seconds);
        } else if full {
            self.dropped += 1;
        } else {
            self.series += 1;
            let m = match self.hists.get_mut(resource) {
                Some(m) => m,
                None => self.hists.entry(resource.clone()).or_default(),
            };
            m.entry(key).or_default().observe(obs.seconds);
        }
    }

    /// Adds `n` to a counter.
    pub fn add(&mut self, resource: &Resource, metric: &'static str, attrs: Vec<KeyValue>, n: u64) {
        let full = self.series >= self.max_series;
        let key = (metric, attrs);
        if let Some(v) = self.sums.get_mut(resource).and_then(|m| m.get_mut(&key)) {
            *v = v.saturating_add(n);
        } else if full {
            self.dropped += 1;
        } else {
            self.series += 1;
            let m = match self.sums.get_mut(resource) {
                Some(m) => m,
                None => self.sums.entry(resource.clone()).or_default(),
            };
            m.insert(key, n);
        }
    }

    /// Everything to send now (`None` when there is nothing); a delta
    /// aggregator starts a new interval.
    pub fn collect(&mut self, now: u64) -> Option<crate::proto::ExportMetricsServiceRequest> {
        if self.hists.is_empty() && self.sums.is_empty() {
            if self.temporality == Temporality::Delta {
                self.start = now;
            }
            return None;
        }
        let temporality = match self.temporality {
            Temporality::Delta => AggregationTemporality::Delta,
            Temporality::Cumulative => AggregationTemporality::Cumulative,
        } as i32;
        // resource -> metric name -> metric
        let mut by_resource: BTreeMap<&Resource, BTreeMap<&'static str, Metric>> = BTreeMap::new();
        let hists = self.hists.iter().flat_map(|(res, m)| {
            m.iter()
                .map(move |((name, attrs), h)| (res, name, attrs, h))
        });
        for (res, name, attrs, h) in hists {
            let metric = by_resource
                .entry(res)
                .or_default()
                .entry(name)
                .or_insert_with(|| Metric {
                    name: name.to_string(),
                    description: String::new(),
                    unit: "s".into(),
                    data: Some(MetricData::Histogram(Histogram {
                        data_points: Vec::new(),
                        aggregation_temporality: temporality,
                    })),
                });
            if let Some(MetricData::Histogram(hist)) = &mut metric.data {
                hist.data_points.push(HistogramDataPoint {
                    start_time_unix_nano: self.start,
                    time_unix_nano: now,
                    count: h.count,
                    sum: Some(h.sum),
                    bucket_counts: h.buckets.to_vec(),
                    explicit_bounds: BOUNDS.to_vec(),
                    attributes: attrs.clone(),
                    min: (h.count > 0).then_some(h.min),
                    max: (h.count > 0).then_some(h.max),
                });
            }
        }
        let sums = self.sums.iter().flat_map(|(res, m)| {
            m.iter()
                .map(move |((name, attrs), v)| (res, name, attrs, v))
        });
        for (res, name, attrs, v) in sums {
            let (unit, description) = [CONNECTIONS, CONNECTION_BYTES]
                .iter()
                .find(|c| c.0 == *name)
                .map(|c| (c.1, c.2))
                .unwrap_or(("1", ""));
            let metric = by_resource
                .entry(res)
                .or_default()
                .entry(name)
                .or_insert_with(|| Metric {
                    name: name.to_string(),
                    description: description.into(),
                    unit: unit.into(),
                    data: Some(MetricData::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: temporality,
                        is_monotonic: true,
                    })),
                });
            if let Some(MetricData::Sum(sum)) = &mut metric.data {
                sum.data_points.push(NumberDataPoint {
                    start_time_unix_nano: self.start,
                    time_unix_nano: now,
                    as_int: i64::try_from(*v).unwrap_or(i64::MAX),
                    attributes: attrs.clone(),
                });
            }
        }
        let req = crate::proto::ExportMetricsServiceRequest {
            resource_metrics: by_resource
                .into_iter()
                .map(|(res, metrics)| ResourceMetrics {
                    resource: Some(res.clone()),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(crate::scope()),
                        metrics: metrics.into_values().collect(),
                        schema_url: crate::SCHEMA_URL.into(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        };
        if self.temporality == Temporality::Delta {
            self.hists.clear();
            self.sums.clear();
            self.series = 0;
            self.start = now;
        }
        Some(req)
    }
}
