//! Tests of the MySQL/MariaDB parser, one binary split by topic. Fixtures
//! in `tests/data` are captures of MariaDB 10.11 with the `mysql` client,
//! PyMySQL and mysql-connector-python (see `tests/data/README.md`).

mod util;

mod detection;
mod gaps;
mod real_traffic;
mod robustness;
