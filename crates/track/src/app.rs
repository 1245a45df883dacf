//! Which parser a TCP connection's bytes go to, decided by content.
//!
//! Servers run on any port, so the first bytes decide: each parser crate
//! exports a `looks_like_*` check, and [`detect`] asks them in an order that
//! puts the most specific signatures first (a TLS record header, an HTTP/2
//! preface before an HTTP/1 request line it resembles, PostgreSQL's startup
//! codes, then Kafka's and Redis's framing). Ports only break the tie for
//! DNS over TCP, whose messages carry no signature.
//!
//! A connection whose handshake was not captured (the capture or the agent
//! started later) is joined mid-stream: its first bytes may be anywhere in a
//! conversation, so the parsers that can resynchronise are asked in their
//! mid-stream form, from either direction, and start without the state the
//! beginning would have given them (HTTP/2's header table, PostgreSQL's
//! startup parameters).
//!
//! A connection joined mid-stream whose ports did not name the server may
//! have been taken the wrong way round: bytes that only the other side
//! sends turn it around (see `orient`).
//!
//! A protocol switch (`101` after `Upgrade: h2c`) hands the connection from
//! the HTTP/1 parser to the HTTP/2 one, with the upgraded request as stream 1.

use crate::orient::{detect_oriented, Roles};
use crate::stream::Chunk;
use crate::tls::Decrypting;
use podwire_dns::{DnsTcpParser, DNS_PORTS};
use podwire_http::HttpParser;
use podwire_http2::Http2Parser;
use podwire_kafka::KafkaParser;
use podwire_mysql::MysqlParser;
use podwire_parse::{Direction, Status, StreamParser};
use podwire_postgres::PostgresParser;
use podwire_record::{Body, Timestamp};
use podwire_redis::RedisParser;
use podwire_tls::TlsParser;

/// The parsers' limits, shared by every connection.
#[derive(Clone, Debug, Default)]
pub struct ParserConfig {
    pub tls: podwire_tls::TlsConfig,
    pub http: podwire_http::HttpConfig,
    pub http2: podwire_http2::Http2Config,
    pub dns: podwire_dns::DnsConfig,
    pub postgres: podwire_postgres::PostgresConfig,
    pub mysql: podwire_mysql::MysqlConfig,
    pub redis: podwire_redis::RedisConfig,
    pub kafka: podwire_kafka::KafkaConfig,
    /// Secrets from key logs: TLS connections whose secrets are here are
    /// decrypted and their plaintext parsed. `None` (the live agent) reads
    /// TLS handshakes only.
    pub keys: Option<podwire_tls_decrypt::KeyStore>,
}

/// An HTTP/2 server's first frames, sent before the client's preface.
///
/// A server may send its SETTINGS as soon as it accepts (gRPC's C core and
/// nghttpd do; RFC 9113 section 3.4 allows it), and they bound what the
/// client sends: a client frame longer than 16384 bytes is only valid once
/// the server's `SETTINGS_MAX_FRAME_SIZE` allowed it. Dropped, the parser
/// would take the client's large DATA frames for a lost frame boundary.
/// Kept only when the server's first bytes read as HTTP/2 frames, at most
/// [`EARLY_MAX`] bytes (the rest is handed over as a gap), and replayed
/// only into an HTTP/2 parser.
pub(crate) struct Early {
    ts: Timestamp,
    bytes: Vec<u8>,
    /// Bytes beyond [`EARLY_MAX`] or lost in a hole, after `bytes`.
    cut: u64,
}

/// Server bytes kept before the client speaks: a SETTINGS frame with every
/// setting RFC 9113 defines is 45 bytes.
const EARLY_MAX: usize = 4096;

impl Early {
    fn add(&mut self, bytes: &[u8]) {
        if self.cut > 0 {
            // Past a cut, bytes cannot follow on from what is kept.
            self.cut += bytes.len() as u64;
            return;
        }
        let room = EARLY_MAX.saturating_sub(self.bytes.len()).min(bytes.len());
        self.bytes
            .extend_from_slice(bytes.get(..room).unwrap_or_default());
        self.cut += (bytes.len() - room) as u64;
    }

    /// Feeds what was kept to the parser chosen for the connection.
    fn replay(self, p: &mut Http2Parser, out: &mut Found) {
        let mut events = Vec::new();
        if !self.bytes.is_empty() {
            p.data(Direction::ToClient, self.ts, &self.bytes, &mut events);
        }
        if self.cut > 0 {
            p.gap(Direction::ToClient, self.ts, self.cut, &mut events);
        }
        hand_over(&mut events, &mut out.parsed, |e| Parsed {
            ts: e.ts,
            body: Body::Http(e.http),
            inside_tls: false,
        });
    }
}

/// Application protocol state of one TCP connection.
pub(crate) enum App {
    /// No bytes seen yet that decide; the server's port helps for DNS.
    Undecided {
        server_port: u16,
        /// No SYN was seen: the first bytes may be mid-conversation.
        mid_stream: bool,
        /// Chunks that decided nothing so far, mid-stream (bounded by
        /// [`MID_STREAM_TRIES`]).
        tries: u8,
        /// What the server sent before the client's first bytes, when it
        /// read as HTTP/2 frames (see [`Early`]).
        early: Option<Box<Early>>,
        /// The client's port, when neither the handshake nor the ports
        /// named the server: bytes only the other side sends turn the
        /// roles around (see `orient`).
        turnable: Option<u16>,
    },
    /// HTTP/1 switched protocols (`101`); the next bytes say to what.
    Switched(Box<podwire_http::Switch>),
    Tls(Box<TlsParser>),
    /// TLS with secrets in the key log: handshake plus decrypted plaintext.
    Decrypt(Box<Decrypting>),
    Http(Box<HttpParser>),
    Http2(Box<Http2Parser>),
    Dns(Box<DnsTcpParser>),
    Postgres(Box<PostgresParser>),
    Mysql(Box<MysqlParser>),
    Redis(Box<RedisParser>),
    Kafka(Box<KafkaParser>),
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
    /// TLS connections decrypted with a key log (at least one record).
    pub tls_decrypted: u64,
    /// TLS connections the key log had no secrets for (only counted when a
    /// key log is in use).
    pub tls_no_key: u64,
    /// TLS connections whose cipher suite cannot be decrypted (CBC, ...).
    pub tls_unsupported: u64,
    /// TLS records that failed authentication (wrong secrets, corruption);
    /// their direction is not decrypted further.
    pub tls_auth_failed: u64,
}

impl ParserStats {
    /// Adds another tracker's counts (shards report separately).
    pub fn add(&mut self, other: &ParserStats) {
        self.failed += other.failed;
        self.unknown += other.unknown;
        self.tls_decrypted += other.tls_decrypted;
        self.tls_no_key += other.tls_no_key;
        self.tls_unsupported += other.tls_unsupported;
        self.tls_auth_failed += other.tls_auth_failed;
    }
}

/// A parsed record body and when it happened, before endpoints are attached.
pub(crate) struct Parsed {
    pub ts: Timestamp,
    pub body: Body,
    /// Parsed from plaintext decrypted out of TLS.
    pub inside_tls: bool,
}

/// What the parsers found ([`Found::parsed`]), and one vector per parser
/// output type that they write their events into, reused from chunk to
/// chunk: a fresh vector per chunk cost an allocation and, for a pipelined
/// chunk of many replies, its regrowth (each a copy of every event so far).
/// One per tracker, so what it keeps is bounded by the most events one
/// chunk produced, and cut back to [`SCRATCH_KEEP`] events after a larger one.
#[derive(Default)]
pub(crate) struct Found {
    pub parsed: Vec<Parsed>,
    tls: Vec<<TlsParser as StreamParser>::Output>,
    http: Vec<<HttpParser as StreamParser>::Output>,
    http2: Vec<<Http2Parser as StreamParser>::Output>,
    dns: Vec<<DnsTcpParser as StreamParser>::Output>,
    postgres: Vec<<PostgresParser as StreamParser>::Output>,
    mysql: Vec<<MysqlParser as StreamParser>::Output>,
    redis: Vec<<RedisParser as StreamParser>::Output>,
    kafka: Vec<<KafkaParser as StreamParser>::Output>,
}

/// Events a scratch vector of [`Found`] keeps room for between chunks.
const SCRATCH_KEEP: usize = 256;

/// Chunks of a connection joined mid-stream that may decide nothing before
/// it is given up: every try runs every detector, and a bulk transfer of an
/// unknown protocol would otherwise pay that for each segment.
const MID_STREAM_TRIES: u8 = 16;

impl App {
    /// Whether the reassembly should keep bytes for this connection.
    pub fn wants_bytes(&self) -> bool {
        !matches!(self, App::Off)
    }

    /// The connection's handshake was seen: its streams start at the start.
    pub fn saw_handshake(&mut self) {
        if let App::Undecided { mid_stream, .. } = self {
            *mid_stream = false;
        }
    }

    /// Feeds one reassembled chunk of `dir`. [`Roles::Turned`] when it
    /// showed the connection's roles the wrong way round: the chunk was fed
    /// as the other direction's, and so must everything after it be.
    pub fn chunk(
        &mut self,
        cfg: &ParserConfig,
        mut dir: Direction,
        ts: Timestamp,
        chunk: Chunk<'_>,
        out: &mut Found,
        stats: &mut ParserStats,
    ) -> Roles {
        let mut roles = Roles::Kept;
        if let App::Undecided {
            server_port,
            mid_stream,
            tries,
            turnable,
            ..
        } = *self
        {
            let first = match chunk {
                Chunk::Data(first) => first,
                // A hole before anything was seen: the start of the stream
                // is lost; only a parser that resynchronises could go on,
                // and it will get its chance at the next bytes.
                Chunk::Gap(_) if dir == Direction::ToServer && !mid_stream => {
                    *self = App::Off;
                    return roles;
                }
                Chunk::Gap(n) => {
                    if let App::Undecided { early: Some(e), .. } = self {
                        e.cut = e.cut.saturating_add(n);
                    }
                    return roles;
                }
            };
            let found = detect_oriented(cfg, server_port, mid_stream, turnable, dir, first);
            match found {
                Some((mut app, turned)) => {
                    if turned == Roles::Turned {
                        roles = turned;
                        dir = dir.reverse();
                    }
                    let early = match self {
                        App::Undecided { early, .. } => early.take(),
                        _ => None,
                    };
                    if let (App::Http2(p), Some(e)) = (&mut app, early) {
                        e.replay(p, out);
                    }
                    *self = app;
                }
                // Server speaks first and is not recognised (or we joined
                // mid-stream on bytes that decide nothing): wait for the
                // client's bytes.
                None if mid_stream && tries < MID_STREAM_TRIES => {
                    if let App::Undecided { tries, .. } = self {
                        *tries += 1;
                    }
                    return roles;
                }
                None if dir == Direction::ToClient && !mid_stream => {
                    // An HTTP/2 server's SETTINGS, before the preface.
                    if let App::Undecided { early, .. } = self {
                        match early {
                            Some(e) => e.add(first),
                            None if podwire_http2::looks_like_http2(dir, first) => {
                                let mut e = Box::new(Early {
                                    ts,
                                    bytes: Vec::new(),
                                    cut: 0,
                                });
                                e.add(first);
                                *early = Some(e);
                            }
                            None => {}
                        }
                    }
                    return roles;
                }
                None => {
                    *self = App::Off;
                    stats.unknown += 1;
                    return roles;
                }
            }
        }
        if let App::Switched(sw) = self {
            let Chunk::Data(first) = chunk else {
                *self = App::Off;
                return roles;
            };
            let h2c = match dir {
                Direction::ToServer => is_preface(first),
                Direction::ToClient => podwire_http2::looks_like_http2(dir, first),
            };
            if !h2c {
                // Another protocol (WebSocket, ...): nothing we parse.
                *self = App::Off;
                return roles;
            }
            let mut p = Http2Parser::after_upgrade(
                &cfg.http2,
                sw.method.as_deref().unwrap_or("GET"),
                sw.host.as_deref(),
                sw.path.as_deref().unwrap_or("/"),
                sw.ts,
            );
            let mut events = Vec::new();
            // The server's first HTTP/2 bytes came with its `101`.
            if !sw.server_bytes.is_empty() {
                p.data(Direction::ToClient, ts, &sw.server_bytes, &mut events);
            }
            if sw.server_bytes_cut > 0 {
                p.gap(Direction::ToClient, ts, sw.server_bytes_cut, &mut events);
            }
            out.parsed.extend(events.into_iter().map(|e| Parsed {
                ts: e.ts,
                body: Body::Http(e.http),
                inside_tls: false,
            }));
            *self = App::Http2(Box::new(p));
        }
        if let App::Decrypt(d) = self {
            if !d.chunk(cfg, dir, ts, chunk, out, stats) {
                *self = App::Off;
            }
            return roles;
        }
        let status = match self {
            App::Tls(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.tls,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Tls(e.tls),
                    inside_tls: false,
                },
            ),
            App::Http(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.http,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Http(e.http),
                    inside_tls: false,
                },
            ),
            App::Http2(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.http2,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Http(e.http),
                    inside_tls: false,
                },
            ),
            App::Dns(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.dns,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Dns(e.dns),
                    inside_tls: false,
                },
            ),
            App::Postgres(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.postgres,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Postgres(e.body),
                    inside_tls: false,
                },
            ),
            App::Mysql(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.mysql,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Mysql(e.body),
                    inside_tls: false,
                },
            ),
            App::Redis(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.redis,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Redis(e.body),
                    inside_tls: false,
                },
            ),
            App::Kafka(p) => feed(
                p.as_mut(),
                dir,
                ts,
                chunk,
                &mut out.kafka,
                &mut out.parsed,
                |e| Parsed {
                    ts: e.ts,
                    body: Body::Kafka(e.body),
                    inside_tls: false,
                },
            ),
            App::Undecided { .. } | App::Switched(_) | App::Decrypt(_) | App::Off => {
                Status::Continue
            }
        };
        match status {
            Status::Continue => {}
            Status::Done => {
                let switch = match self {
                    App::Http(p) => p.take_switch(),
                    _ => None,
                };
                self.finish(ts, out);
                if let Some(sw) = switch {
                    *self = App::Switched(Box::new(sw));
                }
            }
            Status::Failed => {
                stats.failed += 1;
                self.finish(ts, out);
            }
        }
        roles
    }

    /// The connection is over: flush the parser and stop.
    pub fn finish(&mut self, ts: Timestamp, out: &mut Found) {
        match std::mem::replace(self, App::Off) {
            App::Tls(mut p) => flush(p.as_mut(), ts, &mut out.tls, &mut out.parsed, |e| Parsed {
                ts: e.ts,
                body: Body::Tls(e.tls),
                inside_tls: false,
            }),
            App::Http(mut p) => flush(p.as_mut(), ts, &mut out.http, &mut out.parsed, |e| Parsed {
                ts: e.ts,
                body: Body::Http(e.http),
                inside_tls: false,
            }),
            App::Http2(mut p) => flush(p.as_mut(), ts, &mut out.http2, &mut out.parsed, |e| {
                Parsed {
                    ts: e.ts,
                    body: Body::Http(e.http),
                    inside_tls: false,
                }
            }),
            App::Dns(mut p) => flush(p.as_mut(), ts, &mut out.dns, &mut out.parsed, |e| Parsed {
                ts: e.ts,
                body: Body::Dns(e.dns),
                inside_tls: false,
            }),
            App::Postgres(mut p) => {
                flush(p.as_mut(), ts, &mut out.postgres, &mut out.parsed, |e| {
                    Parsed {
                        ts: e.ts,
                        body: Body::Postgres(e.body),
                        inside_tls: false,
                    }
                })
            }
            App::Mysql(mut p) => flush(p.as_mut(), ts, &mut out.mysql, &mut out.parsed, |e| {
                Parsed {
                    ts: e.ts,
                    body: Body::Mysql(e.body),
                    inside_tls: false,
                }
            }),
            App::Redis(mut p) => flush(p.as_mut(), ts, &mut out.redis, &mut out.parsed, |e| {
                Parsed {
                    ts: e.ts,
                    body: Body::Redis(e.body),
                    inside_tls: false,
                }
            }),
            App::Kafka(mut p) => flush(p.as_mut(), ts, &mut out.kafka, &mut out.parsed, |e| {
                Parsed {
                    ts: e.ts,
                    body: Body::Kafka(e.body),
                    inside_tls: false,
                }
            }),
            App::Decrypt(mut d) => d.finish(ts, out),
            App::Undecided { .. } | App::Switched(_) | App::Off => {}
        }
    }
}

/// The parser for a connection whose first decisive bytes are `first`, in
/// `dir`; `None` when they decide nothing (yet).
pub(crate) fn detect(
    cfg: &ParserConfig,
    server_port: u16,
    mid_stream: bool,
    dir: Direction,
    first: &[u8],
) -> Option<App> {
    use Direction::{ToClient, ToServer};
    if dir == ToClient && !mid_stream {
        // From the start, only a few servers speak first.
        let app = if podwire_http::looks_like_http_response(first) {
            // The capture began after its request.
            App::Http(Box::new(HttpParser::mid_stream(&cfg.http)))
        } else if podwire_mysql::looks_like_mysql(dir, first) {
            App::Mysql(Box::new(MysqlParser::new(&cfg.mysql)))
        } else if DNS_PORTS.contains(&server_port) {
            App::Dns(Box::new(DnsTcpParser::new(&cfg.dns)))
        } else {
            return None;
        };
        return Some(app);
    }
    let app = match dir {
        ToServer if podwire_tls::looks_like_tls(first) => match &cfg.keys {
            Some(keys) if !keys.is_empty() => {
                App::Decrypt(Box::new(Decrypting::new(cfg, keys.clone(), server_port)))
            }
            _ => App::Tls(Box::new(TlsParser::new(&cfg.tls))),
        },
        // The preface reads like a request line (`PRI * HTTP/2.0`): first.
        ToServer if is_preface(first) => App::Http2(Box::new(Http2Parser::new(&cfg.http2))),
        ToServer if podwire_http::looks_like_http_request(first) => {
            App::Http(Box::new(HttpParser::new(&cfg.http)))
        }
        ToClient if podwire_http::looks_like_http_response(first) => {
            App::Http(Box::new(HttpParser::mid_stream(&cfg.http)))
        }
        _ if podwire_postgres::looks_like_postgres(dir, first) => {
            App::Postgres(Box::new(if mid_stream {
                PostgresParser::mid_stream(&cfg.postgres)
            } else {
                PostgresParser::new(&cfg.postgres)
            }))
        }
        // Reached from the start only for client bytes: MySQL's greeting
        // comes first, so client bytes mean mid-stream.
        _ if podwire_mysql::looks_like_mysql(dir, first) => {
            App::Mysql(Box::new(MysqlParser::mid_stream(&cfg.mysql)))
        }
        _ if podwire_kafka::looks_like_kafka(dir, first) => App::Kafka(Box::new(if mid_stream {
            KafkaParser::mid_stream(&cfg.kafka)
        } else {
            KafkaParser::new(&cfg.kafka)
        })),
        _ if podwire_redis::looks_like_redis(dir, first) => App::Redis(Box::new(if mid_stream {
            RedisParser::mid_stream(&cfg.redis)
        } else {
            RedisParser::new(&cfg.redis)
        })),
        // Frames without a preface: joined mid-stream.
        _ if mid_stream && podwire_http2::looks_like_http2(dir, first) => {
            App::Http2(Box::new(Http2Parser::mid_stream(&cfg.http2)))
        }
        _ if DNS_PORTS.contains(&server_port) => App::Dns(Box::new(DnsTcpParser::new(&cfg.dns))),
        _ => return None,
    };
    Some(app)
}

/// HTTP/2's client preface, or the start of one cut by a short segment.
fn is_preface(first: &[u8]) -> bool {
    let p = podwire_http2::PREFACE;
    first.starts_with(p) || (first.len() >= 4 && p.starts_with(first))
}

fn feed<P: StreamParser>(
    p: &mut P,
    dir: Direction,
    ts: Timestamp,
    chunk: Chunk<'_>,
    events: &mut Vec<P::Output>,
    out: &mut Vec<Parsed>,
    map: impl Fn(P::Output) -> Parsed,
) -> Status {
    events.clear();
    let status = match chunk {
        Chunk::Data(d) => p.data(dir, ts, d, events),
        Chunk::Gap(n) => p.gap(dir, ts, n, events),
    };
    hand_over(events, out, map);
    status
}

fn flush<P: StreamParser>(
    p: &mut P,
    ts: Timestamp,
    events: &mut Vec<P::Output>,
    out: &mut Vec<Parsed>,
    map: impl Fn(P::Output) -> Parsed,
) {
    events.clear();
    p.finish(ts, events);
    hand_over(events, out, map);
}

/// Moves `events` into `out`, keeping `events`' room (up to a bound).
fn hand_over<T>(events: &mut Vec<T>, out: &mut Vec<Parsed>, map: impl Fn(T) -> Parsed) {
    out.extend(events.drain(..).map(map));
    if events.capacity() > SCRATCH_KEEP {
        events.shrink_to(SCRATCH_KEEP);
    }
}
