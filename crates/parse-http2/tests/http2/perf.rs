//! Throughput on a large capture, run by hand:
//!
//! ```text
//! PODWIRE_H2_FIXTURE=/tmp/h2load.txt cargo test --release -p podwire-http2 \
//!     --test http2 perf -- --ignored --nocapture
//! ```
//!
//! where the fixture comes from an h2load run captured on loopback
//! (`scripts/stream-fixture.py`). Only the parse is timed, not reading the
//! fixture's hex.

use std::time::Instant;

use podwire_http2::{Http2Config, Http2Parser};
use podwire_parse::StreamParser;

#[test]
#[ignore]
fn throughput_on_a_large_capture() {
    let Ok(path) = std::env::var("PODWIRE_H2_FIXTURE") else {
        println!("set PODWIRE_H2_FIXTURE to a fixture file");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("fixture");
    let segments = podwire_parse::fixture::parse(&text).expect("fixture");
    let bytes: usize = segments.iter().map(|s| s.bytes.len()).sum();
    let mut best = f64::MAX;
    let mut events = Vec::new();
    for _ in 0..20 {
        events.clear();
        let start = Instant::now();
        let mut parser = Http2Parser::new(&Http2Config::default());
        for s in &segments {
            parser.data(s.dir, s.ts, &s.bytes, &mut events);
        }
        parser.finish(podwire_record::Timestamp(0), &mut events);
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} segments, {} bytes, {} events in {:.1} ms ({:.0} MB/s)",
        segments.len(),
        bytes,
        events.len(),
        best * 1e3,
        bytes as f64 / best / 1e6
    );
}
