//! Pairing commands with replies, and the connection state that decides
//! which server messages are replies at all.
//!
//! Redis answers commands in order, so pairing is a queue, with these
//! exceptions: commands under `CLIENT REPLY OFF` (or after `SKIP`) get no
//! reply; `SUBSCRIBE` and its kin get one confirmation per channel (as
//! pushes in RESP3), and `UNSUBSCRIBE` without channels one per
//! subscription; pub/sub deliveries, other RESP3 pushes and `MONITOR`'s
//! output lines answer nothing.
//!
//! Pairing is only as good as the count of replies owed. After a gap that
//! lost a command or a reply, or on a connection joined mid-way, that count
//! is unknown: commands are then emitted without a reply and replies
//! dropped (counted), until a quiet point proves the count is zero again: a
//! command sent after the server finished a message and before the client
//! sent anything else. That is exact for clients that wait for replies
//! (which is most, and pipelining clients between batches); a client that
//! keeps a pipeline full through the gap can still be paired wrongly.

use std::collections::VecDeque;

use podwire_record::{Redis, Timestamp};

use crate::command::{Command, ReplyMode, Special, SubKind};
use crate::reply::{self, PubSub};
use crate::resp::{Kind, Msg};
use crate::{RedisConfig, RedisEvent, RedisStats};

/// What a command waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// No reply is due (`CLIENT REPLY OFF` or `SKIP`).
    Nothing,
    /// One reply.
    One,
    /// Subscription confirmations: `left` more, or, when `left` is 0 (an
    /// `UNSUBSCRIBE` of everything), until the count drops to zero or
    /// something else arrives.
    Confirms {
        kind: SubKind,
        subscribe: bool,
        left: u64,
    },
}

#[derive(Debug)]
struct Pending {
    ts: Timestamp,
    record: Redis,
    special: Special,
    expect: Expect,
}

/// The pairing state of one connection.
#[derive(Debug)]
pub(crate) struct Session {
    queue: VecDeque<Pending>,
    reply_mode: ReplyMode,
    in_multi: bool,
    resp3: bool,
    subscribed: bool,
    monitor: bool,
    /// The count of replies owed is known.
    trusted: bool,
    /// A server message was completed since trust was lost.
    server_since_loss: bool,
    /// Commands since the last server message.
    commands_since_server: u64,
    /// Replies owed to commands emitted early (`max_pending`).
    owed_dropped: u64,
}

impl Session {
    pub(crate) fn new(trusted: bool) -> Self {
        Session {
            queue: VecDeque::new(),
            reply_mode: ReplyMode::On,
            in_multi: false,
            resp3: false,
            subscribed: false,
            monitor: false,
            trusted,
            server_since_loss: false,
            commands_since_server: 0,
            owed_dropped: 0,
        }
    }

    /// A command was read at `ts`; `server_idle` when the server's stream
    /// is between messages.
    pub(crate) fn command(
        &mut self,
        cmd: Command,
        ts: Timestamp,
        server_idle: bool,
        config: &RedisConfig,
        stats: &mut RedisStats,
        out: &mut Vec<RedisEvent>,
    ) {
        stats.commands += 1;
        if !self.trusted && self.server_since_loss && self.commands_since_server == 0 && server_idle
        {
            self.trusted = true;
        }
        self.commands_since_server = self.commands_since_server.saturating_add(1);
        let Command {
            mut record,
            special,
            ..
        } = cmd;
        let expect = self.expect(special, &mut record);
        self.apply_command(special);
        if !self.trusted {
            if expect != Expect::Nothing {
                stats.unpaired_commands += 1;
            }
            out.push(RedisEvent { ts, body: record });
            return;
        }
        if expect == Expect::Nothing && self.queue.is_empty() {
            out.push(RedisEvent { ts, body: record });
            return;
        }
        self.queue.push_back(Pending {
            ts,
            record,
            special,
            expect,
        });
        if self.queue.len() > config.max_pending {
            if let Some(oldest) = self.queue.pop_front() {
                stats.pending_overflows += 1;
                match oldest.expect {
                    Expect::One => self.owed_dropped += 1,
                    // How many confirmations are owed is not worth guessing.
                    Expect::Confirms { .. } => self.lose_trust(stats, out),
                    Expect::Nothing => {}
                }
                out.push(RedisEvent {
                    ts: oldest.ts,
                    body: oldest.record,
                });
            }
            self.emit_unanswerable(out);
        }
    }

    /// What `special` waits for, under the reply mode in force; updates the mode.
    fn expect(&mut self, special: Special, record: &mut Redis) -> Expect {
        let mode = self.reply_mode;
        // RESET turns replies back on before answering.
        if special == Special::Reset {
            self.reply_mode = ReplyMode::On;
            return Expect::One;
        }
        if let Special::ClientReply(new) = special {
            self.reply_mode = match (mode, new) {
                (ReplyMode::Off, ReplyMode::Skip) => ReplyMode::Off,
                (_, new) => new,
            };
            // `ON` is answered (unless a `SKIP` covers it); `OFF` and `SKIP` are not.
            return match (mode, new) {
                (ReplyMode::On, ReplyMode::On) | (ReplyMode::Off, ReplyMode::On) => Expect::One,
                _ => Expect::Nothing,
            };
        }
        match mode {
            ReplyMode::Off => return Expect::Nothing,
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::On;
                return Expect::Nothing;
            }
            ReplyMode::On => {}
        }
        if self.in_multi && !matches!(special, Special::Exec | Special::Discard | Special::Multi) {
            record.queued = true;
            return Expect::One;
        }
        match special {
            Special::Subscribe(kind, n) if n > 0 => Expect::Confirms {
                kind,
                subscribe: true,
                left: n,
            },
            Special::Unsubscribe(kind, n) => Expect::Confirms {
                kind,
                subscribe: false,
                left: n,
            },
            _ => Expect::One,
        }
    }

    /// Connection state a command changes as soon as it is sent.
    fn apply_command(&mut self, special: Special) {
        match special {
            Special::Multi => self.in_multi = true,
            Special::Exec | Special::Discard => self.in_multi = false,
            Special::Reset => {
                self.in_multi = false;
                self.reply_mode = ReplyMode::On;
            }
            _ => {}
        }
    }

    /// A message from the server.
    pub(crate) fn server_message(
        &mut self,
        msg: &Msg,
        config: &RedisConfig,
        stats: &mut RedisStats,
        out: &mut Vec<RedisEvent>,
    ) {
        self.server_since_loss = true;
        self.commands_since_server = 0;
        let pubsub = reply::pubsub(msg);
        // Pushes are never replies; RESP2 pub/sub messages are arrays, told
        // from replies by the subscribed state (or, lost, by shape alone).
        let pubsub_array = !self.resp3 && (self.subscribed || !self.trusted);
        if msg.kind == Kind::Push || (msg.kind == Kind::Array && pubsub.is_some()) {
            match pubsub {
                Some(PubSub::Delivery(kind)) if msg.kind == Kind::Push || pubsub_array => {
                    stats.deliveries += 1;
                    let body = reply::delivery(msg, kind, config.max_arg_len);
                    stats.truncated += u64::from(body.truncated);
                    out.push(RedisEvent { ts: msg.ts, body });
                    return;
                }
                Some(PubSub::Subscribed(kind) | PubSub::Unsubscribed(kind)) => {
                    let subscribe = matches!(pubsub, Some(PubSub::Subscribed(_)));
                    if self.confirm(msg, kind, subscribe, stats, out) {
                        return;
                    }
                    if msg.kind == Kind::Push {
                        stats.pushes += 1;
                        return;
                    }
                }
                _ if msg.kind == Kind::Push => {
                    stats.pushes += 1;
                    return;
                }
                _ => {}
            }
        }
        if self.monitor && reply::is_monitor_line(msg) {
            stats.monitor_lines += 1;
            return;
        }
        self.reply(msg, config, stats, out);
    }

    /// A subscription confirmation: counts toward the command at the head
    /// of the queue when it is the matching one. Returns whether it did.
    fn confirm(
        &mut self,
        msg: &Msg,
        kind: SubKind,
        subscribe: bool,
        stats: &mut RedisStats,
        out: &mut Vec<RedisEvent>,
    ) -> bool {
        if let Some(count) = reply::subscriptions(msg) {
            self.subscribed = count > 0;
        }
        if !self.trusted {
            return false;
        }
        self.emit_unanswerable(out);
        // An `UNSUBSCRIBE` of everything is over when another kind of
        // confirmation arrives.
        while let Some(Expect::Confirms {
            kind: k,
            subscribe: s,
            left: 0,
        }) = self.queue.front().map(|p| p.expect)
        {
            let started = self
                .queue
                .front()
                .is_some_and(|p| p.record.latency_ms.is_some());
            if !started || (k == kind && s == subscribe) {
                break;
            }
            self.pop_answered(out);
        }
        let Some(head) = self.queue.front_mut() else {
            return false;
        };
        let Expect::Confirms {
            kind: want,
            subscribe: want_sub,
            left,
        } = head.expect
        else {
            return false;
        };
        if want != kind || want_sub != subscribe {
            return false;
        }
        stats.replies += 1;
        let record = &mut head.record;
        if record.latency_ms.is_none() {
            record.latency_ms = Some(head.ts.millis_until(msg.ts));
            record.reply_type = Some(reply::type_name(msg.kind));
            record.outcome = Some(podwire_record::Outcome::Ok);
        }
        record.reply_bytes = Some(record.reply_bytes.unwrap_or(0).saturating_add(msg.bytes));
        record.reply_elements = Some(record.reply_elements.unwrap_or(0).saturating_add(1));
        let done = match left {
            0 => reply::subscriptions(msg) == Some(0),
            1 => true,
            n => {
                head.expect = Expect::Confirms {
                    kind,
                    subscribe,
                    left: n - 1,
                };
                false
            }
        };
        if done {
            self.pop_answered(out);
        }
        true
    }

    /// A reply: to the command at the head of the queue.
    fn reply(
        &mut self,
        msg: &Msg,
        config: &RedisConfig,
        stats: &mut RedisStats,
        out: &mut Vec<RedisEvent>,
    ) {
        if !self.trusted || self.owed_dropped > 0 {
            self.owed_dropped = self.owed_dropped.saturating_sub(1);
            stats.orphan_replies += 1;
            return;
        }
        self.emit_unanswerable(out);
        // An `UNSUBSCRIBE` of everything is over when something else arrives.
        while let Some(head) = self.queue.front() {
            match head.expect {
                Expect::Confirms { left: 0, .. } if head.record.latency_ms.is_some() => {
                    self.pop_answered(out)
                }
                _ => break,
            }
        }
        let Some(mut head) = self.queue.pop_front() else {
            stats.orphan_replies += 1;
            return;
        };
        stats.replies += 1;
        let record = &mut head.record;
        record.latency_ms = Some(head.ts.millis_until(msg.ts));
        let was_cut = record.truncated;
        reply::fill(record, msg, config.max_error_len);
        stats.truncated += u64::from(record.truncated && !was_cut);
        if !msg.kind.is_error() {
            match head.special {
                Special::Hello(Some(2)) => self.resp3 = false,
                Special::Hello(Some(3)) => self.resp3 = true,
                Special::Monitor => self.monitor = true,
                Special::Reset => {
                    self.resp3 = false;
                    self.subscribed = false;
                    self.monitor = false;
                }
                _ => {}
            }
        }
        out.push(RedisEvent {
            ts: head.ts,
            body: head.record,
        });
        self.emit_unanswerable(out);
    }

    /// Emits the head of the queue, answered.
    fn pop_answered(&mut self, out: &mut Vec<RedisEvent>) {
        if let Some(head) = self.queue.pop_front() {
            out.push(RedisEvent {
                ts: head.ts,
                body: head.record,
            });
        }
        self.emit_unanswerable(out);
    }

    /// Emits the commands at the head of the queue that get no reply.
    fn emit_unanswerable(&mut self, out: &mut Vec<RedisEvent>) {
        while let Some(head) = self.queue.front() {
            if head.expect != Expect::Nothing {
                break;
            }
            if let Some(head) = self.queue.pop_front() {
                out.push(RedisEvent {
                    ts: head.ts,
                    body: head.record,
                });
            }
        }
    }

    /// Replies owed may have been lost: emit what waits unanswered, and
    /// stop pairing until a quiet point.
    pub(crate) fn lose_trust(&mut self, stats: &mut RedisStats, out: &mut Vec<RedisEvent>) {
        self.trusted = false;
        self.server_since_loss = false;
        self.owed_dropped = 0;
        self.flush(Some(stats), out);
    }

    /// Whether any reply is owed.
    pub(crate) fn owes(&self) -> bool {
        self.owed_dropped > 0 || self.queue.iter().any(|p| p.expect != Expect::Nothing)
    }

    /// Emits everything waiting, as it stands.
    pub(crate) fn flush(&mut self, mut stats: Option<&mut RedisStats>, out: &mut Vec<RedisEvent>) {
        for pending in self.queue.drain(..) {
            if let Some(stats) = stats.as_deref_mut() {
                if pending.expect != Expect::Nothing && pending.record.outcome.is_none() {
                    stats.unpaired_commands += 1;
                }
            }
            out.push(RedisEvent {
                ts: pending.ts,
                body: pending.record,
            });
        }
    }
}
