//! A test lab for podwire: real programs on real (namespaced) networks, and
//! tshark as the reference answer.
//!
//! podwire promises to agree with Wireshark's dissection of the same bytes and
//! to keep working on traffic that real servers and clients produce. Unit tests
//! with hand-made packets cannot show either, so this crate gives integration
//! tests (and, later, the live agent's tests) the pieces to do it for real:
//!
//! - [`skip`]: detect missing root or tools and say why a test did not run;
//! - [`netns`]: network namespaces as pods on a bridge, like a CNI bridge plugin;
//! - [`process`]: processes inside a namespace, killed when dropped;
//! - [`servers`] and [`clients`]: nginx, dnsmasq, openssl, curl and dig set up
//!   for tests;
//! - [`capture`]: tcpdump captures, stopped cleanly, and format conversions;
//! - [`tshark`]: the reference extraction from a capture file;
//! - [`records`] and [`compare`]: podwire's JSON lines and how they must agree
//!   with the reference;
//! - [`scenario`]: the standard cluster and traffic of fixtures and lab tests;
//! - [`agent`]: a running `podwire agent` and its HTTP API, asked with the
//!   minimal client in [`http`];
//! - [`prometheus`]: a real Prometheus scraping podwire, and `promtool`'s lint
//!   of its metrics;
//! - [`child`] and [`corrupt`]: running podwire under a time and memory watch,
//!   and deterministic corruptions of captures for robustness runs.
//! - [`kubeapi`]: a fake Kubernetes API server with honest list/watch
//!   semantics (resourceVersions, paging, bookmarks, 410 Gone, selectors),
//!   for testing the agent's Kubernetes naming without a real cluster.
//!
//! Everything here shells out to the real tools on purpose: the point is to
//! test against them, not against a model of them.

pub mod agent;
pub mod capture;
pub mod child;
pub mod clients;
pub mod cmd;
pub mod compare;
pub mod corrupt;
pub mod error;
pub mod go;
pub mod http;
pub mod kubeapi;
pub mod netns;
pub mod process;
pub mod prometheus;
pub mod records;
pub mod scenario;
pub mod servers;
pub mod skip;
pub mod tls;
pub mod tshark;

pub use error::{Error, Result};
pub use skip::{require_lab, require_root, require_tools, Skip};
