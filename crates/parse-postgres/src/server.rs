//! The server's messages: responses paired with the request at the front of
//! the queue, and the asynchronous ones (notices, notifications, parameter
//! reports) that answer nothing.
//!
//! A response that the front request cannot get (a BindComplete while an
//! Execute waits) means pairing went wrong somewhere: the unit is given up
//! and its remaining responses skipped to its ReadyForQuery, rather than
//! paired with the wrong request.

use podwire_parse::Status;
use podwire_record::{Outcome, Timestamp};

use crate::msg::{self, Reader};
use crate::pending::{End, Exec, Pending, ServerError, Step};
use crate::{Flow, PostgresEvent, PostgresParser};

/// How many body bytes of a server message the parser reads.
pub(crate) fn want(ty: u8) -> usize {
    match ty {
        // Rows, copy data and row descriptions are only counted.
        b'D' | b'd' | b'T' | b't' => 0,
        // The authentication request's code, not its SASL data.
        b'R' => 4,
        // Tags, parameters, notifications: short strings first.
        b'C' | b'S' | b'A' | b'K' | b'Z' => 1024,
        _ => usize::MAX,
    }
}

impl PostgresParser {
    /// One server message.
    pub(crate) fn on_server(
        &mut self,
        ts: Timestamp,
        f: crate::frame::Frame<'_>,
        out: &mut Vec<PostgresEvent>,
    ) -> Flow {
        if let Some((operation, start)) = self.negotiating.take() {
            return self.on_negotiated(operation, start, ts, f.ty, out);
        }
        // Asynchronous messages answer nothing.
        match f.ty {
            b'A' => {
                let mut r = Reader::new(f.body);
                let _pid = r.i32();
                let mut body = self.conn.record("NOTIFICATION");
                body.channel = r.cstr().map(|c| msg::text(c, 256));
                out.push(PostgresEvent { ts, body });
                return Flow::Continue;
            }
            b'N' => {
                if let Some(exec) = self.queue.front_mut().and_then(Pending::exec_mut) {
                    exec.notices = exec.notices.saturating_add(1);
                }
                return Flow::Continue;
            }
            b'S' => {
                let mut r = Reader::new(f.body);
                if r.cstr() == Some(b"application_name") {
                    let value = r.cstr().unwrap_or_default();
                    self.conn.application = Some(msg::text(value, 256).into());
                }
                return Flow::Continue;
            }
            b'K' => {
                // The process id; the secret key after it stays unread.
                self.conn.backend_pid = Reader::new(f.body).i32().map(|p| p as u32);
                return Flow::Continue;
            }
            b'v' => return Flow::Continue,
            _ => {}
        }
        let Some(front) = self.queue.front_mut() else {
            return self.orphan(ts, f, out);
        };
        match (f.ty, front) {
            (b'Z', _) => self.ready(ts, out),
            (b'E', Pending::Lost { .. }) => self.stats.orphan_responses += 1,
            (b'E', _) => self.on_error(ts, f.body, out),
            (_, Pending::Lost { .. }) => self.stats.orphan_responses += 1,
            (b'R', Pending::Startup { auth, .. }) => {
                if auth.is_none() {
                    *auth = Reader::new(f.body).i32().and_then(msg::auth_method);
                }
            }
            (
                b'1',
                Pending::Step {
                    kind: Step::Parse, ..
                },
            )
            | (
                b'2',
                Pending::Step {
                    kind: Step::Bind, ..
                },
            )
            | (
                b'3',
                Pending::Step {
                    kind: Step::Close, ..
                },
            )
            | (
                b'T' | b'n',
                Pending::Step {
                    kind: Step::Describe,
                    ..
                },
            ) => {
                self.queue.pop_front();
            }
            (
                b't',
                Pending::Step {
                    kind: Step::Describe,
                    ..
                },
            )
            | (b'T', Pending::Query(_)) => {}
            (b'D', Pending::Query(q)) => q.current.data_rows += 1,
            (b'D', Pending::Execute(e)) => e.data_rows += 1,
            (b'G' | b'H', Pending::Query(q)) => q.current.add_copy(0),
            (b'G' | b'H', Pending::Execute(e)) => e.add_copy(0),
            (b'd', Pending::Query(q)) => q.current.add_copy(f.len),
            (b'd', Pending::Execute(e)) => e.add_copy(f.len),
            (b'c', Pending::Query(_) | Pending::Execute(_)) => {}
            (b'C' | b'I', Pending::Query(_)) => {
                let tag = (f.ty == b'C').then(|| tag(f.body)).flatten();
                self.query_answered(ts, tag, None, out);
            }
            (b'C' | b'I' | b's', Pending::Execute(_)) | (b'V', Pending::Function(_)) => {
                let tag = (f.ty == b'C').then(|| tag(f.body)).flatten();
                if let Some(Pending::Execute(e) | Pending::Function(e)) = self.queue.pop_front() {
                    let end = End {
                        ts,
                        tag,
                        error: None,
                    };
                    out.push(self.conn.exec_record(&e, e.stmt.as_deref(), Some(end)));
                }
            }
            (b'W', Pending::Query(_) | Pending::Execute(_)) => {
                // Replication streams from here on: nothing more to learn.
                let end = Some(End {
                    ts,
                    tag: None,
                    error: None,
                });
                match self.queue.pop_front() {
                    Some(Pending::Query(mut q)) => {
                        let stmt = q.stmts.pop_front();
                        out.push(self.conn.exec_record(&q.current, stmt.as_ref(), end));
                    }
                    Some(Pending::Execute(e)) => {
                        out.push(self.conn.exec_record(&e, e.stmt.as_deref(), end));
                    }
                    _ => {}
                }
                return Flow::Stop(Status::Done);
            }
            _ => {
                self.stats.mismatches += 1;
                self.drop_front_unit();
            }
        }
        Flow::Continue
    }

    /// The one-byte answer to an SSLRequest or GSSENCRequest.
    fn on_negotiated(
        &mut self,
        operation: &'static str,
        start: Timestamp,
        ts: Timestamp,
        answer: u8,
        out: &mut Vec<PostgresEvent>,
    ) -> Flow {
        let accepted = matches!(answer, b'S' | b'G');
        let mut body = self.conn.record(operation);
        body.latency_ms = Some(start.millis_until(ts));
        body.outcome = Some(Outcome::Ok);
        body.tag = Some(if accepted { "accepted" } else { "refused" }.to_owned());
        out.push(PostgresEvent { ts: start, body });
        if accepted {
            // The rest is TLS (or GSS-API) ciphertext.
            Flow::Stop(Status::Done)
        } else {
            Flow::Continue
        }
    }

    /// A server message with no request awaiting it.
    fn orphan(
        &mut self,
        ts: Timestamp,
        f: crate::frame::Frame<'_>,
        out: &mut Vec<PostgresEvent>,
    ) -> Flow {
        match f.ty {
            // Between units: nothing is owed, nothing to skip.
            b'Z' => {}
            // Unasked: an administrator ended the session, or the request
            // was not seen.
            b'E' => {
                let err = self.server_error(f.body);
                let mut body = self.conn.record("ERROR");
                fill_error(&mut body, &err);
                out.push(PostgresEvent { ts, body });
            }
            // Responses to requests not seen: skip to their ReadyForQuery.
            _ => {
                self.stats.orphan_responses += 1;
                self.queue.push_back(Pending::Lost { zs: 1, tail: false });
            }
        }
        Flow::Continue
    }

    /// ReadyForQuery: the unit at the front is over.
    fn ready(&mut self, ts: Timestamp, out: &mut Vec<PostgresEvent>) {
        // Each pass pops an entry.
        while let Some(p) = self.queue.pop_front() {
            match p {
                Pending::Lost { zs, tail } => {
                    if zs > 1 {
                        self.queue.push_front(Pending::Lost { zs: zs - 1, tail });
                    } else if tail && self.queue.iter().any(Pending::ends_unit) {
                        // The entries behind were the rest of the lost unit.
                        while let Some(p) = self.queue.pop_front() {
                            let ends = p.ends_unit();
                            self.unanswered(p);
                            if ends {
                                break;
                            }
                        }
                    }
                    return;
                }
                Pending::Startup { ts: start, auth } => {
                    let mut body = self.conn.record("STARTUP");
                    body.auth = auth.map(str::to_owned);
                    body.latency_ms = Some(start.millis_until(ts));
                    body.outcome = Some(Outcome::Ok);
                    out.push(PostgresEvent { ts: start, body });
                    return;
                }
                // Statements the server did not answer separately (the
                // split disagreed with its own) go unrecorded.
                Pending::Query(_) | Pending::Sync => return,
                // Never answered before the Sync: emitted as such.
                other => self.unanswered(other),
            }
        }
    }

    /// A statement of the Query at the front is answered.
    fn query_answered(
        &mut self,
        ts: Timestamp,
        tag: Option<&str>,
        error: Option<&ServerError>,
        out: &mut Vec<PostgresEvent>,
    ) {
        let Some(Pending::Query(q)) = self.queue.front_mut() else {
            return;
        };
        let stmt = q.stmts.pop_front();
        let end = End { ts, tag, error };
        out.push(self.conn.exec_record(&q.current, stmt.as_ref(), Some(end)));
        // The next statement starts where this one ended.
        let protocol = q.current.protocol;
        q.current = Exec::new(ts);
        q.current.protocol = protocol;
        q.answered = true;
        q.failed |= error.is_some();
    }

    /// An ErrorResponse to the request at the front.
    fn on_error(&mut self, ts: Timestamp, body: &[u8], out: &mut Vec<PostgresEvent>) {
        let err = self.server_error(body);
        let end = End {
            ts,
            tag: None,
            error: Some(&err),
        };
        match self.queue.front() {
            Some(Pending::Query(_)) => self.query_answered(ts, None, Some(&err), out),
            Some(Pending::Startup { .. }) => {
                if let Some(Pending::Startup { ts: start, auth }) = self.queue.pop_front() {
                    let mut body = self.conn.record("STARTUP");
                    body.auth = auth.map(str::to_owned);
                    body.latency_ms = Some(start.millis_until(ts));
                    fill_error(&mut body, &err);
                    out.push(PostgresEvent { ts: start, body });
                }
            }
            Some(Pending::Function(_)) => {
                if let Some(Pending::Function(e)) = self.queue.pop_front() {
                    out.push(self.conn.exec_record(&e, None, Some(end)));
                }
            }
            Some(Pending::Step { .. } | Pending::Execute(_)) => {
                // The server skips to the Sync: so does the queue. The error
                // goes on the Execute it prevented, else on the failed step.
                let mut failed: Option<Exec> = None;
                let mut execute: Option<Exec> = None;
                while let Some(p) = self.queue.front() {
                    if p.ends_unit() {
                        break;
                    }
                    match self.queue.pop_front() {
                        Some(Pending::Execute(e)) if execute.is_none() => execute = Some(e),
                        Some(Pending::Step { exec, .. }) if failed.is_none() => failed = Some(exec),
                        _ => {}
                    }
                }
                if let Some(e) = execute.or(failed) {
                    out.push(self.conn.exec_record(&e, e.stmt.as_deref(), Some(end)));
                }
            }
            // At a Sync (a commit failed), or with only a marker waiting.
            _ => {
                let mut body = self.conn.record("ERROR");
                fill_error(&mut body, &err);
                out.push(PostgresEvent { ts, body });
            }
        }
    }

    fn server_error(&self, body: &[u8]) -> ServerError {
        let f = msg::error_fields(body);
        let max = self.config.max_error_len;
        ServerError {
            severity: f.severity.map(|s| msg::text(s, 16)),
            code: f.code.map(|c| msg::text(c, 16)),
            message: f.message.map(|m| msg::text(m, max)),
        }
    }
}

/// A CommandComplete tag, when it is text.
fn tag(body: &[u8]) -> Option<&str> {
    let tag = Reader::new(body).cstr().unwrap_or(body);
    std::str::from_utf8(tag).ok()
}

fn fill_error(body: &mut podwire_record::Postgres, err: &ServerError) {
    body.outcome = Some(Outcome::Error);
    body.severity = err.severity.clone();
    body.error = Some(podwire_record::ProtoError {
        code: err.code.clone(),
        message: err.message.clone(),
    });
}
