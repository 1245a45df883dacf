//! Reading one command's response, packet by packet.
//!
//! The protocol is strictly request/response, so the server's packets
//! belong to the oldest command still unanswered. A response is a small
//! state machine: a general result is OK, ERR, a LOCAL INFILE request (the
//! client then sends the file and the server an OK or ERR) or a result set
//! (column count, definitions, an EOF unless `CLIENT_DEPRECATE_EOF`, rows,
//! and an EOF or `0xFE` OK). `SERVER_MORE_RESULTS_EXISTS` on the closing
//! packet means another result follows in the same response; all of them
//! are aggregated into the command's record.
//!
//! Whether EOF packets are sent is read from the packets when the login was
//! not seen: an EOF is exactly 5 bytes, an OK with the `0xFE` header at
//! least 7. MariaDB's progress reports (ERR code 0xFFFF) are not answers.

use podwire_record::{Mysql, Outcome, ProtoError, Timestamp};

use crate::framing::Packet;
use crate::wire::{self, status, Reader};

/// Where a response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resp {
    /// The first packet of a result: OK, ERR, LOCAL INFILE or column count.
    Start,
    /// Column definitions still to come.
    Columns(u64),
    /// After the definitions: an EOF (when sent), rows or the end.
    AfterColumns,
    Rows,
    /// The client is sending a LOCAL INFILE; OK or ERR follows.
    Infile,
    /// Any one packet ends it.
    Single,
    /// The prepare response's OK (or ERR).
    Prepare,
    /// Parameter and column definitions of a prepared statement, and the
    /// EOFs still owed after them.
    PrepareDefs {
        left: u64,
        eofs: u8,
    },
    /// Column definitions up to an EOF.
    FieldList,
    /// Authentication packets up to OK or ERR.
    Auth,
}

/// A command waiting for (or reading) its response.
#[derive(Debug)]
pub struct Pending {
    /// When the command's first byte was captured.
    pub ts: Timestamp,
    pub rec: Mysql,
    /// Command byte; `None` for the login.
    pub code: Option<u8>,
    pub state: Resp,
    /// The response is complete (or none is due).
    pub done: bool,
    /// Verb of the statement text, remembered with a prepared statement.
    pub verb: &'static str,
    /// User and database a login or `COM_CHANGE_USER` sets when it succeeds.
    pub login: Option<(Option<String>, Option<String>)>,
}

/// What the connection learns from responses.
#[derive(Debug)]
pub struct Env {
    pub caps: u64,
    /// EOF packets are sent (no `CLIENT_DEPRECATE_EOF`); `None` until known.
    pub eof_mode: Option<bool>,
    pub max_error_len: usize,
    /// A schema the session tracker reported, for the connection to take.
    pub schema: Option<String>,
}

/// Feeds one server packet to `c`'s response.
pub fn step(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    if c.rec.latency_ms.is_none() && !is_progress(p) {
        c.rec.latency_ms = Some(c.ts.millis_until(p.ts).max(0.0));
    }
    if p.first() == Some(0xFF) {
        let Some(e) = wire::err_packet(p.data) else {
            // Too short to read: an error all the same.
            c.rec.error = Some(ProtoError::default());
            return finish(c, Outcome::Error);
        };
        if e.code == wire::PROGRESS_REPORT {
            return;
        }
        c.rec.error = Some(ProtoError {
            code: Some(e.code.to_string()),
            message: Some(wire::text(e.message, env.max_error_len)),
        });
        c.rec.sqlstate = e.sqlstate.map(|s| wire::text(s, 5));
        return finish(c, Outcome::Error);
    }
    match c.state {
        Resp::Start => start(c, p, env),
        Resp::Columns(n) => {
            c.state = if n <= 1 {
                Resp::AfterColumns
            } else {
                Resp::Columns(n - 1)
            }
        }
        Resp::AfterColumns => after_columns(c, p, env),
        Resp::Rows => rows(c, p, env),
        Resp::Infile | Resp::Single => match p.first() {
            Some(0x00) if c.state == Resp::Infile => {
                bump_results(c);
                ok_like(c, p, env)
            }
            Some(0x00) | Some(0xFE) => ok_like(c, p, env),
            _ => finish(c, Outcome::Ok),
        },
        Resp::Prepare => prepare(c, p, env),
        Resp::PrepareDefs { left, eofs } => {
            let (left, eofs) = match wire::eof_packet(p.data) {
                Some(_) => (left, eofs.saturating_sub(1)),
                None => (left.saturating_sub(1), eofs),
            };
            c.state = Resp::PrepareDefs { left, eofs };
            if left == 0 && eofs == 0 {
                finish(c, Outcome::Ok);
            }
        }
        Resp::FieldList => {
            if is_terminator(p) {
                finish(c, Outcome::Ok);
            }
        }
        Resp::Auth => {
            // 0xFE switches plugin, 0x01 carries more auth data: skipped.
            if p.first() == Some(0x00) {
                ok_like(c, p, env);
            }
        }
    }
}

/// MariaDB's progress report (an ERR packet with code 0xFFFF).
pub fn is_progress(p: &Packet<'_>) -> bool {
    p.data.get(..3) == Some(&[0xFF, 0xFF, 0xFF][..])
}

fn finish(c: &mut Pending, outcome: Outcome) {
    c.done = true;
    c.rec.outcome = Some(outcome);
}

fn bump_results(c: &mut Pending) {
    c.rec.results = Some(c.rec.results.unwrap_or(0).saturating_add(1));
}

/// The first packet of a result.
fn start(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    match p.first() {
        Some(0x00) | Some(0xFE) => {
            bump_results(c);
            ok_like(c, p, env)
        }
        Some(0xFB) => {
            c.rec.infile_bytes.get_or_insert(0);
            c.state = Resp::Infile;
        }
        _ => {
            let mut r = Reader::new(p.data);
            let Some(n) = r.lenenc().filter(|&n| n > 0) else {
                return finish(c, Outcome::Ok);
            };
            bump_results(c);
            c.rec.columns.get_or_insert(n);
            c.rec.rows.get_or_insert(0);
            // MariaDB's cached metadata (and MySQL's optional metadata) add
            // a byte saying whether definitions follow.
            c.state = match r.u8() {
                Some(0) => Resp::AfterColumns,
                _ => Resp::Columns(n),
            };
        }
    }
}

/// An OK packet (or an EOF where one is an answer): the result ends, and
/// with it the response unless more results follow.
fn ok_like(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    let (status, warnings) = match wire::eof_packet(p.data) {
        Some((w, s)) => (s, w),
        None => match wire::ok_packet(p.data, env.caps) {
            Some(ok) => {
                if matches!(c.state, Resp::Start | Resp::Infile) {
                    let sum = c.rec.affected_rows.unwrap_or(0);
                    c.rec.affected_rows = Some(sum.saturating_add(ok.affected_rows));
                }
                if let Some(schema) = ok.schema {
                    env.schema = Some(wire::text(schema, 256));
                }
                (ok.status, ok.warnings)
            }
            None => (0, 0),
        },
    };
    c.rec.warnings = Some(warnings);
    end_result(c, status);
}

fn end_result(c: &mut Pending, status: u16) {
    if status & status::MORE_RESULTS_EXISTS != 0
        && matches!(
            c.state,
            Resp::Start | Resp::Rows | Resp::AfterColumns | Resp::Infile
        )
    {
        c.state = Resp::Start;
    } else {
        finish(c, Outcome::Ok);
    }
}

/// `0xFE` first and not a row: rows start with a length-encoded string, and
/// `0xFE` there means 8 length bytes, a packet of 16 MiB or more.
fn is_terminator(p: &Packet<'_>) -> bool {
    p.first() == Some(0xFE) && p.len < 0xFF_FFFF
}

fn after_columns(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    if let Some((_, status)) = wire::eof_packet(p.data) {
        env.eof_mode = Some(true);
        if status & status::CURSOR_EXISTS != 0 {
            // Rows come with COM_STMT_FETCH.
            return end_result(c, status);
        }
        c.state = Resp::Rows;
        return;
    }
    if env.eof_mode.is_none() {
        env.eof_mode = Some(false);
    }
    c.state = Resp::Rows;
    rows(c, p, env);
}

fn rows(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    if is_terminator(p) {
        return ok_like(c, p, env);
    }
    c.rec.rows = Some(c.rec.rows.unwrap_or(0).saturating_add(1));
}

fn prepare(c: &mut Pending, p: &Packet<'_>, env: &mut Env) {
    let mut r = Reader::new(p.data);
    let fields = (r.u8(), r.u32(), r.u16(), r.u16());
    let (Some(0x00), Some(id), Some(columns), Some(params)) = fields else {
        return finish(c, Outcome::Ok);
    };
    let _ = r.u8();
    c.rec.warnings = r.u16().or(Some(0));
    c.rec.statement_id = Some(id);
    c.rec.columns = Some(u64::from(columns));
    let eofs = if env.eof_mode == Some(false) {
        0
    } else {
        u8::from(params > 0) + u8::from(columns > 0)
    };
    let left = u64::from(params) + u64::from(columns);
    c.state = Resp::PrepareDefs { left, eofs };
    if left == 0 && eofs == 0 {
        finish(c, Outcome::Ok);
    }
}
