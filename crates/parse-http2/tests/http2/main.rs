//! Tests of the HTTP/2 parser, one binary split by topic.

mod util;

mod corpus;
mod gaps;
mod grpc;
mod perf;
mod real_traffic;
mod robustness;
mod synthetic;
mod third_party;
