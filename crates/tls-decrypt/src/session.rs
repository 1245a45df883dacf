//! One connection's decryption: the handshake in the clear tells the client
//! random (which secrets), the server random and suite (how to use them) and
//! the version; then each direction's records are authenticated and
//! decrypted in order, and their application data handed out.
//!
//! TLS 1.2: the key block comes from the master secret with the PRF; a
//! direction is encrypted from its ChangeCipherSpec on (sequence numbers
//! start there). TLS 1.3: handshake traffic secrets protect the server's
//! flight and the client's Finished; each direction moves to its first
//! application traffic secret after its Finished, and to the next one after
//! a KeyUpdate. Decrypted handshake messages are reported as [`Notes`] (the
//! server's certificate, which TLS 1.3 no longer shows in the clear, and the
//! ALPN it chose).
//!
//! Anything that makes a direction unreadable (a gap, bytes that are not
//! records, a record that fails authentication) stops that direction only;
//! a missing key or an unsupported suite stops the connection. Both are
//! reported by [`Decryptor::state`], never as a panic.

use crate::keylog::{KeyStore, Secrets};
#[cfg(test)]
use crate::schedule::Hash;
use crate::schedule::{expand_label, prf12};
use crate::suite::{suite, Aead, Suite};
use crate::wire::{self, HandshakeBuf, RecordBuf};
use crate::Side;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

/// Limits of a [`Decryptor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptConfig {
    /// Longest handshake message buffered (a server's Certificate under
    /// TLS 1.3); longer ones are skipped. Default 64 KiB.
    pub max_handshake_bytes: usize,
}

impl Default for DecryptConfig {
    fn default() -> Self {
        DecryptConfig {
            max_handshake_bytes: 64 << 10,
        }
    }
}

/// Where a connection's decryption stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptState {
    /// Hellos not seen yet (or no encrypted record yet).
    Handshake,
    /// Keys in hand; records decrypt (or are about to).
    Decrypting,
    /// The key log has no secrets for this client random.
    NoKey,
    /// The negotiated suite is not one this crate decrypts (CBC, ...).
    Unsupported,
    /// Neither direction can be read any more (gaps, authentication
    /// failures, non-record bytes), or the hellos could not be read.
    Lost,
}

/// Handshake facts found inside the encryption.
#[derive(Debug, Default)]
pub struct Notes {
    /// The server's Certificate message body (TLS 1.3 layout: request
    /// context first), when decrypted.
    pub certificate: Option<Vec<u8>>,
    /// The ALPN protocol from EncryptedExtensions.
    pub alpn: Option<Vec<u8>>,
    /// The server's handshake flight ended (its Finished decrypted):
    /// nothing more will be learnt about the handshake.
    pub server_finished: bool,
}

/// The keys of one direction.
struct DirKeys {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    /// TLS 1.3: the traffic secret these came from (for KeyUpdate).
    secret: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not decrypting yet: plaintext handshake (and, 1.2, before CCS).
    Clear,
    /// TLS 1.3 handshake keys.
    Handshake,
    /// Application keys (1.2: after CCS).
    Application,
    /// Nothing more will be read in this direction.
    Lost,
}

struct Dir {
    records: RecordBuf,
    clear_hs: HandshakeBuf,
    secret_hs: HandshakeBuf,
    phase: Phase,
    keys: Option<DirKeys>,
    /// TLS 1.2 keys, installed at ChangeCipherSpec.
    pending12: Option<DirKeys>,
    /// Records authenticated.
    ok: u64,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            records: RecordBuf::default(),
            clear_hs: HandshakeBuf::default(),
            secret_hs: HandshakeBuf::default(),
            phase: Phase::Clear,
            keys: None,
            pending12: None,
            ok: 0,
        }
    }
}

/// Decrypts the two directions of one TLS connection.
pub struct Decryptor {
    keys: KeyStore,
    cfg: DecryptConfig,
    client_random: Option<[u8; 32]>,
    server: Option<(wire::ServerHello, Suite)>,
    secrets: Option<Secrets>,
    state: DecryptState,
    dirs: [Dir; 2],
    /// Records that failed authentication.
    auth_failures: u64,
    /// Keys made from the hellos, not yet handed to their direction (which
    /// may be the one being read, held outside `dirs` meanwhile).
    fresh: [Option<DirKeys>; 2],
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("state", &self.state)
            .field("auth_failures", &self.auth_failures)
            .finish()
    }
}

impl Decryptor {
    pub fn new(keys: KeyStore, cfg: DecryptConfig) -> Self {
        Decryptor {
            keys,
            cfg,
            client_random: None,
            server: None,
            secrets: None,
            state: DecryptState::Handshake,
            dirs: [Dir::default(), Dir::default()],
            auth_failures: 0,
            fresh: [None, None],
        }
    }

    /// Hands `dir` the keys the hellos made for it.
    fn install(&mut self, side: Side, dir: &mut Dir) {
        if let Some(k) = self.fresh[side.idx()].take() {
            let tls13 = self.server.as_ref().is_some_and(|(_, s)| s.tls13);
            if tls13 {
                dir.keys = Some(k);
            } else {
                dir.pending12 = Some(k);
            }
        }
    }

    pub fn state(&self) -> DecryptState {
        self.state
    }

    /// Whether the key store holds any secret (a key log is in use).
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Records that failed authentication so far (wrong keys, corruption).
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures
    }

    /// Whether any record was authenticated, in either direction.
    pub fn decrypted_any(&self) -> bool {
        self.dirs.iter().any(|d| d.ok > 0)
    }

    /// Whether there is nothing left to do.
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            DecryptState::NoKey | DecryptState::Unsupported | DecryptState::Lost
        )
    }

    /// Bytes of `side`, in stream order. Application data is appended to
    /// `plain`; handshake facts go to `notes`.
    pub fn data(&mut self, side: Side, bytes: &[u8], plain: &mut Vec<u8>, notes: &mut Notes) {
        if self.is_over() || self.dirs[side.idx()].phase == Phase::Lost {
            return;
        }
        let mut dir = std::mem::take(&mut self.dirs[side.idx()]);
        dir.records.push(bytes);
        let mut records = std::mem::take(&mut dir.records);
        let res = records.drain(|rec| {
            self.record(side, &mut dir, rec, plain, notes);
            dir.phase != Phase::Lost && !self.is_over()
        });
        dir.records = records;
        if res.is_err() {
            dir.phase = Phase::Lost;
        }
        if dir.phase == Phase::Lost {
            dir.records.clear();
            dir.clear_hs.clear();
            dir.secret_hs.clear();
            dir.keys = None;
        }
        self.dirs[side.idx()] = dir;
        self.settle();
    }

    /// Bytes of `side` were lost: that direction cannot be read further.
    pub fn gap(&mut self, side: Side) {
        let d = &mut self.dirs[side.idx()];
        d.phase = Phase::Lost;
        d.records.clear();
        d.keys = None;
        self.settle();
    }

    fn settle(&mut self) {
        if !self.is_over() && self.dirs.iter().all(|d| d.phase == Phase::Lost) {
            self.state = DecryptState::Lost;
        }
    }

    fn record(
        &mut self,
        side: Side,
        dir: &mut Dir,
        rec: wire::Record<'_>,
        plain: &mut Vec<u8>,
        notes: &mut Notes,
    ) {
        self.install(side, dir);
        let tls13 = self.server.as_ref().is_some_and(|(_, s)| s.tls13);
        let encrypted = match dir.phase {
            Phase::Lost => return,
            Phase::Application | Phase::Handshake => {
                !tls13 || rec.content_type == wire::APPLICATION_DATA
            }
            Phase::Clear => tls13 && rec.content_type == wire::APPLICATION_DATA,
        };
        if !encrypted {
            match rec.content_type {
                wire::HANDSHAKE => {
                    let limit = self.cfg.max_handshake_bytes;
                    let mut hs = std::mem::take(&mut dir.clear_hs);
                    hs.feed(rec.body, limit, |t, body| self.clear_message(side, t, body));
                    dir.clear_hs = hs;
                    self.install(side, dir);
                }
                wire::CHANGE_CIPHER_SPEC if !tls13 && self.server.is_some() => {
                    // TLS 1.2: this direction is encrypted from here on.
                    match dir.pending12.take() {
                        Some(k) => {
                            dir.keys = Some(k);
                            dir.phase = Phase::Application;
                        }
                        None => dir.phase = Phase::Lost,
                    }
                }
                // TLS 1.3 compatibility CCS, alerts in the clear: nothing to read.
                wire::CHANGE_CIPHER_SPEC | wire::ALERT => {}
                // Application data before any key: not a handshake we follow.
                _ => dir.phase = Phase::Lost,
            }
            return;
        }
        if dir.phase == Phase::Clear {
            // The first encrypted record (TLS 1.3): keys from the hellos.
            if dir.keys.is_none() {
                dir.phase = Phase::Lost;
                return;
            }
            dir.phase = Phase::Handshake;
        }
        let Some(keys) = dir.keys.as_mut() else {
            dir.phase = Phase::Lost;
            return;
        };
        let Some((_, suite)) = self.server.as_ref() else {
            dir.phase = Phase::Lost;
            return;
        };
        let suite = *suite;
        let Some((inner_type, pt)) = open(suite, keys, rec.header, rec.body) else {
            self.auth_failures += 1;
            dir.phase = Phase::Lost;
            return;
        };
        dir.ok += 1;
        match inner_type {
            wire::APPLICATION_DATA => plain.extend_from_slice(pt),
            wire::HANDSHAKE => {
                let limit = self.cfg.max_handshake_bytes;
                let mut hs = std::mem::take(&mut dir.secret_hs);
                let mut finished = false;
                let mut key_update = false;
                hs.feed(pt, limit, |t, body| match t {
                    // EncryptedExtensions
                    8 if side == Side::Server => notes.alpn = wire::selected_alpn(body),
                    11 if side == Side::Server && !body.is_empty() => {
                        notes.certificate = Some(body.to_vec())
                    }
                    20 => finished = true,
                    24 => key_update = true,
                    _ => {}
                });
                dir.secret_hs = hs;
                if tls13 && finished && dir.phase == Phase::Handshake {
                    if side == Side::Server {
                        notes.server_finished = true;
                    }
                    let secret = self.secrets.as_ref().and_then(|s| match side {
                        Side::Client => s.client_traffic0.clone(),
                        Side::Server => s.server_traffic0.clone(),
                    });
                    dir.keys = secret.and_then(|s| keys13(suite, s));
                    dir.phase = if dir.keys.is_some() {
                        Phase::Application
                    } else {
                        Phase::Lost
                    };
                } else if tls13 && key_update && dir.phase == Phase::Application {
                    let next = dir.keys.as_ref().and_then(|k| {
                        let mut s = vec![0u8; suite.hash.len()];
                        expand_label(suite.hash, &k.secret, b"traffic upd", b"", &mut s)
                            .then_some(s)
                    });
                    dir.keys = next.and_then(|s| keys13(suite, s));
                    if dir.keys.is_none() {
                        dir.phase = Phase::Lost;
                    }
                } else if !tls13 && finished && side == Side::Server {
                    notes.server_finished = true;
                }
            }
            // Alerts (close_notify), heartbeats: nothing for the parsers.
            _ => {}
        }
    }

    /// A handshake message in the clear.
    fn clear_message(&mut self, side: Side, msg_type: u8, body: &[u8]) {
        match (side, msg_type) {
            (Side::Client, 1) if self.client_random.is_none() => {
                self.client_random = wire::hello_random(body);
                if self.client_random.is_none() {
                    self.state = DecryptState::Lost;
                }
            }
            (Side::Server, 2) if self.server.is_none() => {
                let Some(sh) = wire::server_hello(body) else {
                    self.state = DecryptState::Lost;
                    return;
                };
                if sh.random == wire::HELLO_RETRY_RANDOM {
                    // A HelloRetryRequest: the real ServerHello follows.
                    return;
                }
                self.server_hello(sh);
            }
            _ => {}
        }
    }

    fn server_hello(&mut self, sh: wire::ServerHello) {
        let Some(suite) = suite(sh.suite) else {
            self.state = DecryptState::Unsupported;
            return;
        };
        let Some(cr) = self.client_random else {
            self.state = DecryptState::Lost;
            return;
        };
        let Some(secrets) = self.keys.lookup(&cr) else {
            self.state = DecryptState::NoKey;
            return;
        };
        let tls13 = suite.tls13 && sh.tls13;
        let suite = Suite { tls13, ..suite };
        if tls13 {
            let (Some(c), Some(s)) = (
                secrets.client_handshake.clone(),
                secrets.server_handshake.clone(),
            ) else {
                self.state = DecryptState::NoKey;
                return;
            };
            self.fresh = [keys13(suite, c), keys13(suite, s)];
        } else {
            let Some(master) = secrets.master.as_deref() else {
                self.state = DecryptState::NoKey;
                return;
            };
            self.fresh = keys12(suite, master, &cr, &sh.random);
        }
        self.secrets = Some(secrets);
        self.server = Some((sh, suite));
        self.state = DecryptState::Decrypting;
    }
}

fn less_safe_key(a: Aead, key: &[u8]) -> Option<LessSafeKey> {
    UnboundKey::new(a.algorithm(), key)
        .ok()
        .map(LessSafeKey::new)
}

/// TLS 1.3 record keys from a traffic secret.
fn keys13(suite: Suite, secret: Vec<u8>) -> Option<DirKeys> {
    let mut key = vec![0u8; suite.aead.key_len()];
    let mut iv = [0u8; 12];
    if !expand_label(suite.hash, &secret, b"key", b"", &mut key)
        || !expand_label(suite.hash, &secret, b"iv", b"", &mut iv)
    {
        return None;
    }
    Some(DirKeys {
        key: less_safe_key(suite.aead, &key)?,
        iv,
        seq: 0,
        secret,
    })
}

/// TLS 1.2 client and server write keys from the master secret.
fn keys12(suite: Suite, master: &[u8], cr: &[u8; 32], sr: &[u8; 32]) -> [Option<DirKeys>; 2] {
    let (k, i) = (suite.aead.key_len(), suite.aead.fixed_iv_len12());
    let mut block = vec![0u8; 2 * (k + i)];
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(sr);
    seed[32..].copy_from_slice(cr);
    prf12(suite.hash, master, b"key expansion", &seed, &mut block);
    let make = |key: &[u8], iv: &[u8]| {
        let mut full = [0u8; 12];
        full.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(DirKeys {
            key: less_safe_key(suite.aead, key)?,
            iv: full,
            seq: 0,
            secret: Vec::new(),
        })
    };
    let (ck, rest) = block.split_at(k);
    let (sk, rest) = rest.split_at(k);
    let (civ, siv) = rest.split_at(i);
    [make(ck, civ), make(sk, siv)]
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

/// Authenticates and decrypts one record in place: the inner content type
/// and the plaintext, or `None` when it does not authenticate.
fn open<'r>(
    suite: Suite,
    keys: &mut DirKeys,
    header: [u8; 5],
    body: &'r mut [u8],
) -> Option<(u8, &'r [u8])> {
    let tag = aead::MAX_TAG_LEN;
    let seq = keys.seq;
    let out = if suite.tls13 {
        let nonce = Nonce::assume_unique_for_key(xor_seq(&keys.iv, seq));
        let pt = keys
            .key
            .open_in_place(nonce, Aad::from(header), body)
            .ok()?;
        // Strip the zero padding; the last non-zero byte is the real type.
        let end = pt.iter().rposition(|&b| b != 0)?;
        let (content, ty) = pt.split_at(end);
        (*ty.first()?, content)
    } else {
        let [ct, v1, v2, _, _] = header;
        let explicit = if suite.aead.fixed_iv_len12() == 4 {
            8
        } else {
            0
        };
        let pt_len = body.len().checked_sub(explicit + tag)?;
        let nonce = if explicit == 8 {
            let mut n = keys.iv;
            n.get_mut(4..12)?.copy_from_slice(body.get(..8)?);
            n
        } else {
            xor_seq(&keys.iv, seq)
        };
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&seq.to_be_bytes());
        aad[8] = ct;
        aad[9] = v1;
        aad[10] = v2;
        aad[11..].copy_from_slice(&u16::try_from(pt_len).ok()?.to_be_bytes());
        let sealed = body.get_mut(explicit..)?;
        let pt = keys
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), sealed)
            .ok()?;
        (ct, &*pt)
    };
    keys.seq = seq.wrapping_add(1);
    Some(out)
}

#[cfg(test)]
mod tests {
    //! A TLS 1.3 conversation sealed here with known secrets (ring's seal,
    //! the same derivation), for what curl and nginx do not do on demand:
    //! KeyUpdate, and a record altered in flight.
    use super::*;
    use crate::KeyStore;

    const CR: [u8; 32] = [7; 32];
    const SUITE: u16 = 0x1301;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn store() -> KeyStore {
        let keys = KeyStore::default();
        let cr = hex(&CR);
        let text = format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {cr} {}\nSERVER_TRAFFIC_SECRET_0 {cr} {}\n",
            hex(&[1; 32]),
            hex(&[2; 32]),
            hex(&[3; 32]),
            hex(&[4; 32])
        );
        keys.add_text(text.as_bytes());
        keys
    }

    fn hs(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let n = body.len() as u32;
        let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(body);
        m
    }

    fn record(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A sealing end: a direction's keys, as the peer holds them.
    struct Sealer(DirKeys);

    impl Sealer {
        fn new(secret: Vec<u8>) -> Sealer {
            let s = suite(SUITE).unwrap();
            Sealer(keys13(s, secret).unwrap())
        }
        fn seal(&mut self, inner_type: u8, content: &[u8]) -> Vec<u8> {
            let mut inner = content.to_vec();
            inner.push(inner_type);
            inner.extend_from_slice(&[0, 0, 0]); // padding
            let len = (inner.len() + 16) as u16;
            let mut header = [23, 3, 3, 0, 0];
            header[3..].copy_from_slice(&len.to_be_bytes());
            let nonce = Nonce::assume_unique_for_key(xor_seq(&self.0.iv, self.0.seq));
            self.0
                .key
                .seal_in_place_append_tag(nonce, Aad::from(header), &mut inner)
                .unwrap();
            self.0.seq += 1;
            let mut r = header.to_vec();
            r.extend_from_slice(&inner);
            r
        }
        fn update(&mut self) {
            let mut next = vec![0u8; 32];
            assert!(expand_label(
                Hash::Sha256,
                &self.0.secret,
                b"traffic upd",
                b"",
                &mut next
            ));
            *self = Sealer::new(next);
        }
    }

    fn hellos() -> (Vec<u8>, Vec<u8>) {
        let mut ch = vec![3, 3];
        ch.extend_from_slice(&CR);
        ch.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0, 0, 0]);
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&[9; 32]);
        sh.extend_from_slice(&[0, 0x13, 0x01, 0]);
        sh.extend_from_slice(&[0, 6, 0, 0x2b, 0, 2, 3, 4]);
        (record(22, &hs(1, &ch)), record(22, &hs(2, &sh)))
    }

    /// Server and client bytes of one conversation; the server's key is
    /// updated between its two responses.
    fn conversation() -> (Vec<u8>, Vec<u8>) {
        let (mut client, mut server) = hellos();
        let mut s_hs = Sealer::new(vec![2; 32]);
        let alpn = [0, 9, 0, 0x10, 0, 5, 0, 3, 2, b'h', b'2'];
        let mut flight = hs(8, &alpn);
        flight.extend(hs(20, &[0xaa; 32]));
        server.extend(s_hs.seal(22, &flight));
        let mut c_hs = Sealer::new(vec![1; 32]);
        client.extend(record(20, &[1])); // compatibility CCS
        client.extend(c_hs.seal(22, &hs(20, &[0xbb; 32])));
        let mut c_ap = Sealer::new(vec![3; 32]);
        client.extend(c_ap.seal(23, b"GET / HTTP/1.1\r\n\r\n"));
        let mut s_ap = Sealer::new(vec![4; 32]);
        server.extend(s_ap.seal(23, b"first "));
        server.extend(s_ap.seal(22, &hs(24, &[0])));
        s_ap.update();
        server.extend(s_ap.seal(23, b"after the update"));
        (client, server)
    }

    fn run(client: &[u8], server: &[u8], piece: usize) -> (Decryptor, Vec<u8>, Vec<u8>, Notes) {
        let mut d = Decryptor::new(store(), DecryptConfig::default());
        let (mut pc, mut ps, mut notes) = (Vec::new(), Vec::new(), Notes::default());
        // The hellos first, then the rest, each cut into `piece`-byte bits.
        let (ch_len, sh_len) = (hellos().0.len(), hellos().1.len());
        d.data(Side::Client, &client[..ch_len], &mut pc, &mut notes);
        for p in server[..sh_len].chunks(piece) {
            d.data(Side::Server, p, &mut ps, &mut notes);
        }
        for p in server[sh_len..].chunks(piece) {
            let mut n = Notes::default();
            d.data(Side::Server, p, &mut ps, &mut n);
            notes.alpn = notes.alpn.or(n.alpn);
            notes.server_finished |= n.server_finished;
        }
        for p in client[ch_len..].chunks(piece) {
            d.data(Side::Client, p, &mut pc, &mut notes);
        }
        (d, pc, ps, notes)
    }

    #[test]
    fn tls13_follows_finished_and_key_update_in_any_segmentation() {
        let (client, server) = conversation();
        for piece in [1, 3, 7, 64, 100_000] {
            let (d, pc, ps, notes) = run(&client, &server, piece);
            assert_eq!(d.state(), DecryptState::Decrypting, "piece {piece}");
            assert_eq!(d.auth_failures(), 0);
            assert_eq!(pc, b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(ps, b"first after the update", "piece {piece}");
            assert_eq!(notes.alpn.as_deref(), Some(&b"h2"[..]));
            assert!(notes.server_finished);
        }
    }

    #[test]
    fn an_altered_record_stops_its_direction_only() {
        let (client, mut server) = conversation();
        let last = server.len() - 20;
        server[last] ^= 1;
        let (d, pc, ps, _) = run(&client, &server, 50);
        assert_eq!(d.auth_failures(), 1);
        assert_eq!(ps, b"first ", "what came before is kept");
        assert_eq!(pc, b"GET / HTTP/1.1\r\n\r\n", "the other direction goes on");
        assert_eq!(d.state(), DecryptState::Decrypting);
    }

    #[test]
    fn unknown_session_and_unknown_suite() {
        let (client, server) = conversation();
        let mut d = Decryptor::new(KeyStore::default(), DecryptConfig::default());
        let (mut p, mut n) = (Vec::new(), Notes::default());
        d.data(Side::Client, &client, &mut p, &mut n);
        d.data(Side::Server, &server, &mut p, &mut n);
        assert_eq!(d.state(), DecryptState::NoKey);
        assert!(p.is_empty());
        // The same hello choosing a CBC suite.
        let (ch, mut sh) = hellos();
        let at = sh.len() - 12;
        sh[at..at + 2].copy_from_slice(&[0x00, 0x3c]);
        let mut d = Decryptor::new(store(), DecryptConfig::default());
        d.data(Side::Client, &ch, &mut p, &mut n);
        d.data(Side::Server, &sh, &mut p, &mut n);
        assert_eq!(d.state(), DecryptState::Unsupported);
    }

    #[test]
    fn a_gap_stops_a_direction_and_both_stop_the_connection() {
        let (client, server) = conversation();
        let mut d = Decryptor::new(store(), DecryptConfig::default());
        let (mut p, mut n) = (Vec::new(), Notes::default());
        let ch_len = hellos().0.len();
        d.data(Side::Client, &client[..ch_len], &mut p, &mut n);
        d.gap(Side::Server);
        d.data(Side::Server, &server, &mut p, &mut n);
        assert_eq!(d.state(), DecryptState::Handshake, "no ServerHello read");
        d.gap(Side::Client);
        assert_eq!(d.state(), DecryptState::Lost);
        assert!(d.is_over());
    }
}
