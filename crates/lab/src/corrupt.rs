//! Deterministic corruptions of capture files for robustness runs.
//!
//! Real captures get cut short (disk full, killed tcpdump), bit-rot, or were
//! written by buggy tools; a corrupt record length must not become a huge
//! allocation or an endless loop. These functions derive damaged variants
//! from a good file with a fixed-seed generator, so a failure found in CI
//! reproduces exactly on a laptop: same file, same seed, same bytes.

/// A small, fast, fixed-seed pseudo-random generator (SplitMix64). Not for
/// cryptography; for reproducible test inputs only.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed derived from a name (FNV-1a), so each file gets its own stream.
    pub fn seed_from(name: &str) -> u64 {
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Offsets of the length fields that corruptions target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LengthFields {
    /// Offsets of 32-bit length fields (pcap incl_len/orig_len, pcapng block
    /// total length and EPB captured length).
    pub offsets: Vec<usize>,
    pub big_endian: bool,
}

/// Finds the record-length fields of a pcap or pcapng file (as far as the
/// file is well-formed).
pub fn length_fields(data: &[u8]) -> LengthFields {
    let u32_at = |off: usize, be: bool| -> Option<u32> {
        let b: [u8; 4] = data.get(off..off + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let mut out = LengthFields::default();
    let Some(magic) = u32_at(0, false) else {
        return out;
    };
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d | 0xd4c3b2a1 | 0x4d3cb2a1 | 0xa1b2cd34 | 0x34cdb2a1 => {
            let be = matches!(magic, 0xd4c3b2a1 | 0x4d3cb2a1 | 0x34cdb2a1);
            // Kuznetzov's modified pcap has 8 more bytes per record header.
            let extra = if matches!(magic, 0xa1b2cd34 | 0x34cdb2a1) {
                8
            } else {
                0
            };
            out.big_endian = be;
            let mut off = 24usize;
            while let Some(incl) = u32_at(off + 8, be) {
                out.offsets.push(off + 8);
                out.offsets.push(off + 12);
                off = match off.checked_add(16 + extra + incl as usize) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        0x0a0d0d0a => {
            // Byte order from the section header's byte-order magic.
            let be = u32_at(8, false) == Some(0x4d3c2b1a);
            out.big_endian = be;
            let mut off = 0usize;
            while let (Some(kind), Some(len)) = (u32_at(off, be), u32_at(off + 4, be)) {
                out.offsets.push(off + 4);
                if kind == 6 {
                    // Enhanced packet block: captured length at +20.
                    out.offsets.push(off + 20);
                }
                if len < 12 {
                    break;
                }
                off += len as usize;
            }
        }
        _ => {}
    }
    out
}

/// A damaged variant of a capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// What was done, e.g. `flip8@seed` or `cut@1234`; part of a report line.
    pub name: String,
    pub data: Vec<u8>,
}

/// The damaged variants of `data`, derived from `seed`:
/// flipped bytes, a cut, an absurd record length, a record length just past
/// the end of the file, and a zero block length.
pub fn variants(data: &[u8], seed: u64) -> Vec<Variant> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    if data.is_empty() {
        return out;
    }

    let mut flipped = data.to_vec();
    let mut where_ = Vec::new();
    for _ in 0..8 {
        let i = rng.below(data.len() as u64) as usize;
        flipped[i] ^= 1 << rng.below(8);
        where_.push(i.to_string());
    }
    out.push(Variant {
        name: format!("flip@{}", where_.join(",")),
        data: flipped,
    });

    let cut = rng.below(data.len() as u64) as usize;
    out.push(Variant {
        name: format!("cut@{cut}"),
        data: data[..cut].to_vec(),
    });

    let fields = length_fields(data);
    if !fields.offsets.is_empty() {
        let put = |buf: &mut [u8], off: usize, v: u32| {
            let b = if fields.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            buf[off..off + 4].copy_from_slice(&b);
        };
        for (label, value) in [
            ("huge", 0xffff_fff0u32),
            ("past-end", (data.len() as u32).saturating_add(1)),
            ("zero", 0),
        ] {
            let off = fields.offsets[rng.below(fields.offsets.len() as u64) as usize];
            let mut d = data.to_vec();
            put(&mut d, off, value);
            out.push(Variant {
                name: format!("len-{label}@{off}"),
                data: d,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[&[u8]]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for r in records {
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(r);
        }
        f
    }

    #[test]
    fn pcap_length_fields_are_found() {
        let f = pcap(&[&[1, 2, 3], &[4; 10]]);
        assert_eq!(length_fields(&f).offsets, vec![32, 36, 51, 55]);
    }

    #[test]
    fn variants_are_deterministic_and_damaged() {
        let f = pcap(&[&[1, 2, 3], &[4; 10]]);
        let a = variants(&f, 42);
        assert_eq!(a, variants(&f, 42));
        assert_ne!(a, variants(&f, 43));
        assert_eq!(a.len(), 5);
        for v in &a {
            assert_ne!(v.data, f, "{} left the file intact", v.name);
        }
        let huge = a.iter().find(|v| v.name.starts_with("len-huge")).unwrap();
        let off: usize = huge.name.rsplit('@').next().unwrap().parse().unwrap();
        assert_eq!(&huge.data[off..off + 4], &0xffff_fff0u32.to_le_bytes());
    }

    #[test]
    fn pcapng_block_lengths_are_found() {
        // SHB (28 bytes) then one EPB of 32 bytes with 0 captured bytes.
        let mut f = vec![0x0a, 0x0d, 0x0d, 0x0a];
        f.extend_from_slice(&28u32.to_le_bytes());
        f.extend_from_slice(&0x1a2b3c4du32.to_le_bytes());
        f.extend_from_slice(&[1, 0, 0, 0]);
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&28u32.to_le_bytes());
        f.extend_from_slice(&6u32.to_le_bytes());
        f.extend_from_slice(&32u32.to_le_bytes());
        f.extend_from_slice(&[0; 20]);
        f.extend_from_slice(&32u32.to_le_bytes());
        assert_eq!(length_fields(&f).offsets, vec![4, 32, 48]);
    }
}
