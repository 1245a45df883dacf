//! Tests of the Kafka parser, one binary split by topic.

mod util;

mod edge;
mod real_traffic;
mod robustness;
