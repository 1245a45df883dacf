//! Hand-written JSON encoder for [`Record`]: the hot output path.
//!
//! `podwire read --format jsonl` writes one record per HTTP exchange, DNS
//! transaction and connection, hundreds of thousands per capture. Through the
//! serde derive every key goes through serde_json's string escaper (the
//! `#[serde(flatten)]` on [`Record::body`] and [`Endpoint::identity`] turns the
//! structs into maps, whose keys are escaped at run time), and every
//! [`Timestamp`] through `humantime`'s `fmt::Display` and `collect_str`. On a
//! capture of 379k HTTP records that cost about as much CPU as the whole packet
//! analysis. This module writes the same bytes directly:
//!
//! * keys (with their separators) are pre-escaped byte-string literals;
//! * strings are escaped per RFC 8259 exactly as serde_json does it (`\"`,
//!   `\\`, `\b \t \n \f \r`, other control bytes as `\u00xx` with lower-case
//!   hex; everything else, DEL and non-ASCII included, verbatim), scanning
//!   eight bytes at a time and copying clean runs in bulk;
//! * timestamps are formatted straight into a stack buffer (civil-from-days),
//!   identical to [`Timestamp`]'s `Display`;
//! * integers and floats use the formatters serde_json itself uses (`itoa`,
//!   `zmij`; non-finite floats become `null`), IPv4 addresses are formatted by
//!   hand and IPv6 addresses through std's `Display` into a stack buffer.
//!
//! The serde derive on the record types stays the reference definition of the
//! schema. The tests of this module pin [`write_record`] to
//! `serde_json::to_string` byte for byte — every body variant, every optional
//! field present and absent, awkward strings, floats and addresses, and a few
//! thousand pseudo-random records — so a field added to the types without
//! being added here (or a change in serde_json's formatting) fails the tests
//! instead of silently drifting.

use crate::{
    Body, Certificate, Close, Connection, DirectionStats, Dns, DnsTransport, Endpoint, Http,
    Identity, Record, Side, Timestamp, Tls, Transport,
};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Appends `rec` as one JSON object (no trailing newline) to `out`.
///
/// The bytes are exactly those of `serde_json::to_string(rec)` (the tests
/// enforce it), produced about four times faster and without allocating
/// (beyond growing `out`). What `out` already holds is kept; for JSON Lines,
/// push the `b'\n'` yourself.
pub fn write_record(out: &mut Vec<u8>, rec: &Record) {
    // Typical records are 300 to 500 bytes.
    out.reserve(384);
    out.extend_from_slice(b"{\"type\":");
    write_str(out, rec.kind);
    out.extend_from_slice(b",\"v\":");
    write_u64(out, u64::from(rec.v));
    out.extend_from_slice(b",\"ts\":");
    write_timestamp(out, rec.ts);
    out.extend_from_slice(b",\"client\":");
    write_endpoint(out, &rec.client);
    out.extend_from_slice(b",\"server\":");
    write_endpoint(out, &rec.server);
    if rec.inside_tls {
        out.extend_from_slice(b",\"inside_tls\":true");
    }
    match &rec.body {
        Body::Connection(c) => write_connection(out, c),
        Body::Tls(t) => write_tls(out, t),
        Body::Http(h) => write_http(out, h),
        Body::Dns(d) => write_dns(out, d),
        Body::Postgres(b) => proto::write_postgres(out, b),
        Body::Mysql(b) => proto::write_mysql(out, b),
        Body::Redis(b) => proto::write_redis(out, b),
        Body::Kafka(b) => proto::write_kafka(out, b),
    }
    out.push(b'}');
}

// ---------------------------------------------------------------------------
// Bodies. Each writes its fields as `,"key":value` pairs (the record's object
// is already open and has fields), in declaration order, as the derive does.

fn write_connection(out: &mut Vec<u8>, c: &Connection) {
    out.extend_from_slice(b",\"proto\":");
    out.extend_from_slice(match c.proto {
        Transport::Tcp => b"\"tcp\"",
        Transport::Udp => b"\"udp\"",
    });
    out.extend_from_slice(b",\"first_seen\":");
    write_timestamp(out, c.first_seen);
    out.extend_from_slice(b",\"last_seen\":");
    write_timestamp(out, c.last_seen);
    out.extend_from_slice(b",\"duration_ms\":");
    write_f64(out, c.duration_ms);
    out.extend_from_slice(b",\"close\":");
    out.extend_from_slice(match c.close {
        Close::Fin => b"\"fin\"",
        Close::Rst => b"\"rst\"",
        Close::Timeout => b"\"timeout\"",
        Close::Open => b"\"open\"",
    });
    out.extend_from_slice(b",\"handshake_rtt_ms\":");
    write_opt_f64(out, c.handshake_rtt_ms);
    out.extend_from_slice(b",\"retransmits\":");
    write_u64(out, c.retransmits);
    out.extend_from_slice(b",\"client_to_server\":");
    write_direction(out, &c.client_to_server);
    out.extend_from_slice(b",\"server_to_client\":");
    write_direction(out, &c.server_to_client);
    out.extend_from_slice(if c.handshake_seen {
        b",\"handshake_seen\":true"
    } else {
        b",\"handshake_seen\":false"
    });
    if let Some(k) = &c.kernel {
        out.extend_from_slice(b",\"kernel\":{\"side\":");
        out.extend_from_slice(match k.side {
            Side::Client => b"\"client\"",
            Side::Server => b"\"server\"",
        });
        out.extend_from_slice(b",\"bytes_acked\":");
        write_u64(out, k.bytes_acked);
        out.extend_from_slice(b",\"bytes_received\":");
        write_u64(out, k.bytes_received);
        out.extend_from_slice(b",\"srtt_ms\":");
        write_opt_f64(out, k.srtt_ms);
        out.extend_from_slice(b",\"retransmits\":");
        write_u64(out, k.retransmits);
        out.push(b'}');
    }
}

fn write_direction(out: &mut Vec<u8>, d: &DirectionStats) {
    out.extend_from_slice(b"{\"packets\":");
    write_u64(out, d.packets);
    out.extend_from_slice(b",\"bytes\":");
    write_u64(out, d.bytes);
    out.extend_from_slice(b",\"payload_bytes\":");
    write_u64(out, d.payload_bytes);
    out.push(b'}');
}

fn write_tls(out: &mut Vec<u8>, t: &Tls) {
    out.extend_from_slice(b",\"sni\":");
    write_opt_str(out, t.sni.as_deref());
    out.extend_from_slice(b",\"alpn\":");
    write_str_array(out, &t.alpn);
    out.extend_from_slice(b",\"alpn_selected\":");
    write_opt_str(out, t.alpn_selected.as_deref());
    out.extend_from_slice(b",\"version\":");
    write_opt_str(out, t.version.as_deref());
    out.extend_from_slice(b",\"cipher\":");
    write_opt_str(out, t.cipher.as_deref());
    out.extend_from_slice(b",\"client_versions\":");
    write_str_array(out, &t.client_versions);
    out.extend_from_slice(b",\"client_ciphers\":");
    write_str_array(out, &t.client_ciphers);
    out.extend_from_slice(b",\"ja3\":");
    write_opt_str(out, t.ja3.as_deref());
    out.extend_from_slice(b",\"ja4\":");
    write_opt_str(out, t.ja4.as_deref());
    out.extend_from_slice(b",\"certificate\":");
    match &t.certificate {
        None => out.extend_from_slice(b"null"),
        Some(c) => write_certificate(out, c),
    }
}

fn write_certificate(out: &mut Vec<u8>, c: &Certificate) {
    out.extend_from_slice(b"{\"subject\":");
    write_str(out, &c.subject);
    out.extend_from_slice(b",\"issuer\":");
    write_str(out, &c.issuer);
    out.extend_from_slice(b",\"sans\":");
    write_str_array(out, &c.sans);
    out.extend_from_slice(b",\"not_before\":");
    write_opt_timestamp(out, c.not_before);
    out.extend_from_slice(b",\"not_after\":");
    write_opt_timestamp(out, c.not_after);
    if c.fetched {
        out.extend_from_slice(b",\"fetched\":true");
    }
    out.push(b'}');
}

fn write_http(out: &mut Vec<u8>, h: &Http) {
    out.extend_from_slice(b",\"method\":");
    write_opt_str(out, h.method.as_deref());
    out.extend_from_slice(b",\"host\":");
    write_opt_str(out, h.host.as_deref());
    out.extend_from_slice(b",\"path\":");
    write_opt_str(out, h.path.as_deref());
    out.extend_from_slice(b",\"version\":");
    write_str(out, &h.version);
    out.extend_from_slice(b",\"status\":");
    write_opt_u64(out, h.status.map(u64::from));
    out.extend_from_slice(b",\"latency_ms\":");
    write_opt_f64(out, h.latency_ms);
    out.extend_from_slice(b",\"request_body_bytes\":");
    write_u64(out, h.request_body_bytes);
    out.extend_from_slice(b",\"response_body_bytes\":");
    write_opt_u64(out, h.response_body_bytes);
    if let Some(headers) = &h.request_headers {
        out.extend_from_slice(b",\"request_headers\":");
        write_headers(out, headers);
    }
    if let Some(headers) = &h.response_headers {
        out.extend_from_slice(b",\"response_headers\":");
        write_headers(out, headers);
    }
    if let Some(id) = h.stream_id {
        out.extend_from_slice(b",\"stream_id\":");
        write_u64(out, u64::from(id));
    }
    if let Some(g) = &h.grpc {
        out.extend_from_slice(b",\"grpc\":");
        proto::write_grpc(out, g);
    }
}

/// `[(name, value), ...]` as serde writes tuples: `[["name","value"],...]`.
fn write_headers(out: &mut Vec<u8>, headers: &[(String, String)]) {
    out.push(b'[');
    for (i, (name, value)) in headers.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"[" } else { b",[" });
        write_str(out, name);
        out.push(b',');
        write_str(out, value);
        out.push(b']');
    }
    out.push(b']');
}

fn write_dns(out: &mut Vec<u8>, d: &Dns) {
    out.extend_from_slice(match d.transport {
        DnsTransport::Udp => b",\"transport\":\"udp\"",
        DnsTransport::Tcp => b",\"transport\":\"tcp\"",
    });
    out.extend_from_slice(b",\"id\":");
    write_u64(out, u64::from(d.id));
    out.extend_from_slice(b",\"name\":");
    write_str(out, &d.name);
    out.extend_from_slice(b",\"qtype\":");
    write_str(out, &d.qtype);
    out.extend_from_slice(b",\"rcode\":");
    write_opt_str(out, d.rcode.as_deref());
    out.extend_from_slice(b",\"answers\":[");
    for (i, a) in d.answers.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            b"{\"name\":"
        } else {
            b",{\"name\":"
        });
        write_str(out, &a.name);
        out.extend_from_slice(b",\"type\":");
        write_str(out, &a.rtype);
        out.extend_from_slice(b",\"ttl\":");
        write_u64(out, u64::from(a.ttl));
        out.extend_from_slice(b",\"data\":");
        write_str(out, &a.data);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"latency_ms\":");
    write_opt_f64(out, d.latency_ms);
}

// ---------------------------------------------------------------------------
// Endpoints and addresses.

fn write_endpoint(out: &mut Vec<u8>, ep: &Endpoint) {
    match ep.ip {
        IpAddr::V4(a) => {
            // `{"ip":"a.b.c.d","port":` as one fixed-size copy.
            let mut buf = [0u8; 32];
            buf[..7].copy_from_slice(b"{\"ip\":\"");
            let n = put_ipv4(&mut buf, 7, a);
            buf[n..n + 9].copy_from_slice(b"\",\"port\":");
            extend_prefix(out, &buf, n + 9);
        }
        IpAddr::V6(a) => {
            out.extend_from_slice(b"{\"ip\":\"");
            write_ipv6(out, a);
            out.extend_from_slice(b"\",\"port\":");
        }
    }
    write_u64(out, u64::from(ep.port));
    if let Some(id) = &ep.identity {
        write_identity(out, id);
    }
    out.push(b'}');
}

/// The flattened identity: only the fields that are present.
fn write_identity(out: &mut Vec<u8>, id: &Identity) {
    let Identity {
        namespace,
        pod,
        workload,
        service,
        node,
        process,
        pid,
        domain,
    } = id;
    let fields: [(&[u8], &Option<String>); 7] = [
        (b",\"namespace\":", namespace),
        (b",\"pod\":", pod),
        (b",\"workload\":", workload),
        (b",\"service\":", service),
        (b",\"node\":", node),
        (b",\"process\":", process),
        (b",\"domain\":", domain),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            out.extend_from_slice(key);
            write_str(out, v);
        }
        if key == b",\"process\":" {
            // `pid` sits between `process` and `domain`, as declared.
            if let Some(pid) = pid {
                out.extend_from_slice(b",\"pid\":");
                write_u64(out, u64::from(*pid));
            }
        }
    }
}

/// Writes `a` as a dotted quad (as `Ipv4Addr`'s `Display`, and serde, write
/// it) at `buf[at..]`, returning the index after it. Needs 16 bytes of room.
#[inline]
fn put_ipv4(buf: &mut [u8; 32], at: usize, a: Ipv4Addr) -> usize {
    let [a, b, c, d] = a.octets();
    let mut n = put_octet(buf, at, a);
    buf[n] = b'.';
    n = put_octet(buf, n + 1, b);
    buf[n] = b'.';
    n = put_octet(buf, n + 1, c);
    buf[n] = b'.';
    put_octet(buf, n + 1, d)
}

/// Writes the decimal digits of `o` at `buf[at..]` (copying four bytes, the
/// last ones to be overwritten) and returns the index after them.
#[inline]
fn put_octet(buf: &mut [u8; 32], at: usize, o: u8) -> usize {
    let entry = OCTETS[o as usize];
    buf[at..at + 4].copy_from_slice(&entry);
    at + entry[3] as usize
}

/// Decimal digits of every byte value, left-aligned, with the digit count last.
static OCTETS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            [b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10, 3]
        } else if o >= 10 {
            [b'0' + o / 10, b'0' + o % 10, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        i += 1;
    }
    t
};

/// RFC 5952 text through std's `Display`, into a stack buffer (no allocation).
/// The text is hex digits, `:` and `.` only, so it needs no escaping.
fn write_ipv6(out: &mut Vec<u8>, a: Ipv6Addr) {
    let mut buf = StackBuf::<48>::new();
    if write!(buf, "{a}").is_ok() {
        out.extend_from_slice(buf.as_bytes());
    } else {
        // Unreachable: the longest form is 39 bytes. Stay correct anyway.
        out.extend_from_slice(a.to_string().as_bytes());
    }
}

/// A fixed-capacity `fmt::Write` sink; errors when full.
struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Scalars.

/// Decimal, as itoa (and so serde_json) writes it. Values below 100000
/// (ports, statuses, most sizes and counts) without a `memcpy` call.
#[inline]
fn write_u64(out: &mut Vec<u8>, v: u64) {
    if v < 100_000 {
        write_small(out, v as u32);
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
}

/// `v < 100000` in decimal.
#[inline]
fn write_small(out: &mut Vec<u8>, v: u32) {
    debug_assert!(v < 100_000);
    if v < 10 {
        out.push(b'0' + v as u8);
    } else if v < 100 {
        out.extend_from_slice(&digits2(v));
    } else if v < 1_000 {
        let [b, c] = digits2(v % 100);
        out.extend_from_slice(&[b'0' + (v / 100) as u8, b, c]);
    } else if v < 10_000 {
        let [a, b] = digits2(v / 100);
        let [c, d] = digits2(v % 100);
        out.extend_from_slice(&[a, b, c, d]);
    } else {
        let low = v % 10_000;
        let [b, c] = digits2(low / 100);
        let [d, e] = digits2(low % 100);
        out.extend_from_slice(&[b'0' + (v / 10_000) as u8, b, c, d, e]);
    }
}

/// "00", "01", ... "99".
static DIGITS2: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two decimal digits of `v < 100`.
#[inline]
fn digits2(v: u32) -> [u8; 2] {
    let i = v as usize * 2;
    [DIGITS2[i], DIGITS2[i + 1]]
}

/// Appends `bytes`; up to 16 of them with a few fixed-size moves rather than
/// a `memcpy` call (most strings in records are short).
#[inline]
fn extend_small(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() > 16 {
        out.extend_from_slice(bytes);
        return;
    }
    let mut buf = [0u8; 16];
    put_small(&mut buf, 0, bytes);
    extend_prefix(out, &buf, bytes.len());
}

/// Copies `bytes` (at most 16) to `buf[at..]`: two overlapping fixed-size
/// moves instead of a `memcpy` call.
#[inline]
fn put_small<const N: usize>(buf: &mut [u8; N], at: usize, bytes: &[u8]) {
    let n = bytes.len();
    debug_assert!(n <= 16);
    let dst = &mut buf[at..at + n];
    if n >= 8 {
        dst[..8].copy_from_slice(&bytes[..8]);
        dst[n - 8..].copy_from_slice(&bytes[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&bytes[..4]);
        dst[n - 4..].copy_from_slice(&bytes[n - 4..]);
    } else if n > 0 {
        dst[0] = bytes[0];
        dst[n / 2] = bytes[n / 2];
        dst[n - 1] = bytes[n - 1];
    }
}

/// Appends `buf[..n]`. Copies the whole fixed-size buffer and truncates: a
/// constant-size copy is a couple of moves, a variable-size one a `memcpy` call.
#[inline]
fn extend_prefix<const N: usize>(out: &mut Vec<u8>, buf: &[u8; N], n: usize) {
    let len = out.len();
    out.extend_from_slice(buf);
    out.truncate(len + n);
}

#[inline]
fn write_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => write_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// As serde_json: shortest round-trip form via `zmij` (`1.0` for whole
/// numbers, exponent form for very large and small ones); NaN and infinities
/// as `null`.
#[inline]
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

#[inline]
fn write_opt_f64(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => write_f64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

#[inline]
fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s);
    }
    out.push(b']');
}

// ---------------------------------------------------------------------------
// Strings.

/// `ESCAPE[b]` is 0 when byte `b` is written as is, else the letter after the
/// backslash (`u` for `\u00xx`). Same table as serde_json's.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

static HEX: [u8; 16] = *b"0123456789abcdef";

/// A quoted, escaped JSON string.
#[inline]
fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let first = find_escape(bytes);
    let n = bytes.len();
    if first.is_none() && n <= 16 {
        // The common case: short and clean, quotes included in one copy.
        let mut buf = [0u8; 18];
        buf[0] = b'"';
        put_small(&mut buf, 1, bytes);
        buf[n + 1] = b'"';
        extend_prefix(out, &buf, n + 2);
    } else {
        write_str_general(out, bytes, first);
    }
}

/// [`write_str`] for long strings and ones to escape; `first` is the index
/// of the first byte to escape, if any.
fn write_str_general(out: &mut Vec<u8>, bytes: &[u8], mut first: Option<usize>) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(i) = first {
        let at = start + i;
        extend_small(out, &bytes[start..at]);
        let b = bytes[at];
        let e = ESCAPE[b as usize];
        if e == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
        start = at + 1;
        first = find_escape(&bytes[start..]);
    }
    extend_small(out, &bytes[start..]);
    out.push(b'"');
}

/// Index of the first byte that needs escaping (`< 0x20`, `"` or `\`).
///
/// Eight bytes at a time: per byte, "has zero" bit tricks flag bytes below
/// 0x20 and bytes equal to `"` or `\`. Borrows only propagate upwards from a
/// real match, so the lowest flagged byte (little-endian load: the first in
/// memory) is always a real one.
#[inline]
fn find_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap());
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let flagged = (w.wrapping_sub(ONES * 0x20)
            | quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash)
            & !w
            & HIGH;
        if flagged != 0 {
            return Some(base + (flagged.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .map(|i| base + i)
}

// ---------------------------------------------------------------------------
// Timestamps.

/// Writes the two decimal digits of `v < 100` at `buf[at..]`.
#[inline]
fn put2(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 2].copy_from_slice(&digits2(v));
}

#[inline]
fn write_opt_timestamp(out: &mut Vec<u8>, ts: Option<Timestamp>) {
    match ts {
        Some(ts) => write_timestamp(out, ts),
        None => out.extend_from_slice(b"null"),
    }
}

/// `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"`, quotes included; equal to
/// `Timestamp`'s `Display` for every `u64` (the latest is in 2554, so the year
/// always has four digits).
fn write_timestamp(out: &mut Vec<u8>, ts: Timestamp) {
    let mut buf = *b"\"0000-00-00T00:00:00.000000000Z\"";
    let secs = ts.0 / 1_000_000_000;
    let nanos = (ts.0 % 1_000_000_000) as u32;
    let (year, month, day) = civil_from_days((secs / 86_400) as u32);
    let sod = (secs % 86_400) as u32;
    put2(&mut buf, 1, year / 100);
    put2(&mut buf, 3, year % 100);
    put2(&mut buf, 6, month);
    put2(&mut buf, 9, day);
    put2(&mut buf, 12, sod / 3600);
    put2(&mut buf, 15, sod / 60 % 60);
    put2(&mut buf, 18, sod % 60);
    put2(&mut buf, 21, nanos / 10_000_000);
    let rest = nanos % 10_000_000;
    put2(&mut buf, 23, rest / 100_000);
    let rest = rest % 100_000;
    put2(&mut buf, 25, rest / 1_000);
    let rest = rest % 1_000;
    put2(&mut buf, 27, rest / 10);
    buf[29] = b'0' + (rest % 10) as u8;
    out.extend_from_slice(&buf);
}

/// (year, month, day) of the proleptic Gregorian calendar for a day count since
/// 1970-01-01: Neri and Schneider's "Euclidean affine functions" algorithm
/// (2022), in which every division is by a constant (a multiplication once
/// compiled). 32-bit arithmetic suffices: a `u64` of nanoseconds spans at
/// most 213,503 days.
#[inline]
fn civil_from_days(days: u32) -> (u32, u32, u32) {
    // Days since 0000-03-01, so that leap days end the (March-based) year.
    let n = days + 719_468;
    // Century and day of the century.
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let day_of_century = n1 % 146_097 / 4;
    // Year of the century and day of the (March-based) year.
    let n2 = 4 * day_of_century + 3;
    let p2 = 2_939_745 * u64::from(n2);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    // Month (March = 3 ... February = 14) and day.
    let n3 = 2_141 * day_of_year + 197_913;
    let month = n3 >> 16;
    let day = (n3 & 0xffff) / 2_141 + 1;
    // January and February belong to the next civil year.
    let jan_feb = day_of_year >= 306;
    let year = 100 * century + year_of_century + u32::from(jan_feb);
    (year, if jan_feb { month - 12 } else { month }, day)
}

mod proto;

#[cfg(test)]
mod tests;
