//! `postgres` records: one per statement (or protocol request) and its result.
//!
//! A simple Query carrying several statements gives one record per statement
//! the server ran; an extended-protocol pipeline gives one per Execute. The
//! connection's startup, SSL/GSS negotiation, cancel requests, function
//! calls and notifications delivered to the client get records of their own,
//! named by `operation`. The connection's `database`, `user` and
//! `application` ride on every record, since they are what a query is
//! filtered by. Passwords and authentication exchanges are never recorded.

use super::{Outcome, ProtoError};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;

/// Which sub-protocol carried a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PgProtocol {
    /// A simple Query message: SQL text, results in text form.
    Simple,
    /// Parse/Bind/Execute: a prepared (named or unnamed) statement run with
    /// parameters.
    Extended,
}

/// One PostgreSQL request and what was seen of its response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Postgres {
    /// Bounded label: the SQL verb in upper case (`SELECT`, `INSERT`, ...,
    /// `OTHER`), or the protocol request when there is no statement:
    /// `STARTUP`, `SSL`, `GSSENC`, `CANCEL`, `FUNCTION_CALL`,
    /// `NOTIFICATION` (a NOTIFY delivered to this client), `ERROR` (an error
    /// the server sent unasked, e.g. an administrator ending the session).
    /// Borrowed: every label is a constant.
    pub operation: Cow<'static, str>,
    /// The statement, literals masked (`?`) unless asked otherwise; cut at
    /// the configured length. Null when the statement was never seen (a
    /// prepared statement made before the capture began).
    pub statement: Option<String>,
    /// The statement was cut (at the configured length, or because the
    /// message carrying it was larger than the parser buffers).
    pub truncated: bool,
    /// Name of the prepared statement an Execute ran; null for the unnamed
    /// statement and the simple protocol.
    pub statement_name: Option<String>,
    /// Which sub-protocol carried the statement; null for records that are
    /// not statements.
    pub protocol: Option<PgProtocol>,
    /// Database from the connection's StartupMessage; null when the capture
    /// missed it. Shared (as `user` and `application`): every record of a
    /// connection carries the same, and a copy each cost three allocations
    /// per statement.
    #[serde(serialize_with = "opt_shared")]
    pub database: Option<Arc<str>>,
    /// User from the StartupMessage.
    #[serde(serialize_with = "opt_shared")]
    pub user: Option<Arc<str>>,
    /// `application_name` from the StartupMessage, or as last reported by
    /// the server (a `SET application_name` changes it).
    #[serde(serialize_with = "opt_shared")]
    pub application: Option<Arc<str>>,
    /// The server process serving the connection (BackendKeyData); for a
    /// `CANCEL`, the process whose query is to be cancelled.
    pub backend_pid: Option<u32>,
    /// Time from the request's first message to its completion message:
    /// for a statement of a multi-statement Query, from the end of the
    /// statement before it. For `STARTUP`, to the first ReadyForQuery.
    pub latency_ms: Option<f64>,
    /// Null without a response.
    pub outcome: Option<Outcome>,
    /// The server's ErrorResponse: `code` is the SQLSTATE (`42P01`),
    /// `message` the primary message, cut at the configured length (it may
    /// quote values from the statement).
    pub error: Option<ProtoError>,
    /// Error severity, not localised: `ERROR`, `FATAL` or `PANIC`.
    pub severity: Option<String>,
    /// The CommandComplete tag as sent (`SELECT 3`, `INSERT 0 1`,
    /// `CREATE TABLE`); `SSL` and `GSSENC` records carry `accepted` or
    /// `refused`.
    pub tag: Option<String>,
    /// Rows the statement returned or affected: the tag's count when it has
    /// one, else the DataRows seen (an Execute suspended at its row limit).
    pub rows: Option<u64>,
    /// CopyData payload bytes moved by a `COPY` (either direction).
    pub copy_bytes: Option<u64>,
    /// NoticeResponses the server sent while the request ran.
    pub notices: u32,
    /// The channel of a `NOTIFICATION` (its payload is not recorded).
    pub channel: Option<String>,
    /// How the server asked the client to authenticate, on `STARTUP`
    /// records: `trust` (no exchange), `password`, `md5`, `sasl`
    /// (SCRAM), `gss`, `sspi`, `kerberos`.
    pub auth: Option<String>,
}

/// A shared string as serde writes a `String` (serde's own impl for `Arc`
/// needs its `rc` feature, which would rebuild every dependent of serde).
fn opt_shared<S: serde::Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}
