//! Link, network and transport decoding: the `decode` stage of the pipeline.
//!
//! [`Decoder::decode`] turns one captured frame into a [`Packet`]: the
//! innermost IP header's addresses, the TCP or UDP header, and the transport
//! payload, borrowed from the frame (or from the defragmenter's buffer when
//! IP fragments were put back together). It walks link layers (Ethernet with
//! 802.1Q/QinQ, MPLS, PPPoE, Linux cooked SLL/SLL2, BSD null/loopback, PPP,
//! raw IP), IPv4 and IPv6 with extension headers, and tunnels (IP-in-IP, 6in4,
//! 4in6, GRE, VXLAN) down to the inner flow, as Wireshark does.
//!
//! Nothing here allocates per packet except fragment reassembly, which has a
//! byte and entry budget ([`DefragConfig`]). Malformed input yields a
//! [`Skip`] reason for the caller to count, never a panic.

mod dedupe;
mod defrag;
mod ip;
mod link;

pub use dedupe::Dedupe;
use defrag::Defragmenter;
pub use defrag::{DefragConfig, DefragStats};
use std::net::IpAddr;

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The TCP header fields the tracker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

/// Transport layer of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpHeader),
    Udp { src_port: u16, dst_port: u16 },
}

impl Transport {
    pub fn ports(&self) -> (u16, u16) {
        match *self {
            Transport::Tcp(h) => (h.src_port, h.dst_port),
            Transport::Udp { src_port, dst_port } => (src_port, dst_port),
        }
    }
}

/// A decoded TCP or UDP packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// Payload bytes as captured (may be shorter than `payload_len` under a snap length).
    pub payload: &'a [u8],
    /// Payload length according to the headers (what Wireshark calls `tcp.len`/UDP length - 8).
    pub payload_len: u32,
    /// Count this packet in its flow (as Wireshark's conversations do), but
    /// do not read its flags, sequence numbers or payload: it is the first
    /// fragment of a datagram that cannot be reassembled (not captured
    /// whole), and `payload_len` is 0, as in Wireshark.
    pub count_only: bool,
}

/// Why a frame produced no TCP/UDP packet. Counted by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Skip {
    /// A link type this decoder does not know.
    UnsupportedLink,
    /// A network protocol other than IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP carrying something other than TCP/UDP (ICMP, ESP, ...).
    OtherTransport,
    /// Headers cut short by the capture's snap length or the frame's end.
    Truncated,
    /// Headers that contradict themselves (bad lengths, bad versions).
    Malformed,
    /// An IP fragment held for reassembly (not an error).
    FragmentHeld,
    /// Tunnels nested deeper than the decoder follows.
    TooDeep,
}

impl Skip {
    /// A short stable name, for summaries and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Skip::UnsupportedLink => "unsupported_link",
            Skip::NotIp => "not_ip",
            Skip::OtherTransport => "other_transport",
            Skip::Truncated => "truncated",
            Skip::Malformed => "malformed",
            Skip::FragmentHeld => "fragment_held",
            Skip::TooDeep => "too_deep",
        }
    }

    /// Whether this is a problem with the input (as opposed to traffic podwire
    /// simply does not analyse).
    pub fn is_error(self) -> bool {
        matches!(self, Skip::Truncated | Skip::Malformed | Skip::TooDeep)
    }
}

/// How many encapsulations (tunnels, VLAN tags, MPLS labels) are followed.
pub(crate) const MAX_DEPTH: usize = 8;

/// Decodes frames; holds the state that spans packets (IP fragments).
pub struct Decoder {
    defrag: Defragmenter,
}

impl Decoder {
    pub fn new(defrag: DefragConfig) -> Self {
        Decoder {
            defrag: Defragmenter::new(defrag),
        }
    }

    /// Decodes one frame of link type `link` captured at `ts_ns`, which was
    /// `orig_len` bytes long on the wire (`frame` may be shorter).
    pub fn decode<'a>(
        &'a mut self,
        link: u32,
        ts_ns: u64,
        orig_len: u32,
        frame: &'a [u8],
    ) -> Result<Packet<'a>, Skip> {
        let (net, data) = link::strip(link, frame)?;
        let missing = (orig_len as usize).saturating_sub(frame.len()) as u32;
        ip::network(Some(&mut self.defrag), ts_ns, missing, net, data)
    }

    /// Fragment reassembly counters.
    pub fn defrag_stats(&self) -> DefragStats {
        self.defrag.stats()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DefragConfig::default())
    }
}

/// The network protocol a link layer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    Ipv4,
    Ipv6,
    /// Version nibble decides (raw IP, MPLS payloads).
    IpAny,
    Ethernet,
}
