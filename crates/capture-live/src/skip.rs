//! The kernel's share of leaving traffic out: a classic BPF prefix, in front
//! of a ring's own filter, that drops frames the agent would throw away
//! after decoding them anyway, before they cost ring space.
//!
//! Two kinds are dropped ([`Skip`]):
//!
//! - **Loopback's outgoing copy.** A packet socket sees every packet on
//!   `lo` twice, leaving and coming back; the copy coming back is kept, as
//!   libpcap does. Without this, loopback traffic takes twice its share of
//!   the ring.
//! - **TCP to or from chosen (address, port) pairs**: the agent's own API
//!   socket. A dashboard refreshing, Prometheus scraping, or a client
//!   hammering the API sends its packets through the same ring as the
//!   workloads'; on a busy node they could fill it and make the agent lose
//!   packets it is there to see. Dropping them after the ring is too late.
//!
//! Both repeat tests the agent makes after decoding, so the prefix fails
//! open: whatever it cannot read for sure (another ethertype, an IPv4
//! fragment, an IPv6 extension header, addresses beyond [`MAX_V4`] and
//! [`MAX_V6`]) goes on to the ring's own program, and the agent decides.
//!
//! The IP header is read at `SKF_NET_OFF`, the kernel's network header, so
//! one program serves Ethernet, loopback and link types without a link
//! header (tun, WireGuard) alike, and the ethertype is the `protocol`
//! ancillary field rather than a byte of the frame (VLAN tags the device
//! did not strip make it 0x8100: kept).
//!
//! A conditional jump in classic BPF reaches at most 255 instructions
//! ahead, so the program is written with labels ([`Asm`]): comparisons only
//! ever skip the one `ja` after them, and `ja` (32-bit offset) goes the
//! distance.

use std::net::IpAddr;

/// IPv4 addresses tested at most (a node has a few per interface); more are
/// left to the agent.
pub const MAX_V4: usize = 64;
/// IPv6 addresses tested at most (nine instructions each per direction).
pub const MAX_V6: usize = 16;
/// Ports tested at most.
pub const MAX_PORTS: usize = 4;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
const LDX_B_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const LD_IMM: u16 = (libc::BPF_LD | libc::BPF_IMM) as u16;
const LDX_IMM: u16 = (libc::BPF_LDX | libc::BPF_IMM) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const fn anc(field: i32) -> u32 {
    (libc::SKF_AD_OFF + field) as u32
}
const PROTOCOL: u32 = anc(libc::SKF_AD_PROTOCOL);
const PKTTYPE: u32 = anc(libc::SKF_AD_PKTTYPE);
const HATYPE: u32 = anc(libc::SKF_AD_HATYPE);
/// Offset `off` into the network (IP) header.
const fn net(off: i32) -> u32 {
    (libc::SKF_NET_OFF + off) as u32
}

const ARPHRD_LOOPBACK: u32 = 772;
const PACKET_OUTGOING: u32 = 4;
const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;
const IPPROTO_TCP: u32 = 6;

/// What a ring's filter drops in the kernel before its own program runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skip {
    /// Loopback's outgoing copy of each packet.
    pub loopback_outgoing: bool,
    /// TCP packets whose source or destination is one of these addresses
    /// with one of `ports` ...
    pub addrs: Vec<IpAddr>,
    /// ... (at most [`MAX_PORTS`]; none: no TCP test).
    pub ports: Vec<u16>,
}

impl Skip {
    /// Whether the prefix would drop nothing.
    pub fn is_empty(&self) -> bool {
        !self.loopback_outgoing && (self.addrs.is_empty() || self.ports.is_empty())
    }

    /// The same without the TCP test (for when the whole program would be
    /// too long).
    fn loopback_only(&self) -> Skip {
        Skip {
            loopback_outgoing: self.loopback_outgoing,
            ..Skip::default()
        }
    }

    /// `program` behind the prefix, or behind a shorter one (without the TCP
    /// test, then none) when the kernel's instruction limit requires.
    pub(crate) fn wrap(&self, program: &[libc::sock_filter]) -> Vec<libc::sock_filter> {
        let max = libc::BPF_MAXINSNS as usize;
        for skip in [self.clone(), self.loopback_only()] {
            if skip.is_empty() {
                break;
            }
            if let Some(mut out) = skip.prefix() {
                if out.len() + program.len() <= max {
                    out.extend_from_slice(program);
                    return out;
                }
            }
        }
        program.to_vec()
    }

    /// The prefix: drops with `ret #0`, else falls through with A and X
    /// cleared. `None` only if a jump were out of reach, which the bounds on
    /// addresses and ports rule out (tested).
    fn prefix(&self) -> Option<Vec<libc::sock_filter>> {
        let mut a = Asm::default();
        let (keep, drop) = (a.label(), a.label());
        if self.loopback_outgoing {
            let other = a.label();
            a.op(LD_W_ABS, HATYPE);
            a.goto_unless(ARPHRD_LOOPBACK, other);
            a.op(LD_W_ABS, PKTTYPE);
            a.goto_if(PACKET_OUTGOING, drop);
            a.here(other);
        }
        let ports: Vec<u32> = dedup(self.ports.iter().map(|&p| u32::from(p)), MAX_PORTS);
        let v4: Vec<u32> = dedup(
            self.addrs.iter().filter_map(|ip| match ip.to_canonical() {
                IpAddr::V4(v4) => Some(u32::from(v4)),
                IpAddr::V6(_) => None,
            }),
            MAX_V4,
        );
        let v6: Vec<[u32; 4]> = dedup(
            self.addrs.iter().filter_map(|ip| match ip.to_canonical() {
                IpAddr::V6(v6) => {
                    let o = v6.octets();
                    Some(std::array::from_fn(|w| {
                        u32::from_be_bytes([o[4 * w], o[4 * w + 1], o[4 * w + 2], o[4 * w + 3]])
                    }))
                }
                IpAddr::V4(_) => None,
            }),
            MAX_V6,
        );
        let any_addr = !v4.is_empty() || !v6.is_empty();
        if any_addr && !ports.is_empty() {
            let (l4, l6) = (a.label(), a.label());
            a.op(LD_W_ABS, PROTOCOL);
            if !v4.is_empty() {
                a.goto_if(ETH_P_IP, l4);
            }
            if !v6.is_empty() {
                a.goto_if(ETH_P_IPV6, l6);
            }
            a.ja(keep);
            if !v4.is_empty() {
                a.here(l4);
                a.op(LD_B_ABS, net(9));
                a.goto_unless(IPPROTO_TCP, keep);
                // A later fragment has no TCP header.
                a.op(LD_H_ABS, net(6));
                a.goto_if_set(0x1fff, keep);
                a.op(LDX_B_MSH, net(0));
                let ends = [(12, 0), (16, 2)];
                a.ends(&ends, &ports, keep, drop, |a, off, hit| {
                    a.op(LD_W_ABS, net(off));
                    for &addr in &v4 {
                        a.goto_if(addr, hit);
                    }
                });
            }
            if !v6.is_empty() {
                a.here(l6);
                a.op(LD_B_ABS, net(6));
                a.goto_unless(IPPROTO_TCP, keep);
                a.op(LDX_IMM, 40);
                let ends = [(8, 0), (24, 2)];
                a.ends(&ends, &ports, keep, drop, |a, off, hit| {
                    for words in &v6 {
                        let next = a.label();
                        for (w, &word) in words.iter().enumerate() {
                            a.op(LD_W_ABS, net(off + 4 * w as i32));
                            a.goto_unless(word, next);
                        }
                        a.ja(hit);
                        a.here(next);
                    }
                });
            }
        }
        a.ja(keep);
        a.here(drop);
        a.op(RET_K, 0);
        a.here(keep);
        a.op(LD_IMM, 0);
        a.op(LDX_IMM, 0);
        a.assemble()
    }
}

/// The first `max` distinct values of `it`, in order.
fn dedup<T: PartialEq>(it: impl Iterator<Item = T>, max: usize) -> Vec<T> {
    let mut out = Vec::new();
    for v in it {
        if out.len() == max {
            break;
        }
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Label(usize);

enum Item {
    /// An instruction without jumps.
    Op(u16, u32),
    /// A conditional jump over the next `jt`/`jf` instructions (0 or 1).
    Cond {
        code: u16,
        k: u32,
        jt: u8,
        jf: u8,
    },
    Ja(Label),
    Here(Label),
}

/// A classic BPF program with forward labels (see the module docs).
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    fn here(&mut self, l: Label) {
        self.items.push(Item::Here(l));
    }
    fn op(&mut self, code: u16, k: u32) {
        self.items.push(Item::Op(code, k));
    }
    fn ja(&mut self, to: Label) {
        self.items.push(Item::Ja(to));
    }
    /// Jumps to `to` when A equals `k`.
    fn goto_if(&mut self, k: u32, to: Label) {
        self.cond(JEQ_K, k, 0, 1, to);
    }
    /// Jumps to `to` when A differs from `k`.
    fn goto_unless(&mut self, k: u32, to: Label) {
        self.cond(JEQ_K, k, 1, 0, to);
    }
    /// Jumps to `to` when A has any bit of `k`.
    fn goto_if_set(&mut self, k: u32, to: Label) {
        self.cond(JSET_K, k, 0, 1, to);
    }
    fn cond(&mut self, code: u16, k: u32, jt: u8, jf: u8, to: Label) {
        self.items.push(Item::Cond { code, k, jt, jf });
        self.ja(to);
    }

    /// The address-then-port test for both ends of a TCP packet, X holding
    /// the IP header's length. For each `(address offset, port offset)`
    /// pair, `addr` emits the address comparisons, jumping to its `hit`
    /// label on a match; a hit whose port is one of `ports` drops.
    fn ends(
        &mut self,
        ends: &[(i32, i32)],
        ports: &[u32],
        keep: Label,
        drop: Label,
        mut addr: impl FnMut(&mut Asm, i32, Label),
    ) {
        for &(addr_off, port_off) in ends {
            let (hit, miss) = (self.label(), self.label());
            addr(self, addr_off, hit);
            self.ja(miss);
            self.here(hit);
            self.op(LD_H_IND, net(port_off));
            for &p in ports {
                self.goto_if(p, drop);
            }
            self.here(miss);
        }
        self.ja(keep);
    }

    /// Resolves labels; `None` if a jump is backward or out of reach.
    fn assemble(self) -> Option<Vec<libc::sock_filter>> {
        let mut at = vec![None; self.labels];
        let mut pc = 0usize;
        for item in &self.items {
            match item {
                Item::Here(l) => at[l.0] = Some(pc),
                _ => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for item in &self.items {
            let pc = out.len();
            let insn = match *item {
                Item::Here(_) => continue,
                Item::Op(code, k) => (code, 0, 0, k),
                Item::Cond { code, k, jt, jf } => (code, jt, jf, k),
                Item::Ja(l) => {
                    let to = at.get(l.0).copied().flatten()?;
                    (JA, 0, 0, u32::try_from(to.checked_sub(pc + 1)?).ok()?)
                }
            };
            out.push(libc::sock_filter {
                code: insn.0,
                jt: insn.1,
                jf: insn.2,
                k: insn.3,
            });
        }
        Some(out)
    }
}

#[cfg(test)]
#[path = "skip_tests.rs"]
mod tests;
