//! Integration tests of the `podwire` binary: one test binary, split by topic
//! (ripgrep's layout), so the binary is built and linked once.
//!
//! - `agent`: `podwire agent` live in the lab, against clients and tshark
//!   (root and the lab's tools needed, else SKIPPED);
//! - `api_auth`: who may read: token file over TLS (certificate reloaded,
//!   peers over TLS), Kubernetes reviews through the fake API server (root
//!   needed, else SKIPPED);
//! - `api_load`: many clients, unread streams, huge targets and idle
//!   connections against a capturing agent: limits held and counted,
//!   memory bounded, capture losses counted (root needed, else SKIPPED);
//! - `budget`: a connection flood beyond the table's bound stays in memory;
//! - `cli`: settings from the environment and listen addresses, as a new
//!   user writes them;
//! - `conformance`: `podwire read` against tshark on the parser crates'
//!   captures where the two once disagreed (no root needed);
//! - `contract`: exit codes and output shape of `podwire read`;
//! - `fixtures`: the committed captures of `tests/data` against what the
//!   clients saw and against tshark (no root needed);
//! - `host`: the agent on its own host: `sniff -i lo` as tcpdump, its own
//!   API left out (`--observe-self` brings it back), loopback never named
//!   by DNS, the host's addresses named as the host (root, lab; else
//!   SKIPPED);
//! - `keylog`: TLS decrypted with key logs and pcapng decryption secrets,
//!   against tshark with the same keys; wrong, missing and unusable keys;
//!   captures cut mid-record;
//! - `kube`: Kubernetes names against the lab's fake API server: pods,
//!   workloads and services over a rollout and an API outage, hostNetwork
//!   pods by cgroup, node-scoped watches, reverse DNS; `kube_cluster`:
//!   peers by EndpointSlice, each conversation counted once; `kube_nat`:
//!   ClusterIPs through real DNAT (root needed, else SKIPPED);
//! - `lab`: live traffic in network namespaces, captured and read back
//!   (root and the lab's tools needed, else SKIPPED);
//! - `sniff`: `podwire sniff` against tcpdump on the same interface, two
//!   pods through the fake API server's proxy, TokenReview and RBAC (root
//!   and the lab's tools needed, else SKIPPED);
//! - `serve`: the HTTP API over captures (`podwire read --serve`), and
//!   cluster answers merged from 20+ peers, some late, one down;
//! - `serve_capture`: `read --serve` of an older capture: relative times
//!   from the capture's end, the status saying it is a capture;
//! - `tls_plaintext`: requests inside TLS read live from the TLS library
//!   (uprobes), nginx against curl and Python (root, lab, BTF; else
//!   SKIPPED);
//! - `ui`: the built-in web UI's files and headers, and the page in headless
//!   Chromium against `read --serve` (node, Chromium and `npm ci --prefix
//!   ui/tests` needed, else SKIPPED);
//! - `ui_live`: the UI against a live agent in the lab (root, lab, browser; else SKIPPED);
//! - `protocols`: Redis, HTTP/2, PostgreSQL and MariaDB from real servers and clients
//!   in the lab, live and from the capture (root, lab; else SKIPPED);
//! - `corpus`: robustness and tshark conformance over the third-party capture
//!   corpus in `../shared/pcaps` (when present, else SKIPPED).

#[path = "it/util.rs"]
mod util;

#[path = "it/agent.rs"]
mod agent;
#[path = "it/api_auth.rs"]
mod api_auth;
#[path = "it/api_load.rs"]
mod api_load;
#[path = "it/budget.rs"]
mod budget;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/conformance.rs"]
mod conformance;
#[path = "it/contract.rs"]
mod contract;
#[path = "it/corpus.rs"]
mod corpus;
#[path = "it/dashboards.rs"]
mod dashboards;
#[path = "it/fixtures.rs"]
mod fixtures;
#[path = "it/host.rs"]
mod host;
#[path = "it/keylog.rs"]
mod keylog;
#[path = "it/kube.rs"]
mod kube;
#[path = "it/kube_cluster.rs"]
mod kube_cluster;
#[path = "it/kube_nat.rs"]
mod kube_nat;
#[path = "it/lab.rs"]
mod lab;
#[path = "it/openapi.rs"]
mod openapi;
#[path = "it/otlp.rs"]
mod otlp;
#[path = "it/protocols.rs"]
mod protocols;
#[path = "it/serve.rs"]
mod serve;
#[path = "it/serve_capture.rs"]
mod serve_capture;
#[path = "it/sniff.rs"]
mod sniff;
#[path = "it/tls_certs.rs"]
mod tls_certs;
#[path = "it/tls_plaintext.rs"]
mod tls_plaintext;
#[path = "it/ui.rs"]
mod ui;
#[path = "it/ui_live.rs"]
mod ui_live;
