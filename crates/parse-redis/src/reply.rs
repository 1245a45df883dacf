//! What a server message is: a reply and how it ended, a pub/sub delivery or
//! subscription confirmation, or a line of `MONITOR` output.

use podwire_record::{Outcome, ProtoError, Redis};

use crate::command::SubKind;
use crate::resp::{Kind, Msg};

/// The record's name for a reply's type.
pub(crate) fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Simple => "simple",
        Kind::Error | Kind::BlobError => "error",
        Kind::Integer => "integer",
        Kind::Bulk | Kind::Inline => "bulk",
        Kind::Null => "null",
        Kind::Array => "array",
        Kind::Map => "map",
        Kind::Set => "set",
        Kind::Double => "double",
        Kind::Boolean => "boolean",
        Kind::Verbatim => "verbatim",
        Kind::BigNumber => "bignum",
        Kind::Push => "push",
    }
}

fn is_aggregate(kind: Kind) -> bool {
    matches!(kind, Kind::Array | Kind::Map | Kind::Set | Kind::Push)
}

/// A pub/sub message the server sends (as a push in RESP3, an array in RESP2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PubSub {
    /// `message`, `pmessage` or `smessage`: a delivery, answering nothing.
    Delivery(SubKind),
    /// `subscribe`, `psubscribe` or `ssubscribe`.
    Subscribed(SubKind),
    /// `unsubscribe`, `punsubscribe` or `sunsubscribe`.
    Unsubscribed(SubKind),
}

/// The pub/sub message `msg` is, judged by its shape and first element.
pub(crate) fn pubsub(msg: &Msg) -> Option<PubSub> {
    if !matches!(msg.kind, Kind::Array | Kind::Push) {
        return None;
    }
    let first = msg.items.first()?;
    if !matches!(first.kind, Kind::Bulk | Kind::Simple) {
        return None;
    }
    let word = msg.text(first);
    let (what, elements) = match word {
        b"message" => (PubSub::Delivery(SubKind::Channel), 3),
        b"pmessage" => (PubSub::Delivery(SubKind::Pattern), 4),
        b"smessage" => (PubSub::Delivery(SubKind::Shard), 3),
        b"subscribe" => (PubSub::Subscribed(SubKind::Channel), 3),
        b"psubscribe" => (PubSub::Subscribed(SubKind::Pattern), 3),
        b"ssubscribe" => (PubSub::Subscribed(SubKind::Shard), 3),
        b"unsubscribe" => (PubSub::Unsubscribed(SubKind::Channel), 3),
        b"punsubscribe" => (PubSub::Unsubscribed(SubKind::Pattern), 3),
        b"sunsubscribe" => (PubSub::Unsubscribed(SubKind::Shard), 3),
        _ => return None,
    };
    (msg.elements == elements).then_some(what)
}

/// The subscription count a confirmation reports.
pub(crate) fn subscriptions(msg: &Msg) -> Option<i64> {
    msg.items.get(2).and_then(|item| item.int)
}

/// A delivery's record: `MESSAGE`, `PMESSAGE` or `SMESSAGE`, its channel
/// (and pattern) and payload size.
pub(crate) fn delivery(msg: &Msg, kind: SubKind, max_arg_len: usize) -> Redis {
    let (operation, pattern, channel, payload) = match kind {
        SubKind::Channel => ("MESSAGE", None, 1, 2),
        SubKind::Pattern => ("PMESSAGE", Some(1), 2, 3),
        SubKind::Shard => ("SMESSAGE", None, 1, 2),
    };
    let mut truncated = false;
    let mut text = |i: usize| {
        let item = msg.items.get(i)?;
        let bytes = msg.text(item);
        let short = bytes.get(..max_arg_len).unwrap_or(bytes);
        let more = short.len() < bytes.len() || !msg.whole(item);
        let mut s =
            crate::command::text_of(short, if more { crate::command::CUT.len() } else { 0 });
        if more {
            s.push_str(crate::command::CUT);
            truncated = true;
        }
        Some(s)
    };
    let channel = text(channel);
    let pattern = pattern.and_then(&mut text);
    Redis {
        operation: operation.into(),
        channel,
        pattern,
        payload_bytes: msg.items.get(payload).map(|item| item.len),
        reply_type: Some(type_name(msg.kind)),
        reply_bytes: Some(msg.bytes),
        truncated,
        ..Redis::default()
    }
}

/// Whether `msg` is a line of `MONITOR` output (`+1700000000.123456 [0 ...`)
/// rather than a reply.
pub(crate) fn is_monitor_line(msg: &Msg) -> bool {
    if msg.kind != Kind::Simple {
        return false;
    }
    let Some(text) = msg.text_at(0) else {
        return false;
    };
    let secs = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = text.get(secs..).unwrap_or_default();
    let Some(rest) = rest.strip_prefix(b".") else {
        return false;
    };
    let micros = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    secs > 0 && micros > 0 && rest.get(micros..).is_some_and(|r| r.starts_with(b" ["))
}

/// Fills `record` with what `msg`, its reply, says.
pub(crate) fn fill(record: &mut Redis, msg: &Msg, max_error_len: usize) {
    record.reply_type = Some(type_name(msg.kind));
    record.reply_bytes = Some(msg.bytes);
    if is_aggregate(msg.kind) {
        record.reply_elements = Some(msg.elements);
        record.reply_errors = Some(msg.errors);
    }
    if !msg.kind.is_error() {
        record.outcome = Some(Outcome::Ok);
        return;
    }
    record.outcome = Some(Outcome::Error);
    let text = msg.text_at(0).unwrap_or_default();
    let code_len = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let (code, message) = text.split_at(code_len);
    let message = message.strip_prefix(b" ").unwrap_or(message);
    let cut = message.len() > max_error_len || msg.cut;
    let message = message.get(..max_error_len).unwrap_or(message);
    let mut message = String::from_utf8_lossy(message).into_owned();
    if cut {
        message.push_str(crate::command::CUT);
        record.truncated = true;
    }
    record.error = Some(ProtoError {
        code: (!code.is_empty()).then(|| String::from_utf8_lossy(code).into_owned()),
        message: (!message.is_empty()).then_some(message),
    });
}
