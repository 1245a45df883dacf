//! Requests awaiting their responses, and the records they become.
//!
//! The server answers a connection's messages strictly in order, so pairing
//! is a queue: each client message that draws a response pushes an entry,
//! and each server message is matched against the entry at the front.
//! ReadyForQuery ends a *unit* (a simple Query, or an extended-protocol run
//! up to its Sync); after an error the server skips the rest of the unit, and
//! when the parser loses track of responses it skips to the end of a unit
//! too (a [`Pending::Lost`] marker), since units are the only boundaries
//! both streams agree on.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use podwire_record::proto::postgres::PgProtocol;
use podwire_record::{Outcome, Postgres, ProtoError, Timestamp};

use crate::PostgresEvent;

/// A statement as records show it; shared by every Execute of a prepared
/// statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Stmt {
    /// Masked (or raw) text, cut at the configured length.
    pub text: String,
    pub operation: &'static str,
    pub truncated: bool,
}

/// A request that becomes a record: what is known of it so far.
#[derive(Clone, Debug)]
pub(crate) struct Exec {
    /// When its first message was seen.
    pub ts: Timestamp,
    pub stmt: Option<Rc<Stmt>>,
    pub statement_name: Option<Rc<str>>,
    pub protocol: Option<PgProtocol>,
    /// A fixed operation, for requests that are not statements.
    pub operation: Option<&'static str>,
    pub data_rows: u64,
    pub copy_bytes: Option<u64>,
    pub notices: u32,
}

impl Exec {
    pub fn new(ts: Timestamp) -> Self {
        Exec {
            ts,
            stmt: None,
            statement_name: None,
            protocol: None,
            operation: None,
            data_rows: 0,
            copy_bytes: None,
            notices: 0,
        }
    }

    pub fn add_copy(&mut self, n: usize) {
        self.copy_bytes = Some(self.copy_bytes.unwrap_or(0).saturating_add(n as u64));
    }
}

/// A simple Query: its statements, answered one after the other.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    /// The statement being answered; its `ts` is when the one before it
    /// ended.
    pub current: Exec,
    /// Statements not yet answered, in order (the current one first).
    pub stmts: VecDeque<Stmt>,
    /// An ErrorResponse ended the Query: the server skips the rest.
    pub failed: bool,
    /// A statement was answered.
    pub answered: bool,
}

/// One entry of the queue: a client message awaiting its response.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    /// StartupMessage: answered by authentication, then ReadyForQuery.
    Startup {
        ts: Timestamp,
        auth: Option<&'static str>,
    },
    Query(Box<Query>),
    /// Parse, Bind, Describe, Close: answered by their own completion
    /// messages. The statement they concern names an error record.
    Step {
        kind: Step,
        exec: Exec,
    },
    Execute(Exec),
    /// FunctionCall: answered by FunctionCallResponse (a [`Pending::Sync`]
    /// behind it awaits the ReadyForQuery after).
    Function(Exec),
    Sync,
    /// Responses to requests the parser did not see (or gave up on) come
    /// here, until `zs` ReadyForQuery messages have passed. `tail`: the
    /// entries behind, up to the next Sync, may belong to the unit whose
    /// start was lost, and go with it.
    Lost {
        zs: u32,
        tail: bool,
    },
}

/// The extended-protocol steps that do not run a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Parse,
    Bind,
    Describe,
    Close,
}

impl Pending {
    /// Whether ReadyForQuery answers this entry (it ends a unit).
    pub fn ends_unit(&self) -> bool {
        matches!(
            self,
            Pending::Startup { .. } | Pending::Query(_) | Pending::Sync
        )
    }

    /// The request in progress, for counting notices, rows and copy bytes.
    pub fn exec_mut(&mut self) -> Option<&mut Exec> {
        match self {
            Pending::Query(q) => Some(&mut q.current),
            Pending::Execute(e) | Pending::Function(e) => Some(e),
            _ => None,
        }
    }
}

/// What every record of the connection carries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conn {
    pub database: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub application: Option<Arc<str>>,
    pub backend_pid: Option<u32>,
}

impl Conn {
    /// A record of this connection at `ts` with the given operation.
    pub fn record(&self, operation: &'static str) -> Postgres {
        Postgres {
            operation: operation.into(),
            database: self.database.clone(),
            user: self.user.clone(),
            application: self.application.clone(),
            backend_pid: self.backend_pid,
            ..Postgres::default()
        }
    }

    /// The record of `exec` running `stmt`, answered at `end` (or not at
    /// all).
    pub fn exec_record(
        &self,
        exec: &Exec,
        stmt: Option<&Stmt>,
        end: Option<End<'_>>,
    ) -> PostgresEvent {
        let tag_verb = end.and_then(|e| e.tag).map(podwire_sql::verb);
        let operation = match (exec.operation, stmt) {
            (Some(op), _) => op,
            (None, Some(stmt)) if stmt.operation != "OTHER" => stmt.operation,
            // An unseen prepared statement: the tag names it.
            _ => tag_verb.unwrap_or("OTHER"),
        };
        let mut body = self.record(operation);
        if let Some(stmt) = stmt {
            body.statement = Some(stmt.text.clone());
            body.truncated = stmt.truncated;
        }
        body.statement_name = exec.statement_name.as_deref().map(str::to_owned);
        body.protocol = exec.protocol;
        body.copy_bytes = exec.copy_bytes;
        body.notices = exec.notices;
        if let Some(end) = end {
            body.latency_ms = Some(exec.ts.millis_until(end.ts));
            body.tag = end.tag.map(str::to_owned);
            body.rows = end
                .tag
                .and_then(|t| crate::msg::tag_rows(t.as_bytes()))
                .or((exec.data_rows > 0).then_some(exec.data_rows));
            if let Some(err) = end.error {
                body.outcome = Some(Outcome::Error);
                body.severity = err.severity.clone();
                body.error = Some(ProtoError {
                    code: err.code.clone(),
                    message: err.message.clone(),
                });
                body.rows = None;
            } else {
                body.outcome = Some(Outcome::Ok);
            }
        }
        PostgresEvent { ts: exec.ts, body }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct End<'a> {
    pub ts: Timestamp,
    pub tag: Option<&'a str>,
    pub error: Option<&'a ServerError>,
}

/// An ErrorResponse, as records carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerError {
    pub severity: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}
