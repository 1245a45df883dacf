//! Application protocol parsers: the `parse` stage of the pipeline.
//!
//! Every parser has one shape (see `docs/style.md` in the shared docs): bytes
//! in, typed records out, no I/O, no clock (times are passed in), no globals,
//! a config struct with a limit on every buffer. That is what makes them
//! fuzzable and fast, and lets `podwire read` and the live agent share them.
//!
//! This crate holds what every parser shares: the [`StreamParser`] contract
//! between the tracker's reassembly and a protocol parser, and detection of a
//! protocol by content. The parsers themselves are crates of their own
//! (`podwire-tls`, `podwire-http`, `podwire-dns`), each fuzzed on its own.
//!
//! Stream protocols (TLS, HTTP/1.x, DNS over TCP) implement [`StreamParser`]
//! and are fed in-order bytes of one connection by the tracker's reassembly;
//! datagram protocols (DNS over UDP) are plain functions over one payload.

pub mod detect;
pub mod fixture;

use podwire_record::Timestamp;

/// Which way bytes flow in a connection whose roles are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server (requests, ClientHello, queries).
    ToServer,
    /// Server to client (responses, ServerHello, answers).
    ToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// What a stream parser wants after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Keep feeding this connection.
    Continue,
    /// Nothing more to learn from this connection (e.g. the TLS handshake is
    /// over and the rest is ciphertext): the tracker stops reassembling it.
    Done,
    /// The stream is not (or no longer) this protocol, or a limit was hit;
    /// the tracker stops feeding it and counts the failure.
    Failed,
}

/// A parser of one TCP connection's two byte streams.
///
/// The tracker guarantees: bytes of each direction arrive in order and only
/// once; [`gap`](StreamParser::gap) is called where bytes were lost (not
/// captured, or dropped by a reassembly limit); `ts` never comes from a clock,
/// only from the packet that carried the bytes. Records go into `out`.
/// Implementations must never panic and must bound what they buffer.
pub trait StreamParser {
    /// The record this parser produces.
    type Output;

    /// In-order bytes of `dir`, carried by a packet captured at `ts`.
    fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<Self::Output>,
    ) -> Status;

    /// `len` bytes of `dir` are missing before the next [`data`](StreamParser::data) call.
    fn gap(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        len: u64,
        out: &mut Vec<Self::Output>,
    ) -> Status;

    /// The connection ended (or the capture did) at `ts`: emit whatever is
    /// pending, e.g. a request that never got its response.
    fn finish(&mut self, ts: Timestamp, out: &mut Vec<Self::Output>);
}
