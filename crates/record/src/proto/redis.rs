//! `redis` records: one per command and its reply, and one per pub/sub
//! message delivered to a subscriber.

use super::{Outcome, ProtoError};
use serde::Serialize;
use std::borrow::Cow;

/// One Redis command and what was seen of its reply, or one pub/sub delivery.
///
/// Commands sent between `MULTI` and `EXEC` are records of their own, with
/// `queued` set and the server's `QUEUED` as their reply; their results are
/// the elements of `EXEC`'s reply (`reply_elements`, `reply_errors`).
/// Deliveries (`operation` `MESSAGE`, `PMESSAGE`, `SMESSAGE`) answer no
/// command: they have no `command`, `latency_ms` or `outcome`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Redis {
    /// Bounded label: the command name in upper case (`GET`, `HSET`...), two
    /// words for container commands (`CLIENT LIST`, `CONFIG GET`, `XINFO
    /// STREAM`), `OTHER` for a name Redis 7.0 does not know; `MESSAGE`,
    /// `PMESSAGE` or `SMESSAGE` for a delivery. Borrowed from the command
    /// table: one allocation less per record.
    pub operation: Cow<'static, str>,
    /// The command as text: its name, then its key and pub/sub channels,
    /// every other argument `?` (`SET user:1 ?`) unless secrets are shown.
    /// Credentials (`AUTH`'s arguments, `HELLO`/`MIGRATE`'s `AUTH`, password
    /// settings and `ACL SETUSER` password rules) are `?` whatever the
    /// setting. Arguments that are empty, hold spaces or bytes that are not
    /// printable ASCII are quoted as `redis-cli` quotes them; cut at the
    /// configured length, ending in `...`.
    pub command: Option<String>,
    /// The command's first key, where Redis' key specs place it (cut, ending
    /// in `...`). Null for commands without keys.
    pub key: Option<String>,
    /// The channel of a delivery, and the first channel of `PUBLISH`,
    /// `SUBSCRIBE` and the like.
    pub channel: Option<String>,
    /// The pattern that matched a `PMESSAGE` delivery.
    pub pattern: Option<String>,
    /// Words of the command, its name included (`SET k v` has 3).
    pub args: u64,
    /// Size of the command on the wire, in bytes.
    pub command_bytes: u64,
    /// Sent inside `MULTI`: the reply is `QUEUED` (or an error when the
    /// command was refused), the result one of `EXEC`'s.
    pub queued: bool,
    /// From the command's first byte to its reply's first byte (to the first
    /// confirmation for `SUBSCRIBE` and the like). Blocking commands
    /// (`BLPOP`, `XREAD BLOCK`...) include the time they waited.
    pub latency_ms: Option<f64>,
    /// Null without a reply: none was seen (lost, or the connection ended),
    /// or none was due (`CLIENT REPLY OFF`/`SKIP`), or a delivery.
    pub outcome: Option<Outcome>,
    /// For an error reply: `code` is its first word (`ERR`, `WRONGTYPE`,
    /// `NOAUTH`...), `message` the rest, cut at the configured length.
    pub error: Option<ProtoError>,
    /// The reply's RESP type: `simple`, `error`, `integer`, `bulk`, `null`,
    /// `array`, `map`, `set`, `double`, `boolean`, `verbatim`, `bignum` or
    /// `push` (attributes before a reply are skipped).
    pub reply_type: Option<&'static str>,
    /// Size of the reply on the wire, in bytes (of all confirmations, for
    /// `SUBSCRIBE` and the like; of the message, for a delivery).
    pub reply_bytes: Option<u64>,
    /// Elements of an aggregate reply (entries of a map); for `SUBSCRIBE`
    /// and the like, the confirmations received.
    pub reply_elements: Option<u64>,
    /// Error replies among an aggregate reply's elements: the commands of a
    /// transaction that failed, for `EXEC`.
    pub reply_errors: Option<u64>,
    /// Size of a delivery's message, in bytes.
    pub payload_bytes: Option<u64>,
    /// Something was cut at a configured length: the command text, key,
    /// channel or error message (or a value lost to a capture gap).
    pub truncated: bool,
}
