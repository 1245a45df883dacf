//! Damaged real traffic: random segmentation, gaps and corrupted bytes must
//! never panic and never produce an inconsistent record. A cheap, always-on
//! cousin of the fuzz target (`fuzz/fuzz_targets/http.rs`).

use podwire_http::{is_sensitive, HeaderCapture, HttpConfig, REDACTED};

use crate::util::{fixture, run, Step};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Re-cuts `steps`, inserting gaps and flipping bytes as `rng` says.
fn damage(steps: &[Step], rng: &mut Lcg) -> Vec<Step> {
    let mut out = Vec::new();
    for step in steps {
        let Step::Data(dir, ts, bytes) = step else {
            continue;
        };
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = (1 + rng.next() as usize % 300).min(rest.len());
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            match rng.next() % 40 {
                0 => out.push(Step::Gap(*dir, n as u64)),
                1 => {
                    let mut piece = piece.to_vec();
                    let at = rng.next() as usize % piece.len();
                    piece[at] ^= 1 << (rng.next() % 8);
                    out.push(Step::Data(*dir, *ts, piece));
                }
                _ => out.push(Step::Data(*dir, *ts, piece.to_vec())),
            }
        }
    }
    out
}

#[test]
fn damaged_captures_yield_consistent_records() {
    let configs = [
        HttpConfig {
            headers: HeaderCapture::Redacted,
            ..HttpConfig::default()
        },
        HttpConfig {
            max_head_bytes: 200,
            max_pending_requests: 1,
            headers: HeaderCapture::Redacted,
        },
    ];
    let mut rng = Lcg(0x5eed);
    for name in [
        "keepalive",
        "head",
        "expect",
        "chunked_upload",
        "not_modified",
        "http10_close",
        "pipelined",
    ] {
        let steps = fixture(name);
        for _ in 0..200 {
            let damaged = damage(&steps, &mut rng);
            for config in &configs {
                let run = run(config, &damaged);
                // Every record stands for a request or a response head.
                let bytes = damaged
                    .iter()
                    .filter_map(|s| match s {
                        Step::Data(_, _, b) => Some(b.len()),
                        _ => None,
                    })
                    .sum::<usize>();
                assert!(run.events.len() <= bytes, "{name}: more records than bytes");
                for e in &run.events {
                    let http = &e.http;
                    assert_eq!(http.method.is_some(), http.path.is_some(), "{name}");
                    if http.method.is_some() {
                        assert_eq!(http.status.is_some(), http.latency_ms.is_some(), "{name}");
                    } else {
                        // A response without its request: no latency to measure.
                        assert!(http.status.is_some() && http.latency_ms.is_none(), "{name}");
                        assert!(http.host.is_none(), "{name}");
                    }
                    assert_eq!(
                        http.status.is_some(),
                        http.response_body_bytes.is_some(),
                        "{name}"
                    );
                    assert!(http.latency_ms.unwrap_or(0.0) >= 0.0, "{name}");
                    for (n, v) in http
                        .request_headers
                        .iter()
                        .chain(&http.response_headers)
                        .flatten()
                    {
                        assert!(!is_sensitive(n) || v == REDACTED, "{name}: {n} leaked");
                    }
                }
            }
        }
    }
}
