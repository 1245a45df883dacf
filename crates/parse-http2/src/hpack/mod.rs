//! HPACK header block decoding (RFC 7541), one decoder per direction.
//!
//! Each direction of a connection has its own compression context, so the
//! parser keeps a [`Decoder`] per direction and feeds it every header block
//! that direction sends, in order, whether or not the block's stream is of
//! interest: skipping one would desynchronise the dynamic table.
//!
//! Decoding allocates nothing in the steady state: literal strings are
//! borrowed from the block, Huffman strings are decoded into two reused
//! scratch buffers, and the dynamic table keeps entries in an arena. Fields
//! are handed to a callback instead of being collected.
//!
//! A decoder that started mid-connection (or lost a block) does not know the
//! dynamic table: a field that refers to an unknown entry is reported as
//! [`Field::Unknown`], never guessed, and decoding goes on, since static
//! entries and literals still decode correctly and new insertions line the
//! table back up from the newest end.

mod huffman;
mod table;

use table::{DynamicTable, Lookup, STATIC};

/// The dynamic table size both sides start with (RFC 9113 section 6.5.2).
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4096;

/// One decoded field of a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    Known {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// The field's name refers to a dynamic table entry this decoder does
    /// not know (mid-stream join, or after a lost block).
    Unknown,
}

/// Why a header block could not be decoded; the decoder's table is then
/// unknown, since the block's insertions were not all seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HpackError {
    Truncated,
    Integer,
    Huffman,
    Index,
}

/// The decoding context of one direction.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: DynamicTable,
    /// Largest table size accepted, whatever SETTINGS say.
    cap: usize,
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder at the start of a connection, accepting tables up to `cap`.
    pub fn new(cap: usize) -> Self {
        let mut table = DynamicTable::new(DEFAULT_TABLE_SIZE.min(cap));
        table.set_max_size(DEFAULT_TABLE_SIZE.min(cap), DEFAULT_TABLE_SIZE > cap);
        Decoder {
            table,
            cap,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Forgets the dynamic table: a block was lost or not decodable.
    pub fn forget(&mut self) {
        self.table.forget();
    }

    /// Whether every dynamic entry the encoder may use is known.
    pub fn is_known(&self) -> bool {
        self.table.is_known()
    }

    /// The decoding side announced `SETTINGS_HEADER_TABLE_SIZE`. A larger
    /// size applies at once (keeping more entries is harmless); a smaller
    /// one waits for the encoder's size update, which it must send.
    pub fn settings_table_size(&mut self, size: u32) {
        let size = size as usize;
        if size > self.table.max_size() {
            self.table.set_max_size(size.min(self.cap), size > self.cap);
        }
    }

    /// Decodes `block`, handing each field to `sink`. Returns how many
    /// fields were unknown. On error the table is forgotten.
    ///
    /// A literal that is not indexed and whose name `wanted` refuses is
    /// passed over without decoding its value (often Huffman-coded, and
    /// needed neither by the table nor by the caller).
    pub fn decode(
        &mut self,
        block: &[u8],
        wanted: impl Fn(&[u8]) -> bool,
        sink: impl FnMut(Field<'_>),
    ) -> Result<u32, HpackError> {
        let result = self.decode_inner(block, wanted, sink);
        if result.is_err() {
            self.table.forget();
        }
        result
    }

    fn decode_inner(
        &mut self,
        block: &[u8],
        wanted: impl Fn(&[u8]) -> bool,
        mut sink: impl FnMut(Field<'_>),
    ) -> Result<u32, HpackError> {
        let Decoder {
            table,
            cap,
            name_buf,
            value_buf,
        } = self;
        let mut unknown = 0u32;
        let mut pos = 0usize;
        // Each pass consumes at least one byte of `block`.
        while let Some(&b) = block.get(pos) {
            if b & 0x80 != 0 {
                let index = integer(block, &mut pos, 7)?;
                match lookup(table, index) {
                    Lookup::Known(name, value) => sink(Field::Known { name, value }),
                    Lookup::NameUnknown(_) | Lookup::Unknown => {
                        unknown += 1;
                        sink(Field::Unknown);
                    }
                    Lookup::Invalid => return Err(HpackError::Index),
                }
            } else if b & 0xe0 == 0x20 {
                let size = integer(block, &mut pos, 5)?;
                table.set_max_size(size.min(*cap), size > *cap);
            } else {
                let (prefix, index_it) = if b & 0x40 != 0 { (6, true) } else { (4, false) };
                let index = integer(block, &mut pos, prefix)?;
                // The name: `None` when it refers to an unknown entry.
                let name: Option<&[u8]> = if index == 0 {
                    Some(string(block, &mut pos, name_buf)?)
                } else {
                    match lookup(table, index) {
                        Lookup::Known(name, _) => {
                            name_buf.clear();
                            name_buf.extend_from_slice(name);
                            Some(name_buf.as_slice())
                        }
                        Lookup::NameUnknown(_) | Lookup::Unknown => None,
                        Lookup::Invalid => return Err(HpackError::Index),
                    }
                };
                if !index_it && name.is_none_or(|n| !wanted(n)) {
                    skip_string(block, &mut pos)?;
                    if name.is_none() {
                        unknown += 1;
                        sink(Field::Unknown);
                    }
                    continue;
                }
                let value = string(block, &mut pos, value_buf)?;
                match name {
                    Some(name) => sink(Field::Known { name, value }),
                    None => {
                        unknown += 1;
                        sink(Field::Unknown);
                    }
                }
                if index_it {
                    table.insert(name, value);
                }
            }
        }
        Ok(unknown)
    }
}

/// Static (1..=61) or dynamic (62..) entry `index`.
fn lookup(table: &DynamicTable, index: usize) -> Lookup<'_> {
    match index {
        0 => Lookup::Invalid,
        1..=61 => match STATIC.get(index - 1) {
            Some(&(name, value)) => Lookup::Known(name, value),
            None => Lookup::Invalid,
        },
        _ => table.get(index - 61),
    }
}

/// An integer with an `n`-bit prefix (RFC 7541 section 5.1), at most
/// `u32::MAX`.
fn integer(block: &[u8], pos: &mut usize, n: u32) -> Result<usize, HpackError> {
    let first = *block.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let mask = (1u8 << n) - 1;
    let mut value = u64::from(first & mask);
    if value < u64::from(mask) {
        return Ok(value as usize);
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        if shift > 28 {
            return Err(HpackError::Integer);
        }
        value += u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    u32::try_from(value)
        .map(|v| v as usize)
        .map_err(|_| HpackError::Integer)
}

/// A string literal (RFC 7541 section 5.2): borrowed from `block`, or
/// Huffman-decoded into `scratch`.
fn string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], HpackError> {
    let huffman = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = block.get(*pos..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    if huffman {
        scratch.clear();
        huffman::decode(raw, scratch).map_err(|_| HpackError::Huffman)?;
        Ok(scratch.as_slice())
    } else {
        Ok(raw)
    }
}

/// Passes over a string literal.
fn skip_string(block: &[u8], pos: &mut usize) -> Result<(), HpackError> {
    let len = integer(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    if end > block.len() {
        return Err(HpackError::Truncated);
    }
    *pos = end;
    Ok(())
}

#[cfg(test)]
mod tests;
