//! Query strings of the Grafana-facing endpoints: k8spacket's keys, decoded
//! like the JSON API's (`podwire_store::pairs`), with errors that name the
//! key.

use std::fmt;

/// Why a query string was refused; shown to the caller as a 400 body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError(String);

impl QueryError {
    pub(crate) fn bad(key: &str, value: &str, reason: &str) -> QueryError {
        let value: String = value.chars().take(64).collect();
        QueryError(format!("bad value `{value}` for `{key}`: {reason}"))
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

/// Decoded `(key, value)` pairs.
pub(crate) fn pairs(q: &str) -> Result<Vec<(String, String)>, QueryError> {
    podwire_store::pairs(q).map_err(|e| QueryError(e.to_string()))
}
