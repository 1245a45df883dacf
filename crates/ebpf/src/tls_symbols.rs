//! Whether a file holds a TLS library the probe can attach to, found by its
//! symbols rather than its name.
//!
//! `libssl.so.*` is found by name. OpenSSL or BoringSSL linked statically
//! into a program (Node.js from nodesource, Envoy and proxies built with
//! symbols, Rust and C programs linked against `libssl.a`) has no such
//! name: the program's own file defines `SSL_read` and `SSL_write`. A uprobe
//! on that file works the same way, so the question is only which files
//! define both.
//!
//! The answer reads the ELF header, the section headers and the symbol
//! tables through [`ReadCache`], which fetches only the byte ranges parsing
//! asks for: a 100 MiB program costs its symbol tables, not 100 MiB. The
//! caller asks once per file (device, inode) and remembers the answer.

use object::elf::{
    FileHeader64, Sym64, SHN_UNDEF, SHT_DYNSYM, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB,
};
use object::read::elf::{FileHeader, SectionHeader, SectionTable};
use object::read::{ReadCache, ReadRef};
use object::{Endianness, SectionIndex};
use std::fs::File;
use std::path::Path;

/// The functions a file must define (both of one pair) to be probed,
/// NUL-terminated as in a string table: OpenSSL's (and BoringSSL's), or
/// Go's crypto/tls (see [`crate::go_tls`]).
const REQUIRED: [[&[u8]; 2]; 2] = [
    [b"SSL_read\0", b"SSL_write\0"],
    [crate::go_tls::READ, crate::go_tls::WRITE],
];
/// Symbol and string tables larger than this in all are not read: a
/// program that large is rare, and its tables would be read again each time
/// the agent forgets the answer.
const MAX_TABLE_BYTES: u64 = 64 << 20;

/// Whether the 64-bit ELF file at `path` defines `SSL_read` and
/// `SSL_write` (or Go's `crypto/tls.(*Conn).Read` and `Write`), in its
/// dynamic or its full symbol table, or for a stripped Go program in the
/// runtime's function table. Files that are not
/// 64-bit ELF, cannot be read or have oversized tables answer `false`.
pub fn defines_tls_functions(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let data = &ReadCache::new(file);
    let Some(elf) = Elf::parse(data) else {
        return false;
    };
    let mut found = [[false; 2]; REQUIRED.len()];
    elf.symbols(|name, _| {
        for (pair, seen) in REQUIRED.iter().zip(found.iter_mut()) {
            if let Some(i) = pair.iter().position(|r| name.starts_with(r)) {
                seen[i] = true;
            }
        }
        found.iter().any(|pair| pair.iter().all(|f| *f))
    }) || crate::go_tls::table_names_them(&elf)
}

/// A 64-bit ELF file's header and section table, read (not its contents).
pub(crate) struct Elf<'data, R: ReadRef<'data>> {
    pub data: R,
    pub header: &'data FileHeader64<Endianness>,
    pub endian: Endianness,
    pub sections: SectionTable<'data, FileHeader64<Endianness>, R>,
}

impl<'data, R: ReadRef<'data>> Elf<'data, R> {
    /// `None` for files that are not 64-bit ELF.
    pub fn parse(data: R) -> Option<Self> {
        let header = FileHeader64::<Endianness>::parse(data).ok()?;
        let endian = header.endian().ok()?;
        // Section headers and their names only; no table is read yet.
        let sections = header.sections(endian, data).ok()?;
        Some(Elf {
            data,
            header,
            endian,
            sections,
        })
    }

    /// Calls `f` with each defined symbol of the dynamic and full symbol
    /// tables: its name (the rest of the string table from the name on,
    /// NUL-terminated) and the symbol, until `f` answers `true`, which is
    /// then returned. Tables over [`MAX_TABLE_BYTES`] in all are not read.
    ///
    /// Each symbol table and its string table are read whole, in one read
    /// each, and searched in memory (reading names one by one would cost a
    /// system call per symbol, and a large program has hundreds of
    /// thousands).
    pub fn symbols(&self, mut f: impl FnMut(&[u8], &Sym64<Endianness>) -> bool) -> bool {
        let (data, endian, sections) = (self.data, self.endian, &self.sections);
        let mut budget = MAX_TABLE_BYTES;
        for table in sections
            .iter()
            .filter(|s| matches!(s.sh_type(endian), SHT_DYNSYM | SHT_SYMTAB))
        {
            let Ok(names) = sections.section(SectionIndex(table.sh_link(endian) as usize)) else {
                continue;
            };
            if names.sh_type(endian) != SHT_STRTAB {
                continue;
            }
            let (sym_size, names_size) = (table.sh_size(endian), names.sh_size(endian));
            let Some(left) = budget.checked_sub(sym_size.saturating_add(names_size)) else {
                return false;
            };
            budget = left;
            let (Ok(symbols), Ok(names)) = (
                data.read_bytes_at(table.sh_offset(endian), sym_size),
                data.read_bytes_at(names.sh_offset(endian), names_size),
            ) else {
                continue;
            };
            let count = symbols.len() / std::mem::size_of::<Sym64<Endianness>>();
            let Ok((symbols, _)) =
                object::pod::slice_from_bytes::<Sym64<Endianness>>(symbols, count)
            else {
                continue;
            };
            for sym in symbols {
                if sym.st_shndx.get(endian) == SHN_UNDEF {
                    continue;
                }
                let Some(name) = names.get(sym.st_name.get(endian) as usize..) else {
                    continue;
                };
                if f(name, sym) {
                    return true;
                }
            }
        }
        false
    }

    /// `len` bytes at virtual address `addr`, from the section holding
    /// them, with that section's file offset for `addr`.
    pub fn at_address(&self, addr: u64, len: u64) -> Option<(&'data [u8], u64)> {
        let endian = self.endian;
        let section = self.sections.iter().find(|s| {
            let start = s.sh_addr(endian);
            s.sh_type(endian) == SHT_PROGBITS
                && start <= addr
                && addr
                    .checked_add(len)
                    .is_some_and(|end| end <= start.saturating_add(s.sh_size(endian)))
        })?;
        let offset = addr - section.sh_addr(endian) + section.sh_offset(endian);
        Some((self.data.read_bytes_at(offset, len).ok()?, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_without_tls_and_non_elf_files_answer_false() {
        assert!(!defines_tls_functions(Path::new("/bin/sh")));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("x");
        std::fs::write(&text, b"SSL_read SSL_write, but not ELF").unwrap();
        assert!(!defines_tls_functions(&text));
        assert!(!defines_tls_functions(&dir.path().join("missing")));
    }

    #[test]
    fn openssl_defines_them() {
        let test = "openssl_defines_them";
        let Some(libssl) = ["x86_64", "aarch64"]
            .iter()
            .map(|arch| format!("/usr/lib/{arch}-linux-gnu/libssl.so.3"))
            .find(|p| Path::new(p).exists())
        else {
            return podwire_lab::skip::skipped(test, "no libssl.so.3 (openssl)");
        };
        assert!(defines_tls_functions(Path::new(&libssl)));
        // libcrypto is mapped executable beside it and defines neither.
        assert!(!defines_tls_functions(Path::new(
            &libssl.replace("libssl", "libcrypto")
        )));
    }
}
