//! Prepared statements a connection has open, so that `COM_STMT_EXECUTE`,
//! which names a statement only by id, is recorded with its text.
//!
//! Bounded: past `max` statements the oldest (lowest id: servers hand ids
//! out in increasing order) is forgotten, and executions of it are recorded
//! without text.

use std::collections::HashMap;

/// What is remembered of a prepared statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// The statement as records carry it (masked unless asked otherwise).
    pub text: Option<String>,
    pub truncated: bool,
    pub verb: &'static str,
}

/// Statement id to text, bounded.
#[derive(Debug, Default)]
pub struct Prepared {
    map: HashMap<u32, Stmt>,
    max: usize,
    /// MariaDB lets a client execute "the statement just prepared" (id
    /// 0xFFFFFFFF) without waiting for its id.
    last: Option<u32>,
    pub evicted: u64,
}

/// The id MariaDB clients use for the statement prepared last.
pub const LAST: u32 = u32::MAX;

impl Prepared {
    pub fn new(max: usize) -> Self {
        Prepared {
            max,
            ..Prepared::default()
        }
    }

    pub fn insert(&mut self, id: u32, stmt: Stmt) {
        if self.max == 0 {
            return;
        }
        if !self.map.contains_key(&id) && self.map.len() >= self.max {
            if let Some(&oldest) = self.map.keys().min() {
                self.map.remove(&oldest);
                self.evicted += 1;
            }
        }
        self.map.insert(id, stmt);
        self.last = Some(id);
    }

    pub fn get(&self, id: u32) -> Option<&Stmt> {
        let id = if id == LAST { self.last? } else { id };
        self.map.get(&id)
    }

    pub fn remove(&mut self, id: u32) {
        let id = if id == LAST {
            self.last.unwrap_or(id)
        } else {
            id
        };
        self.map.remove(&id);
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(t: &str) -> Stmt {
        Stmt {
            text: Some(t.into()),
            truncated: false,
            verb: "SELECT",
        }
    }

    #[test]
    fn the_oldest_goes_first() {
        let mut p = Prepared::new(2);
        p.insert(1, stmt("a"));
        p.insert(2, stmt("b"));
        p.insert(3, stmt("c"));
        assert!(p.get(1).is_none());
        assert_eq!(p.get(LAST).and_then(|s| s.text.as_deref()), Some("c"));
        assert_eq!(p.evicted, 1);
    }
}
