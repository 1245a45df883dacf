//! `redis` records: one per command and its reply.

use super::{Outcome, ProtoError};
use serde::Serialize;

/// One Redis command and what was seen of its reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Redis {
    /// Bounded label: the command name in upper case (`GET`, `CLIENT LIST`...).
    pub operation: String,
    pub latency_ms: Option<f64>,
    pub outcome: Option<Outcome>,
    pub error: Option<ProtoError>,
}
