//! Fixture loading and feeding helpers.

use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::Timestamp;
use podwire_tls::{TlsConfig, TlsEvent, TlsParser};
use std::path::PathBuf;

/// When the client's bytes were "captured".
pub const CLIENT_TS: Timestamp = Timestamp(1_700_000_000_000_000_000);
/// When the server's bytes were: 1.5 ms later.
pub const SERVER_TS: Timestamp = Timestamp(1_700_000_000_001_500_000);

/// Client and server byte streams of a fixture.
pub struct Capture {
    pub client: Vec<u8>,
    pub server: Vec<u8>,
}

pub fn capture(name: &str) -> Capture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let read = |side: &str| {
        let path = dir.join(format!("{name}.{side}.bin"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    Capture {
        client: read("client"),
        server: read("server"),
    }
}

/// The result of feeding a connection: events and every status returned.
pub struct Run {
    pub events: Vec<TlsEvent>,
    pub statuses: Vec<Status>,
}

impl Run {
    pub fn last_status(&self) -> Status {
        *self.statuses.last().expect("at least one call")
    }

    pub fn only_event(&self) -> &TlsEvent {
        assert_eq!(self.events.len(), 1, "events: {:#?}", self.events);
        &self.events[0]
    }
}

/// Feeds the client's bytes then the server's, each in `chunk`-byte calls,
/// stopping a direction once the parser says it is no longer interested.
/// Does not call `finish`.
pub fn feed(parser: &mut TlsParser, cap: &Capture, chunk: usize) -> Run {
    let mut run = Run {
        events: Vec::new(),
        statuses: Vec::new(),
    };
    for (dir, ts, bytes) in [
        (Direction::ToServer, CLIENT_TS, &cap.client),
        (Direction::ToClient, SERVER_TS, &cap.server),
    ] {
        for piece in bytes.chunks(chunk) {
            let status = parser.data(dir, ts, piece, &mut run.events);
            run.statuses.push(status);
            if status != Status::Continue {
                return run;
            }
        }
    }
    run
}

/// Feeds a whole capture in one call per direction, with the default config.
pub fn run_whole(name: &str) -> Run {
    feed(
        &mut TlsParser::new(&TlsConfig::default()),
        &capture(name),
        usize::MAX,
    )
}

/// Re-frames a record stream: the bodies of consecutive handshake records are
/// joined and cut again into records of at most `size` bytes, so messages
/// span records and records hold pieces of several messages. Records of
/// other types, and whatever follows a malformed header, are copied as-is.
pub fn reframe(stream: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut version = [3, 1];
    let flush = |out: &mut Vec<u8>, pending: &mut Vec<u8>, version: [u8; 2]| {
        for piece in pending.chunks(size) {
            out.push(22);
            out.extend_from_slice(&version);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        pending.clear();
    };
    let mut rest = stream;
    while rest.len() >= 5 {
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            break;
        }
        let (record, tail) = rest.split_at(5 + len);
        if record[0] == 22 {
            version = [record[1], record[2]];
            pending.extend_from_slice(&record[5..]);
        } else {
            flush(&mut out, &mut pending, version);
            out.extend_from_slice(record);
        }
        rest = tail;
    }
    flush(&mut out, &mut pending, version);
    out.extend_from_slice(rest);
    out
}
