//! Fixture loading and a tiny message builder for synthetic cases.
//!
//! The fixtures are tshark's field dumps of two captures made against
//! dnsmasq (see `tests/data/README.md`): one line per packet, payload in hex.

use podwire_record::Timestamp;

/// One UDP datagram of `tests/data/udp.txt`.
pub struct Datagram {
    pub frame: u32,
    pub ts: Timestamp,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl Datagram {
    /// The client's port: the one that is not the server's (15353).
    pub fn client_port(&self) -> u16 {
        if self.src_port == SERVER_PORT {
            self.dst_port
        } else {
            self.src_port
        }
    }
}

/// One TCP segment with payload of `tests/data/tcp.txt`.
pub struct Segment {
    pub frame: u32,
    pub ts: Timestamp,
    pub stream: u32,
    pub to_server: bool,
    pub payload: Vec<u8>,
}

/// The port dnsmasq listened on.
pub const SERVER_PORT: u16 = 15353;

pub fn udp() -> Vec<Datagram> {
    include_str!("../data/udp.txt")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            Datagram {
                frame: f[0].parse().unwrap(),
                ts: epoch(f[1]),
                src_port: f[2].parse().unwrap(),
                dst_port: f[3].parse().unwrap(),
                payload: hex(f[4]),
            }
        })
        .collect()
}

/// The payload of UDP frame `n`.
pub fn udp_frame(n: u32) -> Vec<u8> {
    udp().into_iter().find(|d| d.frame == n).unwrap().payload
}

pub fn tcp() -> Vec<Segment> {
    include_str!("../data/tcp.txt")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            Segment {
                frame: f[0].parse().unwrap(),
                ts: epoch(f[1]),
                stream: f[2].parse().unwrap(),
                to_server: f[4].parse::<u16>().unwrap() == SERVER_PORT,
                payload: hex(f[5]),
            }
        })
        .collect()
}

/// tshark's `frame.time_epoch`, e.g. `1795332875.671810000`.
pub fn epoch(s: &str) -> Timestamp {
    let (secs, frac) = s.split_once('.').unwrap();
    Timestamp::from_parts(
        secs.parse().unwrap(),
        format!("{frac:0<9}").parse().unwrap(),
    )
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A name in wire form, uncompressed.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Header with the given flags word and section counts.
pub fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [id, flags, counts[0], counts[1], counts[2], counts[3]] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// A standard query (RD set) for `name`/`qtype`, class IN.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = header(id, 0x0100, [1, 0, 0, 0]);
    out.extend(wire_name(name));
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

/// A response to [`query`] with `rcode` (low 4 bits) and raw answer RRs.
pub fn response(id: u16, name: &str, qtype: u16, rcode: u16, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut out = query(id, name, qtype);
    out[2..4].copy_from_slice(&(0x8180 | (rcode & 0xf)).to_be_bytes());
    out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for a in answers {
        out.extend_from_slice(a);
    }
    out
}

/// One RR, class IN, with the owner name given in wire form (so it can be a
/// pointer such as `[0xc0, 12]`).
pub fn rr(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// Pointer to the question name, which always starts at offset 12.
pub const QNAME: [u8; 2] = [0xc0, 12];

/// Deterministic pseudo-random bytes (xorshift64), for robustness loops.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
