//! The client's stream: request heads and request bodies.
//!
//! Each request head opens an exchange in the queue; its body (if any) is
//! counted into it. The first bytes of the stream must look like a request,
//! which is what makes a misdetected connection fail fast instead of being
//! scanned for heads forever.

use std::mem;

use podwire_parse::{Direction, Status};
use podwire_record::{Http, Timestamp};

use crate::body::Body;
use crate::detect::{self, Verdict};
use crate::exchange::Reply;
use crate::head::{self, Feed, RequestHead};
use crate::{HttpEvent, HttpParser, Phase};

/// Long enough for the longest known method and its space.
const PREFIX: usize = 16;

impl HttpParser {
    /// Bytes from the client, carried by a packet captured at `ts`.
    pub(crate) fn client_data(
        &mut self,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let mut rest = bytes;
        if let Phase::Resync = self.client.phase {
            if !detect::looks_like_http_request(rest) {
                return Status::Continue;
            }
            self.client.phase = Phase::Head;
            self.client.tentative = true;
        }
        while !rest.is_empty() {
            match mem::take(&mut self.client.phase) {
                Phase::Resync => {
                    self.client.phase = Phase::Resync;
                    break;
                }
                Phase::Body { mut body, seq } => {
                    let Ok(progress) = body.feed(rest) else {
                        return self.malformed();
                    };
                    rest = rest.get(progress.used..).unwrap_or_default();
                    self.client.phase = if progress.done {
                        Phase::Head
                    } else {
                        Phase::Body { body, seq }
                    };
                    self.count_body(Direction::ToServer, seq, progress.content);
                    if progress.done {
                        self.end_body(Direction::ToServer, seq, out);
                    }
                }
                Phase::Start => match first_bytes_verdict(self.client.head.pending(), rest) {
                    Verdict::No => return self.malformed(),
                    Verdict::Yes => self.client.phase = Phase::Head,
                    Verdict::NeedMore => {
                        // Too short to hold a head yet: gather it, judge again.
                        self.client.phase = Phase::Start;
                        let status = self.request_head(ts, &mut rest, out);
                        if status != Status::Continue {
                            return status;
                        }
                    }
                },
                Phase::Head => {
                    self.client.phase = Phase::Head;
                    let status = self.request_head(ts, &mut rest, out);
                    if status != Status::Continue {
                        return status;
                    }
                }
            }
        }
        Status::Continue
    }

    /// Feeds `rest` to the head being gathered and advances past what it used.
    fn request_head(
        &mut self,
        ts: Timestamp,
        rest: &mut &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let capture = self.config.headers;
        let max = self.config.max_head_bytes;
        match self
            .client
            .head
            .feed(max, ts, rest, |b| head::parse_request(b, capture))
        {
            Feed::NeedMore => {
                *rest = &[];
                Status::Continue
            }
            Feed::Complete { head, ts, used } => {
                *rest = rest.get(used..).unwrap_or_default();
                self.client.tentative = false;
                self.on_request(head, ts, out)
            }
            Feed::TooLong => {
                self.stats.heads_too_long += 1;
                Status::Failed
            }
            Feed::Invalid if self.client.tentative => {
                // A false start after a gap: keep looking.
                self.client.head.clear();
                self.client.phase = Phase::Resync;
                *rest = &[];
                Status::Continue
            }
            Feed::Invalid => self.malformed(),
        }
    }

    /// A complete request head, first seen at `ts`.
    fn on_request(&mut self, head: RequestHead, ts: Timestamp, out: &mut Vec<HttpEvent>) -> Status {
        let RequestHead {
            method,
            path,
            version,
            host,
            headers,
            framing,
        } = head;
        let body = if framing.transfer_encoding {
            if !framing.chunked {
                // RFC 9112 6.3: the length of such a request cannot be known.
                return self.malformed();
            }
            Some(Body::chunked(self.config.max_head_bytes))
        } else {
            framing.content_length.filter(|&n| n > 0).map(Body::Length)
        };
        let reply = if self.requests_lost
            && (self.exchanges.response_outstanding() || !self.server.idle())
        {
            self.stats.unpaired_requests += 1;
            Reply::Unknown
        } else {
            self.requests_lost = false;
            Reply::Awaiting
        };
        let head_request = method == "HEAD";
        let connect = method == "CONNECT";
        let http = Http {
            method,
            host,
            path,
            version,
            request_headers: headers,
            ..Http::default()
        };
        let (seq, overflowed) = self
            .exchanges
            .push(ts, http, head_request, connect, reply, out);
        if overflowed {
            self.stats.pending_overflows += 1;
        }
        match body {
            Some(body) => {
                self.client.phase = Phase::Body {
                    body,
                    seq: Some(seq),
                }
            }
            None => {
                self.exchanges.request_complete(seq, out);
                // What follows CONNECT is tunnelled, unless the server refuses
                // and the client carries on with a new request.
                self.client.phase = if connect { Phase::Resync } else { Phase::Head };
            }
        }
        Status::Continue
    }
}

/// Classifies the first bytes of the client stream, `pending` then `rest`.
fn first_bytes_verdict(pending: &[u8], rest: &[u8]) -> Verdict {
    let mut prefix = [0u8; PREFIX];
    let mut len = 0;
    for (slot, &byte) in prefix.iter_mut().zip(pending.iter().chain(rest)) {
        *slot = byte;
        len += 1;
    }
    detect::request_start(prefix.get(..len).unwrap_or_default())
}
