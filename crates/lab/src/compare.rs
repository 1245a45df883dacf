//! Where podwire's records and tshark's reference must agree.
//!
//! The rules, per capture file:
//! - TCP: for every endpoint pair tshark saw, podwire's TCP connection
//!   records with that 4-tuple (either orientation, summed: a reused port
//!   gives several records) must have the same packets and bytes per
//!   direction as `conv,tcp`, and the same payload bytes as tshark's
//!   `tcp.len`; a pair podwire reports that tshark did not see is a
//!   difference too. Where tshark disagrees with itself (a malformed header
//!   it dissects but does not count), either of its answers is accepted.
//! - Protocols: every SNI, HTTP request (method, host, target), final HTTP
//!   status, DNS query (id, name, type) and DNS rcode tshark found must be in
//!   podwire's records, counted as multisets. podwire may find more: it detects
//!   protocols by content on any port, tshark mostly by port. DNS rcodes are
//!   compared on the header's 4 bits, which is all tshark's field holds.
//! - Schema: every line must be a valid record.
//!
//! The result is a list of human-readable [`Difference`]s, grouped by
//! [`Kind`] so a corpus report can be summarised and triaged.

use crate::records::Output;
use crate::tshark::{DirCount, HostExpect, Pair, Reference};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of disagreement a [`Difference`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A line of podwire's output is not a valid record.
    Schema,
    /// tshark saw a TCP pair podwire has no connection record for.
    TcpMissing,
    /// podwire reports a TCP pair tshark did not see.
    TcpExtra,
    TcpPackets,
    TcpBytes,
    TcpPayload,
    TlsSni,
    HttpRequest,
    HttpStatus,
    DnsQuery,
    DnsRcode,
}

impl Kind {
    /// Stable short name, used in reports and allowlists.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::TcpMissing => "tcp-missing",
            Kind::TcpExtra => "tcp-extra",
            Kind::TcpPackets => "tcp-packets",
            Kind::TcpBytes => "tcp-bytes",
            Kind::TcpPayload => "tcp-payload",
            Kind::TlsSni => "tls-sni",
            Kind::HttpRequest => "http-request",
            Kind::HttpStatus => "http-status",
            Kind::DnsQuery => "dns-query",
            Kind::DnsRcode => "dns-rcode",
        }
    }

    /// Every kind, in report order.
    pub const ALL: [Kind; 11] = [
        Kind::Schema,
        Kind::TcpMissing,
        Kind::TcpExtra,
        Kind::TcpPackets,
        Kind::TcpBytes,
        Kind::TcpPayload,
        Kind::TlsSni,
        Kind::HttpRequest,
        Kind::HttpStatus,
        Kind::DnsQuery,
        Kind::DnsRcode,
    ];

    /// The kind with this [`name`](Kind::name).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One disagreement between podwire and tshark.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub kind: Kind,
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind, self.detail)
    }
}

/// Compares podwire's output for a file with tshark's reference for it.
pub fn compare(reference: &Reference, podwire: &Output) -> Vec<Difference> {
    let mut diffs = Vec::new();
    let mut push = |kind: Kind, detail: String| diffs.push(Difference { kind, detail });

    for e in &podwire.schema_errors {
        push(Kind::Schema, e.clone());
    }

    // TCP, summed per pair, oriented lo/hi like the reference.
    let mut ours: BTreeMap<Pair, (DirCount, DirCount, usize)> = BTreeMap::new();
    for c in podwire.tcp() {
        let pair = Pair::new(c.client, c.server);
        let e = ours.entry(pair).or_default();
        let (lh, hl) = if c.client == pair.lo {
            (c.client_to_server, c.server_to_client)
        } else {
            (c.server_to_client, c.client_to_server)
        };
        add(&mut e.0, &lh);
        add(&mut e.1, &hl);
        e.2 += 1;
    }
    for (pair, want) in &reference.tcp {
        let Some((lh, hl, n)) = ours.get(pair) else {
            push(
                Kind::TcpMissing,
                format!(
                    "tcp {pair}: no connection record (tshark: {} packets {}->{}, {} packets back)",
                    want.lo_to_hi.packets, pair.lo, pair.hi, want.hi_to_lo.packets
                ),
            );
            continue;
        };
        for (dir, w, g) in [
            (format!("{} -> {}", pair.lo, pair.hi), want.lo_to_hi, lh),
            (format!("{} -> {}", pair.hi, pair.lo), want.hi_to_lo, hl),
        ] {
            let records = if *n == 1 {
                String::new()
            } else {
                format!(" (summed over {n} records)")
            };
            // tshark disagreeing with itself: its per-frame answer is fine too.
            if w.fields == Some(*g) {
                continue;
            }
            if w.packets != g.packets {
                push(
                    Kind::TcpPackets,
                    format!(
                        "tcp {dir}: packets {} but tshark {}{records}",
                        g.packets, w.packets
                    ),
                );
            }
            if !w.bytes.contains(g.bytes) {
                push(
                    Kind::TcpBytes,
                    format!(
                        "tcp {dir}: bytes {} but tshark {}{records}",
                        g.bytes, w.bytes
                    ),
                );
            }
            match w.payload_bytes {
                Some(p) if p != g.payload_bytes => push(
                    Kind::TcpPayload,
                    format!(
                        "tcp {dir}: payload_bytes {} but tshark {p}{records}",
                        g.payload_bytes
                    ),
                ),
                _ => {}
            }
        }
    }
    for (pair, (lh, hl, _)) in &ours {
        if !reference.tcp.contains_key(pair) && !reference.tcp_fields_only.contains(pair) {
            push(
                Kind::TcpExtra,
                format!(
                    "tcp {pair}: podwire reports {}+{} packets, tshark has no such TCP pair",
                    lh.packets, hl.packets
                ),
            );
        }
    }

    // SNI.
    let mut have = Multiset::new(podwire.tls.iter().filter_map(|t| t.sni.clone()));
    for s in &reference.sni {
        if !have.take(&s.name) {
            push(
                Kind::TlsSni,
                format!(
                    "SNI {:?} (tshark frame {}) not in any tls record",
                    s.name, s.frame
                ),
            );
        }
    }

    // HTTP requests: exact hosts first, then the requests whose host tshark
    // could not pin down take whatever is left. Records of a response whose
    // request was not seen have no request to offer.
    let mut have = Multiset::new(
        podwire
            .http
            .iter()
            .filter_map(|h| Some((h.method.clone()?, h.path.clone()?, h.host.clone()))),
    );
    let mut unknown_host = Vec::new();
    for r in &reference.http_requests {
        match &r.host {
            HostExpect::Exactly(host) => {
                if !have.take(&(r.method.clone(), r.target.clone(), host.clone())) {
                    push(
                        Kind::HttpRequest,
                        format!(
                            "HTTP request {} {:?} host {:?} (tshark frame {}) not in any http record",
                            r.method, r.target, host, r.frame
                        ),
                    );
                }
            }
            HostExpect::Unknown => unknown_host.push(r),
        }
    }
    for r in unknown_host {
        if !have.take_where(|(m, p, _)| *m == r.method && *p == r.target) {
            push(
                Kind::HttpRequest,
                format!(
                    "HTTP request {} {:?} (tshark frame {}) not in any http record",
                    r.method, r.target, r.frame
                ),
            );
        }
    }

    let mut have = Multiset::new(podwire.http.iter().filter_map(|h| h.status));
    for s in &reference.http_statuses {
        if !have.take(&s.code) {
            push(
                Kind::HttpStatus,
                format!(
                    "HTTP status {} (tshark frame {}) not in any http record",
                    s.code, s.frame
                ),
            );
        }
    }

    // DNS queries: a query and its response are one transaction, so a key is
    // wanted as many times as the larger of its query and response counts.
    let mut want: BTreeMap<(u16, String, u16), (usize, usize, u64)> = BTreeMap::new();
    for q in &reference.dns_questions {
        let e = want
            .entry((q.id, normalize_name(&q.name), q.qtype))
            .or_insert((0, 0, q.frame));
        if q.response {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let mut have = BTreeMap::<(u16, String, u16), usize>::new();
    for d in &podwire.dns {
        match qtype_number(&d.qtype) {
            Some(t) => *have.entry((d.id, normalize_name(&d.name), t)).or_default() += 1,
            None => push(
                Kind::Schema,
                format!(
                    "dns record qtype {:?} is not a type name or TYPEnnn",
                    d.qtype
                ),
            ),
        }
    }
    for (key, (queries, responses, frame)) in &want {
        let n = (*queries).max(*responses);
        let got = have.get(key).copied().unwrap_or(0);
        if got < n {
            push(
                Kind::DnsQuery,
                format!(
                    "DNS id {} {:?} type {} ({} queries, {} responses from tshark frame {frame} on) but {got} dns records",
                    key.0,
                    key.1,
                    qtype_name(key.2),
                    queries,
                    responses
                ),
            );
        }
    }

    let mut have_rcodes = Vec::new();
    for d in &podwire.dns {
        if let Some(rc) = &d.rcode {
            // tshark gives the header's 4-bit RCODE; podwire may report the
            // full one with EDNS's extension (BADCOOKIE = 23 has 7 below).
            match rcode_number(rc) {
                Some(n) => have_rcodes.push(n & 0xf),
                None => push(
                    Kind::Schema,
                    format!("dns record rcode {rc:?} is not an rcode name"),
                ),
            }
        }
    }
    let mut have = Multiset::new(have_rcodes);
    for r in &reference.dns_rcodes {
        if !have.take(&r.rcode) {
            push(
                Kind::DnsRcode,
                format!(
                    "DNS rcode {} of response id {} (tshark frame {}) not in any dns record",
                    rcode_name(r.rcode),
                    r.id,
                    r.frame
                ),
            );
        }
    }
    diffs
}

fn add(a: &mut DirCount, b: &DirCount) {
    a.packets += b.packets;
    a.bytes += b.bytes;
    a.payload_bytes += b.payload_bytes;
}

/// A bag of values that can be taken out one at a time.
struct Multiset<T: Ord>(BTreeMap<T, usize>);

impl<T: Ord> Multiset<T> {
    fn new(items: impl IntoIterator<Item = T>) -> Self {
        let mut m = BTreeMap::new();
        for i in items {
            *m.entry(i).or_insert(0) += 1;
        }
        Multiset(m)
    }

    fn take(&mut self, v: &T) -> bool {
        match self.0.get_mut(v) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn take_where(&mut self, pred: impl Fn(&T) -> bool) -> bool {
        match self.0.iter_mut().find(|(k, n)| **n > 0 && pred(k)) {
            Some((_, n)) => {
                *n -= 1;
                true
            }
            None => false,
        }
    }
}

/// A DNS name without its trailing dot; the root (tshark's `<Root>`) is empty.
pub fn normalize_name(name: &str) -> String {
    if name == "<Root>" || name == "." {
        return String::new();
    }
    name.strip_suffix('.').unwrap_or(name).to_string()
}

/// RR type mnemonics (IANA registry) and their numbers.
const RR_TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("DNAME", 39),
    ("SINK", 40),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("*", 255),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("AMTRELAY", 260),
    ("TA", 32768),
    ("DLV", 32769),
];

/// The number of an RR type given by mnemonic or as `TYPEnnn` (RFC 3597).
pub fn qtype_number(s: &str) -> Option<u16> {
    if let Some(n) = s.strip_prefix("TYPE") {
        if let Ok(n) = n.parse() {
            return Some(n);
        }
    }
    RR_TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n)
}

/// A readable name for an RR type number.
pub fn qtype_name(n: u16) -> String {
    RR_TYPES
        .iter()
        .find(|&&(_, v)| v == n)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| format!("TYPE{n}"))
}

/// RCODE mnemonics (IANA registry) and their numbers.
const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("DSOTYPENI", 11),
    ("BADVERS", 16),
    ("BADSIG", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// The number of an rcode given by mnemonic, `RCODEnn` or as digits.
pub fn rcode_number(s: &str) -> Option<u16> {
    let digits = s.strip_prefix("RCODE").unwrap_or(s);
    if let Ok(n) = digits.parse() {
        return Some(n);
    }
    RCODES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n)
}

/// A readable name for an rcode number.
pub fn rcode_name(n: u16) -> String {
    RCODES
        .iter()
        .find(|&&(_, v)| v == n)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| format!("RCODE{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records;
    use crate::tshark::{
        self, Addr, DirCount, DirRef, DnsQuestion, DnsTransport, HttpRequest, Sni, TcpPair,
    };

    fn addr(s: &str) -> Addr {
        Addr::parse_tshark(s).unwrap()
    }

    fn conn(client: &str, server: &str, c2s: (u64, u64, u64), s2c: (u64, u64, u64)) -> String {
        let (c, s) = (addr(client), addr(server));
        format!(
            r#"{{"type":"connection","v":1,"ts":"2024-01-01T00:00:00Z","client":{{"ip":"{}","port":{}}},"server":{{"ip":"{}","port":{}}},"proto":"tcp","first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T00:00:00Z","duration_ms":0.0,"close":"fin","handshake_rtt_ms":0.1,"retransmits":0,"client_to_server":{{"packets":{},"bytes":{},"payload_bytes":{}}},"server_to_client":{{"packets":{},"bytes":{},"payload_bytes":{}}},"handshake_seen":true}}"#,
            c.ip, c.port, s.ip, s.port, c2s.0, c2s.1, c2s.2, s2c.0, s2c.1, s2c.2
        )
    }

    fn reference_with_pair(
        lo: &str,
        hi: &str,
        lh: (u64, u64, u64),
        hl: (u64, u64, u64),
    ) -> Reference {
        let pair = Pair::new(addr(lo), addr(hi));
        let d = |t: (u64, u64, u64)| DirCount {
            packets: t.0,
            bytes: t.1,
            payload_bytes: t.2,
        };
        let mut r = Reference::default();
        r.tcp.insert(
            pair,
            TcpPair {
                pair,
                lo_to_hi: DirRef::exact(d(lh)),
                hi_to_lo: DirRef::exact(d(hl)),
            },
        );
        r
    }

    #[test]
    fn reused_port_records_are_summed_in_either_orientation() {
        let r = reference_with_pair(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            (10, 1000, 100),
            (8, 900, 300),
        );
        // One record oriented one way, one the other (roles guessed late).
        let out = records::parse(&format!(
            "{}\n{}\n",
            conn("10.0.0.1:5000", "10.0.0.2:80", (6, 600, 60), (5, 500, 200)),
            conn("10.0.0.2:80", "10.0.0.1:5000", (3, 400, 100), (4, 400, 40)),
        ));
        assert_eq!(compare(&r, &out), vec![]);
    }

    #[test]
    fn count_mismatches_name_the_direction() {
        let r = reference_with_pair(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            (10, 1000, 100),
            (8, 900, 300),
        );
        let out = records::parse(&conn(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            (10, 1000, 99),
            (7, 900, 300),
        ));
        let d = compare(&r, &out);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].kind, Kind::TcpPayload);
        assert!(
            d[0].detail.contains("10.0.0.1:5000 -> 10.0.0.2:80"),
            "{}",
            d[0]
        );
        assert_eq!(d[1].kind, Kind::TcpPackets);
        assert!(
            d[1].detail.contains("10.0.0.2:80 -> 10.0.0.1:5000"),
            "{}",
            d[1]
        );
    }

    #[test]
    fn uncertain_reference_checks_only_what_tshark_is_sure_of() {
        let pair = Pair::new(addr("10.0.0.1:5000"), addr("10.0.0.2:80"));
        let mut r = Reference::default();
        let uncertain = DirRef {
            packets: 20,
            bytes: tshark::ByteRange {
                lo: 12_000,
                hi: 12_999,
            },
            payload_bytes: None,
            fields: None,
        };
        r.tcp.insert(
            pair,
            TcpPair {
                pair,
                lo_to_hi: uncertain,
                hi_to_lo: uncertain,
            },
        );
        // A header tshark dissected but did not count: podwire may report it.
        r.tcp_fields_only
            .insert(Pair::new(addr("10.0.0.9:1"), addr("10.0.0.9:2")));
        let out = records::parse(&format!(
            "{}\n{}\n",
            conn(
                "10.0.0.1:5000",
                "10.0.0.2:80",
                (20, 12_345, 7),
                (20, 13_000, 0)
            ),
            conn("10.0.0.9:1", "10.0.0.9:2", (1, 60, 0), (0, 0, 0)),
        ));
        let d = compare(&r, &out);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].kind, Kind::TcpBytes);
        assert!(d[0].detail.contains("12000..=12999"), "{}", d[0]);
    }

    #[test]
    fn missing_and_extra_pairs_are_reported() {
        let r = reference_with_pair("10.0.0.1:5000", "10.0.0.2:80", (1, 60, 0), (0, 0, 0));
        let out = records::parse(&conn("10.0.0.1:5001", "10.0.0.2:80", (1, 60, 0), (0, 0, 0)));
        let kinds: Vec<Kind> = compare(&r, &out).iter().map(|d| d.kind).collect();
        assert_eq!(kinds, vec![Kind::TcpMissing, Kind::TcpExtra]);
    }

    #[test]
    fn protocol_findings_are_multiset_contained() {
        let mut r = Reference::default();
        for _ in 0..2 {
            r.sni.push(Sni {
                name: "a.example".into(),
                frame: 1,
            });
        }
        r.http_requests.push(HttpRequest {
            method: "GET".into(),
            target: "/x".into(),
            host: HostExpect::Exactly(Some("h".into())),
            frame: 2,
        });
        r.http_requests.push(HttpRequest {
            method: "GET".into(),
            target: "/y".into(),
            host: HostExpect::Unknown,
            frame: 2,
        });
        r.http_statuses.push(tshark::HttpStatus {
            code: 404,
            frame: 4,
        });
        let q = |response| DnsQuestion {
            id: 7,
            name: "example.com".into(),
            qtype: 28,
            response,
            transport: DnsTransport::Udp,
            frame: 3,
        };
        r.dns_questions = vec![q(false), q(true)];
        r.dns_rcodes.push(tshark::DnsRcode {
            rcode: 3,
            id: 7,
            frame: 3,
        });
        let ep = r#""client":{"ip":"10.0.0.1","port":1},"server":{"ip":"10.0.0.2","port":2}"#;
        let lines = [
            format!(
                r#"{{"type":"tls","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"sni":"a.example","alpn":[],"alpn_selected":null,"version":null,"cipher":null}}"#
            ),
            format!(
                r#"{{"type":"http","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"method":"GET","host":"h","path":"/x","version":"HTTP/1.1","status":200,"request_body_bytes":0,"response_body_bytes":5}}"#
            ),
            format!(
                r#"{{"type":"http","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"method":"GET","host":"other","path":"/y","version":"HTTP/1.1","status":null,"request_body_bytes":0,"response_body_bytes":null}}"#
            ),
            format!(
                r#"{{"type":"dns","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"transport":"udp","id":7,"name":"example.com.","qtype":"AAAA","rcode":"NXDOMAIN","answers":[]}}"#
            ),
            // A response alone: offers a status, no request.
            format!(
                r#"{{"type":"http","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"method":null,"host":null,"path":null,"version":"HTTP/1.1","status":404,"request_body_bytes":0,"response_body_bytes":0}}"#
            ),
        ];
        let out = records::parse(&lines.join("\n"));
        let d = compare(&r, &out);
        // Only the second SNI is missing.
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].kind, Kind::TlsSni);
    }

    #[test]
    fn extended_rcodes_match_tsharks_header_rcode() {
        let mut r = Reference::default();
        r.dns_rcodes.push(tshark::DnsRcode {
            rcode: 7,
            id: 1,
            frame: 2,
        });
        let ep = r#""client":{"ip":"10.0.0.1","port":1},"server":{"ip":"10.0.0.2","port":53}"#;
        let line = format!(
            r#"{{"type":"dns","v":1,"ts":"2024-01-01T00:00:00Z",{ep},"transport":"udp","id":1,"name":"a","qtype":"A","rcode":"BADCOOKIE","answers":[]}}"#
        );
        assert_eq!(compare(&r, &records::parse(&line)), vec![]);
    }

    #[test]
    fn type_and_rcode_names_map_to_numbers() {
        assert_eq!(qtype_number("AAAA"), Some(28));
        assert_eq!(qtype_number("TYPE65"), Some(65));
        assert_eq!(qtype_number("HTTPS"), Some(65));
        assert_eq!(qtype_number("BOGUS"), None);
        assert_eq!(rcode_number("NXDOMAIN"), Some(3));
        assert_eq!(rcode_number("RCODE11"), Some(11));
        assert_eq!(qtype_name(99), "SPF");
        assert_eq!(normalize_name("<Root>"), "");
        assert_eq!(normalize_name("a.b."), "a.b");
    }
}
