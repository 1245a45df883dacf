//! RED metrics of the request protocols that came after HTTP and DNS
//! (PostgreSQL, MySQL, Redis, Kafka) and of gRPC calls.
//!
//! One family for every such protocol, `podwire_requests_total{protocol,
//! operation, outcome}` with its latency histogram, so a protocol added later
//! needs no new family: its records only have to fill the common request
//! fields ([`podwire_record::RequestView`]). gRPC gets a family of its own
//! because its labels (service, method, gRPC status) are not those of an
//! operation and an outcome, and because a gRPC error rides on HTTP status
//! 200.
//!
//! Operations and gRPC methods come off the wire, so each is capped: the
//! parsers already map operations onto fixed lists, and this module admits at
//! most [`MAX_OPERATIONS`] distinct values per protocol and
//! `MetricsConfig::max_grpc_methods` distinct gRPC methods; the rest are
//! counted under `other` and in `podwire_metrics_labels_overflow_total`.

use super::{Hist, MetricsCounters, Name, Pair};
use podwire_record::{Grpc, Outcome, RequestView};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};
use rustc_hash::FxHashSet;
use std::sync::Arc;

/// Distinct operations admitted per protocol.
pub const MAX_OPERATIONS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    #[prometheus(flatten)]
    pair: Pair,
    protocol: &'static str,
    operation: Name,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLatencyLabels {
    #[prometheus(flatten)]
    pair: Pair,
    protocol: &'static str,
    operation: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcLabels {
    #[prometheus(flatten)]
    pair: Pair,
    service: Name,
    method: Name,
    /// The gRPC status code as a number, `none` when the call's end was not
    /// seen.
    grpc_status: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcLatencyLabels {
    #[prometheus(flatten)]
    pair: Pair,
    service: Name,
    method: Name,
}

/// The families, registered once.
pub(super) struct RequestFamilies {
    requests: Family<RequestLabels, Counter>,
    latency: Hist<RequestLatencyLabels>,
    grpc: Family<GrpcLabels, Counter>,
    grpc_latency: Hist<GrpcLatencyLabels>,
}

/// Which label values were admitted, for the caps.
#[derive(Default)]
pub(super) struct LabelCaps {
    operations: FxHashSet<(&'static str, Arc<str>)>,
    grpc_methods: FxHashSet<(Arc<str>, Arc<str>)>,
}

impl RequestFamilies {
    pub fn register(registry: &mut Registry) -> RequestFamilies {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "podwire_requests",
            "PostgreSQL, MySQL, Redis and Kafka requests by operation and outcome (ok, error, none: no response)",
            requests.clone(),
        );
        let latency: Hist<RequestLatencyLabels> =
            Family::new_with_constructor(super::latency_buckets);
        registry.register_with_unit(
            "podwire_request_duration",
            "PostgreSQL, MySQL, Redis and Kafka request to response latency",
            Unit::Seconds,
            latency.clone(),
        );
        let grpc = Family::<GrpcLabels, Counter>::default();
        registry.register(
            "podwire_grpc_requests",
            "gRPC calls by service, method and gRPC status (none: the call's end was not seen)",
            grpc.clone(),
        );
        let grpc_latency: Hist<GrpcLatencyLabels> =
            Family::new_with_constructor(super::latency_buckets);
        registry.register_with_unit(
            "podwire_grpc_request_duration",
            "gRPC request headers to response headers latency",
            Unit::Seconds,
            grpc_latency.clone(),
        );
        RequestFamilies {
            requests,
            latency,
            grpc,
            grpc_latency,
        }
    }

    /// Counts one request of a protocol on the generic family.
    pub fn observe(
        &self,
        caps: &mut LabelCaps,
        counters: &MetricsCounters,
        pair: Pair,
        req: &RequestView<'_>,
    ) {
        let operation = caps.operation(req.protocol, req.operation, counters);
        let outcome = match req.outcome {
            None => "none",
            Some(Outcome::Ok) => "ok",
            Some(Outcome::Error) => "error",
        };
        self.requests
            .get_or_create(&RequestLabels {
                pair: pair.clone(),
                protocol: req.protocol,
                operation: operation.clone(),
                outcome,
            })
            .inc();
        if let (Some(ms), Some(_)) = (req.latency_ms, req.outcome) {
            self.latency
                .get_or_create(&RequestLatencyLabels {
                    pair,
                    protocol: req.protocol,
                    operation,
                })
                .observe(ms / 1e3);
        }
    }

    /// Counts one gRPC call.
    pub fn observe_grpc(
        &self,
        caps: &mut LabelCaps,
        counters: &MetricsCounters,
        max_methods: usize,
        pair: Pair,
        g: &Grpc,
        latency_ms: Option<f64>,
    ) {
        let (service, method) = caps.grpc_method(max_methods, &g.service, &g.method, counters);
        let grpc_status: Arc<str> = match g.status {
            None => Arc::from("none"),
            // gRPC defines 0-16; anything else is off the wire and unbounded.
            Some(s @ 0..=16) => Arc::from(s.to_string()),
            Some(_) => Arc::from("other"),
        };
        self.grpc
            .get_or_create(&GrpcLabels {
                pair: pair.clone(),
                service: service.clone(),
                method: method.clone(),
                grpc_status,
            })
            .inc();
        if let Some(ms) = latency_ms {
            self.grpc_latency
                .get_or_create(&GrpcLatencyLabels {
                    pair,
                    service,
                    method,
                })
                .observe(ms / 1e3);
        }
    }
}

impl LabelCaps {
    fn operation(&mut self, protocol: &'static str, op: &str, c: &MetricsCounters) -> Name {
        let key = (protocol, Arc::<str>::from(op));
        if self.operations.contains(&key) {
            return Name(key.1);
        }
        let admitted = self
            .operations
            .iter()
            .filter(|(p, _)| *p == protocol)
            .count();
        if admitted < MAX_OPERATIONS {
            let name = key.1.clone();
            self.operations.insert(key);
            return Name(name);
        }
        c.add(&c.labels_overflow, 1);
        Name(Arc::from("other"))
    }

    fn grpc_method(
        &mut self,
        max: usize,
        service: &str,
        method: &str,
        c: &MetricsCounters,
    ) -> (Name, Name) {
        let key = (Arc::<str>::from(service), Arc::<str>::from(method));
        if self.grpc_methods.contains(&key) || self.grpc_methods.len() < max {
            self.grpc_methods.insert(key.clone());
            return (Name(key.0), Name(key.1));
        }
        c.add(&c.labels_overflow, 1);
        let other = Name(Arc::from("other"));
        (other.clone(), other)
    }
}
