//! Content detection of DNS on ports other than 53.

use crate::support::{query, tcp, udp, Rng};
use podwire_dns::{looks_like_dns, parse};

#[test]
fn every_real_message_looks_like_dns() {
    for d in udp() {
        assert!(looks_like_dns(&d.payload), "udp frame {}", d.frame);
    }
    // TCP segments here each carry one whole message behind its length.
    for s in tcp() {
        assert!(looks_like_dns(&s.payload[2..]), "tcp frame {}", s.frame);
    }
}

#[test]
fn other_protocols_do_not() {
    let ntp = {
        let mut p = vec![0x23, 0x02, 0x06, 0xe8];
        p.resize(48, 0);
        p
    };
    let quic_initial = {
        let mut p = vec![0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        p.resize(1200, 0x5a);
        p
    };
    let payloads: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &ntp,
        &quic_initial,
        &[0; 64],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ];
    for p in payloads {
        assert!(!looks_like_dns(p), "{p:02x?}");
    }
}

#[test]
fn counts_must_fit_the_length() {
    let mut q = query(1, "a.test", 1);
    assert!(looks_like_dns(&q));
    q[11] = 1; // one additional record that is not there
    assert!(!looks_like_dns(&q));
}

#[test]
fn opcode_above_update_is_rejected() {
    let mut q = query(1, "a.test", 1);
    q[2] |= 6 << 3;
    assert!(!looks_like_dns(&q));
}

#[test]
fn random_bytes_rarely_look_like_dns_and_never_fail_to_parse_when_they_do() {
    let mut rng = Rng(42);
    let mut hits = 0;
    for _ in 0..50_000 {
        let n = 12 + (rng.next() % 500) as usize;
        let buf = rng.bytes(n);
        if looks_like_dns(&buf) {
            hits += 1;
            assert!(parse(&buf).is_ok());
        }
    }
    assert!(hits < 5, "{hits} random payloads passed");
}
