//! The tables: a queue of records per type, each within its byte budget.
//!
//! Records arrive roughly in time order, and the ones that matter least are
//! the oldest, so each table is a FIFO: "oldest" means first inserted, and
//! that is what goes when a table is over budget. (Connection records are
//! inserted when they end but carry their start time in `ts`, so insertion
//! order and `ts` order differ; queries sort by `ts`.)
//!
//! Each record is boxed: a `Record` is as large as its largest body (a TLS
//! handshake), while most are connections with no heap data at all. Stored
//! inline, a `VecDeque<Record>` would also hold up to twice its length in
//! empty record-sized slots while it grows; boxed, the empty slots are 8
//! bytes each. Both the boxes and the slot array count against the budget,
//! and the slot array grows only as far as the budget leaves room for, so a
//! table's accounted bytes never exceed its budget.

use crate::size::record_bytes;
use crate::{Cursor, Filter, StoreConfig, StoreError, Table};
use podwire_record::{json, Record};
use std::collections::VecDeque;
use std::mem::size_of;

/// Bytes of one slot of a table's queue.
const SLOT: usize = size_of::<Box<Record>>();

/// Bounded tables of recent records, one per [`Table`].
///
/// Not locked inside: the agent wraps it in a `Mutex` or `RwLock`
/// ([`Store::insert`] takes `&mut self`, queries `&self`).
#[derive(Debug)]
pub struct Store {
    tables: [TableStore; crate::TABLES],
}

#[derive(Debug)]
struct TableStore {
    records: VecDeque<Box<Record>>,
    budget: usize,
    /// Sum of [`record_bytes`] over `records`.
    record_bytes: usize,
    inserted: u64,
    dropped_records: u64,
    dropped_bytes: u64,
}

/// Counters of one table, for the agent's metrics
/// (`podwire_store_records{table}`, `podwire_store_bytes`,
/// `podwire_store_budget_bytes`, `podwire_store_inserted_records_total`,
/// `podwire_store_dropped_records_total`, `podwire_store_dropped_bytes_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableStats {
    pub table: Table,
    /// Records held now.
    pub records: usize,
    /// Bytes held now: the records' [`record_bytes`](crate::record_bytes) and
    /// the queue's slots. At most `budget_bytes`.
    pub bytes: usize,
    pub budget_bytes: usize,
    /// Records offered to the table; `records + dropped_records_total`.
    pub inserted_total: u64,
    /// Records pushed out to make room, or refused because alone they
    /// exceed the budget.
    pub dropped_records_total: u64,
    /// Their [`record_bytes`](crate::record_bytes).
    pub dropped_bytes_total: u64,
}

/// Counters of every table, in the order of [`Table::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    pub tables: [TableStats; crate::TABLES],
}

impl StoreStats {
    /// The counters of `table`.
    pub fn get(&self, table: Table) -> &TableStats {
        &self.tables[table.index()]
    }

    /// Bytes held by all tables together.
    pub fn bytes(&self) -> usize {
        self.tables.iter().map(|t| t.bytes).sum()
    }
}

impl Store {
    /// An empty store; fails when `cfg` does not [validate](StoreConfig::validate).
    pub fn new(cfg: StoreConfig) -> Result<Store, StoreError> {
        cfg.validate()?;
        Ok(Store {
            tables: Table::ALL.map(|t| TableStore {
                records: VecDeque::new(),
                budget: cfg.table_budget(t),
                record_bytes: 0,
                inserted: 0,
                dropped_records: 0,
                dropped_bytes: 0,
            }),
        })
    }

    /// Adds `rec` to its table, dropping that table's oldest records while it
    /// would be over budget. A record that alone exceeds the table's budget
    /// is dropped itself. Either way the drop is counted.
    pub fn insert(&mut self, rec: Record) {
        self.tables[Table::of(&rec).index()].insert(rec);
    }

    /// The records of `table`, oldest (first inserted) first.
    pub fn records(&self, table: Table) -> impl DoubleEndedIterator<Item = &Record> + '_ {
        self.tables[table.index()].records.iter().map(|r| &**r)
    }

    /// Records of `table` and of `extra` that pass `filter`, newest first,
    /// at most `filter.limit` of them.
    ///
    /// `extra` is for records the store does not hold, such as the open
    /// connections the agent snapshots from its trackers; those of other
    /// tables are skipped. The order is by `ts`, then by [`Cursor`] key, so
    /// the same records always come in the same order, wherever they are
    /// held.
    pub fn query<'a>(
        &'a self,
        table: Table,
        filter: &Filter,
        extra: &'a [Record],
    ) -> Vec<&'a Record> {
        self.query_page(table, filter, extra).0
    }

    /// [`Store::query`], and the cursor of the next page when there is one
    /// (`filter.after` set to it asks for that page).
    pub fn query_page<'a>(
        &'a self,
        table: Table,
        filter: &Filter,
        extra: &'a [Record],
    ) -> (Vec<&'a Record>, Option<Cursor>) {
        let stored = &self.tables[table.index()].records;
        let mut hits: Vec<(Cursor, &Record)> = Vec::new();
        let candidates = stored
            .iter()
            .map(|r| &**r)
            .chain(extra.iter().filter(|r| Table::of(r) == table));
        for r in candidates {
            // Cheap checks first: most records fail the filter or the time.
            if filter.after.is_some_and(|a| r.ts > a.ts) || !filter.matches(r) {
                continue;
            }
            let at = Cursor::of(r);
            if filter.after.is_some_and(|a| at >= a) {
                continue;
            }
            hits.push((at, r));
        }
        let newest_first = |a: &(Cursor, &Record), b: &(Cursor, &Record)| b.0.cmp(&a.0);
        let more = hits.len() > filter.limit;
        if filter.limit == 0 {
            hits.clear();
        } else if more {
            hits.select_nth_unstable_by(filter.limit - 1, newest_first);
            hits.truncate(filter.limit);
        }
        hits.sort_unstable_by(newest_first);
        let next = if more { hits.last().map(|h| h.0) } else { None };
        (hits.into_iter().map(|(_, r)| r).collect(), next)
    }

    /// Appends the answer of [`Store::query`] to `out` as one JSON array of
    /// records (schema v1, no newline) and returns how many it holds.
    pub fn write_json(
        &self,
        table: Table,
        filter: &Filter,
        extra: &[Record],
        out: &mut Vec<u8>,
    ) -> usize {
        self.write_json_page(table, filter, extra, out).0
    }

    /// [`Store::write_json`], and the next page's cursor, if any.
    pub fn write_json_page(
        &self,
        table: Table,
        filter: &Filter,
        extra: &[Record],
        out: &mut Vec<u8>,
    ) -> (usize, Option<Cursor>) {
        let (hits, next) = self.query_page(table, filter, extra);
        out.push(b'[');
        for (i, r) in hits.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_record(out, r);
        }
        out.push(b']');
        (hits.len(), next)
    }

    /// Counters of every table.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            tables: Table::ALL.map(|t| {
                let s = &self.tables[t.index()];
                TableStats {
                    table: t,
                    records: s.records.len(),
                    bytes: s.bytes(),
                    budget_bytes: s.budget,
                    inserted_total: s.inserted,
                    dropped_records_total: s.dropped_records,
                    dropped_bytes_total: s.dropped_bytes,
                }
            }),
        }
    }
}

impl TableStore {
    /// Accounted bytes: the records and the queue's slot array.
    fn bytes(&self) -> usize {
        self.record_bytes + self.records.capacity() * SLOT
    }

    fn insert(&mut self, rec: Record) {
        self.inserted += 1;
        let cost = record_bytes(&rec);
        if cost.saturating_add(SLOT) > self.budget {
            self.count_drop(cost);
            return;
        }
        let slots = self.make_room(cost);
        if slots > self.records.capacity() {
            // The queue is full (len == capacity): grow it to exactly `slots`.
            self.records.reserve_exact(slots - self.records.len());
        }
        self.records.push_back(Box::new(rec));
        self.record_bytes += cost;
        debug_assert!(
            self.bytes() <= self.budget,
            "{} > {}",
            self.bytes(),
            self.budget
        );
    }

    /// Drops the oldest records until one more of `cost` bytes fits, and
    /// returns the queue capacity to have then: the current one, or (when the
    /// queue is full) a larger one, doubling as far as the budget allows.
    /// Needs `cost + SLOT <= budget`.
    fn make_room(&mut self, cost: usize) -> usize {
        const MIN_SLOTS: usize = 4;
        loop {
            let (len, cap) = (self.records.len(), self.records.capacity());
            // Slots the budget can pay for once this record is in.
            let affordable = self.budget.saturating_sub(self.record_bytes + cost) / SLOT;
            if len < cap {
                if cap <= affordable {
                    return cap;
                }
            } else {
                let grown = cap.saturating_mul(2).max(MIN_SLOTS).min(affordable);
                if grown > len {
                    return grown;
                }
            }
            if len == 0 {
                // Nothing left to drop but the slot array is too large for
                // this record: start a smaller one.
                self.records = VecDeque::new();
                continue;
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some(old) = self.records.pop_front() {
            let cost = record_bytes(&old);
            self.record_bytes -= cost;
            self.count_drop(cost);
        }
    }

    fn count_drop(&mut self, cost: usize) {
        self.dropped_records += 1;
        self.dropped_bytes += cost as u64;
    }
}

#[cfg(test)]
mod tests;
