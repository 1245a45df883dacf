//! Locks taken back from a panicked holder, the same way everywhere.
//!
//! A thread that panics while it holds a lock poisons it. podwire's shared
//! state (stores, name tables, counters, caches) is written in steps that
//! each leave it usable, so the data behind a poisoned lock is still the
//! best there is: one panicked API connection or watcher must not take the
//! agent down with it. Every lock in the project is taken through these
//! three functions rather than a copy of `unwrap_or_else(|e| e.into_inner())`
//! in each crate.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, poisoned or not.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, poisoned or not.
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, poisoned or not.
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Panics while holding `m`'s lock, on another thread.
    fn poison_mutex(m: &Arc<Mutex<Vec<u32>>>) {
        let m = Arc::clone(m);
        let res = std::thread::spawn(move || {
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            g.push(2);
            panic!("holder panics");
        })
        .join();
        assert!(res.is_err());
    }

    #[test]
    fn a_poisoned_mutex_still_locks_with_what_was_written() {
        let m = Arc::new(Mutex::new(vec![1]));
        poison_mutex(&m);
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), vec![1, 2]);
    }

    #[test]
    fn a_poisoned_rwlock_still_reads_and_writes() {
        let l = Arc::new(RwLock::new(1u32));
        let l2 = Arc::clone(&l);
        let res = std::thread::spawn(move || {
            let mut g = l2.write().unwrap_or_else(PoisonError::into_inner);
            *g = 2;
            panic!("holder panics");
        })
        .join();
        assert!(res.is_err() && l.is_poisoned());
        assert_eq!(*read(&l), 2);
        *write(&l) = 3;
        assert_eq!(*read(&l), 3);
    }
}
