//! Who is the client of a connection joined mid-stream, when the ports
//! cannot tell: the content decides.
//!
//! Without the handshake, the tracker names the server by its port
//! (`key::likely_server`); when both ports rank the same (two ephemeral
//! ports, as test harnesses and some services use), the first packet's
//! sender is taken for the client. If that packet was a server's reply,
//! the connection is oriented backwards, and direction-aware detection
//! either fails or hands requests to the parser as responses.
//!
//! So for such a connection (and only such: a handshake or a port that
//! named the server is never overruled) bytes that no detector claims in
//! the direction they were taken to travel are offered to the detectors as
//! the other direction's. Only signatures that one side alone sends can
//! decide: an HTTP/1 status line or request line, a chain of PostgreSQL
//! backend (or frontend) messages, a MySQL command, a Kafka request, a TLS
//! ClientHello, and of Redis the replies a client never sends (simple
//! strings, errors, integers, RESP3 scalars; a client sends arrays of bulk
//! strings or an inline command). Bytes claimed in the direction they were
//! taken to travel keep the guess, so anything both sides send (RESP
//! arrays, a Kafka response that reads as a request) never turns a
//! connection, with one exception: HTTP/2 frames read as frames both ways,
//! so they turn it when they show their sender (a PUSH_PROMISE, a response's
//! `:status` or a request's pseudo-headers first in a header block:
//! `podwire_http2::sent_by`) and it is the other side. The connection then swaps its two ends, with
//! everything it keeps per direction (`Conn::turn_around`), before the
//! parser sees a byte, and every record it makes names the roles as turned.

use crate::app::{detect, App, ParserConfig};
use podwire_parse::Direction;

/// Whether content turned a connection's guessed roles around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roles {
    Kept,
    Turned,
}

/// The parser for a connection whose first decisive bytes are `first`, in
/// `dir` (see `app::detect`), and whether they turned its roles around:
/// `turnable` is the guessed client's port when the roles were guessed.
pub(crate) fn detect_oriented(
    cfg: &ParserConfig,
    server_port: u16,
    mid_stream: bool,
    turnable: Option<u16>,
    dir: Direction,
    first: &[u8],
) -> Option<(App, Roles)> {
    let here = detect(cfg, server_port, mid_stream, dir, first);
    let Some(client_port) = turnable.filter(|_| mid_stream) else {
        return here.map(|app| (app, Roles::Kept));
    };
    match here {
        // Frames read the same both ways; some show their sender.
        Some(App::Http2(p)) if podwire_http2::sent_by(first) == Some(dir.reverse()) => {
            Some((App::Http2(p), Roles::Turned))
        }
        Some(app) => Some((app, Roles::Kept)),
        None => other_way(cfg, client_port, dir, first).map(|app| (app, Roles::Turned)),
    }
}

/// The parser for `first`, bytes that nothing claimed as `dir`'s, if they
/// are recognisably the other direction's: the server, as guessed, sent a
/// request, or the client a response. `client_port`: the guessed client's
/// port, the server's if the roles turn.
fn other_way(cfg: &ParserConfig, client_port: u16, dir: Direction, first: &[u8]) -> Option<App> {
    let there = dir.reverse();
    let app = detect(cfg, client_port, true, there, first)?;
    match app {
        // A RESP type line is a reply only where a client sends none of its
        // kind: a bulk string or an array also starts a segment that splits
        // a command.
        App::Redis(_)
            if there == Direction::ToClient && !podwire_redis::looks_like_reply_only(first) =>
        {
            None
        }
        app => Some(app),
    }
}

#[cfg(test)]
mod tests;
