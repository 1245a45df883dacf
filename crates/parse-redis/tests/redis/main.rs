//! Tests of the Redis parser, one binary split by topic.

mod util;

mod gaps;
mod limits;
mod real_traffic;
mod robustness;
mod secrets;
mod sessions;
