//! Fuzzes TLS decryption with key logs: key log text, then a capture file
//! (pcap, or pcapng whose decryption secrets blocks add more text), through
//! capture -> decode -> track with the key store -> decryption -> parsers,
//! every record serialised. Also the key log parser alone, on a tiny table.
//!
//! Input layout: bytes 0..2 are a big-endian length `n`; the next `n` bytes
//! (clamped) are key log text, the rest the capture. Seeds (scripts/fuzz.sh)
//! are the fixtures of `crates/tls-decrypt/tests/data` laid out that way,
//! with their real key logs, so mutations hit real ciphertext and real
//! handshakes. Checked: no panic, the key table stays within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_capture::FileReader;
use podwire_decode::Decoder;
use podwire_tls_decrypt::{KeyLog, KeyLogConfig, KeyStore};
use podwire_track::{Tracker, TrackerConfig};

fn drain(records: &mut Vec<podwire_record::Record>) {
    for r in records.drain(..) {
        let _ = serde_json::to_writer(std::io::sink(), &r);
    }
}

fuzz_target!(|data: &[u8]| {
    let [hi, lo, rest @ ..] = data else { return };
    let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (text, capture) = rest.split_at(n);

    let bounds = KeyLogConfig { max_entries: 4, max_bytes: 1024 };
    let mut small = KeyLog::new(bounds);
    small.add_text(text);
    assert!(small.len() <= 4 && small.bytes() <= 1024, "key table over its bounds");

    let keys = KeyStore::new(KeyLogConfig::default());
    keys.add_text(text);
    let mut cfg = TrackerConfig {
        max_connections: 8,
        max_buffered_per_connection: 4096,
        max_buffered_total: 16384,
        ..TrackerConfig::default()
    };
    cfg.parsers.keys = Some(keys.clone());
    let mut tracker = Tracker::new(cfg);
    let mut decoder = Decoder::default();
    let mut records = Vec::new();
    let Ok(mut reader) = FileReader::new(capture) else { return };
    reader.on_tls_keylog(move |t| keys.add_text(t));
    while let Ok(Some(f)) = reader.next_frame() {
        if let Ok(pkt) = decoder.decode(f.link.0, f.ts.0, f.orig_len, f.data) {
            tracker.packet(f.ts, f.orig_len, &pkt, &mut records);
        }
        drain(&mut records);
    }
    tracker.flush(&mut records);
    drain(&mut records);
});
