//! PostgreSQL wire protocol v3 from the two byte streams of a TCP connection.
//!
//! The tracker hands this parser each direction's reassembled bytes; out
//! come [`PostgresEvent`]s, one per statement run, with its result: the
//! CommandComplete tag and row count, or the ErrorResponse's SQLSTATE and
//! message, and the latency between. Statements are masked with
//! [`podwire_sql::mask`] (literals become `?`) unless
//! [`PostgresConfig::show_secrets`] says otherwise, and named by
//! [`podwire_sql::verb`], a label of bounded cardinality.
//!
//! What becomes a record:
//!
//! - The StartupMessage: one `STARTUP` record, its latency running to the
//!   first ReadyForQuery, with the authentication method the server asked
//!   for. Its `user`, `database` and `application_name` ride on every later
//!   record. Passwords, SASL and GSS exchanges are never read: the framer
//!   skips their bodies unseen.
//! - SSLRequest and GSSENCRequest: one `SSL` (`GSSENC`) record tagged
//!   `accepted` or `refused`. Accepted, the rest is encrypted and the parser
//!   reports [`Status::Done`]; refused, the plaintext startup follows.
//! - CancelRequest: one `CANCEL` record naming the backend to cancel (never
//!   its secret key), then [`Status::Done`]: the server closes.
//! - A simple Query: one record per statement the server ran, paired with
//!   that statement's CommandComplete, EmptyQueryResponse or ErrorResponse
//!   (statements after an error do not run and get no record).
//! - The extended protocol: one record per Execute, whose statement comes
//!   from the Bind that made the portal and the Parse that made the
//!   statement (named or unnamed), with latency from the Bind. An error in a
//!   Parse, Bind or Describe is recorded on the Execute it prevented (or on
//!   the Parse's statement when no Execute followed); the server skips to the
//!   Sync, and so does the pairing.
//! - FunctionCall: a `FUNCTION_CALL` record. COPY: the statement's record
//!   counts the CopyData bytes either way, never buffering them.
//! - NotificationResponse (LISTEN/NOTIFY): a `NOTIFICATION` record per
//!   delivery with its channel (not its payload), at the time of delivery.
//!   NoticeResponses are counted on the request they arrived during.
//! - An ErrorResponse that answers nothing (a session terminated by an
//!   administrator, or an error at an extended-protocol Sync's commit): an
//!   `ERROR` record.
//!
//! Clients may pipeline: responses come back in request order, so pairing
//! is a queue ([`pending`]), bounded by [`PostgresConfig`] like everything
//! else buffered: each message's body prefix, the statements remembered per
//! connection. DataRow and CopyData bodies are counted and skipped,
//! whatever their size.
//!
//! Captures lose bytes. A gap inside a message of known length keeps the
//! framer in step; otherwise the direction resynchronises at the first point
//! where whole, well-formed messages chain to the end of a segment
//! ([`looks_like_postgres`]'s test), and pairing skips to the end of the
//! unit (the next ReadyForQuery) rather than pair a response with the wrong
//! request. [`PostgresParser::mid_stream`] starts in that state, for a
//! connection whose start was not captured: statements prepared before the
//! capture began are recorded by name, their operation read from the
//! CommandComplete tag.
//!
//! Known limits: a gap that swallows several whole units of a pipelining
//! client can misattribute responses until the next type mismatch; the
//! replication protocol (CopyBoth) ends the parse; protocol 3.2's longer
//! cancel keys are accepted, not checked.
//!
//! Modules: `frame` cuts messages, `detect` recognises them, `msg` reads
//! their fields, `pending` pairs them, `client` and `server` drive each
//! direction.

mod client;
mod detect;
mod frame;
mod msg;
mod pending;
mod server;

use std::collections::{HashMap, VecDeque};
use std::mem;
use std::rc::Rc;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Postgres, Timestamp};

use frame::{Framer, GapEffect, Mode, Next};
use pending::{Conn, Pending, Stmt};

pub use detect::looks_like_postgres;

/// Limits and options of a [`PostgresParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Most bytes of one message's body buffered: a Query or Parse longer
    /// than this is recorded from its first bytes (and marked truncated).
    /// DataRow, CopyData and password bodies are never buffered. Default
    /// 64 KiB.
    pub max_message_bytes: usize,
    /// Most requests awaiting responses; past it the oldest are emitted
    /// unanswered and their responses skipped. Default 256.
    pub max_pending_requests: usize,
    /// Most prepared statements (and, separately, named portals) remembered
    /// per connection; past it an arbitrary one is forgotten. Default 256.
    pub max_prepared_statements: usize,
    /// Most characters of a recorded statement. Default 2048.
    pub max_statement_len: usize,
    /// Most characters of a recorded error message. Default 512.
    pub max_error_len: usize,
    /// Most statements of one simple Query recorded separately; the
    /// responses of any past it are recorded without a statement. Default 64.
    pub max_statements_per_query: usize,
    /// Record statements verbatim (literals and comments included) instead
    /// of masked. Default false.
    pub show_secrets: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            max_message_bytes: 64 * 1024,
            max_pending_requests: 256,
            max_prepared_statements: 256,
            max_statement_len: 2048,
            max_error_len: 512,
            max_statements_per_query: 64,
            show_secrets: false,
        }
    }
}

/// One request and what was seen of its response.
#[derive(Clone, Debug, PartialEq)]
pub struct PostgresEvent {
    /// Capture time of the packet carrying the request's first message (for
    /// a `NOTIFICATION` or an unasked `ERROR`, the server's message).
    pub ts: Timestamp,
    pub body: Postgres,
}

/// What went wrong on a connection, for the caller's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostgresStats {
    /// Messages with an impossible type or length; the direction
    /// resynchronised.
    pub malformed: u64,
    /// Gaps that lost message boundaries (in one direction).
    pub desyncs: u64,
    /// Gaps that lost (part of) a message the parser reads, its boundaries
    /// still known.
    pub messages_lost: u64,
    /// Bytes skipped while looking for a message start.
    pub resync_skipped_bytes: u64,
    /// Messages longer than `max_message_bytes` that were read from their
    /// prefix (DataRow and CopyData, never read, are not counted).
    pub oversized_messages: u64,
    /// Statements cut at `max_statement_len` or by `max_message_bytes`.
    pub statements_truncated: u64,
    /// Times `max_pending_requests` was reached.
    pub pending_overflows: u64,
    /// Prepared statements or portals forgotten at
    /// `max_prepared_statements`.
    pub prepared_overflows: u64,
    /// Requests emitted without a response.
    pub unanswered: u64,
    /// Server messages with no request to pair with (skipped).
    pub orphan_responses: u64,
    /// Responses of a type the request awaiting one cannot get: pairing
    /// skipped to the end of the unit.
    pub mismatches: u64,
}

/// Parser of one connection's PostgreSQL traffic; see the crate docs.
#[derive(Debug)]
pub struct PostgresParser {
    config: PostgresConfig,
    client: Framer,
    server: Framer,
    queue: VecDeque<Pending>,
    conn: Conn,
    /// Prepared statements by name; the unnamed one apart.
    statements: HashMap<Box<[u8]>, Named>,
    unnamed_statement: Option<Rc<Stmt>>,
    /// Portals by name, each with the time of the Bind that made it.
    portals: HashMap<Box<[u8]>, Portal>,
    unnamed_portal: Option<Portal>,
    /// An SSLRequest or GSSENCRequest awaits its one-byte answer.
    negotiating: Option<(&'static str, Timestamp)>,
    /// The client's messages up to its next Sync are not queued: their
    /// unit was given up on (see [`Pending::Lost`]).
    discard_until_sync: bool,
    /// Records made where no output was at hand (a request given up on
    /// while queueing another), emitted at the end of the call.
    held: Vec<PostgresEvent>,
    ended: Option<Status>,
    stats: PostgresStats,
}

/// What a message asks of the loop feeding the framer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The parse ends with this status.
    Stop(Status),
    /// The startup is over: typed messages follow.
    Typed,
    /// The message cannot be: resynchronise.
    Malformed,
}

/// A named prepared statement and its name as records carry it.
type Named = (Rc<Stmt>, Rc<str>);

/// A portal: the statement it runs and when it was bound.
#[derive(Clone, Debug)]
struct Portal {
    stmt: Option<Rc<Stmt>>,
    statement_name: Option<Rc<str>>,
    ts: Timestamp,
}

impl PostgresParser {
    /// A parser for a connection seen from its first byte.
    pub fn new(config: &PostgresConfig) -> Self {
        let max = config.max_message_bytes.max(16);
        PostgresParser {
            config: config.clone(),
            client: Framer::new(Mode::Untyped, max),
            server: Framer::new(Mode::Typed, max),
            queue: VecDeque::new(),
            conn: Conn::default(),
            statements: HashMap::new(),
            unnamed_statement: None,
            portals: HashMap::new(),
            unnamed_portal: None,
            negotiating: None,
            discard_until_sync: false,
            held: Vec::new(),
            ended: None,
            stats: PostgresStats::default(),
        }
    }

    /// A parser for a connection joined after its start: both directions
    /// look for a message start first, and responses to requests not seen
    /// are skipped up to the next ReadyForQuery.
    pub fn mid_stream(config: &PostgresConfig) -> Self {
        let mut parser = PostgresParser::new(config);
        parser.client.lose_sync();
        parser.server.lose_sync();
        parser
    }

    /// Counters of this connection's anomalies so far.
    pub fn stats(&self) -> PostgresStats {
        self.stats
    }

    /// Feeds `bytes` of `dir` through its framer.
    fn feed(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        mut input: &[u8],
        out: &mut Vec<PostgresEvent>,
    ) -> Status {
        let mut framer = match dir {
            Direction::ToServer => mem::take(&mut self.client),
            Direction::ToClient => mem::take(&mut self.server),
        };
        let want = match dir {
            Direction::ToServer => client::want,
            Direction::ToClient => server::want,
        };
        let mut status = Status::Continue;
        // Every pass consumes bytes or ends the loop.
        while status == Status::Continue && !input.is_empty() {
            if framer.lost() {
                match detect::resync_offset(dir, input) {
                    Some(at) => {
                        self.stats.resync_skipped_bytes += at as u64;
                        input = &input[at..];
                        framer.resync_at_start();
                    }
                    None => {
                        self.stats.resync_skipped_bytes += input.len() as u64;
                        break;
                    }
                }
            }
            let flow = match framer.next(&mut input, want) {
                Next::Frame(f) => {
                    if f.partial() && want(f.ty) == usize::MAX {
                        self.stats.oversized_messages += 1;
                    }
                    match dir {
                        Direction::ToServer => self.on_client(ts, f, out),
                        Direction::ToClient => self.on_server(ts, f, out),
                    }
                }
                Next::NeedMore => break,
                Next::Bad => Flow::Malformed,
            };
            status = match flow {
                Flow::Continue => Status::Continue,
                Flow::Stop(status) => status,
                Flow::Typed => {
                    framer.mode = Mode::Typed;
                    Status::Continue
                }
                Flow::Malformed => self.malformed(dir, &mut framer),
            };
        }
        match dir {
            Direction::ToServer => self.client = framer,
            Direction::ToClient => self.server = framer,
        }
        status
    }

    /// Bytes that cannot be a message where one was due.
    fn malformed(&mut self, dir: Direction, framer: &mut Framer) -> Status {
        self.stats.malformed += 1;
        // The first bytes of a connection name its protocol: these are not
        // PostgreSQL.
        if framer.mode == Mode::Untyped && self.conn_unstarted() {
            return Status::Failed;
        }
        framer.lose_sync();
        self.lost(dir);
        Status::Continue
    }

    /// Nothing of the connection has been understood yet.
    fn conn_unstarted(&self) -> bool {
        self.queue.is_empty() && self.conn.user.is_none() && self.negotiating.is_none()
    }

    /// `dir` lost messages: pairing skips to the end of the unit.
    fn lost(&mut self, dir: Direction) {
        match dir {
            Direction::ToServer => self.push_lost(true),
            Direction::ToClient => self.drop_front_unit(),
        }
    }

    /// Client messages were lost: their responses are to be skipped.
    fn push_lost(&mut self, tail: bool) {
        if let Some(Pending::Lost { tail: t, .. }) = self.queue.back_mut() {
            *t |= tail;
            return;
        }
        self.queue.push_back(Pending::Lost { zs: 1, tail });
    }

    /// Responses were lost: the request at the front gives up its unit,
    /// whose remaining responses are skipped up to its ReadyForQuery.
    fn drop_front_unit(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let mut zs = 0;
        let mut open = true;
        while let Some(p) = self.queue.pop_front() {
            let ends = p.ends_unit();
            if let Pending::Lost { zs: z, .. } = p {
                zs += z;
                open = false;
                continue;
            }
            self.unanswered(p);
            if ends {
                zs += 1;
                open = false;
                break;
            }
            open = true;
        }
        if open {
            // The unit's Sync is yet to come: it goes unqueued.
            zs += 1;
            self.discard_until_sync = true;
        }
        self.queue.push_front(Pending::Lost { zs, tail: false });
    }

    /// Queues `p`, making room when the queue is full.
    fn push(&mut self, p: Pending) {
        if self.discard_until_sync {
            if p.ends_unit() {
                self.discard_until_sync = false;
            }
            self.unanswered(p);
            return;
        }
        if self.queue.len() >= self.config.max_pending_requests.max(1) {
            self.stats.pending_overflows += 1;
            self.drop_front_unit();
            if self.discard_until_sync {
                if p.ends_unit() {
                    self.discard_until_sync = false;
                }
                self.unanswered(p);
                return;
            }
        }
        self.queue.push_back(p);
    }

    /// Emits the record of a request that got no (complete) response, if
    /// it is one that makes records.
    fn unanswered(&mut self, p: Pending) {
        let before = self.held.len();
        match p {
            Pending::Startup { ts, auth } => {
                let mut body = self.conn.record("STARTUP");
                body.auth = auth.map(str::to_owned);
                self.held.push(PostgresEvent { ts, body });
            }
            Pending::Query(mut q) => {
                if q.failed {
                    return;
                }
                if q.stmts.is_empty() && !q.answered {
                    self.held
                        .push(self.conn.exec_record(&q.current, None, None));
                }
                while let Some(stmt) = q.stmts.pop_front() {
                    self.held
                        .push(self.conn.exec_record(&q.current, Some(&stmt), None));
                }
            }
            Pending::Execute(e) | Pending::Function(e) => {
                self.held
                    .push(self.conn.exec_record(&e, e.stmt.as_deref(), None));
            }
            Pending::Step { .. } | Pending::Sync | Pending::Lost { .. } => {}
        }
        self.stats.unanswered += (self.held.len() - before) as u64;
    }
}

impl StreamParser for PostgresParser {
    type Output = PostgresEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<PostgresEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let status = self.feed(dir, ts, bytes, out);
        out.append(&mut self.held);
        if status != Status::Continue {
            self.flush(out);
            self.ended = Some(status);
        }
        status
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<PostgresEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        if len == 0 {
            return Status::Continue;
        }
        let framer = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        match framer.gap(len) {
            GapEffect::Harmless => {}
            GapEffect::MessageLost => {
                self.stats.messages_lost += 1;
                self.lost(dir);
            }
            GapEffect::Lost => {
                self.stats.desyncs += 1;
                self.lost(dir);
            }
        }
        out.append(&mut self.held);
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<PostgresEvent>) {
        if self.ended.is_some() {
            return;
        }
        self.flush(out);
        self.ended = Some(Status::Done);
    }
}

impl PostgresParser {
    /// Emits every request still awaiting a response, unanswered.
    fn flush(&mut self, out: &mut Vec<PostgresEvent>) {
        while let Some(p) = self.queue.pop_front() {
            self.unanswered(p);
        }
        out.append(&mut self.held);
    }
}
