//! Recognising Kafka by the first bytes a client sends.
//!
//! Kafka has no magic bytes, so detection checks that the bytes hold
//! together as a request header: a 4-byte size that is small and agrees with
//! the buffer, an API key the table knows, a version that API has (or a few
//! beyond), a non-negative correlation id, and a client id whose length fits
//! the message and whose bytes are text. Text protocols (HTTP/1, Redis, TLS
//! and HTTP/2 prefaces) fail on the size alone, since their first byte makes
//! it at least 512 MiB; binary ones with a small first length (PostgreSQL,
//! DNS over TCP) fail on the API key or the client id.

use podwire_parse::Direction;

use crate::apis::{self, VERSION_SLACK};

/// The largest request detection takes for Kafka: the broker's default
/// `socket.request.max.bytes` (100 MiB).
const MAX_REQUEST: i32 = 100 * 1024 * 1024;

/// The longest client id detection accepts.
const MAX_CLIENT_ID: i16 = 1024;

/// Whether `first`, the first bytes of a connection in `dir`, look like a
/// Kafka client's request. Needs at least 14 bytes (through the client id's
/// length); the client id's bytes that are present must be text. Servers
/// never speak first, so server-to-client bytes are never claimed.
pub fn looks_like_kafka(dir: Direction, first: &[u8]) -> bool {
    dir == Direction::ToServer && header_is_plausible(first)
}

/// The request-header check behind [`looks_like_kafka`], also used to tell
/// a request from a raw SASL token and to pick a client stream up again.
pub(crate) fn header_is_plausible(b: &[u8]) -> bool {
    let be16 = |at: usize| b.get(at..at + 2).map(|s| i16::from_be_bytes([s[0], s[1]]));
    let be32 = |at: usize| {
        b.get(at..at + 4)
            .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let (Some(size), Some(key), Some(version), Some(corr), Some(id_len)) =
        (be32(0), be16(4), be16(6), be32(8), be16(12))
    else {
        return false;
    };
    // Key, version, correlation id and the client id's length: 10 bytes.
    if !(10..=MAX_REQUEST).contains(&size) || corr < 0 {
        return false;
    }
    // More than one message in the buffer is fine (a client may pipeline);
    // fewer bytes than the size too (the rest is in later segments).
    let Some(api) = apis::api(key) else {
        return false;
    };
    if !(0..=api.max.saturating_add(VERSION_SLACK)).contains(&version) {
        return false;
    }
    if !(-1..=MAX_CLIENT_ID).contains(&id_len) || i32::from(id_len) > size - 10 {
        return false;
    }
    let id_len = usize::try_from(id_len).unwrap_or(0);
    let present = b.get(14..).unwrap_or(&[]);
    present
        .iter()
        .take(id_len)
        .all(|&c| (0x20..0x7f).contains(&c) || c >= 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ToClient, ToServer};

    /// kafka-python's first request: ApiVersions v0, correlation id 1.
    const API_VERSIONS_V0: &[u8] =
        b"\x00\x00\x00\x19\x00\x12\x00\x00\x00\x00\x00\x01\x00\x0fkafka-python-21";

    #[test]
    fn kafka_requests_are_recognised() {
        assert!(looks_like_kafka(ToServer, API_VERSIONS_V0));
        // Only the start of it.
        assert!(looks_like_kafka(ToServer, &API_VERSIONS_V0[..16]));
        // A null client id.
        assert!(looks_like_kafka(
            ToServer,
            b"\x00\x00\x00\x0a\x00\x03\x00\x01\x00\x00\x00\x07\xff\xff"
        ));
    }

    #[test]
    fn kafka_is_not_claimed_from_the_server_side_or_too_few_bytes() {
        assert!(!looks_like_kafka(ToClient, API_VERSIONS_V0));
        assert!(!looks_like_kafka(ToServer, &API_VERSIONS_V0[..13]));
    }

    #[test]
    fn other_protocols_are_not_kafka() {
        let others: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /api HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            // TLS ClientHello.
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xaa\xbb\xcc\xdd\xee",
            // PostgreSQL StartupMessage and SSLRequest.
            b"\x00\x00\x00\x54\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00",
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f\x00\x00\x00\x00\x00\x00\x00",
            // MySQL client handshake response (after the server's greeting).
            b"\xb5\x00\x00\x01\x85\xa6\xff\x01\x00\x00\x00\x01\x21\x00\x00\x00",
            // Redis.
            b"*1\r\n$4\r\nPING\r\n",
            b"PING\r\n\r\n\r\n\r\n",
            // DNS over TCP: length, id, flags (standard query), counts.
            b"\x00\x1c\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example",
            b"\x00\x1c\x00\x01\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example",
        ];
        for b in others {
            assert!(
                !looks_like_kafka(ToServer, b),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn implausible_fields_are_rejected() {
        let mut b = API_VERSIONS_V0.to_vec();
        b[7] = 40; // ApiVersions v40
        assert!(!looks_like_kafka(ToServer, &b));
        let mut b = API_VERSIONS_V0.to_vec();
        b[14] = 0x01; // control character in the client id
        assert!(!looks_like_kafka(ToServer, &b));
        let mut b = API_VERSIONS_V0.to_vec();
        b[13] = 0x30; // client id longer than the message
        assert!(!looks_like_kafka(ToServer, &b));
    }
}
