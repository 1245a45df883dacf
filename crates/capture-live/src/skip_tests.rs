//! [`Skip`]'s prefix run by an interpreter of the classic BPF it emits, with
//! the kernel's semantics for ancillary fields, `SKF_NET_OFF` and loads past
//! the end. The same prefix runs in a real kernel in `tests/live/ring.rs`.

use super::*;
use std::net::Ipv6Addr;

/// A frame as the filter sees it.
struct Frame {
    data: Vec<u8>,
    /// Where the IP header starts (the kernel's network header).
    net: usize,
    protocol: u32,
    hatype: u32,
    pkttype: u32,
}

const ARPHRD_ETHER: u32 = 1;
const ARPHRD_NONE: u32 = 0xfffe;
const PACKET_HOST: u32 = 0;

/// What the prefix did with a frame.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// `ret #k`.
    Ret(u32),
    /// A load past the end of the frame: the kernel ends the program and
    /// drops the frame.
    PastEnd,
    /// Fell through to the caller's program.
    Fell,
}

fn run(prog: &[libc::sock_filter], f: &Frame) -> Outcome {
    let (mut pc, mut a, mut x) = (0usize, 0xdead_beef_u32, 0xdead_beef_u32);
    let load = |off: u32, size: usize| -> Option<u32> {
        let off = off as i32;
        let at = if (libc::SKF_NET_OFF..libc::SKF_AD_OFF).contains(&off) {
            f.net as i64 + i64::from(off - libc::SKF_NET_OFF)
        } else {
            i64::from(off)
        };
        let at = usize::try_from(at).ok()?;
        let b = f.data.get(at..at.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |v, &x| (v << 8) | u32::from(x)))
    };
    macro_rules! ld {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => return Outcome::PastEnd,
            }
        };
    }
    while pc < prog.len() {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS if i.k == PROTOCOL => a = f.protocol,
            LD_W_ABS if i.k == PKTTYPE => a = f.pkttype,
            LD_W_ABS if i.k == HATYPE => a = f.hatype,
            LD_W_ABS => a = ld!(load(i.k, 4)),
            LD_H_ABS => a = ld!(load(i.k, 2)),
            LD_B_ABS => a = ld!(load(i.k, 1)),
            LD_H_IND => a = ld!(load(x.wrapping_add(i.k), 2)),
            LDX_B_MSH => x = 4 * (ld!(load(i.k, 1)) & 0xf),
            LD_IMM => a = i.k,
            LDX_IMM => x = i.k,
            JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
            JA => pc += i.k as usize,
            RET_K => return Outcome::Ret(i.k),
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
    assert_eq!(
        (a, x),
        (0, 0),
        "the caller's program starts with clear registers"
    );
    Outcome::Fell
}

fn verdict(prog: &[libc::sock_filter], f: &Frame) -> &'static str {
    match run(prog, f) {
        Outcome::Ret(0) => "drop",
        Outcome::Fell => "keep",
        other => panic!("the prefix drops with ret #0 or falls through, not {other:?}"),
    }
}

fn tcp(src: (IpAddr, u16), dst: (IpAddr, u16)) -> Frame {
    packet(src, dst, 6, 0)
}

/// Ethernet + IP (+ `opts` words of IPv4 options) + a TCP/UDP header.
fn packet(src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8, opts: usize) -> Frame {
    let mut d = vec![0u8; 12];
    let mut l4 = Vec::new();
    l4.extend_from_slice(&src.1.to_be_bytes());
    l4.extend_from_slice(&dst.1.to_be_bytes());
    l4.extend_from_slice(&[0; 16]);
    let protocol = match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            d.extend_from_slice(&[0x08, 0x00]);
            let ihl = 5 + opts as u8;
            d.extend_from_slice(&[0x40 | ihl, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0]);
            d.extend_from_slice(&s.octets());
            d.extend_from_slice(&t.octets());
            d.extend(std::iter::repeat_n(1u8, 4 * opts));
            ETH_P_IP
        }
        (IpAddr::V6(s), IpAddr::V6(t)) => {
            d.extend_from_slice(&[0x86, 0xdd]);
            d.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, proto, 64]);
            d.extend_from_slice(&s.octets());
            d.extend_from_slice(&t.octets());
            ETH_P_IPV6
        }
        _ => unreachable!("one family per packet"),
    };
    d.extend_from_slice(&l4);
    Frame {
        data: d,
        net: 14,
        protocol,
        hatype: ARPHRD_ETHER,
        pkttype: PACKET_HOST,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn own() -> Skip {
    Skip {
        loopback_outgoing: true,
        addrs: vec![ip("10.0.0.5"), ip("127.0.0.1"), ip("fd00::5")],
        ports: vec![6676],
    }
}

fn prefix(s: &Skip) -> Vec<libc::sock_filter> {
    s.prefix().expect("assembles")
}

#[test]
fn tcp_to_or_from_the_listed_sockets_is_dropped() {
    let p = prefix(&own());
    for (a, b) in [("10.0.0.5", "10.0.0.9"), ("127.0.0.1", "127.0.0.1")] {
        assert_eq!(
            verdict(&p, &tcp((ip(b), 40000), (ip(a), 6676))),
            "drop",
            "{a}"
        );
        assert_eq!(
            verdict(&p, &tcp((ip(a), 6676), (ip(b), 40000))),
            "drop",
            "{a}"
        );
        // Another port on the same address, the same port elsewhere.
        assert_eq!(verdict(&p, &tcp((ip(b), 40000), (ip(a), 80))), "keep");
        assert_eq!(verdict(&p, &tcp((ip(a), 40000), (ip(b), 80))), "keep");
    }
    assert_eq!(
        verdict(&p, &tcp((ip("10.0.0.9"), 40000), (ip("10.0.0.8"), 6676))),
        "keep",
        "a pod serving the same port number on its own address"
    );
    assert_eq!(
        verdict(&p, &tcp((ip("10.0.0.9"), 6676), (ip("10.0.0.5"), 40000))),
        "keep",
        "the port is the listed address's, not the peer's"
    );
}

#[test]
fn ipv6_is_tested_word_by_word() {
    let p = prefix(&own());
    let c = ip("fd00::9");
    assert_eq!(verdict(&p, &tcp((c, 1234), (ip("fd00::5"), 6676))), "drop");
    assert_eq!(verdict(&p, &tcp((ip("fd00::5"), 6676), (c, 1234))), "drop");
    // Differing in each word in turn.
    for w in 0..8 {
        let mut seg = Ipv6Addr::from(0xfd00_0000_0000_0000_0000_0000_0000_0005u128).segments();
        seg[w] ^= 0x10;
        let other = IpAddr::V6(Ipv6Addr::from(seg));
        assert_eq!(
            verdict(&p, &tcp((c, 1234), (other, 6676))),
            "keep",
            "segment {w}"
        );
    }
    // An extension header before TCP: not read, kept.
    let mut f = tcp((c, 1234), (ip("fd00::5"), 6676));
    f.data[14 + 6] = 0;
    assert_eq!(verdict(&p, &f), "keep");
}

#[test]
fn what_the_prefix_cannot_read_for_sure_is_kept() {
    let p = prefix(&own());
    let (me, you) = ((ip("10.0.0.5"), 6676), (ip("10.0.0.9"), 40000));
    assert_eq!(verdict(&p, &packet(you, me, 17, 0)), "keep", "UDP");
    let mut frag = tcp(you, me);
    frag.data[14 + 6..14 + 8].copy_from_slice(&[0x00, 0xb9]);
    assert_eq!(verdict(&p, &frag), "keep", "a later fragment");
    let mut vlan = tcp(you, me);
    vlan.protocol = 0x8100;
    assert_eq!(verdict(&p, &vlan), "keep", "an unstripped VLAN tag");
    // The first fragment (offset 0, more-fragments set) has the header.
    let mut first = tcp(you, me);
    first.data[14 + 6] = 0x20;
    assert_eq!(verdict(&p, &first), "drop");
}

#[test]
fn ports_are_read_after_ipv4_options() {
    let p = prefix(&own());
    let f = packet((ip("10.0.0.9"), 40000), (ip("10.0.0.5"), 6676), 6, 3);
    assert_eq!(verdict(&p, &f), "drop");
    let f = packet((ip("10.0.0.9"), 40000), (ip("10.0.0.5"), 6677), 6, 3);
    assert_eq!(verdict(&p, &f), "keep");
}

#[test]
fn no_link_header_is_read_at_the_network_offset() {
    let p = prefix(&own());
    let mut f = tcp((ip("10.0.0.9"), 40000), (ip("10.0.0.5"), 6676));
    f.data.drain(..14);
    f.net = 0;
    f.hatype = ARPHRD_NONE;
    assert_eq!(verdict(&p, &f), "drop");
}

#[test]
fn only_loopbacks_outgoing_copy_is_dropped() {
    let p = prefix(&own());
    let mut f = packet((ip("127.0.0.1"), 5000), (ip("127.0.0.1"), 53), 17, 0);
    f.hatype = ARPHRD_LOOPBACK;
    assert_eq!(verdict(&p, &f), "keep", "coming back in");
    f.pkttype = PACKET_OUTGOING;
    assert_eq!(verdict(&p, &f), "drop", "leaving");
    f.hatype = ARPHRD_ETHER;
    assert_eq!(verdict(&p, &f), "keep", "leaving on any other device");
    let p = prefix(&Skip {
        loopback_outgoing: false,
        ..own()
    });
    f.hatype = ARPHRD_LOOPBACK;
    assert_eq!(verdict(&p, &f), "keep", "not asked");
}

#[test]
fn the_largest_prefix_assembles_and_tests_exactly_its_addresses() {
    let v4: Vec<IpAddr> = (0..MAX_V4 as u32 + 5)
        .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
        .collect();
    let v6: Vec<IpAddr> = (0..MAX_V6 as u128 + 5)
        .map(|i| IpAddr::V6(Ipv6Addr::from((0xfd00u128 << 112) + i)))
        .collect();
    let skip = Skip {
        loopback_outgoing: true,
        addrs: v4.iter().chain(&v6).copied().collect(),
        ports: (1..=MAX_PORTS as u16 + 2).collect(),
    };
    let p = prefix(&skip);
    assert!(p.len() < 1024, "{} instructions", p.len());
    let peer4 = (ip("192.0.2.1"), 40000);
    let peer6 = (ip("2001:db8::1"), 40000);
    for (i, &a) in v4.iter().chain(&v6).enumerate() {
        let tested = if i < v4.len() {
            i < MAX_V4
        } else {
            i - v4.len() < MAX_V6
        };
        let peer = if a.is_ipv4() { peer4 } else { peer6 };
        for port in 1..=MAX_PORTS as u16 + 2 {
            let want = if tested && usize::from(port) <= MAX_PORTS {
                "drop"
            } else {
                "keep"
            };
            assert_eq!(verdict(&p, &tcp(peer, (a, port))), want, "{a} port {port}");
        }
    }
}

#[test]
fn an_empty_skip_leaves_the_program_alone() {
    let user = crate::filter::accept_all(96);
    assert!(Skip::default().is_empty());
    assert_eq!(Skip::default().wrap(&user).len(), 1);
    // Addresses without ports (or the reverse) test nothing either.
    let half = Skip {
        addrs: vec![ip("10.0.0.5")],
        ..Skip::default()
    };
    assert!(half.is_empty());
}

#[test]
fn a_program_too_long_for_both_keeps_what_fits() {
    let skip = own();
    let full = prefix(&skip).len();
    let lo = prefix(&skip.loopback_only()).len();
    let max = libc::BPF_MAXINSNS as usize;
    let user = vec![crate::filter::accept_all(96)[0]; max - full];
    assert_eq!(skip.wrap(&user).len(), max, "the whole prefix fits");
    let user = vec![user[0]; max - lo];
    assert_eq!(skip.wrap(&user).len(), max, "only loopback's test fits");
    let user = vec![user[0]; max];
    assert_eq!(
        skip.wrap(&user).len(),
        max,
        "nothing fits: the program alone"
    );
}
