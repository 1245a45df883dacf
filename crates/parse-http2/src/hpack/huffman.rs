//! HPACK's Huffman code (RFC 7541 section 5.2 and Appendix B), decoding only.
//!
//! Most header strings on the wire are Huffman coded, so this runs for
//! nearly every literal. The code is canonical (codes of one length are
//! consecutive, in symbol order), which lets a symbol be found with a few
//! comparisons of the next 32 bits against per-length limits instead of a
//! bit-by-bit tree walk; the tables are built at compile time from the RFC's
//! table, and a test checks the canonical property they rely on.

/// Each symbol's code, right-aligned, and its length in bits: symbols
/// 0..=255, then 256 = EOS. Transcribed from RFC 7541 Appendix B.
pub(crate) const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MIN_LEN: usize = 5;
const MAX_LEN: usize = 30;

/// Per-length decoding tables: for length `l`, `LIMIT[l]` is one past the
/// largest code of length `l` left-aligned in 32 bits (so a left-aligned
/// window below it has a code of at most `l` bits), `FIRST[l]` the smallest
/// code of length `l` and `OFFSET[l]` its position in `SYMBOLS`.
struct Tables {
    limit: [u64; MAX_LEN + 1],
    first: [u32; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    symbols: [u16; 257],
}

const fn build() -> Tables {
    let mut count = [0u32; MAX_LEN + 1];
    let mut first = [u32::MAX; MAX_LEN + 1];
    let mut i = 0;
    while i < 257 {
        let (code, len) = CODES[i];
        count[len as usize] += 1;
        if code < first[len as usize] {
            first[len as usize] = code;
        }
        i += 1;
    }
    let mut limit = [0u64; MAX_LEN + 1];
    let mut offset = [0u16; MAX_LEN + 1];
    let mut pos = 0u16;
    let mut prev_limit = 0u64;
    let mut len = MIN_LEN;
    while len <= MAX_LEN {
        offset[len] = pos;
        if count[len] == 0 {
            first[len] = 0;
            limit[len] = prev_limit;
        } else {
            limit[len] = ((first[len] + count[len]) as u64) << (32 - len);
            prev_limit = limit[len];
        }
        pos += count[len] as u16;
        len += 1;
    }
    let mut symbols = [0u16; 257];
    let mut s = 0;
    while s < 257 {
        let (code, len) = CODES[s];
        let at = offset[len as usize] as u32 + (code - first[len as usize]);
        symbols[at as usize] = s as u16;
        s += 1;
    }
    Tables {
        limit,
        first,
        offset,
        symbols,
    }
}

static TABLES: Tables = build();

/// Why a Huffman string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HuffmanError;

/// Appends the decoding of `input` to `out`. Fails on the EOS symbol, on
/// padding longer than 7 bits or not all ones (RFC 7541 section 5.2).
pub(crate) fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = &TABLES;
    let mut bytes = input.iter();
    // Bits not yet consumed, left-aligned in `acc` (the top `nbits` bits).
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    out.reserve(input.len() + input.len() / 2);
    loop {
        while nbits <= 56 {
            match bytes.next() {
                Some(&b) => {
                    acc |= u64::from(b) << (56 - nbits);
                    nbits += 8;
                }
                None => break,
            }
        }
        if nbits == 0 {
            return Ok(());
        }
        // The next 32 bits, ones past the end, as the padding would be.
        let fill = if nbits >= 32 { 0 } else { u64::MAX >> nbits };
        let window = ((acc | fill) >> 32) & 0xffff_ffff;
        let mut len = MIN_LEN;
        while len < MAX_LEN && window >= t.limit[len] {
            len += 1;
        }
        if len as u32 > nbits {
            // Only padding may be shorter than a code: up to 7 one bits.
            let rest = acc >> (64 - nbits);
            return if nbits < 8 && rest == (1u64 << nbits) - 1 {
                Ok(())
            } else {
                Err(HuffmanError)
            };
        }
        let code = (window >> (32 - len)) as u32;
        let index = u32::from(t.offset[len]) + code.wrapping_sub(t.first[len]);
        let symbol = *t.symbols.get(index as usize).ok_or(HuffmanError)?;
        if symbol == EOS {
            return Err(HuffmanError);
        }
        out.push(symbol as u8);
        acc <<= len;
        nbits -= len as u32;
    }
}

#[cfg(test)]
pub(crate) fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut nbits = 0u32;
    for &b in input {
        let (code, len) = CODES[b as usize];
        acc = (acc << len) | u64::from(code);
        nbits += u32::from(len);
        while nbits >= 8 {
            out.push((acc >> (nbits - 8)) as u8);
            nbits -= 8;
        }
    }
    if nbits > 0 {
        out.push(((acc << (8 - nbits)) as u8) | (0xff >> nbits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn dec(hex: &str) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(&unhex(hex), &mut out).map(|()| out)
    }

    #[test]
    fn the_code_is_canonical_as_the_decoder_assumes() {
        let mut order: Vec<usize> = (0..257).collect();
        order.sort_by_key(|&s| (CODES[s].1, CODES[s].0));
        let mut code = 0u32;
        for (i, &s) in order.iter().enumerate() {
            if i > 0 {
                code = (code + 1) << (CODES[s].1 - CODES[order[i - 1]].1);
            }
            assert_eq!(CODES[s].0, code, "symbol {s}");
        }
    }

    #[test]
    fn rfc7541_appendix_c4_and_c6_strings() {
        assert_eq!(
            dec("f1e3 c2e5 f23a 6ba0 ab90 f4ff").unwrap(),
            b"www.example.com"
        );
        assert_eq!(dec("a8eb 1064 9cbf").unwrap(), b"no-cache");
        assert_eq!(dec("25a8 49e9 5ba9 7d7f").unwrap(), b"custom-key");
        assert_eq!(dec("25a8 49e9 5bb8 e8b4 bf").unwrap(), b"custom-value");
        assert_eq!(dec("6402").unwrap(), b"302");
        assert_eq!(dec("aec3 771a 4b").unwrap(), b"private");
        assert_eq!(
            dec("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff").unwrap(),
            b"Mon, 21 Oct 2013 20:13:21 GMT"
        );
        assert_eq!(
            dec("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3").unwrap(),
            b"https://www.example.com"
        );
        assert_eq!(
            dec("94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07").unwrap(),
            b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
        );
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(dec(&hex(&encode(&all))).unwrap(), all);
        for b in 0..=255u8 {
            assert_eq!(dec(&hex(&encode(&[b, b, b]))).unwrap(), [b, b, b]);
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn bad_padding_and_eos_are_errors() {
        // Eight one bits of padding.
        assert_eq!(dec("ff"), Err(HuffmanError));
        // Padding of zeros: '0' is 00000, then 000 is not all ones.
        assert_eq!(dec("00"), Err(HuffmanError));
        // EOS itself (30 ones) then padding.
        assert_eq!(dec("ffff ffff"), Err(HuffmanError));
        assert_eq!(dec("").unwrap(), b"");
        // '0' (00000) and three padding ones.
        assert_eq!(dec("07").unwrap(), b"0");
    }
}
