//! One tracked connection: counters, TCP state machine, and its streams.

use crate::app::{App, Found, ParserStats};
use crate::key::{likely_server, Addr};
use crate::orient::Roles;
use crate::plain::{Plain, Plaintext};
use crate::stream::{Budget, Segment, Stream};
use crate::{direction, endpoint, TrackerConfig};
use podwire_decode::{tcp_flags, Packet, TcpHeader};
use podwire_parse::Direction;
use podwire_record::{Body, Close, Connection, DirectionStats, Record, Timestamp, Transport};

/// What parsing a connection's bytes uses besides the connection: the
/// tracker's config, its reassembly budget, the events found and the
/// parsers' counters, borrowed from the tracker for one call.
pub(crate) struct ParseCx<'a> {
    pub cfg: &'a TrackerConfig,
    pub budget: &'a mut Budget,
    pub out: &'a mut Found,
    pub pstats: &'a mut ParserStats,
}

/// A TCP segment as captured: when, how big a frame, from which end.
pub(crate) struct TcpSeen<'a, 'p> {
    pub ts: Timestamp,
    pub frame_len: u32,
    pub src: Addr,
    pub h: &'a TcpHeader,
    pub pkt: &'a Packet<'p>,
}

pub(crate) struct Conn {
    pub client: Addr,
    pub server: Addr,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Client to server, server to client.
    pub dirs: [DirectionStats; 2],
    pub state: ConnState,
}

pub(crate) enum ConnState {
    Tcp(Box<TcpState>),
    /// `dns`: whether the flow carries DNS, decided at its first payload.
    Udp {
        dns: Option<bool>,
    },
}

pub(crate) struct TcpState {
    /// The opening SYN's sequence number, when seen.
    syn_isn: Option<u32>,
    syn_ts: Option<Timestamp>,
    synack_seen: bool,
    rtt_ms: Option<f64>,
    /// FIN seen from the client, from the server.
    fin: [bool; 2],
    rst: bool,
    retransmits: u64,
    /// Client to server, server to client.
    streams: [Stream; 2],
    app: App,
    /// What the TLS library's plaintext carries (live agent only), once some
    /// came.
    plain: Option<Box<Plain>>,
}

impl TcpState {
    pub fn closed(&self) -> bool {
        self.rst || (self.fin[0] && self.fin[1])
    }

    pub fn close_reason(&self) -> Close {
        if self.rst {
            Close::Rst
        } else if self.fin[0] || self.fin[1] {
            Close::Fin
        } else {
            Close::Open
        }
    }
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

impl Conn {
    pub fn new_tcp(ts: Timestamp, src: Addr, dst: Addr, h: &TcpHeader) -> Conn {
        let syn = h.flags & tcp_flags::SYN != 0;
        let ack = h.flags & tcp_flags::ACK != 0;
        // The handshake names the client; without it, the ports guess, and
        // when they cannot, the first sender is taken for the client until
        // content says otherwise (`orient`).
        let by_ports = likely_server(src, dst);
        let src_is_client = if syn && !ack {
            true
        } else if syn && ack {
            false
        } else {
            !by_ports.unwrap_or(false)
        };
        let guessed = !syn && by_ports.is_none();
        let (client, server) = if src_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        let tcp = TcpState {
            syn_isn: None,
            syn_ts: None,
            synack_seen: false,
            rtt_ms: None,
            fin: [false; 2],
            rst: false,
            retransmits: 0,
            streams: [Stream::default(), Stream::default()],
            app: App::Undecided {
                server_port: server.port,
                mid_stream: true,
                tries: 0,
                early: None,
                turnable: guessed.then_some(client.port),
            },
            plain: None,
        };
        Conn {
            client,
            server,
            first_seen: ts,
            last_seen: ts,
            dirs: Default::default(),
            state: ConnState::Tcp(Box::new(tcp)),
        }
    }

    pub fn new_udp(ts: Timestamp, src: Addr, dst: Addr) -> Conn {
        let (client, server) = if likely_server(src, dst) == Some(true) {
            (dst, src)
        } else {
            (src, dst)
        };
        Conn {
            client,
            server,
            first_seen: ts,
            last_seen: ts,
            dirs: Default::default(),
            state: ConnState::Udp { dns: None },
        }
    }

    /// Whether a SYN with this sequence number starts a new connection on
    /// the same 4-tuple (port reuse) rather than repeating the opening SYN.
    pub fn is_new_syn(&self, seq: u32) -> bool {
        match &self.state {
            ConnState::Tcp(t) => match t.syn_isn {
                Some(isn) => isn != seq,
                // Joined mid-stream: a SYN after data or a close starts anew.
                None => {
                    t.closed()
                        || self.dirs[0].payload_bytes + self.dirs[1].payload_bytes > 0
                        || t.synack_seen
                }
            },
            ConnState::Udp { .. } => false,
        }
    }

    pub fn count(&mut self, ts: Timestamp, frame_len: u32, dir: Direction, payload_len: u32) {
        if ts > self.last_seen {
            self.last_seen = ts;
        }
        let d = &mut self.dirs[idx(dir)];
        d.packets += 1;
        d.bytes += frame_len as u64;
        d.payload_bytes += payload_len as u64;
    }

    pub fn udp_packet(&mut self, ts: Timestamp, frame_len: u32, src: Addr, pkt: &Packet<'_>) {
        let dir = direction(self.client, src);
        self.count(ts, frame_len, dir, pkt.payload_len);
    }

    pub fn tcp_packet(&mut self, seen: TcpSeen<'_, '_>, cx: ParseCx<'_>) {
        let TcpSeen {
            ts,
            frame_len,
            src,
            h,
            pkt,
        } = seen;
        let ParseCx {
            cfg,
            budget,
            out,
            pstats,
        } = cx;
        let dir = direction(self.client, src);
        self.count(ts, frame_len, dir, pkt.payload_len);
        let ConnState::Tcp(t) = &mut self.state else {
            return;
        };
        let t = t.as_mut();
        let syn = h.flags & tcp_flags::SYN != 0;
        let ack = h.flags & tcp_flags::ACK != 0;
        if syn {
            if dir == Direction::ToServer && !ack {
                if t.syn_isn.is_none() {
                    t.syn_isn = Some(h.seq);
                    t.syn_ts = Some(ts);
                }
            } else if dir == Direction::ToClient && ack {
                t.synack_seen = true;
            }
            t.streams[idx(dir)].syn(h.seq);
            t.app.saw_handshake();
        } else if ack && dir == Direction::ToServer && t.synack_seen && t.rtt_ms.is_none() {
            if let Some(s) = t.syn_ts {
                t.rtt_ms = Some(s.millis_until(ts));
            }
        }
        if h.flags & tcp_flags::RST != 0 {
            t.rst = true;
        }
        if h.flags & tcp_flags::FIN != 0 {
            t.fin[idx(dir)] = true;
        }

        // The bytes of this direction, then what the ACK says of the other.
        let keep = t.app.wants_bytes();
        let data_seq = if syn { h.seq.wrapping_add(1) } else { h.seq };
        let TcpState {
            streams,
            app,
            retransmits,
            ..
        } = t;
        let [to_server, to_client] = streams;
        let (this, other) = match dir {
            Direction::ToServer => (to_server, to_client),
            Direction::ToClient => (to_client, to_server),
        };
        // Once the parser turned the roles around, this packet's bytes
        // travel the other way.
        let mut turned = false;
        let mut sink = |c: crate::stream::Chunk<'_>| {
            let d = if turned { dir.reverse() } else { dir };
            turned |= app.chunk(&cfg.parsers, d, ts, c, out, pstats) == Roles::Turned;
        };
        let seg = Segment {
            seq: data_seq,
            len: pkt.payload_len,
            data: pkt.payload,
        };
        if this.segment(
            seg,
            keep,
            cfg.max_buffered_per_connection,
            budget,
            &mut sink,
        ) {
            *retransmits += 1;
        }
        if ack {
            let mut sink = |c: crate::stream::Chunk<'_>| {
                let d = if turned { dir } else { dir.reverse() };
                turned |= app.chunk(&cfg.parsers, d, ts, c, out, pstats) == Roles::Turned;
            };
            other.acked(h.ack, budget, &mut sink);
        }
        if !app.wants_bytes() {
            // The parser is done with this connection: free what it held.
            this.clear(budget);
            other.clear(budget);
        }
        if turned {
            self.turn_around();
        }
    }

    /// Swaps the two ends and everything kept per direction: content showed
    /// that the guessed client is the server (see `orient`). Only a
    /// connection whose roles were guessed (no handshake, ports that did
    /// not decide) is turned, before any record named its roles.
    fn turn_around(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.dirs.swap(0, 1);
        if let ConnState::Tcp(t) = &mut self.state {
            let t = t.as_mut();
            t.streams.swap(0, 1);
            t.fin.swap(0, 1);
        }
    }

    /// Parses plaintext a TLS library moved on this connection, travelling
    /// `dir`, from the process at its `local` end; `false` if not taken
    /// (not TCP, or the other end is the connection's source: see `plain`).
    pub fn plaintext(
        &mut self,
        local: Addr,
        dir: Direction,
        p: &Plaintext<'_>,
        cfg: &TrackerConfig,
        out: &mut Found,
        pstats: &mut ParserStats,
    ) -> bool {
        let ConnState::Tcp(t) = &mut self.state else {
            return false;
        };
        let handshake_seen = t.syn_isn.is_some() || t.synack_seen;
        let server_port = self.server.port;
        let plain = t
            .plain
            .get_or_insert_with(|| Box::new(Plain::new(local, server_port, !handshake_seen)));
        if plain.source != local {
            return false;
        }
        plain.feed(&cfg.parsers, dir, p, out, pstats);
        true
    }

    /// Delivers whatever reassembly still holds and ends the parser.
    pub fn finish_streams(&mut self, cx: ParseCx<'_>) {
        let ParseCx {
            cfg,
            budget,
            out,
            pstats,
        } = cx;
        let ts = self.last_seen;
        let ConnState::Tcp(t) = &mut self.state else {
            return;
        };
        let TcpState {
            streams,
            app,
            plain,
            ..
        } = t.as_mut();
        if let Some(p) = plain.as_mut() {
            p.finish(ts, out);
        }
        let mut turned = false;
        for (i, s) in streams.iter_mut().enumerate() {
            let dir = if i == 0 {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let mut sink = |c: crate::stream::Chunk<'_>| {
                let d = if turned { dir.reverse() } else { dir };
                turned |= app.chunk(&cfg.parsers, d, ts, c, out, pstats) == Roles::Turned;
            };
            s.finish(budget, &mut sink);
            s.clear(budget);
        }
        app.finish(ts, out);
        if turned {
            self.turn_around();
        }
    }

    /// The connection record. `close`: why it ends, when not from the packets.
    pub fn record(&self, close: Option<Close>) -> Record {
        let (proto, close, rtt, retransmits, handshake_seen) = match &self.state {
            ConnState::Tcp(t) => {
                let from_packets = t.close_reason();
                // FIN and RST seen win over the reason the sweep had.
                let close = if from_packets != Close::Open {
                    from_packets
                } else {
                    close.unwrap_or(Close::Open)
                };
                (
                    Transport::Tcp,
                    close,
                    t.rtt_ms,
                    t.retransmits,
                    t.syn_isn.is_some() || t.synack_seen,
                )
            }
            ConnState::Udp { .. } => (Transport::Udp, close.unwrap_or(Close::Open), None, 0, false),
        };
        let body = Connection {
            proto,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            duration_ms: self.first_seen.millis_until(self.last_seen),
            close,
            handshake_rtt_ms: rtt,
            retransmits,
            client_to_server: self.dirs[0],
            server_to_client: self.dirs[1],
            handshake_seen,
            kernel: None,
        };
        Record::new(
            self.first_seen,
            endpoint(self.client),
            endpoint(self.server),
            Body::Connection(body),
        )
    }
}
