//! The client's messages: what each asks of the server, queued for pairing.
//!
//! Statements are masked and named once, when their Query or Parse is seen;
//! a prepared statement's text is then shared by every Execute of it.
//! Password, SASL and GSS messages (`p`) and CopyData bodies are never read:
//! [`want`] asks the framer for none of their bytes.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use podwire_parse::Status;
use podwire_record::proto::postgres::PgProtocol;
use podwire_record::Timestamp;
use podwire_sql::{mask_with, split_statements, verb, Dialect, MaskOptions};

use crate::detect::{startup_kind, StartupKind};
use crate::frame::{Frame, Mode, UNTYPED};
use crate::msg::{self, Reader};
use crate::pending::{Exec, Pending, Query, Step, Stmt};
use crate::{Flow, Portal, PostgresEvent, PostgresParser};

/// How many body bytes of a client message the parser reads.
pub(crate) fn want(ty: u8) -> usize {
    match ty {
        // Never: passwords and SASL/GSS tokens; COPY data is only counted.
        b'p' | b'd' => 0,
        // Names only, not parameter values.
        b'B' | b'E' | b'D' | b'C' => 1024,
        b'F' => 4,
        _ => usize::MAX,
    }
}

impl PostgresParser {
    /// One client message.
    pub(crate) fn on_client(
        &mut self,
        ts: Timestamp,
        f: Frame<'_>,
        out: &mut Vec<PostgresEvent>,
    ) -> Flow {
        if f.ty == UNTYPED {
            return self.on_startup(ts, f, out);
        }
        match f.ty {
            b'Q' => self.on_query(ts, f),
            b'P' => self.on_parse(ts, f),
            b'B' => self.on_bind(ts, f),
            b'E' => self.on_execute(ts, f),
            b'D' | b'C' => {
                let mut r = Reader::new(f.body);
                let kind = r.u8();
                let name = r.cstr().unwrap_or_default();
                let mut exec = Exec::new(ts);
                exec.protocol = Some(PgProtocol::Extended);
                match kind {
                    Some(b'S') => exec.stmt = self.statement(name).0,
                    Some(_) => exec.stmt = self.portal(name).and_then(|p| p.stmt),
                    None => {}
                }
                let step = if f.ty == b'D' {
                    Step::Describe
                } else {
                    self.close(kind, name);
                    Step::Close
                };
                self.push(Pending::Step { kind: step, exec });
            }
            b'S' => self.push(Pending::Sync),
            b'F' => {
                let mut exec = Exec::new(ts);
                exec.operation = Some("FUNCTION_CALL");
                self.push(Pending::Function(exec));
                self.push(Pending::Sync);
            }
            b'd' => {
                let copying = self.queue.iter_mut().rev().find_map(Pending::exec_mut);
                if let Some(exec) = copying {
                    exec.add_copy(f.len);
                }
            }
            // Flush, CopyDone, CopyFail, Terminate, and authentication
            // responses draw no response of their own.
            b'H' | b'c' | b'f' | b'X' | b'p' => {}
            _ => return Flow::Malformed,
        }
        Flow::Continue
    }

    /// StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
    fn on_startup(&mut self, ts: Timestamp, f: Frame<'_>, out: &mut Vec<PostgresEvent>) -> Flow {
        match startup_kind(f.body, f.len) {
            Some(StartupKind::Startup) => {
                self.read_startup(f.body.get(4..).unwrap_or_default());
                self.push(Pending::Startup { ts, auth: None });
                Flow::Typed
            }
            Some(StartupKind::Ssl) => {
                self.negotiating = Some(("SSL", ts));
                self.server.mode = Mode::OneByte;
                Flow::Continue
            }
            Some(StartupKind::Gssenc) => {
                self.negotiating = Some(("GSSENC", ts));
                self.server.mode = Mode::OneByte;
                Flow::Continue
            }
            Some(StartupKind::Cancel) => {
                let mut body = self.conn.record("CANCEL");
                // The process id, never the secret key after it.
                body.backend_pid = Reader::new(f.body.get(4..).unwrap_or_default())
                    .i32()
                    .map(|pid| pid as u32);
                out.push(PostgresEvent { ts, body });
                Flow::Stop(Status::Done)
            }
            None => Flow::Malformed,
        }
    }

    /// The StartupMessage's parameters: name and value strings, then a NUL.
    fn read_startup(&mut self, params: &[u8]) {
        let mut r = Reader::new(params);
        let max = self.config.max_statement_len;
        for _ in 0..params.len() {
            let Some(name) = r.cstr().filter(|n| !n.is_empty()) else {
                break;
            };
            let Some(value) = r.cstr() else { break };
            let slot = match name {
                b"user" => &mut self.conn.user,
                b"database" => &mut self.conn.database,
                b"application_name" => &mut self.conn.application,
                _ => continue,
            };
            *slot = Some(msg::text(value, max).into());
        }
        // The server's default database is the user's name.
        if self.conn.database.is_none() {
            self.conn.database = self.conn.user.clone();
        }
    }

    /// A simple Query: one pending entry, a statement per record.
    fn on_query(&mut self, ts: Timestamp, f: Frame<'_>) {
        let (sql, cut) = sql_text(f.body, f.partial());
        let sql = String::from_utf8_lossy(sql);
        let mut stmts = VecDeque::new();
        let max = self.config.max_statements_per_query.max(1);
        for text in split_statements(&sql).take(max) {
            stmts.push_back(self.stmt(text, cut));
        }
        let mut current = Exec::new(ts);
        current.protocol = Some(PgProtocol::Simple);
        self.push(Pending::Query(Box::new(Query {
            current,
            stmts,
            failed: false,
            answered: false,
        })));
    }

    /// A Parse: the statement is remembered by name from now on.
    fn on_parse(&mut self, ts: Timestamp, f: Frame<'_>) {
        let mut r = Reader::new(f.body);
        let name = r.cstr().unwrap_or_default();
        let (sql, cut) = sql_text(r.rest(), f.partial());
        let sql = String::from_utf8_lossy(sql);
        // One statement, often sent with its `;` (pgbench does).
        let sql = sql.trim_end().trim_end_matches(';').trim_end();
        let stmt = Rc::new(self.stmt(sql, cut));
        let mut exec = Exec::new(ts);
        exec.protocol = Some(PgProtocol::Extended);
        exec.stmt = Some(stmt.clone());
        if name.is_empty() {
            self.unnamed_statement = Some(stmt);
        } else {
            let named = name_of(name);
            exec.statement_name = Some(named.clone());
            let max = self.config.max_prepared_statements;
            if remember(&mut self.statements, name, (stmt, named), max) {
                self.stats.prepared_overflows += 1;
            }
        }
        self.push(Pending::Step {
            kind: Step::Parse,
            exec,
        });
    }

    /// A Bind: the portal runs the named statement, timed from here.
    fn on_bind(&mut self, ts: Timestamp, f: Frame<'_>) {
        let mut r = Reader::new(f.body);
        let portal = r.cstr().unwrap_or_default();
        let name = r.cstr().unwrap_or_default();
        let (stmt, statement_name) = self.statement(name);
        let p = Portal {
            stmt,
            statement_name,
            ts,
        };
        let mut exec = Exec::new(ts);
        exec.protocol = Some(PgProtocol::Extended);
        exec.stmt = p.stmt.clone();
        exec.statement_name = p.statement_name.clone();
        if portal.is_empty() {
            self.unnamed_portal = Some(p);
        } else {
            let max = self.config.max_prepared_statements;
            if remember(&mut self.portals, portal, p, max) {
                self.stats.prepared_overflows += 1;
            }
        }
        self.push(Pending::Step {
            kind: Step::Bind,
            exec,
        });
    }

    /// An Execute: the record of a statement run.
    fn on_execute(&mut self, ts: Timestamp, f: Frame<'_>) {
        let portal = Reader::new(f.body).cstr().unwrap_or_default();
        let mut exec = Exec::new(ts);
        exec.protocol = Some(PgProtocol::Extended);
        if let Some(p) = self.portal(portal) {
            exec.ts = p.ts;
            exec.stmt = p.stmt;
            exec.statement_name = p.statement_name;
        }
        self.push(Pending::Execute(exec));
    }

    /// A Close of a statement or portal: its name is free again.
    fn close(&mut self, kind: Option<u8>, name: &[u8]) {
        match (kind, name.is_empty()) {
            (Some(b'S'), true) => self.unnamed_statement = None,
            (Some(b'S'), false) => {
                self.statements.remove(name);
            }
            (_, true) => self.unnamed_portal = None,
            (_, false) => {
                self.portals.remove(name);
            }
        }
    }

    /// The statement of a name, and the name as records carry it (null for
    /// the unnamed statement).
    fn statement(&self, name: &[u8]) -> (Option<Rc<Stmt>>, Option<Rc<str>>) {
        if name.is_empty() {
            return (self.unnamed_statement.clone(), None);
        }
        match self.statements.get(name) {
            Some((stmt, named)) => (Some(stmt.clone()), Some(named.clone())),
            // Prepared before the capture began.
            None => (None, Some(name_of(name))),
        }
    }

    fn portal(&self, name: &[u8]) -> Option<Portal> {
        if name.is_empty() {
            self.unnamed_portal.clone()
        } else {
            self.portals.get(name).cloned()
        }
    }

    /// A statement as records show it: masked (or not), named, cut.
    fn stmt(&mut self, sql: &str, cut: bool) -> Stmt {
        let max = self.config.max_statement_len;
        let (text, truncated) = if self.config.show_secrets {
            let text = msg::text(sql.as_bytes(), max);
            let truncated = text.len() < sql.len();
            (text, truncated)
        } else {
            let options = MaskOptions {
                dialect: Dialect::Postgres,
                max_len: max,
                collapse_in_lists: true,
            };
            let m = mask_with(sql, &options);
            (m.text, m.truncated)
        };
        let truncated = truncated || cut;
        if truncated {
            self.stats.statements_truncated += 1;
        }
        Stmt {
            text,
            operation: verb(sql),
            truncated,
        }
    }
}

/// The SQL text of a Query or Parse body: up to its NUL, or all of a prefix
/// cut by the framer (then marked cut).
fn sql_text(body: &[u8], partial: bool) -> (&[u8], bool) {
    match body.iter().position(|&c| c == 0) {
        Some(n) => (&body[..n], false),
        None => (body, partial),
    }
}

fn name_of(name: &[u8]) -> Rc<str> {
    Rc::from(String::from_utf8_lossy(name).as_ref())
}

/// Remembers `value` under `name`; at `max` entries an arbitrary other one
/// is forgotten first, and the answer is true.
fn remember<V>(map: &mut HashMap<Box<[u8]>, V>, name: &[u8], value: V, max: usize) -> bool {
    if let Some(slot) = map.get_mut(name) {
        *slot = value;
        return false;
    }
    let mut evicted = false;
    if map.len() >= max {
        let victim = map.keys().next().cloned();
        if let Some(victim) = victim {
            map.remove(&victim);
            evicted = true;
        }
    }
    if max > 0 {
        map.insert(name.into(), value);
    }
    evicted
}
