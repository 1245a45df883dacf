//! The `serve` stage's pure half: answers computed from records, with no
//! I/O, so the agent's HTTP handlers, `podwire read --serve` and the
//! cluster fan-out share them and tests drive them directly.
//!
//! * [`graph`]: connection records folded into a service graph at a chosen
//!   level, and graphs of many agents merged by summing.
//! * [`nodegraph`] and [`tlsparser`]: k8spacket's Grafana data source
//!   contracts, rendered from a graph and from TLS records.
//! * [`metrics`]: Prometheus metrics with true units and bounded labels.
//! * [`names`]: what to call an endpoint, one precedence everywhere.

pub mod graph;
pub mod metrics;
pub mod names;
pub mod nodegraph;
pub mod query;
pub mod tlsparser;

pub use graph::{Graph, GraphBuilder, Level};
pub use query::QueryError;

#[cfg(test)]
mod testutil;
