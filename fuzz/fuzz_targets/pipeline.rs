//! The whole read path: bytes as a capture file (or as raw frames of a
//! chosen link type) through capture -> decode -> track -> parse, and every
//! record serialised. Nothing may panic, hang or grow without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_capture::FileReader;
use podwire_decode::Decoder;
use podwire_record::Timestamp;
use podwire_track::{Tracker, TrackerConfig};

/// Link types worth reaching directly, bypassing the file header.
const LINKS: [u32; 15] = [0, 1, 9, 12, 50, 101, 104, 108, 113, 178, 228, 229, 239, 242, 276];

fn config() -> TrackerConfig {
    // Small bounds so the fuzzer reaches eviction and limit paths.
    TrackerConfig { max_connections: 8, max_buffered_per_connection: 512, max_buffered_total: 2048, ..TrackerConfig::default() }
}

fn drain(records: &mut Vec<podwire_record::Record>) {
    for r in records.drain(..) {
        let _ = serde_json::to_writer(std::io::sink(), &r);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut decoder = Decoder::default();
    let mut tracker = Tracker::new(config());
    let mut records = Vec::new();
    if mode & 1 == 0 {
        let Ok(mut reader) = FileReader::new(rest) else { return };
        while let Ok(Some(f)) = reader.next_frame() {
            if let Ok(pkt) = decoder.decode(f.link.0, f.ts.0, f.orig_len, f.data) {
                tracker.packet(f.ts, f.orig_len, &pkt, &mut records);
            }
            drain(&mut records);
        }
    } else {
        // Frames: [link selector][length][bytes...] repeated; time advances
        // by a step chosen from the mode byte so timeouts are reached.
        let link = LINKS[(mode >> 1) as usize % LINKS.len()];
        let step = 1u64 << ((mode >> 4) as u64 * 4);
        let mut ts = 0u64;
        let mut buf = rest;
        while let Some((&len, tail)) = buf.split_first() {
            let n = (len as usize).min(tail.len());
            let (frame, next) = tail.split_at(n);
            buf = next;
            ts = ts.wrapping_add(step);
            if let Ok(pkt) = decoder.decode(link, ts, frame.len() as u32 + (len & 7) as u32, frame) {
                tracker.packet(Timestamp(ts), frame.len() as u32, &pkt, &mut records);
            }
            drain(&mut records);
        }
    }
    tracker.flush(&mut records);
    drain(&mut records);
});
