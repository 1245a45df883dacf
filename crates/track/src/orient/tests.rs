//! Connections joined mid-stream on two ephemeral ports, replayed through
//! the whole tracker from the parser crates' real-traffic fixtures. The
//! reference for each cut is the same cut with the server on a well-known
//! port, where the ports decide the roles.

use crate::{Addr, Tracker, TrackerConfig};
use podwire_decode::{tcp_flags, Packet, TcpHeader, Transport};
use podwire_parse::fixture::{by_stream, parse, Segment};
use podwire_parse::Direction;
use podwire_record::{Body, Record, Timestamp};
use std::net::IpAddr;

const PG_PREPARED: &str = include_str!("../../../parse-postgres/tests/data/pgbench_prepared.txt");
const REDIS_PIPELINE: &str = include_str!("../../../parse-redis/tests/data/pipeline.txt");
const GRPC_CALLS: &str = include_str!("../../../parse-http2/tests/data/grpc_calls.txt");
const MYSQL_SLAP: &str = include_str!("../../../parse-mysql/tests/data/slap.txt");
const HTTP_SEGMENTS: &str = include_str!("../../../parse-http/tests/data/keepalive.segments");
const HTTP_C2S: &[u8] = include_bytes!("../../../parse-http/tests/data/keepalive.c2s.bin");
const HTTP_S2C: &[u8] = include_bytes!("../../../parse-http/tests/data/keepalive.s2c.bin");

/// Two ephemeral ports: `likely_server` cannot choose.
const CLIENT_PORT: u16 = 35_534;
const SERVER_PORT: u16 = 54_339;

fn addr(ip: &str, port: u16) -> Addr {
    Addr {
        ip: ip.parse::<IpAddr>().unwrap(),
        port,
    }
}

/// Connection `stream` of a fixture from its `from`-th segment on.
fn cut(text: &str, stream: usize, from: usize) -> Vec<Segment> {
    let streams = by_stream(parse(text).unwrap());
    streams[stream][from..].to_vec()
}

/// The HTTP fixture's segments (`TIME DIR LEN` over two byte files).
fn http_segments() -> Vec<Segment> {
    let (mut c, mut s) = (0, 0);
    HTTP_SEGMENTS
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let n: usize = f[2].parse().unwrap();
            let (dir, bytes) = if f[1] == "c" {
                c += n;
                (Direction::ToServer, &HTTP_C2S[c - n..c])
            } else {
                s += n;
                (Direction::ToClient, &HTTP_S2C[s - n..s])
            };
            Segment {
                stream: 0,
                dir,
                ts: Timestamp(f[0].parse().unwrap()),
                bytes: bytes.to_vec(),
            }
        })
        .collect()
}

/// A segment of `dir` with `flags`; sequence numbers follow on per
/// direction, and every segment acknowledges all the other side sent.
struct Wire {
    client: Addr,
    server: Addr,
    /// Next sequence number of client and server.
    next: [u32; 2],
    tracker: Tracker,
    out: Vec<Record>,
}

impl Wire {
    fn new(client: Addr, server: Addr) -> Wire {
        Wire {
            client,
            server,
            next: [1_000, 7_000_000],
            tracker: Tracker::new(TrackerConfig::default()),
            out: Vec::new(),
        }
    }

    fn send(&mut self, dir: Direction, ts: Timestamp, flags: u8, payload: &[u8]) {
        let (src, dst, me) = match dir {
            Direction::ToServer => (self.client, self.server, 0),
            Direction::ToClient => (self.server, self.client, 1),
        };
        let h = TcpHeader {
            src_port: src.port,
            dst_port: dst.port,
            seq: self.next[me],
            ack: self.next[1 - me],
            flags,
            window: 512,
        };
        let syn = u32::from(flags & tcp_flags::SYN != 0);
        self.next[me] = self.next[me]
            .wrapping_add(payload.len() as u32)
            .wrapping_add(syn);
        let pkt = Packet {
            src: src.ip,
            dst: dst.ip,
            transport: Transport::Tcp(h),
            payload,
            payload_len: payload.len() as u32,
            count_only: false,
        };
        self.tracker
            .packet(ts, 66 + payload.len() as u32, &pkt, &mut self.out);
    }

    fn replay(&mut self, segs: &[Segment]) {
        for s in segs {
            self.send(s.dir, s.ts, tcp_flags::ACK | tcp_flags::PSH, &s.bytes);
        }
    }

    fn records(mut self) -> Vec<Record> {
        self.tracker.flush(&mut self.out);
        self.out
    }
}

/// Replays `segs` (the server's first) on a connection whose handshake was
/// not captured.
fn mid_stream(segs: &[Segment], client: Addr, server: Addr) -> Vec<Record> {
    assert_eq!(
        segs[0].dir,
        Direction::ToClient,
        "the cut starts with the server"
    );
    let mut w = Wire::new(client, server);
    w.replay(segs);
    w.records()
}

fn of_kind<'r>(records: &'r [Record], kind: &str) -> Vec<&'r Record> {
    records.iter().filter(|r| r.kind == kind).collect()
}

/// The connection record's (client, server) ports and payload bytes each way.
fn connection(records: &[Record]) -> (u16, u16, u64, u64) {
    let conns = of_kind(records, "connection");
    assert_eq!(conns.len(), 1);
    let r = conns[0];
    let Body::Connection(c) = &r.body else {
        unreachable!()
    };
    (
        r.client.port,
        r.server.port,
        c.client_to_server.payload_bytes,
        c.server_to_client.payload_bytes,
    )
}

fn payload(segs: &[Segment], dir: Direction) -> u64 {
    segs.iter()
        .filter(|s| s.dir == dir)
        .map(|s| s.bytes.len() as u64)
        .sum()
}

/// The cut on two ephemeral ports gives the records the same cut gives
/// with the server on `known_port`, with the right roles everywhere.
fn turned_like_known_port(segs: &[Segment], kind: &str, known_port: u16) -> usize {
    let client = addr("10.1.0.7", CLIENT_PORT);
    let got = mid_stream(segs, client, addr("10.1.0.9", SERVER_PORT));
    let want = mid_stream(segs, client, addr("10.1.0.9", known_port));
    let (g, w) = (of_kind(&got, kind), of_kind(&want, kind));
    assert!(!w.is_empty(), "the reference has {kind} records");
    assert_eq!(g.len(), w.len(), "{kind} records");
    for (g, w) in g.iter().zip(&w) {
        assert_eq!(g.body, w.body);
        assert_eq!((g.client.port, g.server.port), (CLIENT_PORT, SERVER_PORT));
    }
    let sent = payload(segs, Direction::ToServer);
    let answered = payload(segs, Direction::ToClient);
    assert_eq!(
        connection(&got),
        (CLIENT_PORT, SERVER_PORT, sent, answered),
        "connection record"
    );
    g.len()
}

#[test]
fn postgres_joined_at_a_server_message_on_ephemeral_ports_is_turned() {
    // pgbench's session from a ParseComplete/ReadyForQuery on.
    let segs = cut(PG_PREPARED, 1, 7);
    assert!(turned_like_known_port(&segs, "postgres", 5432) > 100);
}

#[test]
fn redis_joined_at_a_reply_on_ephemeral_ports_is_turned() {
    // redis-benchmark's SET connection from a batch of `+OK` on.
    let segs = cut(REDIS_PIPELINE, 1, 1);
    assert!(turned_like_known_port(&segs, "redis", 6379) > 400);
}

#[test]
fn http_joined_at_a_response_on_ephemeral_ports_is_turned() {
    let segs = http_segments()[1..].to_vec();
    assert_eq!(turned_like_known_port(&segs, "http", 80), 5);
}

#[test]
fn mysql_joined_at_an_ok_packet_on_ephemeral_ports_is_turned() {
    // mysqlslap's first session from an OK on: the OK decides nothing,
    // the INSERT that follows does.
    let segs = cut(MYSQL_SLAP, 0, 10);
    assert!(turned_like_known_port(&segs, "mysql", 3306) >= 9);
}

#[test]
fn http2_joined_at_a_response_on_ephemeral_ports_is_turned() {
    // grpcio's calls from a response's HEADERS (`:status 200`) on: frames
    // read as frames both ways, but this block names its sender.
    let segs = cut(GRPC_CALLS, 0, 6);
    assert!(turned_like_known_port(&segs, "http", 443) >= 2);
}

#[test]
fn a_connection_whose_ports_named_the_server_is_never_turned() {
    // The server on an ephemeral port, its client on a registered one: the
    // ports (wrongly) name the client the server, and the content says
    // otherwise, but the ports decided.
    let segs = cut(PG_PREPARED, 1, 7);
    let got = mid_stream(&segs, addr("10.1.0.7", 5433), addr("10.1.0.9", SERVER_PORT));
    let (client, server, ..) = connection(&got);
    assert_eq!((client, server), (SERVER_PORT, 5433));
}

#[test]
fn a_connection_whose_handshake_was_seen_is_never_turned() {
    // The handshake names 10.1.0.9 the client; what it then sends reads as
    // a PostgreSQL server's messages. The handshake wins.
    let segs = cut(PG_PREPARED, 1, 7);
    let (a, b) = (addr("10.1.0.7", CLIENT_PORT), addr("10.1.0.9", SERVER_PORT));
    // `Wire`'s client is the handshake's client: the server of the data.
    let mut w = Wire::new(b, a);
    let ts = segs[0].ts;
    w.send(Direction::ToServer, ts, tcp_flags::SYN, &[]);
    w.send(
        Direction::ToClient,
        ts,
        tcp_flags::SYN | tcp_flags::ACK,
        &[],
    );
    w.send(Direction::ToServer, ts, tcp_flags::ACK, &[]);
    for s in &segs {
        // The fixture's server bytes come from the handshake's client.
        w.send(
            s.dir.reverse(),
            s.ts,
            tcp_flags::ACK | tcp_flags::PSH,
            &s.bytes,
        );
    }
    let got = w.records();
    let (client, server, ..) = connection(&got);
    assert_eq!((client, server), (SERVER_PORT, CLIENT_PORT));
}

#[test]
fn bytes_both_sides_could_send_keep_the_guess() {
    // The first packet is the server's bare ACK, so the server is taken for
    // the client; then the client's SET batch arrives. An array of bulk
    // strings is a command, but also a reply (to LRANGE, KEYS, ...): the
    // guess stands.
    let segs = cut(REDIS_PIPELINE, 1, 0);
    assert_eq!(segs[0].dir, Direction::ToServer);
    let client = addr("10.1.0.7", CLIENT_PORT);
    let server = addr("10.1.0.9", SERVER_PORT);
    let mut w = Wire::new(client, server);
    w.send(Direction::ToClient, segs[0].ts, tcp_flags::ACK, &[]);
    w.replay(&segs);
    let got = w.records();
    let (c, s, ..) = connection(&got);
    assert_eq!((c, s), (SERVER_PORT, CLIENT_PORT));

    // A segment that starts inside a command, at a bulk string, reads as a
    // reply too: no turn on it alone.
    let set = &segs[0].bytes;
    let at = set.windows(7).position(|w| w == b"$3\r\nVXK");
    let rest = &set[at.expect("a bulk string")..];
    let mut w = Wire::new(client, server);
    w.send(
        Direction::ToServer,
        segs[0].ts,
        tcp_flags::ACK | tcp_flags::PSH,
        rest,
    );
    let got = w.records();
    assert_eq!(connection(&got).0, CLIENT_PORT);
    assert!(of_kind(&got, "redis").is_empty());
}
