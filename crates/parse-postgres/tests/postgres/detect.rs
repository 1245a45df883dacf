//! Detection by content: PostgreSQL's first bytes and nobody else's.

use podwire_parse::Direction::{ToClient, ToServer};
use podwire_postgres::looks_like_postgres;

use crate::util::streams;

#[test]
fn first_bytes_of_every_fixture_are_recognised() {
    for name in [
        "simple",
        "passwords",
        "cancel",
        "ssl_accepted",
        "pgbench_extended",
    ] {
        for segs in streams(name) {
            let first_client = segs.iter().find(|s| s.dir == ToServer).unwrap();
            assert!(looks_like_postgres(ToServer, &first_client.bytes), "{name}");
        }
    }
}

#[test]
fn mid_stream_segments_are_recognised_both_ways() {
    let segs = &streams("pgbench_extended")[1];
    let later: Vec<_> = segs[20..40].iter().collect();
    assert!(later.iter().all(|s| looks_like_postgres(s.dir, &s.bytes)));
    assert!(later.iter().any(|s| s.dir == ToClient));
}

#[test]
fn other_protocols_are_not_claimed() {
    let others: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"*1\r\n$4\r\nPING\r\n",
        b"PING\r\n",
        b"+OK\r\n",
        // MySQL server greeting, and a client login packet.
        b"J\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00abcdefgh\x00\xff\xf7",
        b"S\x00\x00\x00\x0a5.7.4\x00\x01\x00\x00\x00",
        b"\x55\x00\x00\x01\x8d\xa6\xff\x09\x00\x00\x00\x01\x21",
        // Kafka ApiVersions request; DNS over TCP.
        b"\x00\x00\x00\x1f\x00\x12\x00\x03\x00\x00\x00\x01\x00\x07client",
        b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
        b"",
        b"Q",
        b"Q\x00\x00\x00\x05",
    ];
    for bytes in others {
        for dir in [ToServer, ToClient] {
            assert!(!looks_like_postgres(dir, bytes), "{dir:?} {bytes:?}");
        }
    }
}

#[test]
fn startup_requests_are_exact() {
    assert!(looks_like_postgres(
        ToServer,
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
    ));
    assert!(looks_like_postgres(
        ToServer,
        b"\x00\x00\x00\x08\x04\xd2\x16\x30"
    ));
    assert!(!looks_like_postgres(
        ToServer,
        b"\x00\x00\x00\x08\x04\xd2\x16\x31"
    ));
    assert!(!looks_like_postgres(
        ToClient,
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
    ));
    assert!(looks_like_postgres(
        ToServer,
        b"\x00\x00\x00\x12\x00\x03\x00\x00user\x00ann\x00\x00"
    ));
    // No user: libpq always sends one.
    assert!(!looks_like_postgres(
        ToServer,
        b"\x00\x00\x00\x11\x00\x03\x00\x00abc\x00ann\x00\x00"
    ));
}
