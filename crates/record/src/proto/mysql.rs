//! `mysql` records: one per command (COM_QUERY, COM_STMT_EXECUTE, ...) and its result.

use super::{Outcome, ProtoError};
use serde::Serialize;

/// One MySQL/MariaDB command and what was seen of its response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Mysql {
    /// Bounded label: the SQL verb in upper case for statements, else the
    /// command (`PING`, `INIT_DB`, `QUIT`, ...).
    pub operation: String,
    /// The statement, literals masked unless asked otherwise.
    pub statement: Option<String>,
    pub latency_ms: Option<f64>,
    pub outcome: Option<Outcome>,
    pub error: Option<ProtoError>,
}
