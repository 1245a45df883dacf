//! Fuzzes the live capture's parsers of kernel memory: the TPACKET_V3 block
//! walker and the rtnetlink link-message parser. Both read what the kernel
//! wrote, but a wrong offset there is an out-of-bounds read, so they are
//! held to the same rule as the wire parsers: any bytes, no panic.
//!
//! Byte 0 picks the parser; the rest is its input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_capture_live::{parse_link_message, Frames};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        for frame in Frames::new(input) {
            assert!(frame.data.len() <= input.len());
        }
    } else if let Ok(Some(msg)) = parse_link_message(input) {
        let _ = format!("{msg:?}");
    }
});
