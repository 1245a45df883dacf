//! Tests of the HTTP/1.x parser, one binary split by topic.

mod util;

mod corpus;
mod framing;
mod gaps;
mod limits;
mod real_traffic;
mod redaction;
mod robustness;
mod splitting;
