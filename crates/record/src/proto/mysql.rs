//! `mysql` records: one per command (COM_QUERY, COM_STMT_EXECUTE, ...) and
//! its result, plus one per login (`CONNECT`).

use super::{Outcome, ProtoError};
use serde::Serialize;

/// One MySQL/MariaDB command and what was seen of its response.
///
/// A response holding several results (a multi-statement query or a stored
/// procedure, `SERVER_MORE_RESULTS_EXISTS`) is aggregated into the one
/// record of its command: `results` counts them, `rows` and
/// `affected_rows` are summed, `columns` is the first result set's.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Mysql {
    /// Bounded label: the SQL verb in upper case for statements
    /// (`COM_QUERY`, `COM_STMT_EXECUTE`: `SELECT`, `INSERT`, ..., `OTHER`),
    /// `PREPARE` for `COM_STMT_PREPARE`, `EXECUTE` for an execution whose
    /// statement was not seen prepared, `CONNECT` for a login, `SSL` for a
    /// login that switched to TLS, else the command (`PING`, `INIT_DB`,
    /// `QUIT`, `CHANGE_USER`, `STMT_CLOSE`, ...).
    pub operation: String,
    /// The protocol command without its `COM_` prefix (`QUERY`,
    /// `STMT_PREPARE`, `STMT_EXECUTE`, `INIT_DB`, ...; `CONNECT` for the
    /// login handshake, `UNKNOWN` for a command byte this parser does not
    /// know).
    pub command: String,
    /// The statement (`COM_QUERY` text, or the prepared statement's text for
    /// the `COM_STMT_*` commands), literals masked (`?`) unless asked
    /// otherwise; cut at the configured length.
    pub statement: Option<String>,
    /// The statement text was cut (at the configured length, or because the
    /// packet carrying it was not captured whole).
    pub truncated: bool,
    /// Prepared statement id: from the `COM_STMT_PREPARE` response, or the
    /// one a `COM_STMT_EXECUTE`/`FETCH`/`RESET`/`CLOSE` names.
    pub statement_id: Option<u32>,
    /// Login user (from the handshake response, updated by a successful
    /// `COM_CHANGE_USER`); on every record of the connection. Never the
    /// password or any authentication data.
    pub user: Option<String>,
    /// Default database (schema) in effect: from the handshake response,
    /// `COM_INIT_DB`, `COM_CHANGE_USER` or the server's session tracker.
    /// For `INIT_DB` records, the database asked for.
    pub database: Option<String>,
    /// Server version from its greeting, without MariaDB's `5.5.5-`
    /// compatibility prefix (`10.11.19-MariaDB-0+deb12u1`, `8.0.36`).
    pub server_version: Option<String>,
    /// From the first byte of the command to the first byte of its response;
    /// `None` without a response (or for commands that have none).
    pub latency_ms: Option<f64>,
    /// Null without a response.
    pub outcome: Option<Outcome>,
    /// The server's ERR packet: the MySQL error number as text (`"1146"`)
    /// and its message, cut at the configured length.
    pub error: Option<ProtoError>,
    /// SQLSTATE of the error (`"42S02"`), when the server sent one.
    pub sqlstate: Option<String>,
    /// Results in the response: result sets and OK packets (more than one
    /// for multi-statement queries and stored procedures).
    pub results: Option<u32>,
    /// Columns of the first result set (for `PREPARE`, of the statement's
    /// result).
    pub columns: Option<u64>,
    /// Rows of all result sets, text or binary, counted not stored.
    pub rows: Option<u64>,
    /// Rows the OK packets report affected (summed over results).
    pub affected_rows: Option<u64>,
    /// Warnings the last OK or EOF packet reports.
    pub warnings: Option<u16>,
    /// Bytes of file content the client sent for `LOAD DATA LOCAL INFILE`
    /// (counted, never stored).
    pub infile_bytes: Option<u64>,
}
