//! Which parser a TCP connection's bytes go to, decided by content.

use crate::stream::Chunk;
use podwire_dns::DnsTcpParser;
use podwire_http::HttpParser;
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Body, Timestamp};
use podwire_tls::TlsParser;

/// The parsers' limits, shared by every connection.
#[derive(Clone, Debug, Default)]
pub struct ParserConfig {
    pub tls: podwire_tls::TlsConfig,
    pub http: podwire_http::HttpConfig,
    pub dns: podwire_dns::DnsConfig,
}

/// Application protocol state of one TCP connection.
pub(crate) enum App {
    /// No client bytes seen yet; the server's port helps decide.
    Undecided {
        server_port: u16,
    },
    Tls(Box<TlsParser>),
    Http(Box<HttpParser>),
    Dns(Box<DnsTcpParser>),
    /// Unknown protocol, or the parser is finished: bytes are not kept.
    Off,
}

/// Parser outcomes worth counting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParserStats {
    /// Connections a parser gave up on (not the protocol after all, or a limit).
    pub failed: u64,
    /// Connections whose protocol was not recognised.
    pub unknown: u64,
}

impl ParserStats {
    /// Adds another tracker's counts (shards report separately).
    pub fn add(&mut self, other: &ParserStats) {
        self.failed += other.failed;
        self.unknown += other.unknown;
    }
}

/// A parsed record body and when it happened, before endpoints are attached.
pub(crate) struct Parsed {
    pub ts: Timestamp,
    pub body: Body,
}

const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

impl App {
    /// Whether the reassembly should keep bytes for this connection.
    pub fn wants_bytes(&self) -> bool {
        !matches!(self, App::Off)
    }

    /// Feeds one reassembled chunk of `dir`.
    pub fn chunk(
        &mut self,
        cfg: &ParserConfig,
        dir: Direction,
        ts: Timestamp,
        chunk: Chunk<'_>,
        out: &mut Vec<Parsed>,
        stats: &mut ParserStats,
    ) {
        if let App::Undecided { server_port } = *self {
            let Chunk::Data(first) = chunk else {
                // A hole before anything was seen: the start of the stream
                // is lost; the parsers need it to frame messages.
                if dir == Direction::ToServer {
                    *self = App::Off;
                }
                return;
            };
            if dir == Direction::ToClient {
                // Server speaks first (or we joined mid-stream): wait for the
                // client, unless the port says DNS or the bytes are an HTTP
                // response (the capture began after its request).
                if !DNS_PORTS.contains(&server_port)
                    && !podwire_http::looks_like_http_response(first)
                {
                    return;
                }
            }
            *self = detect(cfg, server_port, dir, first);
            if let App::Off = self {
                stats.unknown += 1;
                return;
            }
        }
        let status = match self {
            App::Tls(p) => feed(p.as_mut(), dir, ts, chunk, out, |e| Parsed {
                ts: e.ts,
                body: Body::Tls(e.tls),
            }),
            App::Http(p) => feed(p.as_mut(), dir, ts, chunk, out, |e| Parsed {
                ts: e.ts,
                body: Body::Http(e.http),
            }),
            App::Dns(p) => feed(p.as_mut(), dir, ts, chunk, out, |e| Parsed {
                ts: e.ts,
                body: Body::Dns(e.dns),
            }),
            App::Undecided { .. } | App::Off => Status::Continue,
        };
        match status {
            Status::Continue => {}
            Status::Done => self.finish(ts, out),
            Status::Failed => {
                stats.failed += 1;
                self.finish(ts, out);
            }
        }
    }

    /// The connection is over: flush the parser and stop.
    pub fn finish(&mut self, ts: Timestamp, out: &mut Vec<Parsed>) {
        match std::mem::replace(self, App::Off) {
            App::Tls(mut p) => flush(p.as_mut(), ts, out, |e| Parsed {
                ts: e.ts,
                body: Body::Tls(e.tls),
            }),
            App::Http(mut p) => flush(p.as_mut(), ts, out, |e| Parsed {
                ts: e.ts,
                body: Body::Http(e.http),
            }),
            App::Dns(mut p) => flush(p.as_mut(), ts, out, |e| Parsed {
                ts: e.ts,
                body: Body::Dns(e.dns),
            }),
            App::Undecided { .. } | App::Off => {}
        }
    }
}

fn detect(cfg: &ParserConfig, server_port: u16, dir: Direction, first: &[u8]) -> App {
    if dir == Direction::ToServer && podwire_tls::looks_like_tls(first) {
        App::Tls(Box::new(TlsParser::new(&cfg.tls)))
    } else if dir == Direction::ToServer && podwire_http::looks_like_http_request(first) {
        App::Http(Box::new(HttpParser::new(&cfg.http)))
    } else if dir == Direction::ToClient && podwire_http::looks_like_http_response(first) {
        App::Http(Box::new(HttpParser::mid_stream(&cfg.http)))
    } else if DNS_PORTS.contains(&server_port) {
        App::Dns(Box::new(DnsTcpParser::new(&cfg.dns)))
    } else {
        App::Off
    }
}

fn feed<P: StreamParser>(
    p: &mut P,
    dir: Direction,
    ts: Timestamp,
    chunk: Chunk<'_>,
    out: &mut Vec<Parsed>,
    map: impl Fn(P::Output) -> Parsed,
) -> Status {
    let mut events = Vec::new();
    let status = match chunk {
        Chunk::Data(d) => p.data(dir, ts, d, &mut events),
        Chunk::Gap(n) => p.gap(dir, ts, n, &mut events),
    };
    out.extend(events.into_iter().map(map));
    status
}

fn flush<P: StreamParser>(
    p: &mut P,
    ts: Timestamp,
    out: &mut Vec<Parsed>,
    map: impl Fn(P::Output) -> Parsed,
) {
    let mut events = Vec::new();
    p.finish(ts, &mut events);
    out.extend(events.into_iter().map(map));
}
