//! How much memory the store may use, and how it is split between tables.
//!
//! One number to set (the total), and shares that follow how big and how
//! frequent each record type is in practice: connection records are the most
//! numerous, HTTP records the largest, TLS handshakes rare but bulky.

use crate::{Table, TABLES};
use thiserror::Error;

/// Limits of a [`Store`](crate::Store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Memory all tables together may hold, in bytes (accounted as
    /// [`record_bytes`](crate::record_bytes) per record plus each table's
    /// slot array). Default 32 MiB.
    pub budget_bytes: usize,
    /// Percent of the budget per table, in the order of [`Table::ALL`]
    /// (connection, tls, http, dns, postgres, mysql, redis, kafka); must sum
    /// to 100. A share of 0 turns a table off (every record for it is
    /// dropped and counted). Default 30/5/25/10/10/8/7/5: connections and
    /// HTTP first, the database and broker tables enough for minutes of
    /// queries on a busy node.
    pub shares: [u8; TABLES],
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            budget_bytes: 32 << 20,
            shares: [30, 5, 25, 10, 10, 8, 7, 5],
        }
    }
}

impl StoreConfig {
    /// Checks the limits: a non-zero budget and shares that sum to 100.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.budget_bytes == 0 {
            return Err(StoreError::ZeroBudget);
        }
        let sum: u32 = self.shares.iter().map(|&s| u32::from(s)).sum();
        if sum != 100 {
            return Err(StoreError::Shares {
                shares: self.shares,
                sum,
            });
        }
        Ok(())
    }

    /// The bytes `table` may hold: its share of the budget, rounded down.
    pub fn table_budget(&self, table: Table) -> usize {
        let share = u128::from(self.shares[table.index()]);
        // u128: `budget_bytes * share` must not overflow on 64-bit targets.
        (self.budget_bytes as u128 * share / 100) as usize
    }
}

/// A [`StoreConfig`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `budget_bytes` is 0.
    #[error("the store's memory budget must be more than 0 bytes")]
    ZeroBudget,
    /// The shares do not add up to 100 percent.
    #[error(
        "the store's table shares ({}) add up to {sum} percent, not 100",
        describe(shares)
    )]
    Shares { shares: [u8; TABLES], sum: u32 },
}

/// `connection 40, tls 10, ...` for error messages.
fn describe(shares: &[u8; TABLES]) -> String {
    Table::ALL
        .iter()
        .zip(shares)
        .map(|(t, s)| format!("{} {s}", t.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_split_by_share() {
        let cfg = StoreConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.table_budget(Table::Connection), (32 << 20) * 30 / 100);
        let total: usize = Table::ALL.iter().map(|&t| cfg.table_budget(t)).sum();
        assert!(total <= cfg.budget_bytes && total + 4 > cfg.budget_bytes);
    }

    #[test]
    fn shares_must_sum_to_100() {
        let cfg = StoreConfig {
            budget_bytes: 1 << 20,
            shares: [40, 10, 35, 20, 0, 0, 0, 0],
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the store's table shares (connection 40, tls 10, http 35, dns 20, postgres 0, mysql 0, redis 0, kafka 0) add up to 105 percent, not 100"
        );
        let cfg = StoreConfig {
            budget_bytes: 1 << 20,
            shares: [0, 0, 100, 0, 0, 0, 0, 0],
        };
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.table_budget(Table::Http), 1 << 20);
        assert_eq!(cfg.table_budget(Table::Dns), 0);
    }

    #[test]
    fn zero_budget_is_refused() {
        let cfg = StoreConfig {
            budget_bytes: 0,
            ..StoreConfig::default()
        };
        assert_eq!(cfg.validate(), Err(StoreError::ZeroBudget));
    }

    #[test]
    fn huge_budget_does_not_overflow() {
        let cfg = StoreConfig {
            budget_bytes: usize::MAX,
            shares: [100, 0, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(cfg.table_budget(Table::Connection), usize::MAX);
    }
}
