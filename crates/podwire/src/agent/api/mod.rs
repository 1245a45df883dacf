//! The live agent as a [`Backend`] of the HTTP API (`podwire_api`): its
//! shared state answers the queries, its trackers the open connections,
//! its capture slots `/api/v1/capture`, and its clock is the one handed in.

mod status;

use super::state::{lock, Shared};
use axum::http::HeaderMap;
use axum::response::Response;
use podwire_api::backend::BoxFuture;
use podwire_api::Backend;
use podwire_record::{Record, Timestamp};
use podwire_store::{Cursor, Filter, Table};
use podwire_telemetry::Snapshot;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The agent's state, served (see the module comment).
pub struct Live {
    pub shared: Arc<Shared>,
    /// What "now" is for relative times: the wall clock.
    pub clock: fn() -> Timestamp,
}

impl Backend for Live {
    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn node_name(&self) -> Option<String> {
        self.shared.kube.as_ref()?.node_name().map(String::from)
    }

    fn query(&self, table: Table, filter: &Filter) -> (Vec<u8>, Option<Cursor>) {
        self.shared.query(table, filter)
    }

    fn each_connection(&self, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        self.shared.each_connection(filter, each)
    }

    fn each_stored(&self, table: Table, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        self.shared.each_stored(table, filter, each)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.shared.stream.subscribe()
    }

    fn stream_lagged(&self, missed: u64) {
        let c = &self.shared.counters;
        c.add(&c.stream_lagged, missed);
    }

    fn metrics(&self, api: Snapshot) -> String {
        self.shared.metrics.encode(&self.shared.health(api))
    }

    fn status(&self, auth: &'static str, api: Snapshot) -> serde_json::Value {
        status::status(&self.shared, self.now(), auth, api)
    }

    fn interfaces(&self) -> serde_json::Value {
        let list = lock(&self.shared.interfaces).clone();
        serde_json::to_value(list).unwrap_or_default()
    }

    fn capture(
        self: Arc<Self>,
        headers: HeaderMap,
        query: Option<String>,
    ) -> BoxFuture<'static, Response> {
        Box::pin(super::capture::capture(
            Arc::clone(&self.shared),
            headers,
            query,
        ))
    }

    fn stop(&self) {
        if let Some(c) = &self.shared.captures {
            c.stop_all();
        }
    }
}
