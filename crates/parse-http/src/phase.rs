//! The phase loop both directions share.
//!
//! Requests and responses move through the same phases (a start, heads,
//! bodies, resynchronisation after a gap), so one loop drives either side
//! of the connection, and asks the direction's own module (`request`,
//! `response`) only for what differs: how its first bytes are judged, how a
//! head is read and what a tunnel's bytes mean. Two copies of this loop
//! drifted apart before it was one.

use std::mem;

use podwire_parse::{Direction, Status};
use podwire_record::Timestamp;

use crate::detect;
use crate::{HttpEvent, HttpParser, Phase};

impl HttpParser {
    /// Bytes travelling `dir`, carried by a packet captured at `ts`.
    pub(crate) fn side_data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        // One copy of the loop per direction, each with its side fixed at
        // compile time: as fast as the two hand-written loops were.
        match dir {
            Direction::ToServer => self.phases::<true>(ts, bytes, out),
            Direction::ToClient => self.phases::<false>(ts, bytes, out),
        }
    }

    /// [`Self::side_data`] for the client's side (`CLIENT`) or the server's.
    fn phases<const CLIENT: bool>(
        &mut self,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let dir = if CLIENT {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let mut rest = bytes;
        if let Phase::Resync = self.side_mut(dir).phase {
            let looks = match dir {
                Direction::ToServer => detect::looks_like_http_request(rest),
                Direction::ToClient => detect::looks_like_http_response(rest),
            };
            if !looks {
                return Status::Continue;
            }
            let side = self.side_mut(dir);
            side.phase = Phase::Head;
            side.tentative = true;
        }
        while !rest.is_empty() {
            let status = match mem::take(&mut self.side_mut(dir).phase) {
                Phase::Resync => {
                    self.side_mut(dir).phase = Phase::Resync;
                    break;
                }
                Phase::Body { mut body, seq } => {
                    let Ok(progress) = body.feed(rest) else {
                        return self.malformed();
                    };
                    rest = rest.get(progress.used..).unwrap_or_default();
                    self.side_mut(dir).phase = if progress.done {
                        Phase::Head
                    } else {
                        Phase::Body { body, seq }
                    };
                    self.count_body(dir, seq, progress.content);
                    if progress.done {
                        self.end_body(dir, seq, out);
                    }
                    Status::Continue
                }
                Phase::Head => {
                    self.side_mut(dir).phase = Phase::Head;
                    self.head(dir, ts, &mut rest, out)
                }
                phase @ (Phase::Start | Phase::Tunnel) => match dir {
                    Direction::ToServer => self.client_start(phase, ts, &mut rest, out),
                    Direction::ToClient => self.server_start(phase, ts, &mut rest, out),
                },
            };
            if status != Status::Continue {
                return status;
            }
        }
        Status::Continue
    }

    /// Feeds `rest` to the head being gathered on `dir`'s side and advances
    /// past what it used.
    #[inline]
    pub(crate) fn head(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        rest: &mut &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        match dir {
            Direction::ToServer => self.request_head(ts, rest, out),
            Direction::ToClient => self.response_head(ts, rest, out),
        }
    }
}
