//! One connection's protocol state: login, commands, pairing with responses.
//!
//! Packets come in from both directions' framers; this decides what each
//! is: the greeting, the login and its authentication exchange, a command
//! (sequence id 0), LOCAL INFILE content or auth data (a non-zero sequence
//! id from the client), or part of the oldest unanswered command's
//! response. Commands wait in a bounded queue, so a client that pipelines
//! (MariaDB's connectors can) is still paired in order; records are emitted
//! in command order as responses complete.

use std::collections::VecDeque;

use podwire_record::{Mysql, Outcome, Timestamp};
use podwire_sql::{mask_with, verb_in, Dialect, MaskOptions};

use crate::command::{self, Command, Reply};
use crate::framing::Packet;
use crate::handshake;
use crate::prepared::{Prepared, Stmt, LAST};
use crate::response::{self, Env, Pending, Resp};
use crate::wire::{self, cap, Reader};
use crate::{MysqlConfig, MysqlEvent, MysqlStats};

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the server's greeting.
    Greeting,
    /// Greeting seen; waiting for the client's login.
    Login,
    /// Login seen; authentication until the server's OK or ERR.
    Auth,
    /// Commands and responses.
    Command,
}

/// What the caller does after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The login negotiated compression: both directions switch now.
    Compress,
    /// The parse ends with this status.
    Stop(podwire_parse::Status),
}

/// Longest user name or database kept.
const MAX_NAME: usize = 256;

#[derive(Debug)]
pub struct Conn {
    config: MysqlConfig,
    pub phase: Phase,
    env: Env,
    user: Option<String>,
    database: Option<String>,
    version: Option<String>,
    prepared: Prepared,
    pending: VecDeque<Pending>,
    pub stats: MysqlStats,
}

impl Conn {
    pub fn new(config: &MysqlConfig, phase: Phase) -> Self {
        Conn {
            config: config.clone(),
            phase,
            env: Env {
                // Until a login says otherwise: a 4.1+ client.
                caps: cap::PROTOCOL_41 | cap::SECURE_CONNECTION,
                eof_mode: None,
                max_error_len: config.max_error_len,
                schema: None,
            },
            user: None,
            database: None,
            version: None,
            prepared: Prepared::new(config.max_prepared_statements),
            pending: VecDeque::new(),
            stats: MysqlStats::default(),
        }
    }

    /// How many payload bytes of the next packet in a direction are read:
    /// client commands and short server packets whole (up to the limit),
    /// rows and file content only far enough to tell them apart.
    pub fn keep(&self, to_server: bool, seq: u8) -> usize {
        if self.phase != Phase::Command {
            // Logins are read whole (the framer caps them at its floor).
            return usize::MAX;
        }
        let limit = self.config.max_packet_bytes;
        if to_server {
            return if seq == 0 { limit } else { 0 };
        }
        match self.pending.iter().find(|c| !c.done).map(|c| c.state) {
            Some(Resp::Rows | Resp::Columns(_) | Resp::FieldList | Resp::PrepareDefs { .. }) => {
                limit.min(64 + self.config.max_error_len)
            }
            _ => limit,
        }
    }

    /// Has a command waiting for its response.
    pub fn awaiting(&self) -> bool {
        self.pending.iter().any(|c| !c.done)
    }

    fn record(&self, operation: &str, command: &str) -> Mysql {
        Mysql {
            operation: operation.to_string(),
            command: command.to_string(),
            user: self.user.clone(),
            database: self.database.clone(),
            server_version: self.version.clone(),
            ..Mysql::default()
        }
    }

    fn push(&mut self, ts: Timestamp, rec: Mysql, code: Option<u8>, state: Resp) -> Flow {
        if self.pending.len() >= self.config.max_pending_commands {
            self.stats.pending_overflows += 1;
            return Flow::Stop(podwire_parse::Status::Failed);
        }
        self.pending.push_back(Pending {
            ts,
            rec,
            code,
            state,
            done: false,
            verb: "OTHER",
            login: None,
        });
        Flow::Continue
    }

    /// Emits the commands at the front whose responses are complete.
    pub fn emit_ready(&mut self, out: &mut Vec<MysqlEvent>) {
        while self.pending.front().is_some_and(|c| c.done) {
            if let Some(c) = self.pending.pop_front() {
                out.push(MysqlEvent {
                    ts: c.ts,
                    body: c.rec,
                });
            }
        }
    }

    /// Emits every command, answered or not.
    pub fn flush(&mut self, out: &mut Vec<MysqlEvent>) {
        for c in self.pending.drain(..) {
            if !c.done && c.rec.latency_ms.is_some() {
                self.stats.incomplete_responses += 1;
            }
            out.push(MysqlEvent {
                ts: c.ts,
                body: c.rec,
            });
        }
    }

    /// A packet from the server.
    pub fn server(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        if p.cut() {
            self.stats.packets_cut += 1;
        }
        match self.phase {
            Phase::Greeting => self.greeting(p, out),
            Phase::Login => {
                self.stats.unexpected_packets += 1;
                Flow::Continue
            }
            Phase::Auth | Phase::Command => self.answer(p, out),
        }
    }

    fn greeting(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        if p.first() == Some(0xFF) {
            // Refused before the handshake (too many connections, host
            // blocked): one CONNECT record with the error.
            let mut rec = self.record("CONNECT", "CONNECT");
            rec.latency_ms = None;
            let mut c = Pending {
                ts: p.ts,
                rec,
                code: None,
                state: Resp::Auth,
                done: false,
                verb: "OTHER",
                login: None,
            };
            response::step(&mut c, p, &mut self.env);
            c.rec.latency_ms = None;
            out.push(MysqlEvent {
                ts: c.ts,
                body: c.rec,
            });
            return Flow::Stop(podwire_parse::Status::Done);
        }
        match handshake::greeting(p.data) {
            Some(g) => {
                self.version = Some(handshake::version_text(g.version));
                self.phase = Phase::Login;
                Flow::Continue
            }
            None => {
                self.stats.malformed += 1;
                Flow::Stop(podwire_parse::Status::Failed)
            }
        }
    }

    /// A server packet in answer to the oldest unanswered command.
    fn answer(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        let Some(c) = self.pending.iter_mut().find(|c| !c.done) else {
            if !response::is_progress(p) {
                self.stats.unexpected_packets += 1;
            }
            return Flow::Continue;
        };
        response::step(c, p, &mut self.env);
        if let Some(schema) = self.env.schema.take() {
            // Empty when the default database was dropped.
            self.database = Some(schema).filter(|s| !s.is_empty());
        }
        if !c.done {
            return Flow::Continue;
        }
        let ok = c.rec.outcome == Some(Outcome::Ok);
        let code = c.code;
        let mut flow = Flow::Continue;
        match code {
            None => {
                if ok {
                    self.phase = Phase::Command;
                    flow = self.compression();
                } else {
                    // The server closes a connection whose login failed.
                    flow = Flow::Stop(podwire_parse::Status::Done);
                }
            }
            Some(command::STMT_PREPARE) if ok => {
                if let Some(id) = c.rec.statement_id {
                    let stmt = Stmt {
                        text: c.rec.statement.clone(),
                        truncated: c.rec.truncated,
                        verb: c.verb,
                    };
                    self.prepared.insert(id, stmt);
                }
            }
            Some(command::INIT_DB) if ok => self.database = c.rec.database.clone(),
            Some(command::CHANGE_USER) if ok => {
                if let Some((user, db)) = c.login.take() {
                    self.user = user;
                    self.database = db;
                }
                self.prepared.clear();
            }
            Some(command::RESET_CONNECTION) if ok => self.prepared.clear(),
            _ => {}
        }
        self.stats.prepared_evicted = self.prepared.evicted;
        self.emit_ready(out);
        flow
    }

    fn compression(&mut self) -> Flow {
        if self.env.caps & cap::ZSTD_COMPRESSION != 0 {
            self.stats.compression_unsupported += 1;
            return Flow::Stop(podwire_parse::Status::Done);
        }
        if self.env.caps & cap::COMPRESS != 0 {
            self.stats.compressed = true;
            return Flow::Compress;
        }
        Flow::Continue
    }

    /// A packet from the client.
    pub fn client(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        if p.cut() {
            self.stats.packets_cut += 1;
        }
        match (self.phase, p.seq) {
            (Phase::Greeting | Phase::Login, 1) => self.login(p, out),
            (_, 0) => self.command(p, out),
            (Phase::Command, _) => {
                // LOCAL INFILE content, or auth data of a COM_CHANGE_USER.
                match self.pending.back_mut() {
                    Some(c) if c.state == Resp::Infile => {
                        let n = c.rec.infile_bytes.unwrap_or(0);
                        c.rec.infile_bytes = Some(n.saturating_add(p.len));
                    }
                    Some(c) if c.state == Resp::Auth => {}
                    _ => self.stats.unexpected_packets += 1,
                }
                Flow::Continue
            }
            // Authentication data: never read.
            (Phase::Auth, _) => Flow::Continue,
            _ => {
                self.stats.unexpected_packets += 1;
                Flow::Continue
            }
        }
    }

    fn login(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        let Some(l) = handshake::login(p.data) else {
            self.stats.malformed += 1;
            return Flow::Stop(podwire_parse::Status::Failed);
        };
        self.env.caps = l.caps;
        self.env.eof_mode = Some(l.caps & cap::DEPRECATE_EOF == 0);
        if l.ssl {
            let rec = self.record("SSL", "CONNECT");
            out.push(MysqlEvent {
                ts: p.ts,
                body: rec,
            });
            self.stats.tls = true;
            return Flow::Stop(podwire_parse::Status::Done);
        }
        self.user = l.user.map(|u| wire::text(u, MAX_NAME));
        self.database = l.database.map(|d| wire::text(d, MAX_NAME));
        self.phase = Phase::Auth;
        let rec = self.record("CONNECT", "CONNECT");
        self.push(p.ts, rec, None, Resp::Auth)
    }

    fn command(&mut self, p: &Packet<'_>, out: &mut Vec<MysqlEvent>) -> Flow {
        let Some(code) = p.first() else {
            self.stats.malformed += 1;
            return Flow::Continue;
        };
        if self.phase == Phase::Auth {
            // The login's answer was missed; commands tell it succeeded.
            self.phase = Phase::Command;
        }
        let cmd = command::command(code).unwrap_or(Command {
            code,
            name: "UNKNOWN",
            reply: Reply::Single,
        });
        let mut rec = self.record(cmd.name, cmd.name);
        let arg = p.data.get(1..).unwrap_or_default();
        let mut verb = "OTHER";
        let mut login = None;
        if command::has_text(code) {
            let text = self.query_text(arg);
            let (statement, truncated, v) = self.statement(text, p.cut());
            (rec.statement, rec.truncated, verb) = (statement, truncated, v);
            rec.operation = if code == command::QUERY { v } else { "PREPARE" }.to_string();
        } else if command::has_statement_id(code) {
            self.statement_by_id(code, arg, &mut rec);
        } else if code == command::INIT_DB {
            rec.database = Some(wire::text(arg, MAX_NAME));
        } else if code == command::CHANGE_USER {
            let (user, db) = handshake::change_user(p.data, self.env.caps);
            let user = user.map(|u| wire::text(u, MAX_NAME));
            let db = db.map(|d| wire::text(d, MAX_NAME));
            rec.user.clone_from(&user);
            rec.database.clone_from(&db);
            login = Some((user, db));
        }
        let state = match cmd.reply {
            Reply::Result => Resp::Start,
            Reply::Single => Resp::Single,
            Reply::Prepare => Resp::Prepare,
            Reply::FieldList => Resp::FieldList,
            Reply::Rows => Resp::Rows,
            Reply::Auth => Resp::Auth,
            Reply::None | Reply::Stream => {
                self.pending.push_back(Pending {
                    ts: p.ts,
                    rec,
                    code: Some(code),
                    state: Resp::Single,
                    done: true,
                    verb,
                    login: None,
                });
                if code == command::STMT_CLOSE {
                    let id = Reader::new(arg).u32().unwrap_or(LAST);
                    self.prepared.remove(id);
                }
                if cmd.reply == Reply::Stream {
                    self.flush(out);
                    return Flow::Stop(podwire_parse::Status::Done);
                }
                self.emit_ready(out);
                return Flow::Continue;
            }
        };
        let flow = self.push(p.ts, rec, Some(code), state);
        if let Some(c) = self.pending.back_mut() {
            c.verb = verb;
            c.login = login;
        }
        flow
    }

    /// A COM_QUERY's text; with `CLIENT_QUERY_ATTRIBUTES` (MySQL 8) it
    /// follows the attribute count, which podwire expects to be zero.
    fn query_text<'a>(&self, arg: &'a [u8]) -> &'a [u8] {
        const QUERY_ATTRIBUTES: u64 = 1 << 27;
        if self.env.caps & QUERY_ATTRIBUTES == 0 {
            return arg;
        }
        let mut r = Reader::new(arg);
        match (r.lenenc(), r.lenenc()) {
            (Some(0), Some(_)) => r.rest(),
            _ => &[],
        }
    }

    /// The statement for a record, its truncation, and its verb.
    fn statement(&mut self, raw: &[u8], cut: bool) -> (Option<String>, bool, &'static str) {
        // Some clients (mysqlslap) send the C string's NUL too.
        let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let text = wire::utf8_prefix(&raw[..end]);
        let verb = verb_in(&text, Dialect::Mysql);
        let max = self.config.max_statement_len;
        let (s, t) = if self.config.show_secrets {
            let s = wire::text(text.as_bytes(), max);
            let t = s.len() < text.len();
            (s, t)
        } else {
            let opts = MaskOptions {
                dialect: Dialect::Mysql,
                max_len: max,
                collapse_in_lists: true,
            };
            let m = mask_with(&text, &opts);
            (m.text, m.truncated)
        };
        let truncated = t || cut;
        if truncated {
            self.stats.statements_truncated += 1;
        }
        (Some(s), truncated, verb)
    }

    /// Fills in a `COM_STMT_*` record from the statement it names.
    fn statement_by_id(&mut self, code: u8, arg: &[u8], rec: &mut Mysql) {
        let Some(id) = Reader::new(arg).u32() else {
            self.stats.malformed += 1;
            return;
        };
        let executes = matches!(code, command::STMT_EXECUTE | command::STMT_BULK_EXECUTE);
        // MariaDB may execute the statement it is still preparing.
        let pending = match id {
            LAST => self
                .pending
                .iter()
                .rev()
                .find(|c| c.code == Some(command::STMT_PREPARE) && !c.done)
                .map(|c| Stmt {
                    text: c.rec.statement.clone(),
                    truncated: c.rec.truncated,
                    verb: c.verb,
                }),
            _ => None,
        };
        let stmt = pending.or_else(|| self.prepared.get(id).cloned());
        if id != LAST {
            rec.statement_id = Some(id);
        }
        match stmt {
            Some(s) => {
                if executes {
                    rec.operation = s.verb.to_string();
                }
                rec.statement = s.text;
                rec.truncated = s.truncated;
            }
            None if executes => {
                rec.operation = "EXECUTE".to_string();
                self.stats.unknown_statements += 1;
            }
            None => {}
        }
    }
}
