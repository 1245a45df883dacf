//! Fuzzes the live capture's parsers of kernel memory: the TPACKET_V3 block
//! walker, the rtnetlink link- and address-message parsers (the address
//! parser finds a pod's veth for `podwire sniff`), and the classic-BPF
//! interpreter that checks compiled capture filters. They read what the
//! kernel wrote, but a wrong offset there is an out-of-bounds read, so they
//! are held to the same rule as the wire parsers: any bytes, no panic.
//!
//! Byte 0 picks the parser; the rest is its input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_capture_live::pcap_filter::{run, Insn, Program};
use podwire_capture_live::podnet::parse_addr_message;
use podwire_capture_live::{parse_link_message, Frames};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            for frame in Frames::new(input) {
                assert!(frame.data.len() <= input.len());
            }
        }
        1 => {
            if let Ok(Some(msg)) = parse_link_message(input) {
                let _ = format!("{msg:?}");
            }
        }
        2 => {
            let _ = parse_addr_message(input);
        }
        _ => {
            // The first bytes are a program (8 bytes an instruction, at
            // most 64), the rest a packet.
            let n = (input.first().copied().unwrap_or(0) as usize % 64).min(input.len().saturating_sub(1) / 8);
            let (prog, packet) = input.get(1..).unwrap_or(&[]).split_at(n * 8);
            let insns = prog
                .chunks_exact(8)
                .map(|c| Insn {
                    code: u16::from_le_bytes([c[0], c[1]]),
                    jt: c[2],
                    jf: c[3],
                    k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                })
                .collect();
            let _ = run(&Program::from_insns(insns), packet, packet.len() as u32);
        }
    }
});
