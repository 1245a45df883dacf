//! Bodies of the request records added after schema v1's four: database,
//! cache and broker protocols. Each shares the common request fields
//! (`operation`, `latency_ms`, `outcome`, `error`) so that metrics, the API
//! and the UI treat them alike; see [`crate::Body::request`].

pub mod kafka;
pub mod mysql;
pub mod postgres;
pub mod redis;

use serde::Serialize;

/// How a request ended, when its response was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The server answered without an error.
    Ok,
    /// The server answered with an error (SQL error, Redis error reply,
    /// Kafka error code, gRPC status other than OK).
    Error,
}

/// An error the server returned, as the protocol states it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtoError {
    /// The protocol's code as text: a SQLSTATE (`"42P01"`), a MySQL error
    /// number (`"1146"`), a Redis error prefix (`"WRONGTYPE"`), a Kafka error
    /// code name (`"UNKNOWN_TOPIC_OR_PARTITION"`).
    pub code: Option<String>,
    /// The server's message, cut at the configured length.
    pub message: Option<String>,
}

/// Heap bytes a request body owns, for the store's byte budget.
///
/// Estimated as the length of the body's JSON: every string's bytes plus
/// its key and punctuation, which stands in for the `String` headers and
/// `Option` tags the JSON leaves out. It overestimates a little (numbers are
/// counted as their text), which errs on the side of the budget, and it
/// follows every field the parsers add without a second list to keep in
/// step. Nothing is allocated: the JSON goes into a counter.
pub fn heap_bytes<T: Serialize>(body: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into the counter cannot fail; a body that fails to serialise
    // counts what was written before the failure.
    let _ = serde_json::to_writer(&mut c, body);
    c.0
}

/// What every request record has in common, whatever its protocol: what
/// metrics, filters and exporters need without knowing the protocol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestView<'a> {
    /// The protocol, as in the record's `"type"` (`"http"`, `"postgres"`...).
    pub protocol: &'static str,
    /// Bounded label: HTTP method, DNS query type, SQL verb, Redis command,
    /// Kafka API.
    pub operation: &'a str,
    pub latency_ms: Option<f64>,
    /// Null without a response.
    pub outcome: Option<Outcome>,
}
