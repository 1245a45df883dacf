//! tshark's dissection of a capture, reduced to what podwire must agree with.
//!
//! Wireshark is the reference dissector: when podwire and tshark disagree
//! about a capture, podwire is wrong until shown otherwise. This module runs
//! tshark ONCE per file (field extraction plus `-z conv,tcp` in the same pass,
//! because tshark's start-up dominates on small files and the corpus has
//! 1,400 of them) and reduces its output to a [`Reference`]:
//!
//! - TCP conversations per endpoint pair: frames and bytes per direction, as
//!   `conv,tcp` counts them, and TCP payload bytes per direction from
//!   `tcp.len`. tshark 4.0 prints conversation byte counts of 10,000 and more
//!   in units (`2485 kB`), so the exact byte counts come from summing
//!   `frame.len` over the same frames, and the two are cross-checked
//!   (frames exactly, bytes within the printed unit): a disagreement is kept
//!   in [`Reference::inconsistencies`] rather than silently trusted.
//! - TLS SNIs from ClientHellos, HTTP/1.x requests and response codes, DNS
//!   queries and response codes.
//!
//! Which layer a field belongs to is recovered from `frame.protocols` (the
//! layer path, e.g. `eth:ethertype:ip:icmp:ip:tcp`): fields with several
//! occurrences (tunnels, ICMP errors quoting a header) are consumed in layer
//! order, so a TCP header is paired with the IP header right before it, as
//! tshark's own TCP conversation tap pairs them.
//!
//! What the reference deliberately leaves out, and why:
//! - protocol headers quoted inside ICMP errors: they are not traffic, and
//!   podwire must not report a DNS query because a router quoted one;
//! - HTTP over UDP (SSDP) and TLS inside QUIC: not HTTP/1.x or TLS over TCP,
//!   which is what podwire parses;
//! - DNS, HTTP and TLS that do not sit directly on TCP or UDP (DNS over
//!   HTTP/2, HTTP inside decrypted TLS, ...): podwire parses what the
//!   transport carries, not what other protocols tunnel;
//! - DNS messages without a question, or whose names tshark could not decode
//!   (it writes `<Name too long>` and the like): a DNS record is about a
//!   question;
//! - mDNS and LLMNR (tshark's `mdns`/`llmnr` layers fill the same `dns.*`
//!   fields): link-local multicast name resolution is not the DNS podwire
//!   reports;
//! - HTTP 1xx interim responses (except 101): podwire reports one status per
//!   request, the final one.

use crate::cmd;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Field separator and occurrence aggregator: control characters that no
/// dissected value contains (tshark escapes non-printables in field output).
const SEP: char = '\u{1e}';
const AGG: char = '\u{1f}';

/// The fields extracted per frame, in output column order.
pub const FIELDS: &[&str] = &[
    "frame.number",
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.len",
    "tls.handshake.extensions_server_name",
    "http.request.method",
    "http.request.uri",
    "http.host",
    "http.response.code",
    "dns.id",
    "dns.flags.response",
    "dns.flags.rcode",
    "dns.count.queries",
    "dns.qry.name",
    "dns.qry.type",
];

/// Column indexes into [`FIELDS`].
mod col {
    pub const NUMBER: usize = 0;
    pub const LEN: usize = 1;
    pub const PROTOCOLS: usize = 2;
    pub const IP_SRC: usize = 3;
    pub const IP_DST: usize = 4;
    pub const IP6_SRC: usize = 5;
    pub const IP6_DST: usize = 6;
    pub const TCP_SPORT: usize = 7;
    pub const TCP_DPORT: usize = 8;
    pub const TCP_LEN: usize = 9;
    pub const SNI: usize = 10;
    pub const HTTP_METHOD: usize = 11;
    pub const HTTP_URI: usize = 12;
    pub const HTTP_HOST: usize = 13;
    pub const HTTP_CODE: usize = 14;
    pub const DNS_ID: usize = 15;
    pub const DNS_RESPONSE: usize = 16;
    pub const DNS_RCODE: usize = 17;
    pub const DNS_QDCOUNT: usize = 18;
    pub const DNS_QNAME: usize = 19;
    pub const DNS_QTYPE: usize = 20;
}

/// An IP address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl Addr {
    /// Parses tshark's `addr:port` (IPv6 without brackets: the port follows
    /// the last colon).
    pub fn parse_tshark(s: &str) -> Option<Addr> {
        let (ip, port) = s.rsplit_once(':')?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        Some(Addr {
            ip: ip.parse().ok()?,
            port: port.parse().ok()?,
        })
    }
}

/// An unordered endpoint pair, smaller endpoint first: the key under which
/// both directions of a conversation meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    pub lo: Addr,
    pub hi: Addr,
}

impl Pair {
    pub fn new(a: Addr, b: Addr) -> Pair {
        if a <= b {
            Pair { lo: a, hi: b }
        } else {
            Pair { lo: b, hi: a }
        }
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.lo, self.hi)
    }
}

/// Counts for one direction of a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCount {
    pub packets: u64,
    /// Sum of original frame lengths.
    pub bytes: u64,
    /// Sum of TCP payload lengths.
    pub payload_bytes: u64,
}

impl DirCount {
    fn add(&mut self, other: &DirCount) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.payload_bytes += other.payload_bytes;
    }
}

/// What tshark says about one direction of a TCP pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirRef {
    /// Frames, as `conv,tcp` counts them.
    pub packets: u64,
    /// Frame bytes: exact when the per-frame fields agree with `conv,tcp`,
    /// else only the range `conv,tcp` printed.
    pub bytes: ByteRange,
    /// TCP payload bytes; unknown when the fields disagree with `conv,tcp`
    /// (tshark dissected a header it then did not count, e.g. a malformed one).
    pub payload_bytes: Option<u64>,
    /// When tshark's per-frame fields disagree with `conv,tcp`, what the
    /// fields add up to: tshark's other answer, accepted too.
    pub fields: Option<DirCount>,
}

impl DirRef {
    /// An exactly known direction.
    pub fn exact(c: DirCount) -> DirRef {
        DirRef {
            packets: c.packets,
            bytes: ByteRange {
                lo: c.bytes,
                hi: c.bytes,
            },
            payload_bytes: Some(c.payload_bytes),
            fields: None,
        }
    }
}

/// One TCP endpoint pair, summed over every conversation tshark saw on it
/// (tshark splits a pair into several when a port is reused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPair {
    pub pair: Pair,
    /// From `pair.lo` to `pair.hi`.
    pub lo_to_hi: DirRef,
    /// From `pair.hi` to `pair.lo`.
    pub hi_to_lo: DirRef,
}

/// A byte count as `conv,tcp` prints it: exact below 10,000, else rounded
/// down to a unit; kept as the inclusive range of values it can stand for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteRange {
    pub lo: u64,
    pub hi: u64,
}

impl ByteRange {
    fn parse(value: &str, unit: &str) -> Option<ByteRange> {
        let v: u64 = value.replace(',', "").parse().ok()?;
        let mult: u64 = match unit {
            "bytes" | "B" => 1,
            "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return None,
        };
        Some(ByteRange {
            lo: v * mult,
            hi: v * mult + (mult - 1),
        })
    }

    fn add(&mut self, o: ByteRange) {
        self.lo += o.lo;
        self.hi += o.hi;
    }

    /// Whether `v` is a value this printed count can stand for.
    pub fn contains(&self, v: u64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}..={}", self.lo, self.hi)
        }
    }
}

/// One line of `-z conv,tcp`, as tshark oriented it (A is usually the side
/// that sent the first frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvLine {
    pub a: Addr,
    pub b: Addr,
    pub frames_a_to_b: u64,
    pub bytes_a_to_b: ByteRange,
    pub frames_b_to_a: u64,
    pub bytes_b_to_a: ByteRange,
}

/// What tshark's host field said about an HTTP request's Host header.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostExpect {
    /// This Host header value, or none at all.
    Exactly(Option<String>),
    /// tshark's fields could not be lined up with the request (several
    /// requests in one frame, some without Host): any host matches.
    Unknown,
}

/// An HTTP/1.x request as tshark dissected it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (`http.request.uri`).
    pub target: String,
    pub host: HostExpect,
    pub frame: u64,
}

/// An HTTP response status code (1xx interim codes other than 101 left out).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HttpStatus {
    pub code: u16,
    pub frame: u64,
}

/// A TLS ClientHello's server name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sni {
    pub name: String,
    pub frame: u64,
}

/// DNS transport, from the layer under the `dns` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DnsTransport {
    Udp,
    Tcp,
}

/// One DNS question as seen in a query or response message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DnsQuestion {
    pub id: u16,
    /// As tshark prints it; `<Root>` for the root name.
    pub name: String,
    /// Numeric RR type.
    pub qtype: u16,
    pub response: bool,
    pub transport: DnsTransport,
    pub frame: u64,
}

/// The 4-bit header RCODE of a DNS response.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DnsRcode {
    pub rcode: u16,
    pub id: u16,
    pub frame: u64,
}

/// A TCP header as tshark paired it with its IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    pub frame: u64,
    pub src: Addr,
    pub dst: Addr,
    pub frame_len: u64,
    pub payload_len: u64,
}

/// tshark's answer for one capture file.
#[derive(Clone, Debug, Default)]
pub struct Reference {
    /// TCP endpoint pairs as `conv,tcp` lists them, by pair.
    pub tcp: BTreeMap<Pair, TcpPair>,
    /// Pairs of TCP headers tshark dissected but did not count in `conv,tcp`
    /// (malformed headers): neither required from nor forbidden to podwire.
    pub tcp_fields_only: BTreeSet<Pair>,
    pub sni: Vec<Sni>,
    pub http_requests: Vec<HttpRequest>,
    pub http_statuses: Vec<HttpStatus>,
    /// Every question of every DNS message, queries and responses.
    pub dns_questions: Vec<DnsQuestion>,
    pub dns_rcodes: Vec<DnsRcode>,
    /// Where tshark disagreed with itself (conv,tcp vs fields) or its fields
    /// could not be lined up; the reference is less certain there.
    pub inconsistencies: Vec<String>,
    /// The raw `conv,tcp` lines.
    pub conv: Vec<ConvLine>,
    /// Number of frames tshark read.
    pub frames: u64,
}

/// Runs tshark over `file` (one pass) and returns its raw output. `decode_as`
/// entries (`tcp.port==18080,http`) make tshark dissect a protocol on a port
/// it does not know, as Wireshark's "Decode As" does.
pub fn run(file: &Path, decode_as: &[&str], timeout: Duration) -> Result<RawOutput> {
    let mut cmd = command(file, decode_as);
    let out = cmd::run_within(&mut cmd, timeout)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(RawOutput {
        stdout,
        stderr,
        success: out.status.success(),
    })
}

/// The tshark command line [`run`] uses.
pub fn command(file: &Path, decode_as: &[&str]) -> Command {
    let mut cmd = Command::new("tshark");
    // A user's Wireshark profile (Decode As entries, disabled protocols,
    // preferences) would change the reference: point tshark at a profile
    // directory that does not exist, so it runs on its defaults.
    cmd.env(
        "WIRESHARK_CONFIG_DIR",
        std::env::temp_dir().join("podwire-lab-no-wireshark-profile"),
    );
    cmd.arg("-n").arg("-r").arg(file);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    cmd.args([
        "-T",
        "fields",
        "-E",
        "header=n",
        "-E",
        "quote=n",
        "-E",
        "occurrence=a",
    ]);
    cmd.arg("-E").arg(format!("separator={SEP}"));
    cmd.arg("-E").arg(format!("aggregator={AGG}"));
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    cmd.args(["-z", "conv,tcp"]);
    cmd
}

/// tshark's output for one file, before parsing (what a cache stores).
#[derive(Clone, Debug)]
pub struct RawOutput {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl RawOutput {
    /// True when tshark produced its statistics, i.e. it read the file (even a
    /// cut-short one, for which it exits non-zero).
    pub fn has_stats(&self) -> bool {
        self.stdout.contains("TCP Conversations")
    }

    /// tshark's error message, without its warning about running as root.
    pub fn message(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("Running as user") && !l.trim().is_empty())
            .collect();
        lines.join(" ")
    }
}

/// Runs tshark on `file` and parses the result. Fails when tshark is missing,
/// times out, or cannot read the file.
pub fn reference(file: &Path, decode_as: &[&str], timeout: Duration) -> Result<Reference> {
    let raw = run(file, decode_as, timeout)?;
    raw.reference(file)
}

impl RawOutput {
    /// Parses the output, or fails with tshark's message when it could not
    /// read `file`.
    pub fn reference(&self, file: &Path) -> Result<Reference> {
        if !self.has_stats() {
            return Err(Error::Command {
                command: format!("tshark -r {}", file.display()),
                status: if self.success {
                    "no statistics".into()
                } else {
                    "failed".into()
                },
                stderr: self.message(),
            });
        }
        parse(&self.stdout)
    }
}

/// Parses the combined fields + `conv,tcp` output of [`command`].
pub fn parse(stdout: &str) -> Result<Reference> {
    let mut r = Reference::default();
    let mut segments: Vec<TcpSegment> = Vec::new();
    let mut lines = stdout.lines();
    let mut saw_stats = false;
    for line in lines.by_ref() {
        if line.starts_with("=====") {
            saw_stats = true;
            break;
        }
        if line.is_empty() {
            continue;
        }
        r.frames += 1;
        parse_frame(line, &mut r, &mut segments);
    }
    if !saw_stats {
        return Err(Error::parse(
            "tshark",
            "no conv,tcp statistics in the output",
        ));
    }
    r.conv = parse_conv(lines)?;
    build_tcp(&mut r, &segments);
    Ok(r)
}

/// Values of one field, all occurrences.
fn values(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(AGG).collect()
    }
}

/// Values of a text field that may itself contain commas (URIs, names):
/// split only on the aggregator.
fn text_values(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(AGG).collect()
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_bool(s: &str) -> bool {
    matches!(s.trim(), "1" | "True" | "true")
}

/// Where a layer sits: the transport it sits directly on (None when another
/// layer is in between, e.g. DNS over HTTP/2 or HTTP inside TLS) and whether
/// it is inside an ICMP error's quoted packet.
#[derive(Clone, Copy, Debug, Default)]
struct LayerCtx {
    in_icmp: bool,
    transport: Option<&'static str>,
}

fn parse_frame(line: &str, r: &mut Reference, segments: &mut Vec<TcpSegment>) {
    let cols: Vec<&str> = line.split(SEP).collect();
    let get = |i: usize| cols.get(i).copied().unwrap_or("");
    let frame = parse_u64(get(col::NUMBER)).unwrap_or(0);
    let frame_len = parse_u64(get(col::LEN)).unwrap_or(0);
    let layers: Vec<&str> = get(col::PROTOCOLS).split(':').collect();

    let ip_src = values(get(col::IP_SRC));
    let ip_dst = values(get(col::IP_DST));
    let ip6_src = values(get(col::IP6_SRC));
    let ip6_dst = values(get(col::IP6_DST));
    let sport = values(get(col::TCP_SPORT));
    let dport = values(get(col::TCP_DPORT));
    let tlen = values(get(col::TCP_LEN));

    let (mut i4, mut i6, mut it) = (0usize, 0usize, 0usize);
    let mut last_ip: Option<(IpAddr, IpAddr)> = None;
    let mut icmp_seen = false;
    let mut ctx = LayerCtx::default();
    // Context of the first layer of each protocol of interest.
    let mut tls_ctx = None;
    let mut http_ctx = None;
    let mut dns_ctx = None;
    let mut quic = false;
    let mut prev = "";
    // The context of a layer sitting on the one before it.
    let on = |ctx: LayerCtx, prev: &str| LayerCtx {
        transport: match prev {
            "tcp" => Some("tcp"),
            "udp" => Some("udp"),
            _ => None,
        },
        ..ctx
    };
    for layer in &layers {
        match *layer {
            "ip" => {
                last_ip = pair_ip(ip_src.get(i4), ip_dst.get(i4));
                i4 += 1;
                ctx.in_icmp |= icmp_seen;
                ctx.transport = None;
            }
            "ipv6" => {
                last_ip = pair_ip(ip6_src.get(i6), ip6_dst.get(i6));
                i6 += 1;
                ctx.in_icmp |= icmp_seen;
                ctx.transport = None;
            }
            "icmp" | "icmpv6" => icmp_seen = true,
            "tcp" => {
                let seg = (|| {
                    let (src, dst) = last_ip?;
                    let sp = sport.get(it)?.parse().ok()?;
                    let dp = dport.get(it)?.parse().ok()?;
                    let len = tlen.get(it).and_then(|l| parse_u64(l)).unwrap_or(0);
                    Some(TcpSegment {
                        frame,
                        src: Addr { ip: src, port: sp },
                        dst: Addr { ip: dst, port: dp },
                        frame_len,
                        payload_len: len,
                    })
                })();
                it += 1;
                // TCP headers quoted in ICMP errors are not traffic; tshark's
                // conv,tcp agrees (checked against the corpus).
                if let (Some(seg), false) = (seg, ctx.in_icmp) {
                    segments.push(seg);
                }
                ctx.transport = Some("tcp");
            }
            "udp" => ctx.transport = Some("udp"),
            "quic" => quic = true,
            "tls" if tls_ctx.is_none() => tls_ctx = Some(on(ctx, prev)),
            "http" if http_ctx.is_none() => http_ctx = Some(on(ctx, prev)),
            "dns" if dns_ctx.is_none() => dns_ctx = Some(on(ctx, prev)),
            _ => {}
        }
        prev = layer;
    }

    if let Some(c) = tls_ctx {
        if !c.in_icmp && !quic && c.transport == Some("tcp") {
            for name in text_values(get(col::SNI)) {
                r.sni.push(Sni {
                    name: name.to_string(),
                    frame,
                });
            }
        }
    }

    if let Some(c) = http_ctx {
        if !c.in_icmp && c.transport == Some("tcp") {
            http_fields(&cols, frame, r);
        }
    }

    if let Some(c) = dns_ctx {
        let transport = match c.transport {
            Some("udp") => Some(DnsTransport::Udp),
            Some("tcp") => Some(DnsTransport::Tcp),
            _ => None,
        };
        if let (false, Some(transport)) = (c.in_icmp, transport) {
            dns_fields(&cols, frame, transport, r);
        }
    }
}

fn pair_ip(src: Option<&&str>, dst: Option<&&str>) -> Option<(IpAddr, IpAddr)> {
    Some((src?.parse().ok()?, dst?.parse().ok()?))
}

fn http_fields(cols: &[&str], frame: u64, r: &mut Reference) {
    let get = |i: usize| cols.get(i).copied().unwrap_or("");
    let methods = text_values(get(col::HTTP_METHOD));
    let uris = text_values(get(col::HTTP_URI));
    let hosts = text_values(get(col::HTTP_HOST));
    if methods.len() != uris.len() {
        r.inconsistencies.push(format!(
            "frame {frame}: {} HTTP methods but {} request URIs; requests not checked",
            methods.len(),
            uris.len()
        ));
    } else {
        for (i, (m, u)) in methods.iter().zip(&uris).enumerate() {
            let host = if hosts.len() == methods.len() {
                HostExpect::Exactly(Some(hosts[i].to_string()))
            } else if hosts.is_empty() {
                HostExpect::Exactly(None)
            } else {
                HostExpect::Unknown
            };
            r.http_requests.push(HttpRequest {
                method: m.to_string(),
                target: u.to_string(),
                host,
                frame,
            });
        }
    }
    for code in values(get(col::HTTP_CODE)) {
        if let Some(code) = parse_u64(code).and_then(|c| u16::try_from(c).ok()) {
            if !(100..200).contains(&code) || code == 101 {
                r.http_statuses.push(HttpStatus { code, frame });
            }
        }
    }
}

fn dns_fields(cols: &[&str], frame: u64, transport: DnsTransport, r: &mut Reference) {
    let get = |i: usize| cols.get(i).copied().unwrap_or("");
    let ids: Vec<u16> = values(get(col::DNS_ID))
        .iter()
        .filter_map(|v| parse_u64(v))
        .map(|v| v as u16)
        .collect();
    let responses: Vec<bool> = values(get(col::DNS_RESPONSE))
        .iter()
        .map(|v| parse_bool(v))
        .collect();
    let rcodes: Vec<u16> = values(get(col::DNS_RCODE))
        .iter()
        .filter_map(|v| parse_u64(v))
        .map(|v| v as u16)
        .collect();
    let qdcounts: Vec<u64> = values(get(col::DNS_QDCOUNT))
        .iter()
        .filter_map(|v| parse_u64(v))
        .collect();
    let names = text_values(get(col::DNS_QNAME));
    let types: Vec<u16> = values(get(col::DNS_QTYPE))
        .iter()
        .filter_map(|v| parse_u64(v))
        .map(|v| v as u16)
        .collect();

    if ids.len() != responses.len() || names.len() != types.len() {
        r.inconsistencies.push(format!(
            "frame {frame}: DNS fields do not line up ({} ids, {} flags, {} names, {} types); DNS not checked",
            ids.len(),
            responses.len(),
            names.len(),
            types.len()
        ));
        return;
    }
    // Which message each question belongs to: by the question counts when
    // they add up, else all to the only message.
    let owners: Vec<usize> = if qdcounts.len() == ids.len()
        && qdcounts.iter().sum::<u64>() == names.len() as u64
    {
        qdcounts
            .iter()
            .enumerate()
            .flat_map(|(m, &n)| std::iter::repeat_n(m, n as usize))
            .collect()
    } else if ids.len() == 1 {
        vec![0; names.len()]
    } else {
        r.inconsistencies.push(format!(
            "frame {frame}: {} DNS messages but {} questions do not add up to the question counts; DNS not checked",
            ids.len(),
            names.len()
        ));
        return;
    };
    // tshark writes `<Name too long>` and the like where it could not decode
    // a name; such a message has no question podwire could report.
    let placeholder = |n: &str| n.starts_with('<') && n.ends_with('>') && n != "<Root>";
    let mut questions = vec![0usize; ids.len()];
    let mut malformed = vec![false; ids.len()];
    for (name, &m) in names.iter().zip(&owners) {
        questions[m] += 1;
        malformed[m] |= placeholder(name);
    }
    for ((name, qtype), m) in names.iter().zip(&types).zip(owners) {
        if malformed[m] {
            continue;
        }
        r.dns_questions.push(DnsQuestion {
            id: ids[m],
            name: name.to_string(),
            qtype: *qtype,
            response: responses[m],
            transport,
            frame,
        });
    }
    // One rcode per response, in order; kept for responses with a (well
    // formed) question, since a DNS record is about a question.
    let response_msgs: Vec<usize> = (0..ids.len()).filter(|&m| responses[m]).collect();
    if response_msgs.len() == rcodes.len() {
        for (m, rcode) in response_msgs.into_iter().zip(rcodes) {
            if questions[m] > 0 && !malformed[m] {
                r.dns_rcodes.push(DnsRcode {
                    rcode,
                    id: ids[m],
                    frame,
                });
            }
        }
    } else {
        r.inconsistencies.push(format!(
            "frame {frame}: {} DNS responses but {} rcodes; rcodes not checked",
            response_msgs.len(),
            rcodes.len()
        ));
    }
}

/// Parses the `conv,tcp` table (the lines after the first `====` rule).
pub fn parse_conv<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<ConvLine>> {
    let mut out = Vec::new();
    for line in lines {
        if !line.contains("<->") {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let bad = || Error::parse("tshark conv,tcp", format!("cannot parse line {line:?}"));
        if t.len() < 12 || t[1] != "<->" {
            return Err(bad());
        }
        let a = Addr::parse_tshark(t[0]).ok_or_else(bad)?;
        let b = Addr::parse_tshark(t[2]).ok_or_else(bad)?;
        // Columns: "<-" (B to A) frames bytes unit, "->" (A to B) frames bytes unit, total...
        let frames_b_to_a = parse_u64(&t[3].replace(',', "")).ok_or_else(bad)?;
        let bytes_b_to_a = ByteRange::parse(t[4], t[5]).ok_or_else(bad)?;
        let frames_a_to_b = parse_u64(&t[6].replace(',', "")).ok_or_else(bad)?;
        let bytes_a_to_b = ByteRange::parse(t[7], t[8]).ok_or_else(bad)?;
        out.push(ConvLine {
            a,
            b,
            frames_a_to_b,
            bytes_a_to_b,
            frames_b_to_a,
            bytes_b_to_a,
        });
    }
    Ok(out)
}

/// Per pair and direction, the frame and byte ranges conv,tcp printed.
#[derive(Clone, Copy, Debug, Default)]
struct ConvSum {
    lo_to_hi: (u64, ByteRange),
    hi_to_lo: (u64, ByteRange),
}

fn build_tcp(r: &mut Reference, segments: &[TcpSegment]) {
    let mut from_fields: BTreeMap<Pair, (DirCount, DirCount)> = BTreeMap::new();
    for s in segments {
        let pair = Pair::new(s.src, s.dst);
        let e = from_fields.entry(pair).or_default();
        let d = DirCount {
            packets: 1,
            bytes: s.frame_len,
            payload_bytes: s.payload_len,
        };
        // A segment from an endpoint to itself counts as lo_to_hi.
        if s.src == pair.lo {
            e.0.add(&d);
        } else {
            e.1.add(&d);
        }
    }

    let mut from_conv: BTreeMap<Pair, ConvSum> = BTreeMap::new();
    for c in &r.conv {
        let pair = Pair::new(c.a, c.b);
        let e = from_conv.entry(pair).or_default();
        let (lh, hl) = if c.a == pair.lo {
            (
                (c.frames_a_to_b, c.bytes_a_to_b),
                (c.frames_b_to_a, c.bytes_b_to_a),
            )
        } else {
            (
                (c.frames_b_to_a, c.bytes_b_to_a),
                (c.frames_a_to_b, c.bytes_a_to_b),
            )
        };
        e.lo_to_hi.0 += lh.0;
        e.lo_to_hi.1.add(lh.1);
        e.hi_to_lo.0 += hl.0;
        e.hi_to_lo.1.add(hl.1);
    }

    for (pair, conv) in &from_conv {
        let fields = from_fields.get(pair).copied();
        if fields.is_none() {
            r.inconsistencies.push(format!(
                "tcp {pair}: in conv,tcp but no TCP header in the fields"
            ));
        }
        let mut dir = |name: &str, (frames, bytes): (u64, ByteRange), got: Option<DirCount>| {
            match got {
                Some(g) if g.packets == frames && bytes.contains(g.bytes) => DirRef::exact(g),
                _ => {
                    if let Some(g) = got {
                        r.inconsistencies.push(format!(
                            "tcp {pair} {name}: conv,tcp says {frames} frames {bytes} bytes, fields say {} frames {} bytes",
                            g.packets, g.bytes
                        ));
                    }
                    DirRef {
                        packets: frames,
                        bytes,
                        payload_bytes: None,
                        fields: got,
                    }
                }
            }
        };
        let lo_to_hi = dir("lo->hi", conv.lo_to_hi, fields.map(|f| f.0));
        let hi_to_lo = dir("hi->lo", conv.hi_to_lo, fields.map(|f| f.1));
        r.tcp.insert(
            *pair,
            TcpPair {
                pair: *pair,
                lo_to_hi,
                hi_to_lo,
            },
        );
    }
    for pair in from_fields.keys() {
        if !from_conv.contains_key(pair) {
            r.inconsistencies.push(format!(
                "tcp {pair}: TCP header in the fields but not in conv,tcp"
            ));
            r.tcp_fields_only.insert(*pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_line_with_units_and_ipv6() {
        let text = "2001:db8:1:0:306e:739d:dea6:99a4:54114 <-> 2001:16b8::abe6:443       3 2605 kB        4 392 bytes       7 2610 kB     0.000874000         3.0436\n";
        let c = parse_conv(text.lines()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].a.to_string(),
            "[2001:db8:1:0:306e:739d:dea6:99a4]:54114"
        );
        assert_eq!(c[0].b.port, 443);
        assert_eq!(c[0].frames_b_to_a, 3);
        assert_eq!(
            c[0].bytes_b_to_a,
            ByteRange {
                lo: 2_605_000,
                hi: 2_605_999
            }
        );
        assert_eq!(c[0].frames_a_to_b, 4);
        assert_eq!(c[0].bytes_a_to_b, ByteRange { lo: 392, hi: 392 });
    }

    fn line(fields: &[(usize, &str)]) -> String {
        let mut cols = vec![""; FIELDS.len()];
        for (i, v) in fields {
            cols[*i] = v;
        }
        cols.join(&SEP.to_string())
    }

    fn parse_with_conv(frames: &[String], conv: &str) -> Reference {
        let mut s = frames.join("\n");
        s.push_str("\n================================================================================\nTCP Conversations\n");
        s.push_str(conv);
        s.push_str(
            "\n================================================================================\n",
        );
        parse(&s).unwrap()
    }

    #[test]
    fn tcp_pairs_with_the_innermost_ip_and_skips_icmp_quotes() {
        let agg = AGG.to_string();
        let frames = vec![
            // IPv6 tunnelled in IPv4: the TCP header belongs to the IPv6 layer.
            line(&[
                (col::NUMBER, "1"),
                (col::LEN, "100"),
                (col::PROTOCOLS, "eth:ethertype:ip:ipv6:tcp"),
                (col::IP_SRC, "192.0.2.1"),
                (col::IP_DST, "192.0.2.2"),
                (col::IP6_SRC, "fd00::1"),
                (col::IP6_DST, "fd00::2"),
                (col::TCP_SPORT, "1000"),
                (col::TCP_DPORT, "80"),
                (col::TCP_LEN, "20"),
            ]),
            // An ICMP error quoting a TCP header of the same pair.
            line(&[
                (col::NUMBER, "2"),
                (col::LEN, "90"),
                (col::PROTOCOLS, "eth:ethertype:ipv6:icmpv6:ipv6:tcp"),
                (col::IP6_SRC, &format!("fd00::9{agg}fd00::1")),
                (col::IP6_DST, &format!("fd00::1{agg}fd00::2")),
                (col::TCP_SPORT, "1000"),
                (col::TCP_DPORT, "80"),
            ]),
        ];
        let r = parse_with_conv(
            &frames,
            "fd00::1:1000  <-> fd00::2:80   0 0 bytes   1 100 bytes   1 100 bytes  0.0 0.0",
        );
        assert!(r.inconsistencies.is_empty(), "{:?}", r.inconsistencies);
        assert_eq!(r.tcp.len(), 1);
        let p = r.tcp.values().next().unwrap();
        assert_eq!(p.pair.lo.to_string(), "[fd00::1]:1000");
        assert_eq!(
            p.lo_to_hi,
            DirRef::exact(DirCount {
                packets: 1,
                bytes: 100,
                payload_bytes: 20
            })
        );
        assert_eq!(p.hi_to_lo, DirRef::exact(DirCount::default()));
    }

    #[test]
    fn fields_disagreeing_with_conv_are_reported() {
        let frames = vec![line(&[
            (col::NUMBER, "1"),
            (col::LEN, "60"),
            (col::PROTOCOLS, "eth:ethertype:ip:tcp"),
            (col::IP_SRC, "10.0.0.1"),
            (col::IP_DST, "10.0.0.2"),
            (col::TCP_SPORT, "1"),
            (col::TCP_DPORT, "2"),
            (col::TCP_LEN, "0"),
        ])];
        let r = parse_with_conv(
            &frames,
            "10.0.0.1:1 <-> 10.0.0.2:2   0 0 bytes   2 120 bytes   2 120 bytes  0.0 0.0",
        );
        assert_eq!(r.inconsistencies.len(), 1, "{:?}", r.inconsistencies);
        // conv,tcp wins; the payload is unknown.
        let p = r.tcp.values().next().unwrap();
        assert_eq!(p.lo_to_hi.packets, 2);
        assert_eq!(p.lo_to_hi.bytes, ByteRange { lo: 120, hi: 120 });
        assert_eq!(p.lo_to_hi.payload_bytes, None);
        assert_eq!(p.lo_to_hi.fields.map(|f| f.packets), Some(1));
    }

    #[test]
    fn headers_tshark_did_not_count_are_set_aside() {
        let frames = vec![line(&[
            (col::NUMBER, "1"),
            (col::LEN, "60"),
            (col::PROTOCOLS, "eth:ethertype:ip:tcp"),
            (col::IP_SRC, "10.0.0.1"),
            (col::IP_DST, "10.0.0.2"),
            (col::TCP_SPORT, "1"),
            (col::TCP_DPORT, "2"),
        ])];
        let r = parse_with_conv(&frames, "");
        assert!(r.tcp.is_empty());
        assert_eq!(r.tcp_fields_only.len(), 1);
    }

    #[test]
    fn pipelined_http_requests_without_host_are_wildcards() {
        let agg = AGG.to_string();
        let frames = vec![line(&[
            (col::NUMBER, "4"),
            (col::PROTOCOLS, "eth:ethertype:ip:tcp:http:http"),
            (col::HTTP_METHOD, &format!("GET{agg}POST")),
            (col::HTTP_URI, &format!("/a,b{agg}/c")),
            (col::HTTP_HOST, "example.com"),
            (col::HTTP_CODE, &format!("100{agg}200")),
        ])];
        let r = parse_with_conv(&frames, "");
        assert_eq!(r.http_requests.len(), 2);
        assert_eq!(r.http_requests[0].target, "/a,b");
        assert_eq!(r.http_requests[1].host, HostExpect::Unknown);
        assert_eq!(
            r.http_statuses,
            vec![HttpStatus {
                code: 200,
                frame: 4
            }]
        );
    }

    #[test]
    fn dns_questions_are_assigned_to_their_messages() {
        let agg = AGG.to_string();
        let frames = vec![line(&[
            (col::NUMBER, "7"),
            (col::PROTOCOLS, "eth:ethertype:ip:tcp:dns:dns"),
            (col::DNS_ID, &format!("0x0001{agg}0x0002")),
            (col::DNS_RESPONSE, &format!("1{agg}1")),
            (col::DNS_RCODE, &format!("0{agg}3")),
            (col::DNS_QDCOUNT, &format!("1{agg}1")),
            (col::DNS_QNAME, &format!("a.example{agg}b.example")),
            (col::DNS_QTYPE, &format!("1{agg}28")),
        ])];
        let r = parse_with_conv(&frames, "");
        assert_eq!(r.dns_questions.len(), 2);
        assert_eq!((r.dns_questions[1].id, r.dns_questions[1].qtype), (2, 28));
        assert_eq!(r.dns_questions[1].transport, DnsTransport::Tcp);
        assert_eq!(
            r.dns_rcodes[1],
            DnsRcode {
                rcode: 3,
                id: 2,
                frame: 7
            }
        );
    }

    #[test]
    fn dns_over_http2_and_undecodable_dns_are_left_out() {
        let frames = vec![
            line(&[
                (col::NUMBER, "1"),
                (col::PROTOCOLS, "eth:ethertype:ip:tcp:http:http2:dns"),
                (col::DNS_ID, "0x0000"),
                (col::DNS_RESPONSE, "0"),
                (col::DNS_QDCOUNT, "1"),
                (col::DNS_QNAME, "www.example.com"),
                (col::DNS_QTYPE, "1"),
            ]),
            line(&[
                (col::NUMBER, "2"),
                (col::PROTOCOLS, "eth:ethertype:ip:udp:dns"),
                (col::DNS_ID, "0x0001"),
                (col::DNS_RESPONSE, "1"),
                (col::DNS_RCODE, "15"),
                (col::DNS_QDCOUNT, "1"),
                (col::DNS_QNAME, "<Name too long>"),
                (col::DNS_QTYPE, "0"),
            ]),
            // A response without a question: its rcode names nothing.
            line(&[
                (col::NUMBER, "3"),
                (col::PROTOCOLS, "eth:ethertype:ip:udp:dns"),
                (col::DNS_ID, "0xffff"),
                (col::DNS_RESPONSE, "1"),
                (col::DNS_RCODE, "0"),
                (col::DNS_QDCOUNT, "0"),
            ]),
        ];
        let r = parse_with_conv(&frames, "");
        assert!(r.dns_questions.is_empty(), "{:?}", r.dns_questions);
        assert!(r.dns_rcodes.is_empty(), "{:?}", r.dns_rcodes);
    }

    #[test]
    fn ssdp_and_mdns_are_left_out() {
        let frames = vec![
            line(&[
                (col::NUMBER, "1"),
                (col::PROTOCOLS, "eth:ethertype:ip:udp:ssdp"),
                (col::HTTP_METHOD, "M-SEARCH"),
                (col::HTTP_URI, "*"),
            ]),
            line(&[
                (col::NUMBER, "2"),
                (col::PROTOCOLS, "eth:ethertype:ip:udp:mdns"),
                (col::DNS_ID, "0x0000"),
                (col::DNS_RESPONSE, "0"),
                (col::DNS_QDCOUNT, "1"),
                (col::DNS_QNAME, "printer.local"),
                (col::DNS_QTYPE, "12"),
            ]),
        ];
        let r = parse_with_conv(&frames, "");
        assert!(r.http_requests.is_empty());
        assert!(r.dns_questions.is_empty());
    }
}
