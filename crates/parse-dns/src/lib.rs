//! DNS: what was asked, what came back, how long it took.
//!
//! DNS is how podwire learns the names behind external addresses and how a
//! user sees a slow or failing resolver, so every query becomes one
//! `"type":"dns"` record: id, question, rcode, answers, latency. This crate
//! turns wire bytes into those records, for UDP (one message per payload,
//! [`parse`] + [`DnsPairer`]) and TCP (length-framed streams,
//! [`DnsTcpParser`]). Like every podwire parser it does no I/O, reads no
//! clock, bounds every table and buffer ([`DnsConfig`]) and never panics; it
//! is fuzzed by `fuzz/fuzz_targets/dns.rs`.
//!
//! # Why a hand-written wire parser
//!
//! `hickory-proto` (0.25, default features off) still pulls about 60 crates
//! (ICU and idna tables, url, rand, futures, tracing, async-trait) for what
//! is a few hundred lines of well-specified parsing; and it fails a whole
//! message on the first bad record, whereas podwire must still report the id
//! and question of a message whose answers are damaged, as tshark does. It
//! also decides its own allocation limits. So the parser here is small,
//! bounded and forgiving on purpose: `wire` (messages), `names` (name
//! compression), `rdata` (presentation form of answers), `pair` (queries
//! with responses), `tcp` (framing), `codes` (mnemonics).
//!
//! # Presentation choices
//!
//! Names are written as tshark shows them: no trailing dot, case as sent;
//! the root, which tshark shows as `<Root>`, is `.`. Answer data uses zone
//! file syntax (as `dig` prints it), and `\# len hex` (RFC 3597) for types
//! without a formatter or RDATA that does not decode as its type.
//! Types and rcodes use IANA mnemonics ([`qtype_name`], [`rcode_name`]).

mod codes;
mod names;
mod pair;
mod rdata;
mod tcp;
mod wire;

pub use codes::{qtype_name, rcode_name};

/// Ports that carry DNS whatever the payload looks like: DNS (53),
/// multicast DNS (5353) and LLMNR (5355). Elsewhere DNS is recognised by
/// content ([`looks_like_dns`]).
pub const DNS_PORTS: [u16; 3] = [53, 5353, 5355];
pub use names::{NameError, MAX_NAME_WIRE, MAX_POINTERS};
pub use pair::{DnsEvent, DnsPairer};
pub use tcp::DnsTcpParser;
pub use wire::{looks_like_dns, parse, DnsMessage, Question, MAX_ANSWERS};

/// Limits of the DNS parsers. Every table and buffer has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// Most queries waiting for a response per pairer (UDP: per tracker,
    /// TCP: per connection); when full, the oldest is emitted unanswered and
    /// counted in [`DnsPairer::evicted`]. Default 65 536 (one per id).
    pub max_pending: usize,
    /// How long a query waits for its response before it is emitted
    /// unanswered, in nanoseconds of capture time. Default 5 s, the usual
    /// resolver timeout.
    pub timeout_ns: u64,
    /// Most bytes buffered per TCP direction: one incomplete message with its
    /// 2-byte length. Longer messages are skipped and counted. Default
    /// 64 KiB + 2, enough for any DNS message.
    pub max_tcp_buffer: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            max_pending: 65_536,
            timeout_ns: 5_000_000_000,
            max_tcp_buffer: 64 * 1024 + 2,
        }
    }
}

/// Why a message could not be parsed at all. Faults after the question do
/// not fail the parse; they set [`DnsMessage::malformed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// Shorter than the 12-byte header.
    #[error("message is {len} bytes, shorter than the 12-byte DNS header")]
    TooShort { len: usize },
    /// The question's name is damaged (truncated, looping, too long, ...).
    #[error("bad question name: {0}")]
    BadQuestionName(#[source] NameError),
    /// The message ends inside the question's type and class.
    #[error("message ends inside the question")]
    TruncatedQuestion,
}
