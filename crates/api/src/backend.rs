//! The seam between the HTTP side and whatever holds the records: the live
//! agent implements [`Backend`] over its shared state, `read --serve` over
//! the store its files were read into, and the tests over a few records.
//! Everything a route needs that is not HTTP comes through here, the
//! clock included, so the server never reads a clock of its own.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use podwire_record::{Record, Timestamp};
use podwire_store::{Cursor, Filter, Table};
use podwire_telemetry::Snapshot;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A future a trait object can return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the API serves (see the module comment). Methods that walk the
/// records block: the server calls them on blocking threads.
pub trait Backend: Send + Sync + 'static {
    /// What "now" is for relative times (`since=5m`, the UI's windows):
    /// the wall clock when live, the capture's end for capture files.
    fn now(&self) -> Timestamp;

    /// The node whose share a `scope=node` answer is cut to, when known.
    fn node_name(&self) -> Option<String> {
        None
    }

    /// A table as a JSON array, newest first, and the next page's cursor;
    /// for connections, the open ones too.
    fn query(&self, table: Table, filter: &Filter) -> (Vec<u8>, Option<Cursor>);

    /// Calls `each` with every connection record `filter` selects, open
    /// and stored, each once (`filter.limit` aside).
    fn each_connection(&self, filter: &Filter, each: &mut dyn FnMut(&Record));

    /// Calls `each` with every stored record of `table` that `filter`
    /// selects (`limit` aside).
    fn each_stored(&self, table: Table, filter: &Filter, each: &mut dyn FnMut(&Record));

    /// New records as they are stored, for `/api/v1/stream`.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>>;

    /// A stream client missed `missed` records (it read too slowly).
    fn stream_lagged(&self, missed: u64);

    /// `/metrics` as OpenMetrics text, with the API's own counts.
    fn metrics(&self, api: Snapshot) -> String;

    /// The `/api/v1/status` document; `api` is the API's own part.
    fn status(&self, auth: &'static str, api: Snapshot) -> serde_json::Value;

    /// `/api/v1/interfaces`: the interfaces watched (none by default).
    fn interfaces(&self) -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }

    /// `GET /api/v1/capture`. A backend that cannot capture answers 404
    /// with a JSON error, as `docs/openapi.json` says.
    fn capture(
        self: Arc<Self>,
        headers: HeaderMap,
        query: Option<String>,
    ) -> BoxFuture<'static, Response> {
        let _ = (headers, query);
        Box::pin(async { not_capturing() })
    }

    /// The server is stopping: end what holds connections open (captures).
    fn stop(&self) {}
}

/// The answer of a server that does not capture packets.
fn not_capturing() -> Response {
    let body = serde_json::json!({ "error": "this server does not capture packets" }).to_string();
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The API's own connections, for a host side that leaves them out of
/// what it observes (the live agent: its capture must not see itself
/// being asked). `read --serve` observes nothing: [`NoOwn`].
pub trait OwnConns: Send + Sync + 'static {
    /// The API is bound to `addr`.
    fn listening(&self, addr: SocketAddr);

    /// Resolves once connections may be accepted (at most `limit` later).
    fn ready(&self, limit: Duration) -> BoxFuture<'_, ()>;

    /// A connection of the API's, served or opened, (local port, remote):
    /// registered until the value returned is dropped.
    fn register(self: Arc<Self>, local_port: u16, remote: SocketAddr) -> Box<dyn Send + Sync>;
}

/// Nothing to leave out.
pub struct NoOwn;

impl OwnConns for NoOwn {
    fn listening(&self, _addr: SocketAddr) {}

    fn ready(&self, _limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn register(self: Arc<Self>, _local_port: u16, _remote: SocketAddr) -> Box<dyn Send + Sync> {
        Box::new(())
    }
}
