//! The client's stream: request heads and request bodies.
//!
//! Each request head opens an exchange in the queue; its body (if any) is
//! counted into it. The first bytes of the stream must look like a request,
//! which is what makes a misdetected connection fail fast instead of being
//! scanned for heads forever. Once a request was seen, bytes that are not one
//! (a body the client did not frame, which the server may answer with a
//! `400`) are skipped to the next segment that starts like a request, so the
//! server's side is still read.

use podwire_parse::Status;
use podwire_record::{Http, Timestamp};

use crate::body::Body;
use crate::detect::{self, Verdict};
use crate::exchange::Reply;
use crate::head::{self, Feed, RequestHead};
use crate::{HttpEvent, HttpParser, Phase};

/// Long enough for the longest known method and its space.
const PREFIX: usize = 16;

impl HttpParser {
    /// The client's first bytes (`Start`), or its first bytes in an
    /// accepted tunnel (`Tunnel`): a request, or the end of the parse.
    /// Leaves the phase to go on with in `self.client.phase`.
    pub(crate) fn client_start(
        &mut self,
        phase: Phase,
        ts: Timestamp,
        rest: &mut &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let tunnel = matches!(phase, Phase::Tunnel);
        if tunnel && self.client.head.pending().is_empty() {
            // Stray line ends after the CONNECT's head.
            *rest = skip_line_ends(rest);
            if rest.is_empty() {
                self.client.phase = phase;
                return Status::Continue;
            }
        }
        match first_bytes_verdict(self.client.head.pending(), rest) {
            // Not HTTP: a tunnel of something else (TLS, most often).
            Verdict::No if tunnel => Status::Done,
            Verdict::No => self.malformed(),
            Verdict::Yes => {
                self.client.phase = Phase::Head;
                if tunnel {
                    // HTTP inside the tunnel: the server answers it.
                    self.server.phase = Phase::Head;
                }
                Status::Continue
            }
            Verdict::NeedMore => {
                // Too short to hold a head yet: gather it, judge again.
                self.client.phase = phase;
                self.request_head(ts, rest, out)
            }
        }
    }

    /// Feeds `rest` to the head being gathered and advances past what it used.
    pub(crate) fn request_head(
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
                self.requests_seen = true;
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
            Feed::Invalid if self.requests_seen => {
                self.stats.malformed += 1;
                *rest = &[];
                self.skip_client_bytes();
                Status::Continue
            }
            Feed::Invalid => self.malformed(),
        }
    }

    /// The client sent bytes that cannot be framed: look for the next request
    /// at a segment start. The server may answer what was skipped, so which
    /// response is whose is no longer certain.
    fn skip_client_bytes(&mut self) {
        self.client.head.clear();
        self.client.phase = Phase::Resync;
        self.requests_lost = true;
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
        // RFC 9112 6.3: with a final coding other than chunked, the length of
        // a request cannot be known. It is still a request (the server will
        // answer it, with a 400 if it follows the RFC), but what follows it
        // on the client's side is skipped.
        let unframeable = framing.transfer_encoding && !framing.chunked;
        let body = if unframeable {
            None
        } else if framing.chunked {
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
            method: Some(method),
            host,
            path: Some(path),
            version: version.into(),
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
        if unframeable {
            self.stats.malformed += 1;
            self.skip_client_bytes();
        }
        Status::Continue
    }
}

/// `bytes` without its leading CRs and LFs.
fn skip_line_ends(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    bytes.get(n..).unwrap_or_default()
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
