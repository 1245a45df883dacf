//! TLS connections read from the inside, when a key log has their secrets.
//!
//! The handshake parser still makes the connection's `tls` record; beside
//! it, a [`Decryptor`] turns the ciphertext back into the two plaintext
//! streams, which go through the same content detection and parsers as a
//! cleartext connection (a nested [`App`]), and whose records are marked as
//! found inside TLS. Under TLS 1.3 the `tls` record waits for the server's
//! encrypted flight, so it gets the certificate (and the chosen ALPN) back.
//! When decryption is not possible (no key, a suite not supported, records
//! that fail authentication) the connection stays a `tls` record, counted.

use crate::app::{App, Found, Parsed, ParserConfig, ParserStats};
use crate::stream::Chunk;
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{Body, Timestamp};
use podwire_tls::{TlsEvent, TlsParser};
use podwire_tls_decrypt::{DecryptConfig, DecryptState, Decryptor, Notes, Side};

/// One TLS connection being decrypted.
pub(crate) struct Decrypting {
    /// The handshake parser, until it is done.
    handshake: Option<TlsParser>,
    /// Its record, held until the encrypted part of the handshake told what
    /// it will (TLS 1.3's certificate).
    pending: Option<TlsEvent>,
    dec: Decryptor,
    /// What the plaintext carries.
    inner: App,
    plain: Vec<u8>,
    /// The outcome was counted.
    counted: bool,
    auth_counted: u64,
    /// The server's encrypted handshake flight is over (or never will be read).
    server_done: bool,
}

impl Decrypting {
    pub(crate) fn new(
        cfg: &ParserConfig,
        keys: podwire_tls_decrypt::KeyStore,
        server_port: u16,
    ) -> Self {
        Decrypting {
            handshake: Some(TlsParser::new(&cfg.tls)),
            pending: None,
            dec: Decryptor::new(
                keys,
                DecryptConfig {
                    max_handshake_bytes: cfg.tls.max_handshake_bytes,
                },
            ),
            inner: App::Undecided {
                server_port,
                mid_stream: false,
                tries: 0,
                early: None,
                turnable: None,
            },
            plain: Vec::new(),
            counted: false,
            auth_counted: 0,
            server_done: false,
        }
    }

    /// Feeds one chunk of `dir`; returns whether the connection still wants bytes.
    pub(crate) fn chunk(
        &mut self,
        cfg: &ParserConfig,
        dir: Direction,
        ts: Timestamp,
        chunk: Chunk<'_>,
        out: &mut Found,
        stats: &mut ParserStats,
    ) -> bool {
        if let Some(p) = self.handshake.as_mut() {
            let mut events = Vec::new();
            let status = match chunk {
                Chunk::Data(d) => p.data(dir, ts, d, &mut events),
                Chunk::Gap(n) => p.gap(dir, ts, n, &mut events),
            };
            if let Some(e) = events.pop() {
                self.pending = Some(e);
            }
            match status {
                Status::Continue => {}
                Status::Done => self.handshake = None,
                Status::Failed => {
                    stats.failed += 1;
                    self.handshake = None;
                }
            }
        }
        let side = match dir {
            Direction::ToServer => Side::Client,
            Direction::ToClient => Side::Server,
        };
        let mut notes = Notes::default();
        self.plain.clear();
        match chunk {
            Chunk::Data(d) => self.dec.data(side, d, &mut self.plain, &mut notes),
            Chunk::Gap(_) => self.dec.gap(side),
        }
        if let Some(tls) = self.pending.as_mut().map(|e| &mut e.tls) {
            if let Some(c) = notes.certificate.as_deref() {
                if tls.certificate.is_none() {
                    tls.certificate = podwire_tls::leaf_certificate_tls13(c);
                }
            }
            if let Some(a) = notes.alpn.as_deref() {
                if tls.alpn_selected.is_none() {
                    tls.alpn_selected = Some(String::from_utf8_lossy(a).into_owned());
                }
            }
        }
        let failures = self.dec.auth_failures();
        if failures > self.auth_counted {
            stats.tls_auth_failed += failures - self.auth_counted;
            self.auth_counted = failures;
        }
        if !self.plain.is_empty() {
            let start = out.parsed.len();
            let plain = std::mem::take(&mut self.plain);
            self.inner
                .chunk(cfg, dir, ts, Chunk::Data(&plain), out, stats);
            self.plain = plain;
            mark(&mut out.parsed[start..]);
        } else if let Chunk::Gap(n) = chunk {
            let start = out.parsed.len();
            self.inner.chunk(cfg, dir, ts, Chunk::Gap(n), out, stats);
            mark(&mut out.parsed[start..]);
        }
        self.count(stats);
        // The handshake record goes out once nothing more can be learnt.
        self.server_done |= notes.server_finished || self.dec.state() != DecryptState::Decrypting;
        let tls13_waiting = !self.server_done
            && self
                .pending
                .as_ref()
                .is_some_and(|e| e.tls.version.as_deref() == Some("TLS 1.3"));
        if self.handshake.is_none() && !tls13_waiting {
            self.emit_handshake(out);
        }
        // Nothing left to decrypt, or nothing inside worth parsing (an
        // unknown protocol, or its parser finished).
        let over = (self.dec.is_over() || !self.inner.wants_bytes()) && self.handshake.is_none();
        if over {
            self.emit_handshake(out);
            let start = out.parsed.len();
            self.inner.finish(ts, out);
            mark(&mut out.parsed[start..]);
        }
        !over
    }

    fn emit_handshake(&mut self, out: &mut Found) {
        if let Some(e) = self.pending.take() {
            out.parsed.push(Parsed {
                ts: e.ts,
                body: Body::Tls(e.tls),
                inside_tls: false,
            });
        }
    }

    /// Counts the connection's outcome once it is known.
    fn count(&mut self, stats: &mut ParserStats) {
        if self.counted {
            return;
        }
        let state = self.dec.state();
        if self.dec.decrypted_any() {
            stats.tls_decrypted += 1;
        } else {
            match state {
                // Without any key log, a missing key is no news.
                DecryptState::NoKey if self.dec.has_keys() => stats.tls_no_key += 1,
                DecryptState::Unsupported => stats.tls_unsupported += 1,
                _ => return,
            }
        }
        self.counted = true;
    }

    /// The connection is over: flush the handshake parser, the record held,
    /// and the inner parser.
    pub(crate) fn finish(&mut self, ts: Timestamp, out: &mut Found) {
        if let Some(mut p) = self.handshake.take() {
            let mut events = Vec::new();
            p.finish(ts, &mut events);
            if let Some(e) = events.pop() {
                self.pending = Some(e);
            }
        }
        self.emit_handshake(out);
        let start = out.parsed.len();
        self.inner.finish(ts, out);
        mark(&mut out.parsed[start..]);
    }
}

pub(crate) fn mark(parsed: &mut [Parsed]) {
    for p in parsed {
        p.inside_tls = true;
    }
}
