//! The classic BPF socket filter behind [`Ring::set_interfaces`]: keep frames
//! from a chosen set of interfaces, drop the rest in the kernel before they
//! cost ring space.
//!
//! The program loads the ifindex ancillary field (the device the frame was
//! seen on, not anything in the packet) and compares it against each wanted
//! index. A comparison's "true" jump is an 8-bit offset, so the comparisons
//! come in chunks of at most 255, each followed by its own accept:
//!
//! ```text
//!     ld  [ifindex]
//!     jeq #i1, accept1     ; up to 255 of these
//!     ...
//!     ja  next             ; none matched: skip accept1
//! accept1:
//!     ret #accept
//! next:                    ; following chunks, same shape
//!     ret #0
//! ```
//!
//! [`skip_outgoing`] puts a caller's program behind a test of the packet
//! type, for captures on a loopback device (see there).
//!
//! [`Ring::set_interfaces`]: crate::Ring::set_interfaces

use crate::CaptureError;
use std::collections::BTreeSet;

/// Bytes of each frame a filter keeps when the ring has no snap length (the
/// kernel keeps the whole frame when this exceeds it).
pub(crate) const DEFAULT_ACCEPT: u32 = 0x40000;

/// The most interfaces one filter can test within the kernel's 4096
/// instruction limit (see the layout in the module docs).
pub const MAX_FILTER_INTERFACES: usize = 4062;

/// Largest number of comparisons that can share one accept instruction.
const CHUNK: usize = 255;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const LD_IMM: u16 = (libc::BPF_LD | libc::BPF_IMM) as u16;
/// Offset of the ifindex ancillary field (negative offsets are ancillary data).
const IFINDEX_FIELD: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_IFINDEX) as u32;
/// Offset of the packet type ancillary field (`sll_pkttype`).
const PKTTYPE_FIELD: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
/// `PACKET_OUTGOING`: a packet this host sent.
const PACKET_OUTGOING: u32 = 4;
/// Instructions [`skip_outgoing`] puts in front of a program.
pub const SKIP_OUTGOING_LEN: usize = 4;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A program that keeps `accept` bytes of every frame.
pub(crate) fn accept_all(accept: u32) -> Vec<libc::sock_filter> {
    vec![insn(RET_K, 0, 0, accept)]
}

/// A program that keeps `accept` bytes of frames seen on one of `only`, and
/// drops everything else (everything, when `only` is empty).
pub(crate) fn only_interfaces(
    only: &[u32],
    accept: u32,
) -> Result<Vec<libc::sock_filter>, CaptureError> {
    let wanted: Vec<u32> = only
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if wanted.len() > MAX_FILTER_INTERFACES {
        return Err(CaptureError::TooManyInterfaces(wanted.len()));
    }
    if wanted.is_empty() {
        return Ok(vec![insn(RET_K, 0, 0, 0)]);
    }
    let mut prog = Vec::with_capacity(wanted.len() + 2 * wanted.len().div_ceil(CHUNK) + 2);
    prog.push(insn(LD_W_ABS, 0, 0, IFINDEX_FIELD));
    for chunk in wanted.chunks(CHUNK) {
        for (i, &index) in chunk.iter().enumerate() {
            // Jump over the remaining comparisons and the `ja` to the accept.
            // chunk.len() <= 255, so this fits in the 8-bit offset.
            let to_accept = (chunk.len() - i) as u8;
            prog.push(insn(JEQ_K, to_accept, 0, index));
        }
        prog.push(insn(JA, 0, 0, 1));
        prog.push(insn(RET_K, 0, 0, accept));
    }
    prog.push(insn(RET_K, 0, 0, 0));
    debug_assert!(prog.len() <= libc::BPF_MAXINSNS as usize);
    Ok(prog)
}

/// `program` behind a test that drops what this host sent.
///
/// A packet socket bound to a loopback device receives every packet twice:
/// once as it leaves (`PACKET_OUTGOING`) and once as it comes back in.
/// libpcap drops the outgoing copy, so tcpdump on `lo` shows each packet
/// once; a capture that is to equal tcpdump's must do the same, and doing
/// it in the kernel keeps the copy out of the ring. (On any other device
/// the outgoing packet is the only copy and must be kept.) The accumulator
/// is cleared before `program` runs, as the kernel leaves it for a program
/// of its own. Jumps are relative and only go forward, so `program` is
/// unchanged.
pub fn skip_outgoing(program: &[libc::sock_filter]) -> Vec<libc::sock_filter> {
    let mut out = Vec::with_capacity(program.len() + SKIP_OUTGOING_LEN);
    out.push(insn(LD_W_ABS, 0, 0, PKTTYPE_FIELD));
    // Outgoing: fall through to the drop; else jump over it.
    out.push(insn(JEQ_K, 0, 1, PACKET_OUTGOING));
    out.push(insn(RET_K, 0, 0, 0));
    out.push(insn(LD_IMM, 0, 0, 0));
    out.extend_from_slice(program);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the subset of classic BPF the builder emits, as the kernel would.
    fn run(prog: &[libc::sock_filter], ifindex: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            match i.code {
                LD_W_ABS => {
                    assert_eq!(i.k, IFINDEX_FIELD);
                    acc = ifindex;
                    pc += 1;
                }
                LD_IMM => {
                    acc = i.k;
                    pc += 1;
                }
                JEQ_K => pc += 1 + usize::from(if acc == i.k { i.jt } else { i.jf }),
                JA => pc += 1 + i.k as usize,
                RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn keeps_only_listed_interfaces() {
        let prog = only_interfaces(&[7, 3, 7, 12], 96).unwrap();
        assert_eq!(prog.len(), 1 + 3 + 2 + 1);
        for index in 0..20 {
            let want = if [3, 7, 12].contains(&index) { 96 } else { 0 };
            assert_eq!(run(&prog, index), want, "ifindex {index}");
        }
    }

    #[test]
    fn empty_list_drops_everything() {
        let prog = only_interfaces(&[], 96).unwrap();
        assert!((0..10).all(|i| run(&prog, i) == 0));
    }

    #[test]
    fn long_lists_span_several_chunks() {
        let list: Vec<u32> = (1..=MAX_FILTER_INTERFACES as u32).map(|i| i * 2).collect();
        let prog = only_interfaces(&list, DEFAULT_ACCEPT).unwrap();
        assert!(prog.len() <= libc::BPF_MAXINSNS as usize);
        for index in 0..=(2 * MAX_FILTER_INTERFACES as u32 + 3) {
            let want = if index % 2 == 0 && index > 0 && index <= 2 * MAX_FILTER_INTERFACES as u32 {
                DEFAULT_ACCEPT
            } else {
                0
            };
            assert_eq!(run(&prog, index), want, "ifindex {index}");
        }
    }

    #[test]
    fn one_too_many_is_an_error() {
        let list: Vec<u32> = (1..=MAX_FILTER_INTERFACES as u32 + 1).collect();
        assert!(matches!(
            only_interfaces(&list, DEFAULT_ACCEPT),
            Err(CaptureError::TooManyInterfaces(n)) if n == MAX_FILTER_INTERFACES + 1
        ));
        // The bound is tight: one more interface would exceed the kernel's limit.
        let n = MAX_FILTER_INTERFACES + 1;
        assert!(1 + n + 2 * n.div_ceil(CHUNK) + 1 > libc::BPF_MAXINSNS as usize);
    }

    /// Runs [`skip_outgoing`]'s prefix for a packet of type `pkttype`:
    /// `None` when it falls through to the caller's program.
    fn prefix(prog: &[libc::sock_filter], pkttype: u32) -> Option<u32> {
        let mut pc = 0;
        let mut acc = u32::MAX;
        while pc < SKIP_OUTGOING_LEN {
            let i = prog[pc];
            match i.code {
                LD_W_ABS => {
                    assert_eq!(i.k, PKTTYPE_FIELD);
                    acc = pkttype;
                }
                JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                RET_K => return Some(i.k),
                LD_IMM => acc = i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
        assert_eq!(
            acc, 0,
            "the caller's program starts with a clear accumulator"
        );
        None
    }

    #[test]
    fn skip_outgoing_drops_only_what_the_host_sent() {
        let user = accept_all(96);
        let prog = skip_outgoing(&user);
        assert_eq!(prog.len(), user.len() + SKIP_OUTGOING_LEN);
        assert_eq!(prog[SKIP_OUTGOING_LEN..].len(), 1);
        assert_eq!(prefix(&prog, PACKET_OUTGOING), Some(0));
        // host, broadcast, multicast, other host: the caller's program decides.
        for t in 0..4 {
            assert_eq!(prefix(&prog, t), None, "packet type {t}");
        }
    }

    #[test]
    fn accept_all_keeps_the_snap_length() {
        assert_eq!(run(&accept_all(128), 5), 128);
    }
}
