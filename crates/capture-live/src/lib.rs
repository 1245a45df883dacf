//! Live packet source of the agent: the `capture` stage when the input is the
//! node itself rather than a file.
//!
//! # Design
//!
//! One AF_PACKET socket with a TPACKET_V3 memory-mapped ring ([`Ring`]),
//! bound to interface index 0, sees every interface of the network namespace
//! it was created in. In a node's host namespace that is every pod's veth,
//! the bridge, the uplink and the tunnels, so pods coming and going need no
//! socket churn: a new veth's packets simply start arriving, tagged with its
//! ifindex. The kernel fills whole blocks of frames and hands them over in
//! one wakeup; the agent reads frames in place (no copy, no syscall per
//! packet) and gives the block back when done.
//!
//! Names, kinds (`veth`, `bridge`, ...) and states of those interfaces come
//! from rtnetlink ([`LinkMonitor`]): one dump at start, then change
//! notifications, with a re-dump whenever the kernel reports it dropped some.
//! The monitor's table is what turns a frame's ifindex into something a
//! person recognises, and it drives the optional ifindex filter
//! ([`Ring::set_interfaces`]), a classic BPF socket filter swapped atomically
//! when the set of interesting interfaces changes.
//!
//! Sockets belong to the network namespace of the thread that created them,
//! for their whole life. [`in_netns`] runs a closure on a short-lived thread
//! inside a chosen namespace, so the agent can open a ring and a link monitor
//! "inside" a pod's (or a test's) namespace and then use them from anywhere.
//!
//! Everything the kernel hands over (ring blocks, netlink messages) is parsed
//! by bounds-checked safe code over byte slices; malformed input ends a block
//! or is counted and skipped, never a panic. `unsafe` is confined to the
//! syscalls and the ring mapping.

mod block;
pub mod conntrack;
mod filter;
mod links;
mod netlink;
mod netns;
pub mod pcap_filter;
pub mod podnet;
mod ring;
mod skip;
mod sys;

pub use block::{Frame, Frames, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_UNKNOWN};
pub use filter::{skip_outgoing, MAX_FILTER_INTERFACES};
pub use links::{LinkEvent, LinkMonitor};
pub use netlink::{parse_link_message, Link, LinkMessage, ParseError};
pub use netns::in_netns;
pub use pcap_filter::{FilterError, Insn, Program};
pub use podnet::HostSide;
pub use ring::{Block, Ring, RingConfig, RingStats};
pub use skip::{Skip, MAX_PORTS as MAX_SKIP_PORTS, MAX_V4 as MAX_SKIP_V4, MAX_V6 as MAX_SKIP_V6};

use std::io;
use std::path::PathBuf;

/// Why a live source could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The ring geometry is one the kernel would refuse.
    #[error("invalid ring configuration: {0}")]
    InvalidConfig(&'static str),
    /// Creating a socket failed (EPERM: needs root or CAP_NET_RAW).
    #[error("cannot create socket: {0}")]
    Socket(io::Error),
    /// A socket option was refused.
    #[error("setsockopt {what} failed: {source}")]
    Setsockopt {
        what: &'static str,
        source: io::Error,
    },
    /// Reading a socket option failed.
    #[error("getsockopt {what} failed: {source}")]
    Getsockopt {
        what: &'static str,
        source: io::Error,
    },
    /// Binding the packet socket failed.
    #[error("cannot bind packet socket: {0}")]
    Bind(io::Error),
    /// Mapping the ring into memory failed (often RLIMIT_MEMLOCK or memory).
    #[error("cannot map the packet ring: {0}")]
    Mmap(io::Error),
    /// Waiting for the ring failed.
    #[error("poll on the packet socket failed: {0}")]
    Poll(io::Error),
    /// An rtnetlink socket operation failed, or the kernel answered a
    /// request with an error.
    #[error("rtnetlink: {0}")]
    Netlink(io::Error),
    /// Entering a network namespace failed.
    #[error("cannot enter network namespace {}: {source}", path.display())]
    Netns { path: PathBuf, source: io::Error },
    /// More interfaces than a classic BPF filter can test.
    #[error("too many interfaces for a socket filter: {0} (at most {MAX_FILTER_INTERFACES})")]
    TooManyInterfaces(usize),
}
