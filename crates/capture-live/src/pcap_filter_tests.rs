//! Filters against the two references they must agree with: tcpdump
//! (`tcpdump -dd` prints the program it would use) for compilation, and the
//! kernel (a socket filter on an AF_UNIX datagram socket, no root needed)
//! for the interpreter.
//!
//! Tests that need libpcap print `SKIPPED: ...` and pass when it cannot be
//! loaded, unless PODWIRE_REQUIRE_LIBPCAP is set (CI sets it); tests that
//! need tcpdump print `SKIPPED: tcpdump not installed` without it.

use super::*;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

const LINKTYPE_ETHERNET: u32 = crate::LINKTYPE_ETHERNET;
const LINKTYPE_RAW: u32 = crate::LINKTYPE_RAW;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_LINUX_SLL2: u32 = 276;

// ---------------------------------------------------------------------------
// Helpers

/// Whether libpcap is there; prints why a test is skipped when it is not.
fn libpcap_or_skip(test: &str) -> bool {
    match libpcap_version() {
        Ok(_) => true,
        Err(e) => {
            podwire_lab::skip::skipped(test, &e.to_string());
            false
        }
    }
}

/// Whether tcpdump runs; prints the skip notice when it does not.
fn tcpdump_or_skip() -> Option<String> {
    match Command::new("tcpdump").arg("--version").output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            podwire_lab::skip::skipped("tcpdump comparison", "tcpdump not installed");
            None
        }
        Err(e) => panic!("cannot run tcpdump: {e}"),
    }
}

/// A pcap file with no packets: just the global header, which is all
/// `tcpdump -r` needs to know the link type and snap length.
struct EmptyPcap(PathBuf);

impl EmptyPcap {
    fn new(linktype: u32, snaplen: u32) -> Self {
        let path = std::env::temp_dir().join(format!(
            "podwire-pcap-filter-{}-{linktype}-{snaplen}-{:?}.pcap",
            std::process::id(),
            std::thread::current().id(),
        ));
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&linktype.to_le_bytes());
        std::fs::write(&path, header).expect("write pcap");
        Self(path)
    }
}

impl Drop for EmptyPcap {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The program `tcpdump -dd` prints for `expr`, or its error message.
///
/// With `-r`, tcpdump takes the snap length from the file's header and
/// ignores `-s`; both are given so the two always agree.
fn tcpdump_dd(pcap: &Path, snaplen: u32, expr: &str) -> Result<Vec<Insn>, String> {
    let out = Command::new("tcpdump")
        .arg("-dd")
        .arg("-s")
        .arg(snaplen.to_string())
        .arg("-r")
        .arg(pcap)
        .arg("--")
        .arg(expr)
        .output()
        .expect("run tcpdump");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // The last line is `tcpdump: <libpcap's message>`.
        let last = stderr.lines().last().unwrap_or_default();
        return Err(last.strip_prefix("tcpdump: ").unwrap_or(last).to_owned());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout
        .lines()
        .map(|line| parse_dd_line(line).unwrap_or_else(|| panic!("tcpdump -dd line {line:?}")))
        .collect())
}

/// Parses `{ 0x28, 0, 0, 0x0000000c },`.
fn parse_dd_line(line: &str) -> Option<Insn> {
    let inner = line.trim().strip_prefix('{')?.strip_suffix("},")?;
    let fields: Vec<&str> = inner.split(',').map(str::trim).collect();
    let [code, jt, jf, k] = fields[..] else {
        return None;
    };
    let hex = |s: &str| u32::from_str_radix(s.strip_prefix("0x")?, 16).ok();
    Some(Insn {
        code: u16::try_from(hex(code)?).ok()?,
        jt: jt.parse().ok()?,
        jf: jf.parse().ok()?,
        k: hex(k)?,
    })
}

fn c_array(insns: &[Insn]) -> String {
    Program::from_insns(insns.to_vec()).to_c_array()
}

/// Tiny deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------
// Frames, built field by field

const MAC_A: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
const MAC_B: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x03];
const MAC_C: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const BROADCAST: [u8; 6] = [0xff; 6];

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn ether(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn vlan(id: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut tagged = id.to_be_bytes().to_vec(); // priority 0, DEI 0
    tagged.extend_from_slice(&ethertype.to_be_bytes());
    tagged.extend_from_slice(payload);
    ether(MAC_B, MAC_A, 0x8100, &tagged)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(20 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]); // id, DF, ttl
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn ipv6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(payload);
    p
}

fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&1000u32.to_be_bytes()); // seq
    s.extend_from_slice(&0u32.to_be_bytes()); // ack
    s.extend_from_slice(&[0x50, flags]); // data offset 5 words
    s.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
    s.extend_from_slice(payload);
    s
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// One frame and what a capture saw of it.
struct Sample {
    name: &'static str,
    bytes: Vec<u8>,
    wire_len: u32,
}

fn samples() -> Vec<Sample> {
    let syn443 = ether(
        MAC_B,
        MAC_A,
        0x0800,
        &ipv4(
            [192, 168, 1, 10],
            [93, 184, 216, 34],
            6,
            &tcp(40000, 443, SYN, &[]),
        ),
    );
    let arp_payload = {
        let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1]; // Ethernet/IPv4, request
        a.extend_from_slice(&MAC_C);
        a.extend_from_slice(&[10, 0, 0, 7]);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&[10, 0, 0, 1]);
        a
    };
    let icmp_echo = {
        let mut i = vec![8, 0, 0, 0, 0, 1, 0, 1];
        i.extend_from_slice(&[0xab; 32]);
        i
    };
    let frames: Vec<(&'static str, Vec<u8>)> = vec![
        ("syn443", syn443.clone()),
        (
            "synack443",
            ether(
                MAC_A,
                MAC_B,
                0x0800,
                &ipv4(
                    [93, 184, 216, 34],
                    [192, 168, 1, 10],
                    6,
                    &tcp(443, 40000, SYN | ACK, &[]),
                ),
            ),
        ),
        (
            "dns",
            ether(
                MAC_B,
                MAC_A,
                0x0800,
                &ipv4(
                    [10, 0, 0, 5],
                    [10, 0, 0, 53],
                    17,
                    &udp(5353, 53, &[0x11; 30]),
                ),
            ),
        ),
        (
            "dns_from_10.0.0.1",
            ether(
                MAC_B,
                MAC_A,
                0x0800,
                &ipv4(
                    [10, 0, 0, 1],
                    [10, 0, 0, 53],
                    17,
                    &udp(33000, 53, &[0x22; 30]),
                ),
            ),
        ),
        (
            "ping",
            ether(
                MAC_B,
                MAC_A,
                0x0800,
                &ipv4([192, 168, 1, 10], [8, 8, 8, 8], 1, &icmp_echo),
            ),
        ),
        (
            "big_udp",
            ether(
                MAC_B,
                MAC_A,
                0x0800,
                &ipv4(
                    [172, 16, 5, 4],
                    [172, 16, 5, 5],
                    17,
                    &udp(9000, 9001, &[0; 1400]),
                ),
            ),
        ),
        (
            "v6_tcp443",
            ether(
                MAC_B,
                MAC_A,
                0x86dd,
                &ipv6(
                    "fd00:88::10",
                    "fd00:88::11",
                    6,
                    &tcp(50000, 443, ACK, &[0x33; 100]),
                ),
            ),
        ),
        ("arp", ether(BROADCAST, MAC_C, 0x0806, &arp_payload)),
        (
            "vlan100_tcp80",
            vlan(
                100,
                0x0800,
                &ipv4(
                    [192, 168, 1, 10],
                    [192, 168, 1, 20],
                    6,
                    &tcp(41000, 80, SYN, &[]),
                ),
            ),
        ),
    ];
    let mut out: Vec<Sample> = frames
        .into_iter()
        .map(|(name, bytes)| Sample {
            name,
            wire_len: bytes.len() as u32,
            bytes,
        })
        .collect();
    // The SYN cut after the TCP source port: a capture with a tiny snap
    // length, or a damaged frame. The wire length is still the whole frame.
    out.push(Sample {
        name: "syn443_truncated",
        wire_len: syn443.len() as u32,
        bytes: syn443[..14 + 20 + 2].to_vec(),
    });
    out
}

// ---------------------------------------------------------------------------
// Loading

#[test]
fn libpcap_loads_when_required() {
    let required = std::env::var_os("PODWIRE_REQUIRE_LIBPCAP").is_some();
    match libpcap_version() {
        Ok(version) => eprintln!("loaded {version}"),
        Err(e) if required => panic!("PODWIRE_REQUIRE_LIBPCAP is set: {e}"),
        Err(e) => podwire_lab::skip::skipped("libpcap", &format!("libpcap not loadable: {e}")),
    }
    assert_eq!(available(), libpcap_version().is_ok());
}

#[test]
fn unavailable_message_names_libraries_and_package() {
    let e = match open_libpcap() {
        // Loading again is harmless (dlopen counts references); when it
        // works, check the message with a made-up failure instead.
        Ok(_) => FilterError::Unavailable(format!(
            "tried {}",
            LIBPCAP_NAMES.map(|n| format!("{n}: not found")).join("; ")
        )),
        Err(why) => FilterError::Unavailable(why),
    };
    let text = e.to_string();
    for name in LIBPCAP_NAMES {
        assert!(text.contains(name), "{text}");
    }
    assert!(
        text.contains("install libpcap (Debian: libpcap0.8)"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Compilation against tcpdump

/// Expressions whose programs must be exactly tcpdump's, on Ethernet.
const ETHERNET_EXPRESSIONS: &[&str] = &[
    "",
    "  \t ",
    "tcp port 443",
    "port 53",
    "udp port 53 and not host 10.0.0.1",
    "host 10.0.0.1",
    "src host 192.168.1.10 and dst net 10.0.0.0/8",
    "net 172.16.0.0/12",
    "net 10.1.0.0 mask 255.255.0.0",
    "ip host 10.0.0.1",
    "ip6 host fd00:88::10",
    "host ::1",
    "ip6 net fd00:88::/64",
    "dst net 2001:db8::/32 and tcp",
    "portrange 8000-8080",
    "tcp dst portrange 1-1023",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[13] = 0x12",
    "vlan",
    "vlan 100",
    "vlan 100 and tcp port 80",
    "vlan and vlan 200 and ip6",
    "icmp",
    "icmp[icmptype] == icmp-echo",
    "icmp6",
    "ip6",
    "ip6 and tcp port 443",
    "arp",
    "arp or rarp",
    "greater 100",
    "less 64",
    "len > 1500",
    "ether host 02:42:ac:11:00:02",
    "ether src 02:42:ac:11:00:02 or ether broadcast",
    "ether proto 0x88cc",
    "ip[2:2] > 576",
    "ip[6:2] & 0x1fff != 0",
    "ip proto 47",
    "sctp",
    "ip multicast or ip6 multicast",
    "mpls 1024",
    "pppoes and ip",
    "(tcp port 80 or tcp port 8080) and not (src net 10.0.0.0/8 or dst host 192.168.0.1)",
    "ip and (tcp or udp) and not port 22",
    "tcp port 443 or (udp port 443 and ip6)",
    "not (arp or icmp or icmp6)",
];

/// Link-layer independent expressions, for the other link types.
const OTHER_LINK_EXPRESSIONS: &[&str] = &[
    "",
    "tcp port 443",
    "udp port 53 and not host 10.0.0.1",
    "ip6 net fd00:88::/64",
    "ip[2:2] > 576",
    "greater 100",
];

#[test]
fn agrees_with_tcpdump() {
    if !libpcap_or_skip("agrees_with_tcpdump") {
        return;
    }
    let Some(tcpdump_version) = tcpdump_or_skip() else {
        return;
    };
    let ours = libpcap_version().unwrap();
    eprintln!(
        "ours: {ours}; tcpdump: {}",
        tcpdump_version.replace('\n', "; ")
    );

    let mut cases: Vec<(u32, u32, &str)> = Vec::new();
    for snaplen in [MAX_SNAPLEN, 96] {
        cases.extend(
            ETHERNET_EXPRESSIONS
                .iter()
                .map(|e| (LINKTYPE_ETHERNET, snaplen, *e)),
        );
    }
    for linktype in [LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2] {
        cases.extend(OTHER_LINK_EXPRESSIONS.iter().map(|e| (linktype, 65535, *e)));
    }

    let mut mismatches = Vec::new();
    for (linktype, snaplen, expr) in cases {
        let pcap = EmptyPcap::new(linktype, snaplen);
        let want = tcpdump_dd(&pcap.0, snaplen, expr)
            .unwrap_or_else(|e| panic!("tcpdump rejects {expr:?} (linktype {linktype}): {e}"));
        assert!(!want.is_empty(), "tcpdump printed nothing for {expr:?}");
        let got =
            compile(expr, linktype, snaplen).unwrap_or_else(|e| panic!("linktype {linktype}: {e}"));
        if got.insns() != want {
            mismatches.push(format!(
                "{expr:?} (linktype {linktype}, snaplen {snaplen}):\n\
                 tcpdump:\n{}ours:\n{}",
                c_array(&want),
                got.to_c_array()
            ));
        }
        // The empty filter, and only it, keeps everything.
        assert_eq!(got.accepts_all(), expr.trim().is_empty(), "{expr:?}");
    }
    assert!(
        mismatches.is_empty(),
        "{} programs differ from tcpdump's (ours: {ours}):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn snap_length_zero_and_oversized_mean_the_maximum() {
    if !libpcap_or_skip("snap_length_zero_and_oversized_mean_the_maximum") {
        return;
    }
    let accept_all = |snaplen| compile("", LINKTYPE_ETHERNET, snaplen).unwrap();
    let want = Program::from_insns(vec![Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: MAX_SNAPLEN,
    }]);
    assert_eq!(accept_all(0), want);
    assert_eq!(accept_all(u32::MAX), want);
    assert_eq!(accept_all(MAX_SNAPLEN + 1), want);
    assert_eq!(accept_all(1500).insns()[0].k, 1500);
}

/// Each invalid expression, and the message libpcap gives for it.
const INVALID: &[(&str, &str)] = &[
    ("tcp port", "syntax error"),
    ("host 999.1.1.1", "999.1.1.1"),
    ("foo bar", "syntax error"),
    ("port 70000", "70000"),
    ("(tcp port 80", "syntax error"),
    ("tcp port 80)", "syntax error"),
    ("ip[2:3] > 1", "data size"),
    ("ether host 02:42:ac", "bogus ethernet address"),
];

#[test]
fn invalid_expressions_give_libpcaps_message() {
    if !libpcap_or_skip("invalid_expressions_give_libpcaps_message") {
        return;
    }
    // tcpdump, when present, must refuse them with the same words.
    let tcpdump = tcpdump_or_skip().map(|_| EmptyPcap::new(LINKTYPE_ETHERNET, MAX_SNAPLEN));
    for &(expr, fragment) in INVALID {
        let err = compile(expr, LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap_err();
        let FilterError::Invalid { expr: e, message } = &err else {
            panic!("{expr:?}: {err:?}");
        };
        assert_eq!(e, expr);
        assert!(message.contains(fragment), "{expr:?}: {message}");
        assert_eq!(
            err.to_string(),
            format!("invalid capture filter {expr:?}: {message}")
        );
        if let Some(pcap) = &tcpdump {
            let theirs = tcpdump_dd(&pcap.0, MAX_SNAPLEN, expr).unwrap_err();
            assert_eq!(message, &theirs, "{expr:?}");
        }
    }
}

#[test]
fn netmask_is_unknown_so_ip_broadcast_is_refused() {
    if !libpcap_or_skip("netmask_is_unknown_so_ip_broadcast_is_refused") {
        return;
    }
    let err = compile("ip broadcast", LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap_err();
    assert!(
        matches!(&err, FilterError::Invalid { message, .. } if message.contains("netmask")),
        "{err:?}"
    );
    // Ethernet broadcast needs no netmask.
    compile("ether broadcast", LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap();
}

#[test]
fn link_types_without_filters_are_not_the_expressions_fault() {
    if !libpcap_or_skip("link_types_without_filters_are_not_the_expressions_fault") {
        return;
    }
    for expr in ["", "tcp port 443"] {
        let err = compile(expr, 999, MAX_SNAPLEN).unwrap_err();
        assert!(
            matches!(&err, FilterError::LinkType { linktype: 999, message }
                if message.contains("unknown data link type")),
            "{expr:?}: {err:?}"
        );
    }
    // A link type libpcap knows but cannot look inside: only the expression
    // is wrong.
    compile("", 147, MAX_SNAPLEN).unwrap();
    let err = compile("tcp", 147, MAX_SNAPLEN).unwrap_err();
    assert!(matches!(err, FilterError::Invalid { .. }), "{err:?}");
}

#[test]
fn blank_expressions_keep_everything_even_without_libpcap() {
    // libpcap's answer when it is loaded, podwire's copy of it when not.
    for expr in ["", " ", "\t\r\n "] {
        let prog = compile(expr, LINKTYPE_ETHERNET, 96).unwrap();
        assert_eq!(
            prog.insns(),
            [Insn {
                code: RET_K,
                jt: 0,
                jf: 0,
                k: 96
            }],
            "{expr:?}"
        );
        assert!(prog.accepts_all());
    }
    if !available() {
        // Anything else needs libpcap.
        let err = compile("tcp", LINKTYPE_ETHERNET, 96).unwrap_err();
        assert!(matches!(err, FilterError::Unavailable(_)), "{err:?}");
    }
}

#[test]
fn refuses_before_calling_libpcap() {
    // No libpcap needed: these never reach it.
    let err = compile("tcp\0 port 80", LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap_err();
    assert!(matches!(err, FilterError::Nul { offset: 3 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "capture filter contains a NUL byte at byte 3"
    );

    let long = "tcp ".repeat(MAX_EXPR_LEN / 4) + "x";
    let err = compile(&long, LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap_err();
    assert!(
        matches!(err, FilterError::ExpressionTooLong { len } if len == MAX_EXPR_LEN + 1),
        "{err:?}"
    );
}

#[test]
fn programs_longer_than_the_kernel_takes_are_refused() {
    if !libpcap_or_skip("programs_longer_than_the_kernel_takes_are_refused") {
        return;
    }
    // Each `ip host` costs about two instructions, more once jumps need
    // `ja` trampolines: 1000 hosts fit, 1100 do not.
    let hosts = |n: u32| {
        (0..n)
            .map(|i| format!("ip host 10.{}.{}.1", i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let fits = compile(&hosts(1000), LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap();
    assert!(
        (3000..=MAX_INSNS).contains(&fits.insns().len()),
        "{}",
        fits.insns().len()
    );
    let expr = hosts(1100);
    assert!(expr.len() <= MAX_EXPR_LEN);
    match compile(&expr, LINKTYPE_ETHERNET, MAX_SNAPLEN) {
        Err(FilterError::ProgramTooLong { len, .. }) => assert!(len > MAX_INSNS, "{len}"),
        other => panic!("{:?}", other.map(|p| p.insns().len())),
    }
}

#[test]
fn compiles_concurrently() {
    if !libpcap_or_skip("compiles_concurrently") {
        return;
    }
    let exprs = [
        "tcp port 443",
        "vlan 100 and udp",
        "ip6 net fd00::/8",
        "foo bar",
    ];
    let want: Vec<_> = exprs
        .iter()
        .map(|e| compile(e, LINKTYPE_ETHERNET, 1500).map_err(|e| e.to_string()))
        .collect();
    std::thread::scope(|s| {
        for t in 0..8 {
            let want = &want;
            s.spawn(move || {
                for round in 0..50 {
                    let i = (t + round) % exprs.len();
                    let got = compile(exprs[i], LINKTYPE_ETHERNET, 1500).map_err(|e| e.to_string());
                    assert_eq!(got, want[i], "{}", exprs[i]);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------
// Compiled programs on packets

/// Expression, and the samples it must keep (every other sample is dropped).
const TRUTH: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "syn443",
            "synack443",
            "dns",
            "dns_from_10.0.0.1",
            "ping",
            "big_udp",
            "v6_tcp443",
            "arp",
            "vlan100_tcp80",
            "syn443_truncated",
        ],
    ),
    ("tcp port 443", &["syn443", "synack443", "v6_tcp443"]),
    ("tcp dst port 443", &["syn443", "v6_tcp443"]),
    ("tcp[tcpflags] & tcp-syn != 0", &["syn443", "synack443"]),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", &["syn443"]),
    ("udp port 53", &["dns", "dns_from_10.0.0.1"]),
    ("udp port 53 and not host 10.0.0.1", &["dns"]),
    // `host` without `ip` also matches ARP about that host.
    ("host 10.0.0.1", &["dns_from_10.0.0.1", "arp"]),
    ("ip host 10.0.0.1", &["dns_from_10.0.0.1"]),
    ("net 10.0.0.0/24", &["dns", "dns_from_10.0.0.1", "arp"]),
    (
        "ip",
        &[
            "syn443",
            "synack443",
            "dns",
            "dns_from_10.0.0.1",
            "ping",
            "big_udp",
            "syn443_truncated",
        ],
    ),
    ("ip6", &["v6_tcp443"]),
    ("ip6 net fd00:88::/64 and tcp", &["v6_tcp443"]),
    ("arp", &["arp"]),
    ("icmp", &["ping"]),
    ("icmp[icmptype] == icmp-echo", &["ping"]),
    ("vlan", &["vlan100_tcp80"]),
    ("vlan 100 and tcp port 80", &["vlan100_tcp80"]),
    ("vlan 200", &[]),
    // Without `vlan`, offsets assume an untagged frame.
    ("tcp port 80", &[]),
    ("portrange 9000-9500", &["big_udp"]),
    ("ip[2:2] > 576", &["big_udp"]),
    ("ether host 52:54:00:12:34:56", &["arp"]),
    ("ether broadcast", &["arp"]),
    // `greater`/`less` test the wire length, not what was captured.
    ("greater 100", &["big_udp", "v6_tcp443"]),
    (
        "less 60",
        &[
            "syn443",
            "synack443",
            "arp",
            "vlan100_tcp80",
            "syn443_truncated",
        ],
    ),
    // An IPv6 packet has no IPv4 source, so `not src net <v4>` holds for it.
    (
        "(tcp port 80 or tcp port 443) and not src net 93.184.216.0/24",
        &["syn443", "v6_tcp443"],
    ),
];

#[test]
fn compiled_programs_keep_the_right_packets() {
    if !libpcap_or_skip("compiled_programs_keep_the_right_packets") {
        return;
    }
    let samples = samples();
    for name in TRUTH.iter().flat_map(|(_, keep)| keep.iter()) {
        assert!(samples.iter().any(|s| s.name == *name), "no sample {name}");
    }
    for &(expr, keep) in TRUTH {
        let prog = compile(expr, LINKTYPE_ETHERNET, 1500).unwrap();
        for s in &samples {
            let got = run(&prog, &s.bytes, s.wire_len);
            let want = if keep.contains(&s.name) { 1500 } else { 0 };
            assert_eq!(got, want, "{expr:?} on {}:\n{}", s.name, prog.to_c_array());
        }
    }
}

// ---------------------------------------------------------------------------
// The interpreter against the kernel

/// What the kernel makes of `packet` with `prog` as a socket filter: how
/// many bytes it delivers (None: dropped), or None overall when it refuses
/// the program. A datagram on an AF_UNIX socket pair goes through the same
/// sk_filter as a frame on a packet socket, and needs no privileges.
fn kernel_run(prog: &[libc::sock_filter], packet: &[u8]) -> Option<Option<usize>> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    let (tx, rx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).ok()?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points to `prog.len()` instructions that outlive the
    // call; the kernel copies them.
    let rc = unsafe {
        libc::setsockopt(
            rx.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EINVAL),
            "SO_ATTACH_FILTER: {err}"
        );
        return None;
    }
    // SAFETY: `packet` is readable for its length.
    let sent = unsafe { libc::send(tx.as_raw_fd(), packet.as_ptr().cast(), packet.len(), 0) };
    assert_eq!(
        sent,
        packet.len() as isize,
        "send: {}",
        io::Error::last_os_error()
    );
    let mut buf = vec![0u8; packet.len() + 1];
    // SAFETY: `buf` is writable for its length. The datagram, if the filter
    // let it through, was queued during send.
    let got = unsafe {
        libc::recv(
            rx.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if got < 0 {
        let err = io::Error::last_os_error();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "recv: {err}");
        return Some(None);
    }
    Some(Some(got as usize))
}

/// What `run` says the kernel delivers: the packet cut to the return value.
fn interpreted(prog: &Program, packet: &[u8]) -> Option<usize> {
    match run(prog, packet, packet.len() as u32) {
        0 => None,
        keep => Some(packet.len().min(keep as usize)),
    }
}

#[test]
fn compiled_programs_agree_with_the_kernel() {
    if !libpcap_or_skip("compiled_programs_agree_with_the_kernel") {
        return;
    }
    let mut packets: Vec<Vec<u8>> = samples().into_iter().map(|s| s.bytes).collect();
    // Frames cut at every length exercise every out-of-bounds load.
    let cut: Vec<Vec<u8>> = packets
        .iter()
        .flat_map(|p| (1..p.len().min(80)).map(move |n| p[..n].to_vec()))
        .collect();
    packets.extend(cut);
    let mut checked = 0;
    for &(expr, _) in TRUTH {
        for snaplen in [1500, 40] {
            let prog = compile(expr, LINKTYPE_ETHERNET, snaplen).unwrap();
            let filters = prog.to_sock_filters();
            for p in &packets {
                let kernel = kernel_run(&filters, p)
                    .unwrap_or_else(|| panic!("kernel refuses {expr:?}:\n{}", prog.to_c_array()));
                assert_eq!(interpreted(&prog, p), kernel, "{expr:?} on {p:02x?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

/// A random program the kernel will mostly accept: valid opcodes, jumps
/// within the program, a `ret` at the end.
fn random_program(rng: &mut Rng) -> Vec<Insn> {
    let len = 1 + rng.below(40) as usize;
    let mut insns = Vec::with_capacity(len);
    for at in 0..len - 1 {
        let after = (len - at - 1) as u64; // instructions after this one
        let small = |rng: &mut Rng| rng.below(70) as u32;
        let (code, jt, jf, k) = match rng.below(16) {
            0 => (
                [LD_W_ABS, LD_H_ABS, LD_B_ABS][rng.below(3) as usize],
                0,
                0,
                small(rng),
            ),
            1 => (
                [LD_W_IND, LD_H_IND, LD_B_IND][rng.below(3) as usize],
                0,
                0,
                small(rng),
            ),
            2 => (LDX_MSH, 0, 0, small(rng)),
            3 => (
                [LD_IMM, LDX_IMM][rng.below(2) as usize],
                0,
                0,
                match rng.below(3) {
                    0 => small(rng),
                    1 => rng.u32(),
                    _ => u32::MAX - small(rng),
                },
            ),
            4 => ([LD_LEN, LDX_LEN, TAX, TXA][rng.below(4) as usize], 0, 0, 0),
            5 => ([ST, STX][rng.below(2) as usize], 0, 0, rng.below(16) as u32),
            6 => (
                [LD_MEM, LDX_MEM][rng.below(2) as usize],
                0,
                0,
                rng.below(16) as u32,
            ),
            7..=10 => {
                let op = [
                    0x00u16, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0,
                ][rng.below(11) as usize];
                let use_x = op != 0x80 && rng.below(2) == 0;
                let k = match op {
                    0x30 | 0x90 => 1 + rng.below(300) as u32,
                    0x60 | 0x70 => rng.below(32) as u32,
                    _ => rng.u32() >> rng.below(32),
                };
                (CLASS_ALU | op | if use_x { SRC_X } else { 0 }, 0, 0, k)
            }
            11..=13 => {
                let target = |rng: &mut Rng| rng.below(after.min(256)) as u8;
                let op = [0x10u16, 0x20, 0x30, 0x40][rng.below(4) as usize];
                let src = if rng.below(2) == 0 { SRC_X } else { 0 };
                let k = if rng.below(2) == 0 {
                    small(rng)
                } else {
                    rng.u32()
                };
                (CLASS_JMP | op | src, target(rng), target(rng), k)
            }
            14 => (CLASS_JMP, 0, 0, rng.below(after) as u32),
            _ => (
                [RET_K, RET_A][rng.below(2) as usize],
                0,
                0,
                rng.u32() >> rng.below(32),
            ),
        };
        insns.push(Insn { code, jt, jf, k });
    }
    let code = [RET_K, RET_A][rng.below(2) as usize];
    insns.push(Insn {
        code,
        jt: 0,
        jf: 0,
        k: rng.u32() >> rng.below(32),
    });
    insns
}

#[test]
fn interpreter_agrees_with_the_kernel_on_random_programs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let frames: Vec<Vec<u8>> = samples().into_iter().map(|s| s.bytes).collect();
    let (mut programs, mut pairs, mut refused) = (0, 0, 0);
    for _ in 0..3000 {
        let prog = Program::from_insns(random_program(&mut rng));
        let filters = prog.to_sock_filters();
        let mut ran = false;
        for _ in 0..4 {
            let packet = if rng.below(2) == 0 {
                let f = &frames[rng.below(frames.len() as u64) as usize];
                f[..1 + rng.below(f.len() as u64) as usize].to_vec()
            } else {
                let len = 1 + rng.below(90) as usize;
                rng.bytes(len)
            };
            match kernel_run(&filters, &packet) {
                None => {
                    refused += 1;
                    break;
                }
                Some(kernel) => {
                    ran = true;
                    pairs += 1;
                    assert_eq!(
                        interpreted(&prog, &packet),
                        kernel,
                        "on {packet:02x?}:\n{}",
                        prog.to_c_array()
                    );
                }
            }
        }
        programs += usize::from(ran);
    }
    eprintln!("kernel ran {programs} programs on {pairs} packets, refused {refused} programs");
    // The generator must mostly produce programs the kernel runs (it refuses
    // e.g. reads of scratch memory not written on every path), or this test
    // checks little.
    assert!(programs >= 1000, "ran {programs}, refused {refused}");
}

// ---------------------------------------------------------------------------
// The interpreter on its own

fn i(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

fn run_insns(insns: &[Insn], packet: &[u8]) -> u32 {
    run(
        &Program::from_insns(insns.to_vec()),
        packet,
        packet.len() as u32,
    )
}

#[test]
fn alu_operations() {
    // A = 100, X = 7, then A op= k and A op= X.
    let cases: &[(u16, u32, u32, u32)] = &[
        // op, k, A op k, A op X
        (0x00, 5, 105, 107),
        (0x10, 5, 95, 93),
        (0x20, 3, 300, 700),
        (0x30, 7, 14, 14),
        (0x40, 3, 103, 103),
        (0x50, 0x24, 0x24, 4),
        (0x60, 2, 400, 12800),
        (0x70, 2, 25, 0),
        (0x90, 7, 2, 2),
        (0xa0, 0xff, 0x9b, 99),
    ];
    for &(op, k, with_k, with_x) in cases {
        let prog = |src: u16| {
            [
                i(LD_IMM, 0, 0, 100),
                i(LDX_IMM, 0, 0, 7),
                i(CLASS_ALU | op | src, 0, 0, k),
                i(RET_A, 0, 0, 0),
            ]
        };
        assert_eq!(run_insns(&prog(0), &[]), with_k, "op {op:#x} k");
        assert_eq!(run_insns(&prog(SRC_X), &[]), with_x, "op {op:#x} x");
    }
    let neg = [
        i(LD_IMM, 0, 0, 5),
        i(CLASS_ALU | 0x80, 0, 0, 0),
        i(RET_A, 0, 0, 0),
    ];
    assert_eq!(run_insns(&neg, &[]), 5u32.wrapping_neg());
    // Wrapping, and shift counts taken modulo 32.
    let wrap = [
        i(LD_IMM, 0, 0, u32::MAX),
        i(CLASS_ALU, 0, 0, 2),
        i(RET_A, 0, 0, 0),
    ];
    assert_eq!(run_insns(&wrap, &[]), 1);
    let shift = [
        i(LD_IMM, 0, 0, 1),
        i(LDX_IMM, 0, 0, 33),
        i(CLASS_ALU | 0x60 | SRC_X, 0, 0, 0),
        i(RET_A, 0, 0, 0),
    ];
    assert_eq!(run_insns(&shift, &[]), 2);
}

#[test]
fn division_by_zero_drops() {
    for op in [0x30, 0x90] {
        let by_x = [
            i(LD_IMM, 0, 0, 10),
            i(CLASS_ALU | op | SRC_X, 0, 0, 0),
            i(RET_K, 0, 0, 1),
        ];
        assert_eq!(run_insns(&by_x, &[]), 0, "op {op:#x} by X");
        let by_k = [
            i(LD_IMM, 0, 0, 10),
            i(CLASS_ALU | op, 0, 0, 0),
            i(RET_K, 0, 0, 1),
        ];
        assert_eq!(run_insns(&by_k, &[]), 0, "op {op:#x} by k");
    }
}

#[test]
fn loads() {
    let packet = [0x12, 0x34, 0x56, 0x78, 0x9a, 0x45];
    let ret_a = i(RET_A, 0, 0, 0);
    assert_eq!(
        run_insns(&[i(LD_W_ABS, 0, 0, 1), ret_a], &packet),
        0x3456_789a
    );
    assert_eq!(run_insns(&[i(LD_H_ABS, 0, 0, 4), ret_a], &packet), 0x9a45);
    assert_eq!(run_insns(&[i(LD_B_ABS, 0, 0, 5), ret_a], &packet), 0x45);
    // Indirect: X + k.
    let ind = |code, k| [i(LDX_IMM, 0, 0, 2), i(code, 0, 0, k), ret_a];
    assert_eq!(run_insns(&ind(LD_W_IND, 0), &packet), 0x5678_9a45);
    assert_eq!(run_insns(&ind(LD_H_IND, 1), &packet), 0x789a);
    assert_eq!(run_insns(&ind(LD_B_IND, 3), &packet), 0x45);
    // msh: 4 * low nibble, the IPv4 header length idiom.
    let msh = [i(LDX_MSH, 0, 0, 5), i(TXA, 0, 0, 0), ret_a];
    assert_eq!(run_insns(&msh, &packet), 20);
    // len is the wire length, loads are bounded by the captured bytes.
    let len = Program::from_insns(vec![i(LD_LEN, 0, 0, 0), ret_a]);
    assert_eq!(run(&len, &packet, 1514), 1514);
    let len_x = Program::from_insns(vec![i(LDX_LEN, 0, 0, 0), i(TXA, 0, 0, 0), ret_a]);
    assert_eq!(run(&len_x, &packet, 60), 60);
    // Out of bounds, by one byte or by wrapping, drops.
    let accept = i(RET_K, 0, 0, 1);
    for (code, k) in [(LD_W_ABS, 3), (LD_H_ABS, 5), (LD_B_ABS, 6), (LDX_MSH, 6)] {
        assert_eq!(
            run_insns(&[i(code, 0, 0, k), accept], &packet),
            0,
            "{code:#x} {k}"
        );
        assert_eq!(
            run_insns(&[i(code, 0, 0, k - 1), accept], &packet),
            1,
            "{code:#x} {k}"
        );
    }
    for k in [u32::MAX, 0xffff_f000, 0x8000_0000] {
        assert_eq!(run_insns(&[i(LD_B_ABS, 0, 0, k), accept], &packet), 0);
    }
    let wrapped = [i(LDX_IMM, 0, 0, u32::MAX), i(LD_B_IND, 0, 0, 2), ret_a];
    assert_eq!(run_insns(&wrapped, &packet), 0x34, "X + k wraps to 1");
    let negative = [i(LDX_IMM, 0, 0, u32::MAX), i(LD_B_IND, 0, 0, 0), accept];
    assert_eq!(run_insns(&negative, &packet), 0, "X + k = -1");
}

#[test]
fn scratch_memory_and_registers() {
    let prog = [
        i(LD_IMM, 0, 0, 11),
        i(ST, 0, 0, 15),
        i(LDX_IMM, 0, 0, 22),
        i(STX, 0, 0, 0),
        i(LD_MEM, 0, 0, 0),            // A = 22
        i(LDX_MEM, 0, 0, 15),          // X = 11
        i(CLASS_ALU | SRC_X, 0, 0, 0), // A = 33
        i(TAX, 0, 0, 0),
        i(LD_IMM, 0, 0, 0),
        i(TXA, 0, 0, 0),
        i(RET_A, 0, 0, 0),
    ];
    assert_eq!(run_insns(&prog, &[]), 33);
    // Scratch memory has 16 words.
    for code in [LD_MEM, LDX_MEM, ST, STX] {
        assert_eq!(
            run_insns(&[i(code, 0, 0, 16), i(RET_K, 0, 0, 1)], &[]),
            0,
            "{code:#x}"
        );
    }
}

#[test]
fn jumps() {
    // A = 5, X = 5; each jump lands on `ret #1` when taken, `ret #2` when not.
    let cond = |code: u16, k: u32| {
        [
            i(LD_IMM, 0, 0, 5),
            i(LDX_IMM, 0, 0, 5),
            i(code, 1, 0, k),
            i(RET_K, 0, 0, 2),
            i(RET_K, 0, 0, 1),
        ]
    };
    let jmp = |op: u16| CLASS_JMP | op;
    let cases = [
        (jmp(0x10), 5, 1),
        (jmp(0x10), 6, 2),
        (jmp(0x20), 4, 1),
        (jmp(0x20), 5, 2),
        (jmp(0x30), 5, 1),
        (jmp(0x30), 6, 2),
        (jmp(0x40), 4, 1),
        (jmp(0x40), 2, 2),
        (jmp(0x40), 6, 1), // any common bit, not all of k
    ];
    for (code, k, want) in cases {
        assert_eq!(run_insns(&cond(code, k), &[]), want, "{code:#x} k={k}");
    }
    for op in [0x10, 0x30] {
        assert_eq!(run_insns(&cond(jmp(op) | SRC_X, 99), &[]), 1, "{op:#x} x");
    }
    assert_eq!(run_insns(&cond(jmp(0x20) | SRC_X, 0), &[]), 2);
    assert_eq!(run_insns(&cond(jmp(0x40) | SRC_X, 0), &[]), 1);
    // ja skips k instructions.
    let ja = [i(CLASS_JMP, 0, 0, 1), i(RET_K, 0, 0, 2), i(RET_K, 0, 0, 1)];
    assert_eq!(run_insns(&ja, &[]), 1);
    // Past the end, or off it without a ret: drop.
    assert_eq!(run_insns(&[i(CLASS_JMP, 0, 0, u32::MAX)], &[]), 0);
    assert_eq!(run_insns(&[i(jmp(0x10), 255, 255, 0)], &[]), 0);
    assert_eq!(run_insns(&[i(LD_IMM, 0, 0, 1)], &[]), 0);
    assert_eq!(run_insns(&[], &[]), 0);
}

#[test]
fn invalid_opcodes_drop() {
    for code in [
        0x08u16, 0x0e, 0x1e, 0x8c, 0x0d, 0xb0, 0xb4, 0x4f, 0xff, 0x1006, 0xffff,
    ] {
        let prog = [i(code, 0, 0, 0), i(RET_K, 0, 0, 1)];
        assert_eq!(run_insns(&prog, &[0; 64]), 0, "{code:#x}");
    }
}

#[test]
fn never_panics_on_random_programs_and_packets() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let valid = [
        LD_W_ABS, LD_H_ABS, LD_B_ABS, LD_W_IND, LD_H_IND, LD_B_IND, LD_IMM, LD_MEM, LD_LEN,
        LDX_IMM, LDX_MEM, LDX_LEN, LDX_MSH, ST, STX, RET_K, RET_A, TAX, TXA,
    ];
    for round in 0..100_000 {
        let len = rng.below(if round % 100 == 99 { 5000 } else { 64 }) as usize;
        let insns: Vec<Insn> = (0..len)
            .map(|_| {
                let code = match rng.below(4) {
                    0 => rng.next() as u16,
                    1 => rng.below(256) as u16,
                    2 => valid[rng.below(valid.len() as u64) as usize],
                    _ => {
                        [CLASS_ALU, CLASS_JMP][rng.below(2) as usize] | (rng.below(32) as u16) << 3
                    }
                };
                let k = match rng.below(3) {
                    0 => rng.below(80) as u32,
                    1 => u32::MAX - rng.below(80) as u32,
                    _ => rng.u32(),
                };
                i(code, rng.next() as u8, rng.next() as u8, k)
            })
            .collect();
        let packet_len = rng.below(120) as usize;
        let packet = rng.bytes(packet_len);
        let prog = Program::from_insns(insns);
        let _ = run(&prog, &packet, rng.u32());
        let _ = prog.to_sock_filters();
        let _ = prog.accepts_all();
    }
}

#[test]
fn compiled_programs_never_panic_on_random_packets() {
    if !libpcap_or_skip("compiled_programs_never_panic_on_random_packets") {
        return;
    }
    let progs: Vec<Program> = ETHERNET_EXPRESSIONS
        .iter()
        .map(|e| compile(e, LINKTYPE_ETHERNET, MAX_SNAPLEN).unwrap())
        .collect();
    let frames: Vec<Vec<u8>> = samples().into_iter().map(|s| s.bytes).collect();
    let mut rng = Rng(42);
    let mut kept = 0;
    for _ in 0..20_000 {
        // Real frames with a few bytes flipped, and plain noise.
        let mut packet = if rng.below(2) == 0 {
            frames[rng.below(frames.len() as u64) as usize].clone()
        } else {
            let len = rng.below(200) as usize;
            rng.bytes(len)
        };
        for _ in 0..rng.below(4) {
            if !packet.is_empty() {
                let at = rng.below(packet.len() as u64) as usize;
                packet[at] = rng.next() as u8;
            }
        }
        packet.truncate(rng.below(packet.len() as u64 + 1) as usize);
        for prog in &progs {
            if run(prog, &packet, rng.u32()) != 0 {
                kept += 1;
            }
        }
    }
    assert!(kept > 0);
}
