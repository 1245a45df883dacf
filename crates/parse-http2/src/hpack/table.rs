//! HPACK's static table and the dynamic table (RFC 7541 sections 2.3, 4).
//!
//! The dynamic table keeps its entries' bytes in one arena that only grows
//! at the back and is compacted now and then, so a busy connection inserts
//! without allocating. Entries can be partly unknown: after a mid-stream
//! join or a lost header block, the table's older entries are not known at
//! all, and an entry inserted with a name taken from one of them has a known
//! value but an unknown name. Lookups say so rather than guess.

use std::collections::VecDeque;

/// RFC 7541 Appendix A, index 1..=61.
pub(crate) const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Per-entry overhead counted in the table size (RFC 7541 section 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// One dynamic entry; its bytes are `name` then `value` in the arena from
/// `start` (an absolute position: arena index + `base`).
#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u64,
    name_len: u32,
    value_len: u32,
    /// False when the name came from an entry that was not known.
    name_known: bool,
}

impl Entry {
    fn size(&self) -> usize {
        self.name_len as usize + self.value_len as usize + ENTRY_OVERHEAD
    }
}

/// What a table index refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// Name and value are known.
    Known(&'a [u8], &'a [u8]),
    /// The value is known, the name is not.
    NameUnknown(&'a [u8]),
    /// The entry existed before this decoder's knowledge began (or the
    /// index is out of range where older entries might exist).
    Unknown,
    /// The index cannot be valid (0, or past a table fully known).
    Invalid,
}

/// The dynamic table of one decoding context.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    arena: Vec<u8>,
    /// Absolute position of `arena[0]`.
    base: u64,
    /// Oldest first.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Entries older than those held may exist and are unknown.
    unknown_older: bool,
    /// The encoder may use a larger table than this one keeps (its size was
    /// capped), so entries evicted here may still be referenced.
    capped: bool,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> Self {
        DynamicTable {
            arena: Vec::new(),
            base: 0,
            entries: VecDeque::new(),
            size: 0,
            max_size,
            unknown_older: false,
            capped: false,
        }
    }

    /// Forgets every entry: they are no longer known (a header block was
    /// lost, or this decoder starts mid-connection).
    pub fn forget(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.base = 0;
        self.size = 0;
        self.unknown_older = true;
    }

    /// Whether every entry the encoder may reference is known.
    pub fn is_known(&self) -> bool {
        !self.unknown_older
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Applies a new maximum size, evicting to fit. A size of zero empties
    /// the encoder's table too, so the table is fully known again.
    pub fn set_max_size(&mut self, max_size: usize, capped: bool) {
        self.max_size = max_size;
        self.capped = capped;
        if max_size == 0 {
            self.unknown_older = false;
        }
        self.evict_to(max_size);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Entry `index` (1 = newest) of the dynamic table.
    pub fn get(&self, index: usize) -> Lookup<'_> {
        let Some(pos) = self.entries.len().checked_sub(index) else {
            return if self.unknown_older || self.capped {
                Lookup::Unknown
            } else {
                Lookup::Invalid
            };
        };
        let Some(e) = self.entries.get(pos) else {
            return Lookup::Invalid;
        };
        let Some(at) = e.start.checked_sub(self.base) else {
            return Lookup::Invalid;
        };
        let at = at as usize;
        let name_end = at.saturating_add(e.name_len as usize);
        let value_end = name_end.saturating_add(e.value_len as usize);
        match (
            self.arena.get(at..name_end),
            self.arena.get(name_end..value_end),
        ) {
            (Some(name), Some(value)) if e.name_known => Lookup::Known(name, value),
            (_, Some(value)) => Lookup::NameUnknown(value),
            _ => Lookup::Invalid,
        }
    }

    /// Inserts a new entry (its name `None` when unknown), evicting older
    /// ones to make room; an entry larger than the table empties it.
    pub fn insert(&mut self, name: Option<&[u8]>, value: &[u8]) {
        let name_bytes = name.unwrap_or(b"");
        let size = name_bytes.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.evict_to(0);
            // The encoder's table is now empty as well.
            self.unknown_older = false;
            return;
        }
        self.evict_to(self.max_size - size);
        self.compact();
        let start = self.base + self.arena.len() as u64;
        self.arena.extend_from_slice(name_bytes);
        self.arena.extend_from_slice(value);
        self.entries.push_back(Entry {
            start,
            name_len: name_bytes.len() as u32,
            value_len: value.len() as u32,
            name_known: name.is_some(),
        });
        self.size += size;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(e) = self.entries.pop_front() else {
                self.size = 0;
                break;
            };
            self.size = self.size.saturating_sub(e.size());
        }
        if self.entries.is_empty() {
            self.arena.clear();
            self.base = 0;
        }
    }

    /// Drops arena bytes of evicted entries once they are most of it.
    fn compact(&mut self) {
        let Some(front) = self.entries.front() else {
            return;
        };
        let dead = front.start.saturating_sub(self.base) as usize;
        if dead > 4096 && dead > self.arena.len() / 2 {
            self.arena.drain(..dead.min(self.arena.len()));
            self.base = front.start;
        }
    }
}
