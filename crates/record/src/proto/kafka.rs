//! `kafka` records: one per request (by correlation id) and its response.
//!
//! Produce and Fetch carry what an operator asks of a broker: which topics
//! and partitions, how many records and bytes, and which partitions failed.
//! Every other API is named, versioned and timed, with its top-level error
//! code where the parser can read it cheaply. No record or authentication
//! bytes are ever copied into a record.

use super::{Outcome, ProtoError};
use serde::Serialize;

/// One Kafka request and what was seen of its response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kafka {
    /// Bounded label: the API name (`Produce`, `Fetch`, `Metadata`,
    /// `ApiVersions`, ...); `API_<n>` for a key the parser does not know
    /// (0 to 255), `Unknown` beyond.
    pub operation: String,
    /// Request's first byte to the response's first byte; `None` when no
    /// response was seen.
    pub latency_ms: Option<f64>,
    /// `ok` or `error` when the response was seen (`error` when its top-level
    /// error code or any partition's is not 0); `None` without a response,
    /// as for a Produce with `acks = 0`, which the broker never answers.
    pub outcome: Option<Outcome>,
    /// The first non-zero error code of the response, by its name in
    /// Kafka's table (`code`, e.g. `UNKNOWN_TOPIC_OR_PARTITION`; `ERROR_<n>`
    /// for a code the parser does not know). `message` is always `None`.
    pub error: Option<ProtoError>,
    /// The request header's API key (0 Produce, 1 Fetch, ...).
    pub api_key: i16,
    /// The request header's API version.
    pub api_version: i16,
    /// The request header's correlation id, which pairs the response.
    pub correlation_id: i32,
    /// The request header's client id (`None` when null), cut at the
    /// parser's string limit.
    pub client_id: Option<String>,
    /// Produce only: the acknowledgements asked for (0, 1 or -1 for all).
    pub acks: Option<i16>,
    /// Produce and Fetch: the topics of the request, with their partitions
    /// and, from the request (Produce) or the response (Fetch), record counts
    /// and per-partition errors. Cut at the parser's topic and partition
    /// limits (then `truncated` is set); the totals below count everything.
    pub topics: Vec<KafkaTopic>,
    /// Produce requests and Fetch responses: records in all record sets
    /// (a v2 batch's `recordCount`; a v0/v1 message set entry counts one,
    /// a compressed wrapper message too). `None` for other APIs.
    pub records: Option<u64>,
    /// Produce requests and Fetch responses: bytes of all record sets, as
    /// sent (compressed batches count compressed).
    pub record_bytes: Option<u64>,
    /// Size of the request on the wire, its 4-byte length prefix included.
    pub request_bytes: u64,
    /// Size of the response on the wire, its length prefix included; `None`
    /// without a response.
    pub response_bytes: Option<u64>,
    /// Something was left out: a list was cut at a limit, a field was longer
    /// than the parser buffers, bytes were lost in a gap or the message did
    /// not parse to its end. What is there is right; it may not be all.
    pub truncated: bool,
}

/// One topic of a Produce or Fetch request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KafkaTopic {
    /// The topic name (`None` in versions that name topics by id: Fetch v13+,
    /// Produce v13+), cut at the parser's string limit.
    pub name: Option<String>,
    /// The topic id, as a UUID in its usual text form, in versions that use
    /// ids.
    pub id: Option<String>,
    /// Records of this topic's record sets (see [`Kafka::records`]).
    pub records: Option<u64>,
    /// Bytes of this topic's record sets.
    pub record_bytes: Option<u64>,
    /// The partitions, cut at the parser's partition limit.
    pub partitions: Vec<KafkaPartition>,
}

/// One partition of a topic in a Produce or Fetch request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KafkaPartition {
    /// The partition index.
    pub partition: i32,
    /// Records in this partition's record set.
    pub records: Option<u64>,
    /// Bytes of this partition's record set.
    pub record_bytes: Option<u64>,
    /// The partition's error code name in the response, when not 0.
    pub error: Option<String>,
}
