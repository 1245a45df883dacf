//! Go's crypto/tls in a program's own file: where its probes go.
//!
//! Go programs carry their own TLS (no libssl), in `crypto/tls.(*Conn).Read`
//! and `Write`, named in the program's symbol table (kept unless built
//! with `-ldflags=-s`). Two things differ from OpenSSL:
//!
//! - **No uretprobe.** A uretprobe replaces the return address on the
//!   stack, and Go copies a goroutine's stack elsewhere when it grows, so
//!   the program would crash. `Read`'s return probe goes on each `ret`
//!   instruction of the function instead, found by decoding the function's
//!   machine code (iced-x86): scanning for the `0xc3` byte would also hit
//!   the middle of other instructions, and a probe there corrupts the
//!   program. `Write` needs none: its plaintext is read at entry, which
//!   also keeps it ahead of the answer it provokes.
//! - **Registers, not the C ABI.** Go 1.17 and later pass arguments and
//!   results in registers on x86-64 (`bpf/tls.bpf.c` says which). Older
//!   programs pass them on the stack; they are reported as unsupported, as
//!   are other architectures. The Go version comes from the build
//!   information the linker writes into every Go program
//!   (`.go.buildinfo`), in both its layouts (inline since Go 1.18,
//!   pointers before).
//!
//! Not found: a stripped program built as a position-independent executable
//! (`-buildmode=pie -ldflags=-s`), whose linker puts the runtime's function
//! table inside `.data.rel.ro` instead of a `.gopclntab` section of its own;
//! with its symbols kept it is found like any other.

use crate::tls_symbols::Elf;
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};
use object::elf::EM_X86_64;
use object::read::elf::{FileHeader, SectionHeader};
use object::read::{ReadCache, ReadRef};
use std::fs::File;
use std::path::Path;

/// The probed functions' symbols, NUL-terminated as in a string table.
pub(crate) const READ: &[u8] = b"crypto/tls.(*Conn).Read\0";
pub(crate) const WRITE: &[u8] = b"crypto/tls.(*Conn).Write\0";
/// The start of `.go.buildinfo`.
const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The first Go release with the register ABI on x86-64.
const FIRST_MINOR: u32 = 17;
/// A function longer than this is not decoded (`Read` and `Write` are a
/// few kilobytes).
const MAX_FUNCTION_BYTES: u64 = 1 << 20;
/// Return instructions probed per function at most (each is a probe
/// link; Go 1.19's `Read` has 5).
const MAX_RETURNS: usize = 64;

/// One probed function, as file offsets: its first instruction, the first
/// after its stack check, and each `ret`.
///
/// The entry probe goes after the stack check: when the goroutine's stack
/// must grow, the check calls `runtime.morestack` and then jumps back to
/// the function's first instruction, which would make a probe there fire
/// twice for one call (and Write's plaintext be read twice). The
/// arguments are still in their registers at that point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFunction {
    pub entry: u64,
    pub body: u64,
    pub returns: Vec<u64>,
}

/// Instructions of a Go prologue looked at for the stack check (`cmp`
/// with `g.stackguard0`, then `jbe` to the `morestack` call at the end;
/// a large frame computes its bound with a `lea` first).
const PROLOGUE: usize = 4;

/// Where Go's TLS functions are in one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTls {
    /// As the program says it was built (`go1.19.8`).
    pub version: String,
    pub read: GoFunction,
    pub write: GoFunction,
}

/// What a file is, for the Go TLS probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoLook {
    /// Not a Go program, or one without crypto/tls symbols.
    NotGo,
    Go(GoTls),
    /// A Go program with crypto/tls that cannot be probed, and why.
    Unsupported(String),
}

/// Looks at the file at `path` (symbol tables, build information and the
/// two functions' code only; see [`ReadCache`]).
pub fn look(path: &Path) -> GoLook {
    let Ok(file) = File::open(path) else {
        return GoLook::NotGo;
    };
    let data = &ReadCache::new(file);
    let Some(elf) = Elf::parse(data) else {
        return GoLook::NotGo;
    };
    let Some(version) = version(&elf) else {
        return GoLook::NotGo;
    };
    let mut found = [None, None];
    elf.symbols(|name, sym| {
        for (i, want) in [READ, WRITE].iter().enumerate() {
            if name.starts_with(want) {
                found[i] = Some((sym.st_value.get(elf.endian), sym.st_size.get(elf.endian)));
            }
        }
        found.iter().all(Option::is_some)
    });
    // Stripped programs (`-ldflags=-s`, the usual container build) have
    // no symbol table, but the runtime's own function table names them.
    if found.iter().any(Option::is_none) {
        found = pclntab(&elf).unwrap_or_default();
    }
    let [Some(read), Some(write)] = found else {
        return GoLook::NotGo;
    };
    if elf.header.e_machine(elf.endian) != EM_X86_64 {
        return GoLook::Unsupported(format!(
            "{version}: Go TLS is probed in x86-64 programs only"
        ));
    }
    if !register_abi(&version) {
        return GoLook::Unsupported(format!(
            "{version}: built before Go 1.{FIRST_MINOR} (arguments on the stack)"
        ));
    }
    match (function(&elf, read), function(&elf, write)) {
        (Ok(read), Ok(write)) => GoLook::Go(GoTls {
            version,
            read,
            write,
        }),
        (Err(e), _) | (_, Err(e)) => GoLook::Unsupported(format!("{version}: {e}")),
    }
}

/// The Go version in the program's build information; `None` when it has
/// none (not a Go program).
fn version<'data, R: ReadRef<'data>>(elf: &Elf<'data, R>) -> Option<String> {
    let endian = elf.endian;
    let section = elf
        .sections
        .section_by_name(endian, b".go.buildinfo")
        .map(|(_, s)| s)?;
    let head = elf
        .data
        .read_bytes_at(section.sh_offset(endian), 32.min(section.sh_size(endian)))
        .ok()?;
    if head.len() < 32 || !head.starts_with(MAGIC) {
        return None;
    }
    let (ptr_size, flags) = (head[14] as u64, head[15]);
    let text = if flags & 2 != 0 {
        // Go 1.18+: a varint length and the version, right after the header.
        let rest = elf
            .data
            .read_bytes_at(
                section.sh_offset(endian) + 32,
                64.min(section.sh_size(endian).saturating_sub(32)),
            )
            .ok()?;
        let (&len, rest) = rest.split_first()?;
        // Versions are short: a one-byte varint.
        if len >= 0x80 {
            return None;
        }
        rest.get(..len as usize)?.to_vec()
    } else {
        // Before: a pointer to a Go string header (data pointer, length).
        if ptr_size != 8 || flags & 1 != 0 {
            return None;
        }
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let header = elf.at_address(word(head.get(16..24)?), 16)?.0;
        let (at, len) = (word(header.get(..8)?), word(header.get(8..16)?));
        if len > 64 {
            return None;
        }
        elf.at_address(at, len)?.0.to_vec()
    };
    String::from_utf8(text).ok()
}

/// Bytes of `.gopclntab` read at most (a large program's is tens of MiB).
const MAX_PCLNTAB_BYTES: u64 = 64 << 20;

/// `Read`'s and `Write`'s address and size from the function table the Go
/// runtime keeps for stack traces (`.gopclntab`), which stripping leaves
/// in place. Its header, by `runtime/symtab.go`: a magic word (Go 1.16 and
/// 1.17 `0xfffffffa`, 1.18 and 1.19 `0xfffffff0`, 1.20 and later
/// `0xfffffff1`), two pad bytes, the instruction size quantum, the pointer
/// size, then pointer-sized words: the number of functions, of files,
/// (1.18+) the text start, and the offsets of the function name table and,
/// fifth after it, of the function table. The function table holds one
/// (entry, offset of the function's `_func`) pair per function, plus one
/// for the end of the text, and each `_func` begins with its entry and the
/// offset of its name. 1.18 and later make entries 32-bit offsets from the
/// text start; 1.16 and 1.17 use pointer-sized addresses.
fn pclntab<'data, R: ReadRef<'data>>(elf: &Elf<'data, R>) -> Option<[Option<(u64, u64)>; 2]> {
    let endian = elf.endian;
    let section = elf
        .sections
        .section_by_name(endian, b".gopclntab")
        .map(|(_, s)| s)?;
    let size = section.sh_size(endian);
    if size > MAX_PCLNTAB_BYTES {
        return None;
    }
    let tab = elf
        .data
        .read_bytes_at(section.sh_offset(endian), size)
        .ok()?;
    let u32_at = |at: u64| -> Option<u64> {
        let b = tab.get(at as usize..at.checked_add(4)? as usize)?;
        Some(u32::from_le_bytes(b.try_into().ok()?) as u64)
    };
    let word_at = |at: u64| -> Option<u64> {
        let b = tab.get(at as usize..at.checked_add(8)? as usize)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    let magic = u32_at(0)?;
    if *tab.get(7)? != 8 {
        return None;
    }
    let new = match magic {
        0xffff_fff0 | 0xffff_fff1 => true,
        0xffff_fffa => false,
        _ => return None,
    };
    let word = |i: u64| word_at(8 + 8 * i);
    let nfunc = word(0)?;
    let (mut text, names, functab) = if new {
        (word(2)?, word(3)?, word(7)?)
    } else {
        (0, word(2)?, word(6)?)
    };
    // A position-independent program's text start is filled in by a
    // relocation at load, so the file may hold 0: the text starts where
    // the `.text` section does (`runtime.text` is its first symbol).
    if new && text == 0 {
        text = elf
            .sections
            .section_by_name(endian, b".text")
            .map(|(_, s)| s.sh_addr(endian))?;
    }
    // One table entry: (entry address, offset of its _func).
    let entry = |i: u64| -> Option<(u64, u64)> {
        if new {
            let at = functab.checked_add(i.checked_mul(8)?)?;
            Some((text.checked_add(u32_at(at)?)?, u32_at(at + 4)?))
        } else {
            let at = functab.checked_add(i.checked_mul(16)?)?;
            Some((word_at(at)?, word_at(at + 8)?))
        }
    };
    let mut found = [None, None];
    for i in 0..nfunc.min(size / 8) {
        let (addr, func) = entry(i)?;
        let func = functab.checked_add(func)?;
        let name_off = u32_at(func.checked_add(if new { 4 } else { 8 })?)?;
        let Some(name) = tab.get(names.checked_add(name_off)? as usize..) else {
            continue;
        };
        for (slot, want) in found.iter_mut().zip([READ, WRITE]) {
            if name.starts_with(want) {
                let (next, _) = entry(i + 1)?;
                *slot = Some((addr, next.checked_sub(addr)?));
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    Some(found)
}

/// Whether a stripped Go program's function table names both functions.
pub(crate) fn table_names_them<'data, R: ReadRef<'data>>(elf: &Elf<'data, R>) -> bool {
    pclntab(elf).is_some_and(|f| f.iter().all(Option::is_some))
}

/// Whether a Go version passes arguments in registers: `go1.N[.M]` with N
/// at least 17, or a development build (`devel ...`).
fn register_abi(version: &str) -> bool {
    if version.starts_with("devel") {
        return true;
    }
    let Some(rest) = version.strip_prefix("go1.") else {
        return false;
    };
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    minor.parse::<u32>().is_ok_and(|m| m >= FIRST_MINOR)
}

/// A function's entry and `ret` instructions, as file offsets, from its
/// symbol's address and size.
fn function<'data, R: ReadRef<'data>>(
    elf: &Elf<'data, R>,
    (addr, size): (u64, u64),
) -> Result<GoFunction, String> {
    if size == 0 || size > MAX_FUNCTION_BYTES {
        return Err(format!("a TLS function of {size} bytes at {addr:#x}"));
    }
    let (code, offset) = elf
        .at_address(addr, size)
        .ok_or_else(|| format!("no code at {addr:#x}"))?;
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    let mut ins = Instruction::default();
    let mut returns = Vec::new();
    let mut body = None;
    let end = addr + size;
    for n in 0.. {
        if !decoder.can_decode() {
            break;
        }
        decoder.decode_out(&mut ins);
        if ins.is_invalid() {
            return Err(format!("undecodable instruction at {:#x}", ins.ip()));
        }
        if n < PROLOGUE
            && body.is_none()
            && ins.mnemonic() == Mnemonic::Jbe
            && (ins.ip()..end).contains(&ins.near_branch_target())
        {
            body = Some(ins.next_ip() - addr + offset);
        }
        if ins.mnemonic() == Mnemonic::Ret {
            if returns.len() == MAX_RETURNS {
                return Err(format!("over {MAX_RETURNS} returns in one function"));
            }
            returns.push(ins.ip() - addr + offset);
        }
    }
    if returns.is_empty() {
        return Err(format!(
            "no return instruction in the function at {addr:#x}"
        ));
    }
    Ok(GoFunction {
        entry: offset,
        // A function without a stack check (marked NOSPLIT) is entered
        // once per call anyway.
        body: body.unwrap_or(offset),
        returns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_lab::go::Link;

    #[test]
    fn versions_with_the_register_abi() {
        for yes in [
            "go1.17",
            "go1.19.8",
            "go1.22rc1",
            "go1.100.2",
            "devel go1.23-abc",
        ] {
            assert!(register_abi(yes), "{yes}");
        }
        for no in ["go1.16.15", "go1.9", "go2", "", "gox"] {
            assert!(!register_abi(no), "{no}");
        }
    }

    #[test]
    fn files_that_are_not_go_programs() {
        assert_eq!(look(Path::new("/bin/sh")), GoLook::NotGo);
        assert_eq!(look(Path::new("/nonexistent")), GoLook::NotGo);
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("x");
        std::fs::write(&text, b"\xff Go buildinf: crypto/tls.(*Conn).Read").unwrap();
        assert_eq!(look(&text), GoLook::NotGo);
    }

    /// The return instructions found are exactly objdump's `ret`s in each
    /// function, of a real Go program built here; the same program
    /// stripped is found through the runtime's function table, with the
    /// same code.
    #[test]
    fn a_go_program_s_tls_functions_and_their_returns() {
        let test = "a_go_program_s_tls_functions_and_their_returns";
        if let Err(skip) = podwire_lab::skip::require_tools(&["go", "objdump"]) {
            return skip.report(test);
        }
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("go_tls");
        let stripped = dir.path().join("go_tls_stripped");
        for (out, link) in [(&bin, Link::Symbols), (&stripped, Link::Stripped)] {
            if let Err(skip) = podwire_lab::go::build_go_tls(out, link) {
                return skip.report(test);
            }
        }
        let GoLook::Go(go) = look(&bin) else {
            panic!("not found: {:?}", look(&bin));
        };
        assert!(go.version.starts_with("go1."), "{go:?}");
        // The runtime's function table says what the symbol table says.
        {
            let file = File::open(&bin).unwrap();
            let data = &ReadCache::new(file);
            let elf = Elf::parse(data).unwrap();
            let from_table = pclntab(&elf).unwrap();
            let mut from_symbols = [None, None];
            elf.symbols(|name, sym| {
                for (slot, want) in from_symbols.iter_mut().zip([READ, WRITE]) {
                    if name.starts_with(want) {
                        *slot = Some((sym.st_value.get(elf.endian), sym.st_size.get(elf.endian)));
                    }
                }
                false
            });
            assert!(from_symbols.iter().all(Option::is_some));
            // Symbol sizes exclude the padding to the next function.
            for (t, s) in from_table.iter().zip(&from_symbols) {
                let (t, s) = (t.unwrap(), s.unwrap());
                assert_eq!(t.0, s.0);
                assert!(t.1 >= s.1 && t.1 - s.1 < 64, "{t:?} {s:?}");
            }
        }
        assert!(crate::defines_tls_functions(&bin));
        let code = std::fs::read(&bin).unwrap();
        for (name, f) in [("Read", &go.read), ("Write", &go.write)] {
            // objdump prints virtual addresses: compared from the
            // function's start, which is `entry` in the file.
            let sym = format!("crypto/tls.(*Conn).{name}");
            let out = std::process::Command::new("objdump")
                .args(["-d", "--no-show-raw-insn"])
                .arg(format!("--disassemble={sym}"))
                .arg(&bin)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let address =
                |l: &str| u64::from_str_radix(l.trim().split([':', ' ']).next()?, 16).ok();
            let start = text
                .lines()
                .find(|l| l.ends_with(&format!("<{sym}>:")))
                .and_then(address)
                .unwrap_or_else(|| panic!("{sym} not in objdump's output: {text}"));
            let rets: Vec<u64> = text
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("ret"))
                .filter_map(address)
                .map(|a| a - start + f.entry)
                .collect();
            assert!(!rets.is_empty(), "{sym}: {text}");
            assert_eq!(f.returns, rets, "{sym}");
            // The body starts at the instruction after the stack check.
            let lines: Vec<&str> = text.lines().collect();
            let jbe = lines
                .iter()
                .position(|l| l.split_whitespace().nth(1) == Some("jbe"))
                .unwrap_or_else(|| panic!("{sym}: no stack check: {text}"));
            let after = address(lines[jbe + 1]).unwrap() - start + f.entry;
            assert_eq!(f.body, after, "{sym}");
            assert!(f.body > f.entry && f.body - f.entry < 32, "{sym}");
            for r in &f.returns {
                assert_eq!(code[*r as usize], 0xc3, "{sym} at {r:#x}");
            }
        }
        let GoLook::Go(bare) = look(&stripped) else {
            panic!("stripped: {:?}", look(&stripped));
        };
        assert!(crate::defines_tls_functions(&stripped));
        let code = std::fs::read(&stripped).unwrap();
        for (f, s) in [(&go.read, &bare.read), (&go.write, &bare.write)] {
            let relative =
                |f: &GoFunction| -> Vec<u64> { f.returns.iter().map(|r| r - f.entry).collect() };
            assert_eq!(relative(f), relative(s));
            for r in &s.returns {
                assert_eq!(code[*r as usize], 0xc3, "stripped, at {r:#x}");
            }
        }
    }
}
