//! The server's stream: response heads and response bodies.
//!
//! A final response completes the oldest request awaiting one; interim
//! (1xx) responses are skipped. How the body ends depends on the request too
//! (`HEAD`, `CONNECT`), which is why framing is decided here and not in
//! `head`. A response nobody asked for (the capture began mid-connection, its
//! request was lost, or the server answered bytes that were no request) is
//! emitted on its own, without method and path.

use podwire_parse::{Direction, Status};
use podwire_record::{Http, Timestamp};

use crate::body::Body;
use crate::exchange::Reply;
use crate::head::{self, Feed, ResponseHead};
use crate::{HttpEvent, HttpParser, Phase, Switch};

impl HttpParser {
    /// The server's first bytes (`Start`: a response head), or bytes in an
    /// accepted tunnel before the client showed HTTP in it (`Tunnel`).
    /// Leaves the phase to go on with in `self.server.phase`.
    pub(crate) fn server_start(
        &mut self,
        phase: Phase,
        ts: Timestamp,
        rest: &mut &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        if let Phase::Tunnel = phase {
            // The client has not shown HTTP inside the tunnel yet, and
            // an HTTP server does not speak first: another protocol.
            if !rest.iter().all(|&b| b == b'\r' || b == b'\n') {
                return Status::Done;
            }
            self.server.phase = Phase::Tunnel;
            *rest = &[];
            return Status::Continue;
        }
        self.server.phase = Phase::Head;
        self.response_head(ts, rest, out)
    }

    /// Feeds `rest` to the head being gathered and advances past what it used.
    pub(crate) fn response_head(
        &mut self,
        ts: Timestamp,
        rest: &mut &[u8],
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let capture = self.config.headers;
        let max = self.config.max_head_bytes;
        match self
            .server
            .head
            .feed(max, ts, rest, |b| head::parse_response(b, capture))
        {
            Feed::NeedMore => {
                *rest = &[];
                Status::Continue
            }
            Feed::Complete { head, ts, used } => {
                *rest = rest.get(used..).unwrap_or_default();
                self.server.tentative = false;
                let status = self.on_response(head, ts, out);
                if let Some(sw) = self.switch.as_mut() {
                    // The new protocol's first bytes, when they came along.
                    let keep = rest.len().min(max);
                    sw.server_bytes = rest.get(..keep).unwrap_or_default().to_vec();
                    sw.server_bytes_cut = (rest.len() - keep) as u64;
                    *rest = &[];
                }
                status
            }
            Feed::TooLong => {
                self.stats.heads_too_long += 1;
                Status::Failed
            }
            Feed::Invalid if self.server.tentative => {
                self.server.head.clear();
                self.server.phase = Phase::Resync;
                *rest = &[];
                Status::Continue
            }
            Feed::Invalid => self.malformed(),
        }
    }

    /// A complete response head, first seen at `ts`.
    fn on_response(
        &mut self,
        head: ResponseHead,
        ts: Timestamp,
        out: &mut Vec<HttpEvent>,
    ) -> Status {
        let ResponseHead {
            status,
            version,
            headers,
            framing,
        } = head;
        if (100..200).contains(&status) && status != 101 {
            // Interim (100 Continue, 103 Early Hints): the final one follows.
            return Status::Continue;
        }
        let (seq, head_request, connect) = match self.exchanges.next_awaiting() {
            Some(e) => {
                e.http.status = Some(status);
                e.http.latency_ms = Some(e.ts.millis_until(ts));
                e.http.response_headers = headers;
                e.http.response_body_bytes = Some(0);
                e.reply = Reply::Reading;
                (Some(e.seq), e.head_request, e.connect)
            }
            None => {
                self.stats.orphan_responses += 1;
                let http = Http {
                    version: version.into(),
                    status: Some(status),
                    response_headers: headers,
                    response_body_bytes: Some(0),
                    ..Http::default()
                };
                let (seq, overflowed) = self.exchanges.push_orphan(ts, http, out);
                if overflowed {
                    self.stats.pending_overflows += 1;
                }
                (Some(seq), false, false)
            }
        };
        if status == 101 {
            // The rest of the connection is another protocol: keep what its
            // parser needs to know of the request that asked for it.
            let asked = seq
                .and_then(|seq| self.exchanges.get_mut(seq))
                .map(|e| Switch {
                    ts: e.ts,
                    method: e.http.method.clone(),
                    host: e.http.host.clone(),
                    path: e.http.path.clone(),
                    ..Switch::default()
                });
            self.switch = Some(asked.unwrap_or_default());
            self.end_body(Direction::ToClient, seq, out);
            return Status::Done;
        }
        if connect && (200..300).contains(&status) {
            // A tunnel: its first client bytes tell whether it carries HTTP.
            self.end_body(Direction::ToClient, seq, out);
            self.server.phase = Phase::Tunnel;
            if self.client.idle() {
                self.client.phase = Phase::Tunnel;
            }
            return Status::Continue;
        }
        let body = if head_request || status == 204 || status == 304 {
            None
        } else if framing.transfer_encoding {
            Some(if framing.chunked {
                Body::chunked(self.config.max_head_bytes)
            } else {
                Body::UntilClose
            })
        } else {
            match framing.content_length {
                Some(0) => None,
                Some(n) => Some(Body::Length(n)),
                None => Some(Body::UntilClose),
            }
        };
        match body {
            Some(body) => self.server.phase = Phase::Body { body, seq },
            None => {
                self.server.phase = Phase::Head;
                self.end_body(Direction::ToClient, seq, out);
            }
        }
        Status::Continue
    }
}
