//! The per-connection state machine: when a handshake has told all it will.
//!
//! Each direction is read until it has given what it can: the client's until
//! its ClientHello, the server's until its certificate is seen or can no
//! longer be (TLS 1.3 encrypts it; a resumed session sends none, which shows
//! as ChangeCipherSpec or application data). Then the one event of the
//! connection is emitted and the tracker is told [`Status::Done`], so it
//! stops reassembling a stream that is ciphertext from here on.

use crate::cert::leaf_certificate;
use crate::fingerprint::{is_grease, ja3, ja4};
use crate::handshake::{self, Flow, HandshakeReader, Message, TooLarge};
use crate::hello::{parse_client_hello, parse_server_hello, ClientHello, ServerHello};
use crate::names::{cipher_suite_name, version_name};
use crate::record::{self, RecordError, RecordReader};
use crate::{TlsConfig, TlsEvent};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Timestamp, Tls};

/// Parser of the TLS handshake of one TCP connection.
///
/// Feed it both directions through [`StreamParser`]; it emits at most one
/// [`TlsEvent`], for the first handshake, as soon as the server's side of it
/// is known, and otherwise at [`finish`](StreamParser::finish) when a hello
/// was seen. Returns [`Status::Failed`] at once when the client's first bytes
/// are not a TLS handshake (so the tracker can drop non-TLS streams), or when
/// a handshake message exceeds [`TlsConfig::max_handshake_bytes`].
#[derive(Debug)]
pub struct TlsParser {
    limit: usize,
    client: Side,
    server: Side,
    found: Findings,
    emitted: bool,
    /// Set once the connection is settled; every later call returns it.
    outcome: Option<Status>,
}

/// Reading state of one direction.
#[derive(Debug, Default)]
struct Side {
    records: RecordReader,
    handshake: HandshakeReader,
    state: SideState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SideState {
    #[default]
    Reading,
    /// Gave everything this parser wants from it.
    Finished,
    /// Cannot be read further: a gap, or bytes that are not TLS.
    Lost,
}

impl Side {
    fn stop(&mut self, state: SideState) {
        self.state = state;
        self.records = RecordReader::default();
        self.handshake.reset();
    }
}

/// What the handshake has shown so far.
#[derive(Debug, Default)]
struct Findings {
    tls: Tls,
    client_hello: Option<Timestamp>,
    server_hello: Option<Timestamp>,
}

impl Findings {
    fn seen(&self) -> bool {
        self.client_hello.is_some() || self.server_hello.is_some()
    }
}

/// Why a direction stopped being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Record(RecordError),
    TooLarge(usize),
    /// The client's first handshake message is not a ClientHello.
    NotClientHello(u8),
    /// A record other than handshake before the ClientHello.
    UnexpectedRecord(u8),
    MalformedHello,
}

impl From<RecordError> for Stop {
    fn from(e: RecordError) -> Self {
        Stop::Record(e)
    }
}

impl From<TooLarge> for Stop {
    fn from(e: TooLarge) -> Self {
        Stop::TooLarge(e.len)
    }
}

impl TlsParser {
    /// A parser for one connection.
    pub fn new(config: &TlsConfig) -> Self {
        TlsParser {
            limit: config.max_handshake_bytes,
            client: Side::default(),
            server: Side::default(),
            found: Findings::default(),
            emitted: false,
            outcome: None,
        }
    }

    /// Decides, after any progress, whether the connection is settled.
    fn settle(&mut self, out: &mut Vec<TlsEvent>) -> Status {
        if let Some(status) = self.outcome {
            return status;
        }
        let client_over = self.client.state != SideState::Reading;
        let server = self.server.state;
        let seen = self.found.seen();
        // The server side decides; a finished server with a hello in hand
        // need not wait for a client side that may never complete.
        if server != SideState::Reading && (client_over || (seen && server == SideState::Finished))
        {
            let status = if seen {
                self.emit(out);
                Status::Done
            } else {
                Status::Failed
            };
            return self.conclude(status);
        }
        Status::Continue
    }

    fn conclude(&mut self, status: Status) -> Status {
        self.client.stop(self.client.state);
        self.server.stop(self.server.state);
        self.outcome = Some(status);
        status
    }

    fn emit(&mut self, out: &mut Vec<TlsEvent>) {
        if self.emitted {
            return;
        }
        let Some(ts) = self.found.client_hello.or(self.found.server_hello) else {
            return;
        };
        let latency_ms = match (self.found.client_hello, self.found.server_hello) {
            (Some(ch), Some(sh)) => Some(ch.millis_until(sh)),
            _ => None,
        };
        out.push(TlsEvent {
            ts,
            latency_ms,
            tls: std::mem::take(&mut self.found.tls),
        });
        self.emitted = true;
    }
}

impl Default for TlsParser {
    fn default() -> Self {
        TlsParser::new(&TlsConfig::default())
    }
}

impl StreamParser for TlsParser {
    type Output = TlsEvent;

    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<TlsEvent>,
    ) -> Status {
        if let Some(status) = self.outcome {
            return status;
        }
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if side.state != SideState::Reading {
            return self.settle(out);
        }
        match read(side, &mut self.found, dir, bytes, ts, self.limit) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => side.stop(SideState::Finished),
            Err(Stop::TooLarge(_)) => {
                side.stop(SideState::Lost);
                self.emit(out);
                return self.conclude(Status::Failed);
            }
            // Whatever the client sent first was not a TLS handshake.
            Err(_) if dir == Direction::ToServer && !self.found.seen() => {
                return self.conclude(Status::Failed);
            }
            Err(_) => side.stop(SideState::Lost),
        }
        self.settle(out)
    }

    fn gap(
        &mut self,
        dir: Direction,
        _ts: Timestamp,
        _len: u64,
        out: &mut Vec<TlsEvent>,
    ) -> Status {
        if self.outcome.is_none() {
            let side = match dir {
                Direction::ToServer => &mut self.client,
                Direction::ToClient => &mut self.server,
            };
            if side.state == SideState::Reading {
                side.stop(SideState::Lost);
            }
        }
        self.settle(out)
    }

    fn finish(&mut self, _ts: Timestamp, out: &mut Vec<TlsEvent>) {
        if self.found.seen() {
            self.emit(out);
        }
        let status = self.outcome.unwrap_or(Status::Done);
        self.conclude(status);
    }
}

/// Runs `bytes` of one direction through the record and handshake layers.
fn read(
    side: &mut Side,
    found: &mut Findings,
    dir: Direction,
    bytes: &[u8],
    ts: Timestamp,
    limit: usize,
) -> Result<Flow, Stop> {
    let mut input = bytes;
    while let Some(fragment) = side.records.next(&mut input)? {
        let flow = if fragment.content_type == record::HANDSHAKE {
            side.handshake
                .feed(fragment.bytes, ts, limit, |msg| match dir {
                    Direction::ToServer => client_message(found, msg),
                    Direction::ToClient => server_message(found, msg),
                })?
        } else if fragment.record_start {
            other_record(dir, fragment.content_type)?
        } else {
            Flow::Continue
        };
        if flow == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// A record that is not handshake, at its start.
fn other_record(dir: Direction, content_type: u8) -> Result<Flow, Stop> {
    match (dir, content_type) {
        // The client speaks first, and with a hello.
        (Direction::ToServer, _) => Err(Stop::UnexpectedRecord(content_type)),
        // The server is encrypting: no certificate will follow (a resumed
        // session, or a handshake whose start was not captured).
        (Direction::ToClient, record::CHANGE_CIPHER_SPEC | record::APPLICATION_DATA) => {
            Ok(Flow::Stop)
        }
        // Alerts and heartbeats: the handshake may still go on.
        (Direction::ToClient, _) => Ok(Flow::Continue),
    }
}

fn client_message(found: &mut Findings, msg: Message<'_>) -> Result<Flow, Stop> {
    if msg.msg_type != handshake::CLIENT_HELLO {
        return Err(Stop::NotClientHello(msg.msg_type));
    }
    let hello = parse_client_hello(msg.body).ok_or(Stop::MalformedHello)?;
    describe_client_hello(&mut found.tls, &hello);
    found.client_hello = Some(msg.ts);
    // Nothing after the ClientHello is of interest (or in the clear for long).
    Ok(Flow::Stop)
}

fn server_message(found: &mut Findings, msg: Message<'_>) -> Result<Flow, Stop> {
    match msg.msg_type {
        handshake::SERVER_HELLO if found.server_hello.is_none() => {
            let hello = parse_server_hello(msg.body).ok_or(Stop::MalformedHello)?;
            describe_server_hello(&mut found.tls, &hello);
            found.server_hello = Some(msg.ts);
            // TLS 1.3 encrypts everything after the ServerHello. A
            // HelloRetryRequest also ends here: the retried hello is the
            // same client, and the version is already known.
            Ok(if hello.is_tls13() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        }
        handshake::CERTIFICATE => {
            found.tls.certificate = leaf_certificate(msg.body);
            Ok(Flow::Stop)
        }
        handshake::SERVER_HELLO_DONE => Ok(Flow::Stop),
        _ => Ok(Flow::Continue),
    }
}

fn describe_client_hello(tls: &mut Tls, hello: &ClientHello<'_>) {
    tls.sni = hello.sni.map(lossy);
    tls.alpn = hello.alpn.iter().map(|p| lossy(p)).collect();
    let offered: Vec<u16> = hello
        .versions
        .iter()
        .flatten()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    tls.client_versions = if offered.is_empty() {
        vec![version_name(hello.legacy_version)]
    } else {
        offered.into_iter().map(version_name).collect()
    };
    tls.client_ciphers = hello
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .map(cipher_suite_name)
        .collect();
    tls.ja3 = Some(ja3(hello));
    tls.ja4 = Some(ja4(hello));
}

fn describe_server_hello(tls: &mut Tls, hello: &ServerHello<'_>) {
    tls.version = Some(version_name(hello.version()));
    tls.cipher = Some(cipher_suite_name(hello.cipher));
    tls.alpn_selected = hello.alpn.map(lossy);
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
