//! Recent records in memory: the `store` stage of the pipeline.
//!
//! The live agent answers questions about the last minutes of traffic ("who
//! talked to 10.0.0.7?", "which DNS names did this pod resolve?") from memory,
//! without a database. Memory is the scarce resource on a node, so the store
//! is sized in bytes, not records: one total budget ([`StoreConfig`]) split
//! into a share per record type ([`Table`]), as Pixie splits its table store.
//! When a table is over its share the oldest records go first, and what goes is
//! counted ([`TableStats`]), like every other bound in podwire.
//!
//! * [`Store`] holds the tables and accounts every byte a record owns
//!   ([`record_heap_bytes`]), so the budget is what the process really spends
//!   on them, give or take the allocator's own overhead.
//! * [`Filter`] is the agent's query language: parsed from the URL query string
//!   of a request ([`Filter::parse_query`]) and matched against records, stored
//!   or not.
//!
//! Nothing here reads a clock or locks: the caller passes "now" where a query
//! needs it, and wraps the store in the lock it prefers.
//!
//! ```
//! use podwire_record::{Body, Dns, DnsTransport, Endpoint, Record, Timestamp};
//! use podwire_store::{Filter, Store, StoreConfig, Table};
//!
//! let mut store = Store::new(StoreConfig::default())?;
//! let now = Timestamp::from_parts(1_700_000_000, 0);
//! store.insert(Record::new(
//!     now,
//!     Endpoint::new("10.0.0.1".parse()?, 40000),
//!     Endpoint::new("10.0.0.2".parse()?, 53),
//!     Body::Dns(Dns {
//!         transport: DnsTransport::Udp,
//!         id: 1,
//!         name: "api.example.com".into(),
//!         qtype: "A".into(),
//!         rcode: None,
//!         answers: vec![],
//!         latency_ms: None,
//!     }),
//! ));
//!
//! // GET /api/dns?domain=example.com&since=5m
//! let filter = Filter::parse_query("domain=example.com&since=5m", now)?;
//! let mut body = Vec::new();
//! let n = store.write_json(Table::Dns, &filter, &[], &mut body);
//! assert_eq!(n, 1);
//! assert!(body.starts_with(br#"[{"type":"dns""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod filter;
mod query;
mod size;
mod store;

#[cfg(test)]
mod testutil;

pub use config::{StoreConfig, StoreError};
pub use filter::{accounted_on, Cursor, Filter, State};
pub use query::{pairs, FilterError};
pub use size::{record_bytes, record_heap_bytes};
pub use store::{Store, StoreStats, TableStats};

use podwire_record::{Body, Record};

/// A table of the store: one per record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Connection,
    Tls,
    Http,
    Dns,
    Postgres,
    Mysql,
    Redis,
    Kafka,
}

/// How many tables there are: one per record type.
pub const TABLES: usize = 8;

impl Table {
    /// Every table, in the order of [`StoreConfig::shares`] and [`Table::index`].
    pub const ALL: [Table; TABLES] = [
        Table::Connection,
        Table::Tls,
        Table::Http,
        Table::Dns,
        Table::Postgres,
        Table::Mysql,
        Table::Redis,
        Table::Kafka,
    ];

    /// The table a record belongs in.
    pub fn of(rec: &Record) -> Table {
        match rec.body {
            Body::Connection(_) => Table::Connection,
            Body::Tls(_) => Table::Tls,
            Body::Http(_) => Table::Http,
            Body::Dns(_) => Table::Dns,
            Body::Postgres(_) => Table::Postgres,
            Body::Mysql(_) => Table::Mysql,
            Body::Redis(_) => Table::Redis,
            Body::Kafka(_) => Table::Kafka,
        }
    }

    /// The record type stored here, as in the records' `"type"` field.
    pub fn name(self) -> &'static str {
        match self {
            Table::Connection => "connection",
            Table::Tls => "tls",
            Table::Http => "http",
            Table::Dns => "dns",
            Table::Postgres => "postgres",
            Table::Mysql => "mysql",
            Table::Redis => "redis",
            Table::Kafka => "kafka",
        }
    }

    /// The table of a record type name (the inverse of [`Table::name`]).
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    #[test]
    fn table_of_follows_the_body_and_its_name_the_type_tag() {
        for rec in [
            testutil::conn(1, "10.0.0.1", 80),
            testutil::tls(1, "example.com"),
            testutil::http(1, "GET", "example.com", "/"),
            testutil::dns(1, "example.com"),
        ] {
            let t = Table::of(&rec);
            assert_eq!(t.name(), rec.kind);
            assert_eq!(Table::from_name(rec.kind), Some(t));
            assert_eq!(Table::ALL[t.index()], t);
        }
        assert_eq!(Table::from_name("connections"), None);
    }
}
