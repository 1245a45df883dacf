//! Live capture against the real kernel: throwaway network namespaces, veth
//! pairs, real datagrams and real `ip link` changes. Needs root; without it
//! each test prints `SKIPPED: ...` and passes.

mod churn;
mod lab;
mod links;
mod podnet;
mod ring;
mod skip;
