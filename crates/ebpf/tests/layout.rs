//! The Rust mirrors of the kernel event structs, checked field by field
//! against the compiled BPF objects.
//!
//! The size assertions on both sides catch a field added on one side only;
//! they miss two fields of one size swapped, or a field moved into what was
//! padding, which would shift meanings without changing the size. clang
//! writes the C layout as compiled into each object's BTF (`bpf/*.bpf.o`,
//! the very bytes the agent loads), so this test reads every field's offset
//! and size from there and compares them with `offset_of!`/`size_of` on the
//! Rust side, in order, names included. No root or kernel needed.

use std::mem::{offset_of, size_of};

use object::{Object, ObjectSection};
use podwire_ebpf::{ConnEvent, TlsEvent};

/// A struct's layout: its size and each field's (name, byte offset, size).
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    size: usize,
    fields: Vec<(String, usize, usize)>,
}

fn field_size<T, F>(_: impl Fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// The Rust side's layout of `$t`, from the fields named (all of them, in
/// declaration order: the comparison with BTF fails on a missing one).
macro_rules! rust_layout {
    ($t:ty { $($f:ident),* $(,)? }) => {
        Layout {
            size: size_of::<$t>(),
            fields: vec![$(
                (stringify!($f).to_string(), offset_of!($t, $f), field_size(|e: &$t| &e.$f))
            ),*],
        }
    };
}

#[test]
fn conn_event_matches_the_compiled_c_struct() {
    let rust = rust_layout!(ConnEvent {
        ts_ns,
        start_ns,
        skaddr,
        cgroup_id,
        bytes_acked,
        bytes_received,
        pid,
        tid,
        srtt_us,
        total_retrans,
        saddr,
        daddr,
        sport,
        dport,
        family,
        kind,
        oldstate,
        comm,
    });
    assert_eq!(btf_layout("conn.bpf.o", "conn_event"), rust);
}

#[test]
fn tls_event_matches_the_compiled_c_struct() {
    let rust = rust_layout!(TlsEvent {
        ts_ns,
        ssl,
        pid,
        tid,
        len,
        offset,
        size,
        fd,
        saddr,
        daddr,
        sport,
        dport,
        family,
        op,
        flags,
        comm,
    });
    assert_eq!(btf_layout("tls.bpf.o", "tls_event"), rust);
}

/// The layout of `struct NAME` in the BTF of `bpf/OBJECT`.
fn btf_layout(object: &str, name: &str) -> Layout {
    let path = format!("{}/../../bpf/{object}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let elf = object::File::parse(&*data).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = elf
        .section_by_name(".BTF")
        .unwrap_or_else(|| panic!("{path}: no .BTF section"));
    let btf = Btf::parse(section.data().expect("BTF section data"));
    btf.struct_layout(name)
        .unwrap_or_else(|| panic!("{path}: no struct {name} in its BTF"))
}

/// Just enough of BTF (kernel Documentation/bpf/btf.rst) to lay out a
/// struct of integers and arrays: the type table and the strings.
struct Btf<'a> {
    /// Per type id (1-based; 0 is void): kind, name, size-or-type, extra data.
    types: Vec<Type<'a>>,
    strings: &'a [u8],
}

struct Type<'a> {
    kind: u32,
    name: u32,
    vlen: usize,
    size_or_type: u32,
    extra: &'a [u8],
}

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;

fn u32_at(b: &[u8], at: usize) -> u32 {
    let bytes = b.get(at..at + 4).expect("BTF truncated");
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

impl<'a> Btf<'a> {
    fn parse(data: &'a [u8]) -> Btf<'a> {
        assert_eq!(
            data.get(..2),
            Some(&[0x9f, 0xeb][..]),
            "BTF magic (little endian)"
        );
        let hdr_len = u32_at(data, 4) as usize;
        let (type_off, type_len) = (u32_at(data, 8) as usize, u32_at(data, 12) as usize);
        let (str_off, str_len) = (u32_at(data, 16) as usize, u32_at(data, 20) as usize);
        let type_sec = &data[hdr_len + type_off..hdr_len + type_off + type_len];
        let strings = &data[hdr_len + str_off..hdr_len + str_off + str_len];
        let mut types = Vec::new();
        let mut at = 0;
        while at < type_sec.len() {
            let info = u32_at(type_sec, at + 4);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra_len = match kind {
                1 | 14 | 17 => 4,          // INT, VAR, DECL_TAG
                3 => 12,                   // ARRAY
                4 | 5 => 12 * vlen,        // STRUCT, UNION
                6 | 13 => 8 * vlen,        // ENUM, FUNC_PROTO
                15 | 19 => 12 * vlen,      // DATASEC, ENUM64
                2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
                k => panic!("unknown BTF kind {k}"),
            };
            types.push(Type {
                kind,
                name: u32_at(type_sec, at),
                vlen,
                size_or_type: u32_at(type_sec, at + 8),
                extra: &type_sec[at + 12..at + 12 + extra_len],
            });
            at += 12 + extra_len;
        }
        Btf { types, strings }
    }

    fn string(&self, off: u32) -> String {
        let s = &self.strings[off as usize..];
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    }

    fn get(&self, id: u32) -> &Type<'a> {
        &self.types[id as usize - 1]
    }

    /// The size in bytes of type `id`.
    fn size(&self, id: u32) -> usize {
        let t = self.get(id);
        match t.kind {
            KIND_INT | KIND_STRUCT => t.size_or_type as usize,
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST => self.size(t.size_or_type),
            KIND_ARRAY => self.size(u32_at(t.extra, 0)) * u32_at(t.extra, 8) as usize,
            k => panic!("no size for BTF kind {k} in an event struct"),
        }
    }

    fn struct_layout(&self, name: &str) -> Option<Layout> {
        let t = self
            .types
            .iter()
            .find(|t| t.kind == KIND_STRUCT && self.string(t.name) == name)?;
        let fields = (0..t.vlen)
            .map(|i| {
                let m = &t.extra[12 * i..];
                let bits = u32_at(m, 8);
                assert_eq!(bits % 8, 0, "{name}: no bit fields across the boundary");
                (
                    self.string(u32_at(m, 0)),
                    bits as usize / 8,
                    self.size(u32_at(m, 4)),
                )
            })
            .collect();
        Some(Layout {
            size: t.size_or_type as usize,
            fields,
        })
    }
}
