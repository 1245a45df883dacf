//! MySQL and MariaDB client/server protocol from the two byte streams of a
//! TCP connection.
//!
//! Out come [`MysqlEvent`]s: one per login (`CONNECT`: user, database,
//! server version, and whether authentication succeeded) and one per
//! command (`COM_QUERY`, `COM_STMT_PREPARE`/`EXECUTE`, `COM_INIT_DB`,
//! `COM_PING`, ...) with what its response said: OK (affected rows,
//! warnings), ERR (error number, SQLSTATE, message), or result sets
//! (columns, rows counted). Statements are masked with `podwire-sql` unless
//! [`MysqlConfig::show_secrets`]; the auth response is skipped by position
//! and never read into a record.
//!
//! Choices:
//! - A response holding several results (`SERVER_MORE_RESULTS_EXISTS`:
//!   multi-statement queries, stored procedures) gives one record for its
//!   command, aggregated: `results` counts them, `rows` and `affected_rows`
//!   are summed, an ERR ends it as the server stops there too.
//! - `operation` is the statement's verb for `COM_QUERY` and
//!   `COM_STMT_EXECUTE` (the text remembered from the prepare, by id),
//!   `PREPARE` for `COM_STMT_PREPARE` so that a prepared-then-executed
//!   statement counts once under its verb, else the command's name.
//! - `COM_QUIT`, `COM_STMT_CLOSE` and `COM_STMT_SEND_LONG_DATA` (a
//!   parameter's data for the execution that follows, counted, never kept)
//!   get no answer and are recorded without outcome, one record per
//!   packet, as tshark shows them.
//! - An SSLRequest gives an `SSL` record and [`Status::Done`]: the rest is
//!   TLS. A replication stream (`COM_BINLOG_DUMP`) or clone ends the parse
//!   the same way.
//! - Compression (`CLIENT_COMPRESS`) is decoded: zlib as it streams, with a
//!   fixed 16 KiB output buffer allocated only for such connections. zstd
//!   compression (MySQL 8's `CLIENT_ZSTD_COMPRESSION_ALGORITHM`) is not: the
//!   parse ends after the login, counted in
//!   [`MysqlStats::compression_unsupported`].
//!
//! It is built for volume: a packet that arrives whole in one segment is
//! read in place; one split across segments is copied only as far as it is
//! read, so rows and LOAD DATA content are counted, never buffered. What it
//! keeps is bounded by [`MysqlConfig`]: one packet prefix per direction, a
//! queue of commands awaiting responses, and the prepared statements.
//!
//! Captures lose packets. A gap inside a packet's payload (a big row, file
//! content) is skipped in sync. Anywhere else the direction waits for a
//! segment that starts like a command (client) or a response (server);
//! commands whose responses were lost are emitted without outcome, and the
//! server's packets are paired again only with commands seen after the gap.
//! A gap in a compressed connection ends its parse.
//!
//! Known limits: statements of `COM_QUERY` with query attributes (MySQL 8's
//! `CLIENT_QUERY_ATTRIBUTES`) are read only when no attribute is sent. A
//! connection joined mid-stream assumes EOF packets are sent until a result
//! set shows otherwise (which only matters for prepare responses).
//!
//! Modules: `framing` cuts packets (and undoes compression), `wire` reads
//! fields and OK/ERR/EOF, `handshake` the greeting and login, `command` the
//! command table, `response` reads a response, `prepared` remembers
//! statements, `conn` ties them together, `detect` recognises the protocol.

mod command;
mod conn;
mod detect;
mod framing;
mod handshake;
mod prepared;
mod response;
mod wire;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Mysql, Timestamp};

use conn::{Conn, Flow, Phase};
use framing::{Framer, GapEffect, Inflater};

pub use detect::looks_like_mysql;

/// What is kept of a login packet whatever `max_packet_bytes` says, so a
/// small limit cuts statements, not the handshake.
const MIN_PACKET_BYTES: usize = 1024;

/// Limits and options of a [`MysqlParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Most bytes of one packet buffered when it arrives split across
    /// segments; the rest is counted and skipped (a statement longer than
    /// this is recorded cut, `truncated`). Rows and file content are never
    /// buffered. Login packets are read up to 1 KiB whatever this says.
    /// Default 64 KiB.
    pub max_packet_bytes: usize,
    /// Most prepared statements remembered per connection; past it the
    /// oldest is forgotten and its executions are recorded without text.
    /// Default 256.
    pub max_prepared_statements: usize,
    /// Most characters of a statement in a record. Default 4096.
    pub max_statement_len: usize,
    /// Most characters of an error message in a record. Default 512.
    pub max_error_len: usize,
    /// Most commands held waiting for their responses (clients that pipeline
    /// send several); more ends the parse ([`Status::Failed`]). Default 64.
    pub max_pending_commands: usize,
    /// Record statements as sent, literals included. Default false.
    pub show_secrets: bool,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            max_packet_bytes: 64 * 1024,
            max_prepared_statements: 256,
            max_statement_len: 4096,
            max_error_len: 512,
            max_pending_commands: 64,
            show_secrets: false,
        }
    }
}

/// One login or command and what was seen of its response.
#[derive(Clone, Debug, PartialEq)]
pub struct MysqlEvent {
    /// Capture time of the packet carrying the command's first byte.
    pub ts: Timestamp,
    pub body: Mysql,
}

/// What happened on a connection, for the caller's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MysqlStats {
    /// Gaps that lost packet boundaries in one direction.
    pub desyncs: u64,
    /// Gaps skipped inside a packet's payload without losing sync.
    pub gaps_in_sync: u64,
    /// Bytes skipped while looking for a packet start after a desync.
    pub resync_skipped_bytes: u64,
    /// Packets that did not parse where the protocol expected them.
    pub malformed: u64,
    /// Packets the protocol did not expect there (server packets with no
    /// command waiting, client packets of no exchange); skipped.
    pub unexpected_packets: u64,
    /// Packets longer than `max_packet_bytes` that arrived split (read cut).
    pub packets_cut: u64,
    /// Statements recorded cut.
    pub statements_truncated: u64,
    /// Prepared statements forgotten because of `max_prepared_statements`.
    pub prepared_evicted: u64,
    /// Executions of statement ids never seen prepared.
    pub unknown_statements: u64,
    /// Commands emitted with their response only partly seen.
    pub incomplete_responses: u64,
    /// Times `max_pending_commands` was reached.
    pub pending_overflows: u64,
    /// The connection uses zlib compression (decoded).
    pub compressed: bool,
    /// Compressed packets that did not inflate.
    pub compression_errors: u64,
    /// The connection negotiated a compression this parser does not decode.
    pub compression_unsupported: u64,
    /// The client switched to TLS.
    pub tls: bool,
}

/// One direction's framing.
#[derive(Debug)]
struct Side {
    framer: Framer,
    /// Set once compression is on.
    inflater: Option<Box<Inflater>>,
    /// Lost: waiting for a segment that starts at a packet.
    resync: bool,
}

impl Side {
    fn new(config: &MysqlConfig) -> Self {
        Side {
            framer: Framer::new(config.max_packet_bytes.max(MIN_PACKET_BYTES)),
            inflater: None,
            resync: false,
        }
    }
}

/// Parser of one connection's MySQL/MariaDB traffic; see the crate docs.
#[derive(Debug)]
pub struct MysqlParser {
    client: Side,
    server: Side,
    conn: Conn,
    ended: Option<Status>,
}

impl MysqlParser {
    /// A parser for a connection seen from its start: the server's greeting
    /// comes first.
    pub fn new(config: &MysqlConfig) -> Self {
        MysqlParser {
            client: Side::new(config),
            server: Side::new(config),
            conn: Conn::new(config, Phase::Greeting),
            ended: None,
        }
    }

    /// A parser for a connection joined after its login: each direction is
    /// picked up at the first segment that starts with a command (client)
    /// or a response (server). Records carry no user, database or version.
    pub fn mid_stream(config: &MysqlConfig) -> Self {
        let mut parser = MysqlParser::new(config);
        parser.conn.phase = Phase::Command;
        parser.client.resync = true;
        parser.server.resync = true;
        parser
    }

    /// Counters of this connection so far.
    pub fn stats(&self) -> MysqlStats {
        self.conn.stats
    }

    /// Whether a segment of `dir` starting with `bytes` is where the stream
    /// can be picked up again.
    fn resync_point(&self, dir: Direction, bytes: &[u8]) -> bool {
        match dir {
            Direction::ToServer => {
                detect::command_start(bytes, false)
                    || (self.conn.phase != Phase::Command && detect::login_start(bytes))
            }
            // Only with a command to answer: earlier responses are lost.
            Direction::ToClient => {
                self.conn.awaiting()
                    && (detect::response_start(bytes)
                        || (self.conn.phase == Phase::Auth && detect::auth_result_start(bytes)))
            }
        }
    }

    fn lose_sync(&mut self, dir: Direction, out: &mut Vec<MysqlEvent>) {
        self.conn.stats.desyncs += 1;
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        side.framer.reset();
        side.resync = true;
        if dir == Direction::ToClient {
            // The responses in flight cannot be told apart any more.
            self.conn.flush(out);
        }
        // A lost greeting leaves the login to read; a lost login or
        // authentication leaves commands.
        self.conn.phase = match self.conn.phase {
            Phase::Greeting => Phase::Login,
            _ => Phase::Command,
        };
    }
}

/// Feeds `input` of one direction through its framing into the connection.
fn pump(
    side: &mut Side,
    other: &mut Side,
    conn: &mut Conn,
    dir: Direction,
    ts: Timestamp,
    mut input: &[u8],
    out: &mut Vec<MysqlEvent>,
) -> Status {
    let to_server = dir == Direction::ToServer;
    let mut handle = |p: &framing::Packet<'_>, conn: &mut Conn| match to_server {
        true => conn.client(p, out),
        false => conn.server(p, out),
    };
    // Each turn consumes input or ends.
    loop {
        let Side {
            framer, inflater, ..
        } = &mut *side;
        if let Some(inflater) = inflater {
            let mut plain = match inflater.next(&mut input) {
                Ok(Some(plain)) => plain,
                Ok(None) => return Status::Continue,
                Err(_) => {
                    conn.stats.compression_errors += 1;
                    return Status::Done;
                }
            };
            while let Some(p) = framer.next(&mut plain, ts, |seq| conn.keep(to_server, seq)) {
                if let Flow::Stop(status) = handle(&p, conn) {
                    return status;
                }
            }
            continue;
        }
        let Some(p) = framer.next(&mut input, ts, |seq| conn.keep(to_server, seq)) else {
            return Status::Continue;
        };
        match handle(&p, conn) {
            Flow::Continue => {}
            Flow::Stop(status) => return status,
            Flow::Compress => {
                side.inflater = Some(Box::new(Inflater::new()));
                other.inflater = Some(Box::new(Inflater::new()));
            }
        }
    }
}

impl StreamParser for MysqlParser {
    type Output = MysqlEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<MysqlEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let resync = match dir {
            Direction::ToServer => self.client.resync,
            Direction::ToClient => self.server.resync,
        };
        if resync {
            if !self.resync_point(dir, bytes) {
                let n = bytes.len() as u64;
                self.conn.stats.resync_skipped_bytes += n;
                return Status::Continue;
            }
            match dir {
                Direction::ToServer => self.client.resync = false,
                Direction::ToClient => self.server.resync = false,
            }
        }
        let (side, other) = match dir {
            Direction::ToServer => (&mut self.client, &mut self.server),
            Direction::ToClient => (&mut self.server, &mut self.client),
        };
        let status = pump(side, other, &mut self.conn, dir, ts, bytes, out);
        if status != Status::Continue {
            self.conn.flush(out);
            self.ended = Some(status);
        }
        status
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<MysqlEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if len == 0 || side.resync {
            return Status::Continue;
        }
        if side.inflater.is_some() {
            // Compressed streams cannot be picked up again.
            self.conn.stats.desyncs += 1;
            self.conn.flush(out);
            self.ended = Some(Status::Done);
            return Status::Done;
        }
        match side.framer.gap(len) {
            GapEffect::InSync => self.conn.stats.gaps_in_sync += 1,
            GapEffect::Lost => self.lose_sync(dir, out),
        }
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<MysqlEvent>) {
        if self.ended.is_some() {
            return;
        }
        self.conn.flush(out);
        self.ended = Some(Status::Done);
    }
}
