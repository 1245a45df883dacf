//! Detection by content: the server's greeting, or an unmistakable client
//! command, and nothing of the other protocols podwire parses.

use podwire_mysql::looks_like_mysql;
use podwire_parse::Direction::{self, ToClient, ToServer};

use crate::util::*;

fn first_of(name: &str, dir: Direction) -> Vec<u8> {
    fixture(name)
        .into_iter()
        .find_map(|s| match s {
            Step::Data(d, _, bytes) if d == dir => Some(bytes),
            _ => None,
        })
        .unwrap()
}

#[test]
fn every_captured_greeting_is_claimed() {
    for name in FIXTURES {
        assert!(
            looks_like_mysql(ToClient, &first_of(name, ToClient)),
            "{name}"
        );
    }
}

#[test]
fn logins_and_commands_are_claimed_from_the_client() {
    // The login (greeting missed), and a query and a ping mid-stream.
    assert!(looks_like_mysql(ToServer, &first_of("query", ToServer)));
    let steps = fixture("pymysql");
    let Step::Data(_, _, query) = &steps[3] else {
        panic!()
    };
    assert!(query.starts_with(b"\x12\x00\x00\x00\x03SET NAMES"));
    assert!(looks_like_mysql(ToServer, query));
    assert!(looks_like_mysql(ToServer, &packet(0, b"\x0e")));
    assert!(looks_like_mysql(
        ToServer,
        &packet(0, b"\x19\x01\x00\x00\x00")
    ));
}

#[test]
fn near_misses_are_not_claimed() {
    // A query whose length does not match the segment, a ping with an
    // argument, a command with a non-zero sequence id, an unknown command.
    let mut long = packet(0, b"\x03SELECT 1");
    long.push(b'x');
    assert!(!looks_like_mysql(ToServer, &long));
    assert!(!looks_like_mysql(ToServer, &packet(0, b"\x0e\x00")));
    assert!(!looks_like_mysql(ToServer, &packet(2, b"\x03SELECT 1")));
    assert!(!looks_like_mysql(ToServer, &packet(0, b"\x42SELECT 1")));
    // A greeting with an unprintable version, or a later protocol.
    assert!(!looks_like_mysql(
        ToClient,
        &packet(0, b"\x0a8.0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
    ));
    assert!(!looks_like_mysql(
        ToClient,
        &packet(0, b"\x0b8.0.36\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
    ));
}

/// First bytes of the other protocols podwire recognises.
fn others() -> Vec<(&'static str, Vec<u8>)> {
    let mut kafka = vec![0, 0, 1, 0, 0, 18, 0, 3, 0, 0, 0, 1, 0, 9];
    kafka.extend_from_slice(b"my-client");
    vec![
        (
            "http request",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        ),
        (
            "http response",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        (
            "tls client hello",
            [
                &[
                    0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
                ][..],
                &[0; 40],
            ]
            .concat(),
        ),
        (
            "tls server hello",
            [
                &[0x16, 0x03, 0x03, 0x00, 0x03, 0x02, 0x00, 0x00][..],
                &[0; 8],
            ]
            .concat(),
        ),
        (
            "http/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00".to_vec(),
        ),
        ("redis command", b"*1\r\n$4\r\nPING\r\n".to_vec()),
        ("redis reply", b"+PONG\r\n".to_vec()),
        (
            "postgres ssl request",
            vec![0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f],
        ),
        (
            "postgres startup",
            [
                &[0, 0, 0, 0x21, 0, 3, 0, 0][..],
                b"user\0app\0database\0db\0\0",
            ]
            .concat(),
        ),
        ("postgres auth", vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0]),
        ("kafka request", kafka),
        ("kafka response", vec![0, 0, 0, 6, 0, 0, 0, 1, 0, 0]),
        (
            "dns over tcp",
            vec![
                0, 0x1d, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
                b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
            ],
        ),
        (
            "dns over tcp answer",
            vec![0, 0x2d, 0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0],
        ),
    ]
}

#[test]
fn other_protocols_are_not_claimed() {
    for (what, bytes) in others() {
        for dir in [ToServer, ToClient] {
            assert!(!looks_like_mysql(dir, &bytes), "{what} {dir:?}");
        }
    }
}

#[test]
fn empty_and_short_inputs_are_not_claimed() {
    for n in 0..5 {
        let bytes = vec![0u8; n];
        assert!(!looks_like_mysql(ToServer, &bytes));
        assert!(!looks_like_mysql(ToClient, &bytes));
    }
}
