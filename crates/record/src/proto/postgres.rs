//! `postgres` records: one per statement (or protocol request) and its result.

use super::{Outcome, ProtoError};
use serde::Serialize;

/// One PostgreSQL request and what was seen of its response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Postgres {
    /// Bounded label: the SQL verb in upper case (`SELECT`, `INSERT`, ...),
    /// or the protocol request when there is no statement (`STARTUP`,
    /// `CANCEL`, `SSL`, ...).
    pub operation: String,
    /// The statement, literals masked (`?`) unless asked otherwise; cut at
    /// the configured length.
    pub statement: Option<String>,
    pub latency_ms: Option<f64>,
    /// Null without a response.
    pub outcome: Option<Outcome>,
    pub error: Option<ProtoError>,
}
