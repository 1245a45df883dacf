//! The key log: NSS's `SSLKEYLOGFILE` text format, as curl, Firefox, Chrome,
//! OpenSSL and Go's `KeyLogWriter` write it, and the same text carried in a
//! pcapng Decryption Secrets Block.
//!
//! One line per secret: `LABEL <client random, 64 hex> <secret, hex>`;
//! `#` starts a comment. Lines are indexed by the client random of the
//! ClientHello, which is how a connection finds its secrets. The table is
//! bounded in entries and bytes; what does not fit, does not parse, or has a
//! label that is of no use here is counted, never fatal.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Longest secret accepted (SHA-384 secrets are 48 bytes).
const MAX_SECRET: usize = 64;
/// The labels whose secrets decrypt something here.
const LABELS: [&[u8]; 5] = [
    b"CLIENT_RANDOM",
    b"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    b"SERVER_HANDSHAKE_TRAFFIC_SECRET",
    b"CLIENT_TRAFFIC_SECRET_0",
    b"SERVER_TRAFFIC_SECRET_0",
];
/// Bytes charged per entry besides its secrets (key, map overhead).
const ENTRY_OVERHEAD: usize = 96;

/// Bounds of a [`KeyLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLogConfig {
    /// Client randoms kept at most. Default 1,000,000.
    pub max_entries: usize,
    /// Bytes of secrets (plus a per-entry overhead) kept at most. Default 64 MiB.
    pub max_bytes: usize,
}

impl Default for KeyLogConfig {
    fn default() -> Self {
        KeyLogConfig {
            max_entries: 1_000_000,
            max_bytes: 64 << 20,
        }
    }
}

/// What reading key log text counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    /// Secrets kept.
    pub secrets: u64,
    /// Lines that are not `LABEL hex hex` (comments and blank lines are not counted).
    pub malformed: u64,
    /// Well-formed lines whose label is not used (early data, exporters, unknown).
    pub ignored: u64,
    /// Secrets refused because the table was full.
    pub dropped: u64,
}

/// The secrets of one TLS session, by what they are for.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 (and earlier): `CLIENT_RANDOM`, the 48-byte master secret.
    pub master: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic0: Option<Vec<u8>>,
    pub server_traffic0: Option<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Secrets")
            .field("master", &self.master.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_traffic0", &self.client_traffic0.is_some())
            .field("server_traffic0", &self.server_traffic0.is_some())
            .finish()
    }
}

impl Secrets {
    fn bytes(&self) -> usize {
        [
            &self.master,
            &self.client_handshake,
            &self.server_handshake,
            &self.client_traffic0,
            &self.server_traffic0,
        ]
        .iter()
        .map(|s| s.as_ref().map_or(0, Vec::len))
        .sum()
    }
}

/// A bounded table of secrets by client random.
pub struct KeyLog {
    cfg: KeyLogConfig,
    map: HashMap<[u8; 32], Secrets>,
    bytes: usize,
    stats: KeyLogStats,
}

impl std::fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLog")
            .field("sessions", &self.map.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::new(KeyLogConfig::default())
    }
}

impl KeyLog {
    pub fn new(cfg: KeyLogConfig) -> Self {
        KeyLog {
            cfg,
            map: HashMap::new(),
            bytes: 0,
            stats: KeyLogStats::default(),
        }
    }

    /// Reads key log text (any line endings; invalid UTF-8 lines are malformed).
    pub fn add_text(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            self.add_line(line);
        }
    }

    fn add_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.trim_ascii();
        if line.is_empty() || line.first() == Some(&b'#') {
            return;
        }
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            self.stats.malformed += 1;
            return;
        };
        if !LABELS.contains(&label) {
            self.stats.ignored += 1;
            return;
        }
        let mut cr = [0u8; 32];
        let secret = match (hex_into(random, &mut cr), hex_vec(secret)) {
            (true, Some(s)) if !s.is_empty() => s,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        let is_new = !self.map.contains_key(&cr);
        let extra = secret.len() + if is_new { ENTRY_OVERHEAD } else { 0 };
        if (is_new && self.map.len() >= self.cfg.max_entries)
            || self.bytes.saturating_add(extra) > self.cfg.max_bytes
        {
            self.stats.dropped += 1;
            return;
        }
        let entry = self.map.entry(cr).or_default();
        let before = entry.bytes();
        set(entry, label, secret);
        let after = entry.bytes();
        self.bytes =
            (self.bytes + after + if is_new { ENTRY_OVERHEAD } else { 0 }).saturating_sub(before);
        self.stats.secrets += 1;
    }

    /// The secrets logged for this client random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.map.get(client_random)
    }

    /// Sessions with at least one secret.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }

    /// Bytes charged against [`KeyLogConfig::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

fn set(s: &mut Secrets, label: &[u8], secret: Vec<u8>) {
    let slot = match label {
        b"CLIENT_RANDOM" => &mut s.master,
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut s.client_handshake,
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut s.server_handshake,
        b"CLIENT_TRAFFIC_SECRET_0" => &mut s.client_traffic0,
        b"SERVER_TRAFFIC_SECRET_0" => &mut s.server_traffic0,
        _ => return,
    };
    *slot = Some(secret);
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex into exactly `out.len()` bytes.
fn hex_into(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        match (
            pair.first().and_then(|&c| nibble(c)),
            pair.get(1).and_then(|&c| nibble(c)),
        ) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

fn hex_vec(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > MAX_SECRET * 2 {
        return None;
    }
    let mut v = vec![0u8; hex.len() / 2];
    hex_into(hex, &mut v).then_some(v)
}

/// A [`KeyLog`] shared by the tracker's shards and the capture reader
/// (which adds the secrets a pcapng file carries as it meets them).
#[derive(Clone, Default)]
pub struct KeyStore(Arc<RwLock<KeyLog>>);

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.read() {
            Ok(k) => k.fmt(f),
            Err(_) => f.write_str("KeyStore(poisoned)"),
        }
    }
}

impl KeyStore {
    pub fn new(cfg: KeyLogConfig) -> Self {
        KeyStore(Arc::new(RwLock::new(KeyLog::new(cfg))))
    }

    /// Adds key log text.
    pub fn add_text(&self, text: &[u8]) {
        let mut k = podwire_sync::write(&self.0);
        k.add_text(text);
    }

    /// A copy of the secrets of one session.
    pub fn lookup(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        let k = podwire_sync::read(&self.0);
        k.get(client_random).cloned()
    }

    pub fn is_empty(&self) -> bool {
        podwire_sync::read(&self.0).is_empty()
    }

    pub fn stats(&self) -> KeyLogStats {
        podwire_sync::read(&self.0).stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "52362c10a2665e323a2adb4b9da0c10d4a8823719272f8b4c97af24f92784812";

    #[test]
    fn reads_labels_comments_and_crlf() {
        let mut k = KeyLog::default();
        let text = format!(
            "# SSL/TLS secrets log file, generated by NSS\r\n\
             CLIENT_RANDOM {CR} {}\r\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {CR} {}\n\
             EXPORTER_SECRET {CR} {}\n\
             CLIENT_RANDOM nothex {}\n\
             garbage\n\n",
            "ab".repeat(48),
            "cd".repeat(32),
            "ef".repeat(32),
            "ab".repeat(48),
        );
        k.add_text(text.as_bytes());
        let s = k.stats();
        assert_eq!((s.secrets, s.ignored, s.malformed, s.dropped), (2, 1, 2, 0));
        let mut cr = [0u8; 32];
        assert!(hex_into(CR.as_bytes(), &mut cr));
        let got = k.get(&cr).expect("logged");
        assert_eq!(got.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(got.server_handshake.as_deref(), Some(&[0xcd; 32][..]));
        assert!(got.client_traffic0.is_none());
        assert!(!format!("{got:?}").contains("171"), "Debug shows no secret");
    }

    #[test]
    fn table_is_bounded_and_counts_drops() {
        let mut k = KeyLog::new(KeyLogConfig {
            max_entries: 2,
            max_bytes: 1 << 20,
        });
        for i in 0..5u8 {
            let cr = format!("{:02x}", i).repeat(32);
            k.add_text(format!("CLIENT_RANDOM {cr} {}\n", "11".repeat(48)).as_bytes());
        }
        assert_eq!(k.len(), 2);
        assert_eq!(k.stats().dropped, 3);
        let mut k = KeyLog::new(KeyLogConfig {
            max_entries: 100,
            max_bytes: 300,
        });
        for i in 0..5u8 {
            let cr = format!("{:02x}", i).repeat(32);
            k.add_text(format!("CLIENT_RANDOM {cr} {}\n", "11".repeat(48)).as_bytes());
        }
        assert!(k.bytes() <= 300);
        assert_eq!(k.len() as u64 + k.stats().dropped, 5);
        assert!(k.stats().dropped > 0);
    }

    #[test]
    fn oversized_secret_is_malformed() {
        let mut k = KeyLog::default();
        k.add_text(format!("CLIENT_RANDOM {CR} {}\n", "aa".repeat(65)).as_bytes());
        assert_eq!(k.stats().malformed, 1);
        assert!(k.is_empty());
    }
}
