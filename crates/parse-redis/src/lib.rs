//! Redis commands and their replies from the two byte streams of a TCP
//! connection, in RESP2 or RESP3.
//!
//! The tracker hands this parser each direction's reassembled bytes; out
//! come [`RedisEvent`]s: one per command, with what was seen of its reply
//! (type, size, elements, error, latency), and one per pub/sub message
//! delivered to a subscriber. Commands arrive as arrays of bulk strings or
//! as inline lines (`PING\r\n`); replies may be any RESP2 or RESP3 type,
//! nested, preceded by attributes, or streamed (`$?`, `*?`). Pipelined
//! commands pair with their replies in order; the exceptions (`CLIENT REPLY
//! OFF`/`SKIP`, subscription confirmations, RESP3 pushes, `MONITOR` output)
//! are in `session`.
//!
//! Transactions: each command between `MULTI` and `EXEC` is a record of its
//! own with `queued` set (its reply is `QUEUED`); `EXEC`'s record counts the
//! results (`reply_elements`) and the failed ones (`reply_errors`), and has
//! a `null` reply when a `WATCH`ed key aborted it. Pub/sub deliveries
//! (`message`, `pmessage`, `smessage`) are records with `operation`
//! `MESSAGE`, `PMESSAGE` or `SMESSAGE`, their channel and payload size;
//! other RESP3 pushes (client-side caching's `invalidate`, ...) and
//! `MONITOR` lines are only counted ([`RedisStats`]).
//!
//! It is built for volume: values are never copied whole, only the first
//! bytes of a command's arguments (for its name, key and shown text) and of
//! a reply's first elements (for pub/sub and errors) are kept, in buffers
//! reused from message to message. A command costs the record's strings
//! (operation, command text, key); a reply nothing. What it holds is bounded
//! by [`RedisConfig`]: per direction one message's kept bytes and a stack of
//! open aggregates, and a queue of commands awaiting replies.
//!
//! Secrets: a record's command shows the name, key and channels only, other
//! arguments `?`, unless [`RedisConfig::show_secrets`]; credentials are
//! never shown (see `command`).
//!
//! Captures lose packets. A gap inside a bulk value is skipped in sync;
//! anywhere else the direction resynchronises at the next segment or line
//! that starts a command (or a reply), and pairing stops until it can be
//! trusted again, emitting commands without replies rather than with
//! someone else's (see `session`). [`RedisParser::mid_stream`] starts in
//! that state.
//!
//! Known limits: resynchronisation looks for a message start at segment
//! starts and line starts, and a value's bytes can look like one; a client
//! that keeps a deep pipeline full through a gap can have replies paired
//! with the wrong commands. Only the first `max_args` arguments of a
//! command are read for its text.
//!
//! Modules: `resp` reads RESP incrementally, `inline` splits inline
//! commands, `command` names and masks commands, `reply` classifies server
//! messages, `session` pairs them, `detect` recognises Redis by content.

mod command;
mod detect;
mod inline;
mod reply;
mod resp;
mod session;

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Redis, Timestamp};

use resp::{Limits, Reader, Role, Step};
use session::Session;

pub use detect::{looks_like_redis, looks_like_reply_only};

/// Bytes skipped without finding a message before a stream is judged not Redis.
const MAX_SKIP_UNSYNCED: u64 = 64 * 1024;

/// Limits and options of a [`RedisParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// Show command arguments other than keys and channels. Credentials stay
    /// masked whatever this says. Default `false`.
    pub show_secrets: bool,
    /// Most commands held while waiting for their replies; when a client
    /// pipelines more, the oldest is emitted unanswered (and its reply
    /// skipped when it comes). Default 1024.
    pub max_pending: usize,
    /// Bytes kept of one message per direction: its arguments' first bytes
    /// and a line that spans segments. Values beyond are counted, not kept.
    /// Default 4 KiB.
    pub max_buffer_bytes: usize,
    /// Deepest nesting of aggregates; deeper is malformed. Default 32.
    pub max_depth: usize,
    /// Arguments of a command read for its text and key. Default 64.
    pub max_args: usize,
    /// Longest command text in a record, in bytes. Default 256.
    pub max_command_len: usize,
    /// Longest key, channel or shown argument in a record. Default 128.
    pub max_arg_len: usize,
    /// Longest error message in a record. Default 256.
    pub max_error_len: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            show_secrets: false,
            max_pending: 1024,
            max_buffer_bytes: 4096,
            max_depth: 32,
            max_args: 64,
            max_command_len: 256,
            max_arg_len: 128,
            max_error_len: 256,
        }
    }
}

/// One command and what was seen of its reply, or one pub/sub delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisEvent {
    /// Capture time of the packet carrying the command's first byte (the
    /// delivery's, for a delivery).
    pub ts: Timestamp,
    /// The record's Redis fields.
    pub body: Redis,
}

/// Counters of one connection, for the caller's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Commands read.
    pub commands: u64,
    /// Replies paired with a command (each subscription confirmation counts).
    pub replies: u64,
    /// Pub/sub deliveries (each a record).
    pub deliveries: u64,
    /// RESP3 pushes that are neither deliveries nor confirmations of a
    /// command seen (`invalidate`, ...).
    pub pushes: u64,
    /// `MONITOR` output lines.
    pub monitor_lines: u64,
    /// Commands emitted unanswered because `max_pending` was reached.
    pub pending_overflows: u64,
    /// Commands emitted without a reply because a gap or a mid-stream join
    /// made their reply impossible to identify.
    pub unpaired_commands: u64,
    /// Replies with no command to pair with (dropped).
    pub orphan_replies: u64,
    /// Bytes that are not RESP where RESP was due.
    pub malformed: u64,
    /// Gaps that lost track of message boundaries in one direction.
    pub desyncs: u64,
    /// Bytes skipped while looking for a message start.
    pub skipped_bytes: u64,
    /// Records with something cut at a configured length.
    pub truncated: u64,
}

/// Parser of one connection's Redis traffic; see the crate docs.
#[derive(Debug)]
pub struct RedisParser {
    config: RedisConfig,
    client: Reader,
    server: Reader,
    session: Session,
    stats: RedisStats,
    /// A whole message was read: the stream is Redis.
    seen_message: bool,
    /// Joined mid-way: bytes that are not RESP are skipped, not fatal.
    mid_stream: bool,
    ended: Option<Status>,
}

impl RedisParser {
    /// A parser for a connection seen from its first byte.
    pub fn new(config: &RedisConfig) -> Self {
        RedisParser::build(config, true)
    }

    /// A parser for a connection joined mid-way (or whose start was lost):
    /// both directions are picked up at the first message start, and
    /// replies are paired only once the count owed is known again.
    pub fn mid_stream(config: &RedisConfig) -> Self {
        RedisParser::build(config, false)
    }

    fn build(config: &RedisConfig, synced: bool) -> Self {
        let client = Limits {
            item_bytes: config.max_arg_len.max(32),
            message_bytes: config.max_buffer_bytes,
            items: config.max_args.max(4),
            depth: config.max_depth,
        };
        let server = Limits {
            item_bytes: config.max_error_len.max(config.max_arg_len).max(32),
            items: 4,
            ..client
        };
        RedisParser {
            config: config.clone(),
            client: Reader::new(Role::Client, client, synced),
            server: Reader::new(Role::Server, server, synced),
            session: Session::new(synced),
            stats: RedisStats::default(),
            seen_message: false,
            mid_stream: !synced,
            ended: None,
        }
    }

    /// Counters of this connection so far.
    pub fn stats(&self) -> RedisStats {
        let mut stats = self.stats;
        stats.skipped_bytes = self.client.skipped.saturating_add(self.server.skipped);
        stats
    }

    /// `dir` lost track of message boundaries.
    fn desync(&mut self, dir: Direction, out: &mut Vec<RedisEvent>) {
        // Lost commands owe replies; lost server bytes may have held replies
        // owed, unless none were.
        if dir == Direction::ToServer || self.session.owes() {
            self.session.lose_trust(&mut self.stats, out);
        }
    }

    fn read(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<RedisEvent>,
    ) -> Status {
        let mut pos = 0;
        match dir {
            Direction::ToServer => self.client.segment_start(),
            Direction::ToClient => self.server.segment_start(),
        }
        // Each turn completes a message or consumes the input.
        loop {
            let step = match dir {
                Direction::ToServer => self.client.advance(bytes, &mut pos, ts),
                Direction::ToClient => self.server.advance(bytes, &mut pos, ts),
            };
            match step {
                Step::More => break,
                Step::Message => {
                    let first = !self.seen_message;
                    self.seen_message = true;
                    match dir {
                        Direction::ToServer => {
                            let cmd = command::describe(&self.client.msg, &self.config);
                            // Any line is an inline command to Redis; as the
                            // first words of a connection, an unknown one
                            // says it is something else.
                            if first && !cmd.known && self.client.msg.kind == resp::Kind::Inline {
                                self.stats.malformed += 1;
                                return Status::Failed;
                            }
                            self.stats.truncated += u64::from(cmd.record.truncated);
                            let idle = self.server.idle();
                            let (ts, config) = (self.client.msg.ts, &self.config);
                            self.session
                                .command(cmd, ts, idle, config, &mut self.stats, out);
                        }
                        Direction::ToClient => self.session.server_message(
                            &self.server.msg,
                            &self.config,
                            &mut self.stats,
                            out,
                        ),
                    }
                }
                Step::Malformed => {
                    self.stats.malformed += 1;
                    if !self.seen_message && !self.mid_stream {
                        return Status::Failed;
                    }
                    self.desync(dir, out);
                }
            }
        }
        if !self.seen_message && self.stats().skipped_bytes > MAX_SKIP_UNSYNCED {
            return Status::Failed;
        }
        Status::Continue
    }

    /// Records that the connection stops here with `status`.
    fn conclude(&mut self, status: Status, out: &mut Vec<RedisEvent>) -> Status {
        if status != Status::Continue {
            self.session.flush(None, out);
            self.ended = Some(status);
        }
        status
    }
}

impl StreamParser for RedisParser {
    type Output = RedisEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<RedisEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        let status = self.read(dir, ts, bytes, out);
        self.conclude(status, out)
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Vec<RedisEvent>,
    ) -> Status {
        if let Some(status) = self.ended {
            return status;
        }
        if len == 0 {
            return Status::Continue;
        }
        let in_sync = match dir {
            Direction::ToServer => self.client.gap(len),
            Direction::ToClient => self.server.gap(len),
        };
        if !in_sync {
            self.stats.desyncs += 1;
            self.desync(dir, out);
        }
        Status::Continue
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<RedisEvent>) {
        if self.ended.is_some() {
            return;
        }
        self.session.flush(None, out);
        self.ended = Some(Status::Done);
    }
}
