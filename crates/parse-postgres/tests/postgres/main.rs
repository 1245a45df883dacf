//! Tests of the PostgreSQL parser, one binary split by topic.

mod util;

mod detect;
mod gaps;
mod limits;
mod real_traffic;
mod startup;
mod statements;
