//! Plaintext of a live TLS connection, as the agent's uprobes read it from
//! the TLS library (see `podwire_ebpf::TlsProbe`), parsed beside the
//! connection's packets.
//!
//! The packets still make the connection and its `tls` record (bytes,
//! timing, handshake); the plaintext goes through the same content
//! detection and parsers as a cleartext connection's bytes, in an
//! application state of its own, and what they find is marked as found
//! inside TLS. Each direction's plaintext arrives in the order the process
//! read or wrote it, which is the order the parsers need; bytes a call
//! moved but the probe did not copy are a gap.
//!
//! When both ends of a connection run on the host, both processes' calls
//! carry the same bytes (the client's writes are the server's reads): the
//! end whose plaintext came first is the connection's source, and the other
//! end's is left alone, so nothing is parsed twice.
//!
//! The probe's records can arrive before the packets that open their
//! connection have been tracked (the two come by different paths), so
//! plaintext for a connection not tracked yet waits in [`Pending`], bounded
//! in bytes and age, and is fed when the connection appears.

use crate::app::{App, Found, ParserConfig, ParserStats};
use crate::key::{Addr, FlowKey};
use crate::stream::Chunk;
use podwire_parse::Direction;
use podwire_record::Timestamp;
use rustc_hash::FxHashMap;
use std::net::SocketAddr;

/// Plaintext one TLS call moved on a TCP connection.
#[derive(Clone, Copy, Debug)]
pub struct Plaintext<'a> {
    /// When the call returned.
    pub ts: Timestamp,
    /// The socket's local end, in the process that made the call.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The process sent these bytes (else it received them).
    pub sent: bool,
    pub data: &'a [u8],
    /// Bytes the call moved after `data` that were not copied.
    pub missing: u32,
}

/// How long plaintext waits for its connection's packets.
pub const PENDING_MAX_AGE_NS: u64 = 2_000_000_000;
/// Plaintext bytes waiting, for all connections together.
pub const PENDING_MAX_BYTES: usize = 4 << 20;

/// A connection's plaintext parser.
pub(crate) struct Plain {
    app: App,
    /// The end whose process's calls are parsed (see the module docs).
    pub(crate) source: Addr,
}

impl Plain {
    /// `mid_stream`: the connection's start was not seen, so its first
    /// plaintext may be too.
    pub(crate) fn new(source: Addr, server_port: u16, mid_stream: bool) -> Plain {
        Plain {
            app: App::Undecided {
                server_port,
                mid_stream,
                tries: 0,
                early: None,
                turnable: None,
            },
            source,
        }
    }

    pub(crate) fn feed(
        &mut self,
        cfg: &ParserConfig,
        dir: Direction,
        p: &Plaintext<'_>,
        out: &mut Found,
        stats: &mut ParserStats,
    ) {
        let start = out.parsed.len();
        if !p.data.is_empty() && self.app.wants_bytes() {
            self.app
                .chunk(cfg, dir, p.ts, Chunk::Data(p.data), out, stats);
        }
        if p.missing > 0 && self.app.wants_bytes() {
            self.app
                .chunk(cfg, dir, p.ts, Chunk::Gap(u64::from(p.missing)), out, stats);
        }
        crate::tls::mark(&mut out.parsed[start..]);
    }

    pub(crate) fn finish(&mut self, ts: Timestamp, out: &mut Found) {
        let start = out.parsed.len();
        self.app.finish(ts, out);
        self.app = App::Off;
        crate::tls::mark(&mut out.parsed[start..]);
    }
}

/// One call's plaintext waiting for its connection.
pub(crate) struct Waiting {
    ts: Timestamp,
    local: SocketAddr,
    remote: SocketAddr,
    sent: bool,
    data: Vec<u8>,
    missing: u32,
}

impl Waiting {
    pub(crate) fn plaintext(&self) -> Plaintext<'_> {
        Plaintext {
            ts: self.ts,
            local: self.local,
            remote: self.remote,
            sent: self.sent,
            data: &self.data,
            missing: self.missing,
        }
    }
}

/// Plaintext of connections not tracked yet (see the module docs).
#[derive(Default)]
pub(crate) struct Pending {
    by_conn: FxHashMap<FlowKey, Vec<Waiting>>,
    bytes: usize,
}

impl Pending {
    /// Keeps `p` for later; `false` (not kept) when over the byte bound.
    pub(crate) fn keep(&mut self, key: FlowKey, p: &Plaintext<'_>) -> bool {
        if self.bytes + p.data.len() > PENDING_MAX_BYTES {
            return false;
        }
        self.bytes += p.data.len();
        self.by_conn.entry(key).or_default().push(Waiting {
            ts: p.ts,
            local: p.local,
            remote: p.remote,
            sent: p.sent,
            data: p.data.to_vec(),
            missing: p.missing,
        });
        true
    }

    /// What waits for `key`, in arrival order.
    pub(crate) fn take(&mut self, key: &FlowKey) -> Vec<Waiting> {
        if self.by_conn.is_empty() {
            return Vec::new();
        }
        let list = self.by_conn.remove(key).unwrap_or_default();
        self.bytes -= list.iter().map(|w| w.data.len()).sum::<usize>();
        list
    }

    /// Drops what waited longer than [`PENDING_MAX_AGE_NS`] before `now`;
    /// returns how many calls' plaintext was dropped.
    pub(crate) fn expire(&mut self, now: Timestamp) -> u64 {
        let mut dropped = 0;
        let mut freed = 0;
        self.by_conn.retain(|_, list| {
            list.retain(|w| {
                let keep = now.0.saturating_sub(w.ts.0) < PENDING_MAX_AGE_NS;
                if !keep {
                    dropped += 1;
                    freed += w.data.len();
                }
                keep
            });
            !list.is_empty()
        });
        self.bytes -= freed;
        dropped
    }
}

/// The flow key of a socket pair, and its local end as an [`Addr`].
pub(crate) fn key_of(p: &Plaintext<'_>) -> (FlowKey, Addr) {
    let local = Addr {
        ip: p.local.ip().to_canonical(),
        port: p.local.port(),
    };
    let remote = Addr {
        ip: p.remote.ip().to_canonical(),
        port: p.remote.port(),
    };
    (FlowKey::of(local, remote, true).0, local)
}

#[cfg(test)]
mod tests {
    use crate::{Plaintext, Tracker, TrackerConfig};
    use podwire_decode::{tcp_flags, Packet, TcpHeader, Transport};
    use podwire_record::{Body, Record, Timestamp};
    use std::net::SocketAddr;

    const CLIENT: &str = "10.0.0.1:40000";
    const SERVER: &str = "10.0.0.2:443";
    const REQUEST: &[u8] = b"GET /inside HTTP/1.1\r\nHost: x\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A TCP segment without payload from `src` to `dst`.
    fn seg(t: &mut Tracker, ms: u64, src: &str, dst: &str, flags: u8, out: &mut Vec<Record>) {
        let (s, d) = (sa(src), sa(dst));
        let pkt = Packet {
            src: s.ip(),
            dst: d.ip(),
            transport: Transport::Tcp(TcpHeader {
                src_port: s.port(),
                dst_port: d.port(),
                seq: if s == sa(CLIENT) { 1000 } else { 5000 },
                ack: 1,
                flags,
                window: 1000,
            }),
            payload: &[],
            payload_len: 0,
            count_only: false,
        };
        t.packet(Timestamp(ms * 1_000_000), 60, &pkt, out);
    }

    fn handshake(t: &mut Tracker, out: &mut Vec<Record>) {
        seg(t, 1, CLIENT, SERVER, tcp_flags::SYN, out);
        seg(t, 2, SERVER, CLIENT, tcp_flags::SYN | tcp_flags::ACK, out);
        seg(t, 3, CLIENT, SERVER, tcp_flags::ACK, out);
    }

    fn call<'a>(ms: u64, local: &str, remote: &str, sent: bool, data: &'a [u8]) -> Plaintext<'a> {
        Plaintext {
            ts: Timestamp(ms * 1_000_000),
            local: sa(local),
            remote: sa(remote),
            sent,
            data,
            missing: 0,
        }
    }

    fn http(out: &[Record]) -> Vec<&Record> {
        out.iter()
            .filter(|r| matches!(r.body, Body::Http(_)))
            .collect()
    }

    #[test]
    fn the_clients_calls_make_a_request_inside_tls_on_the_connection() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        handshake(&mut t, &mut out);
        t.plaintext(&call(10, CLIENT, SERVER, true, REQUEST), &mut out);
        t.plaintext(&call(12, CLIENT, SERVER, false, RESPONSE), &mut out);
        t.flush(&mut out);
        let reqs = http(&out);
        assert_eq!(reqs.len(), 1, "{out:#?}");
        let r = reqs[0];
        assert!(r.inside_tls);
        assert_eq!((r.client.port, r.server.port), (40000, 443));
        let Body::Http(h) = &r.body else {
            unreachable!()
        };
        assert_eq!(h.path.as_deref(), Some("/inside"));
        assert_eq!(h.status, Some(200));
        assert_eq!(t.stats().tls_plaintext_calls, 2);
        // The connection record is the packets' own, and only one.
        let conns = out
            .iter()
            .filter(|r| matches!(r.body, Body::Connection(_)))
            .count();
        assert_eq!(conns, 1);
    }

    #[test]
    fn the_servers_calls_work_alone_and_both_ends_are_not_parsed_twice() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        handshake(&mut t, &mut out);
        // The server's read of the request first, then the client's copy
        // of the same bytes: only the server's are parsed.
        t.plaintext(&call(10, SERVER, CLIENT, false, REQUEST), &mut out);
        t.plaintext(&call(10, CLIENT, SERVER, true, REQUEST), &mut out);
        t.plaintext(&call(11, SERVER, CLIENT, true, RESPONSE), &mut out);
        t.plaintext(&call(12, CLIENT, SERVER, false, RESPONSE), &mut out);
        t.flush(&mut out);
        let reqs = http(&out);
        assert_eq!(reqs.len(), 1, "{out:#?}");
        let Body::Http(h) = &reqs[0].body else {
            unreachable!()
        };
        assert_eq!(h.status, Some(200));
        assert_eq!(t.stats().tls_plaintext_calls, 2);
    }

    #[test]
    fn plaintext_before_its_connection_waits_for_it_then_expires() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        // The probe was faster than the packets.
        t.plaintext(&call(0, CLIENT, SERVER, true, REQUEST), &mut out);
        handshake(&mut t, &mut out);
        t.plaintext(&call(12, CLIENT, SERVER, false, RESPONSE), &mut out);
        t.flush(&mut out);
        assert_eq!(http(&out).len(), 1, "{out:#?}");

        // Never tracked: dropped once too old, counted.
        let mut t = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        t.plaintext(&call(0, "10.9.9.9:1234", SERVER, true, REQUEST), &mut out);
        handshake(&mut t, &mut out);
        t.advance(Timestamp(5_000_000_000), &mut out);
        assert_eq!(t.stats().tls_plaintext_dropped, 1);
        assert_eq!(t.stats().tls_plaintext_calls, 0);
    }

    #[test]
    fn a_call_not_copied_whole_is_a_gap_not_a_crash() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        handshake(&mut t, &mut out);
        let mut c = call(10, CLIENT, SERVER, true, &REQUEST[..10]);
        c.missing = (REQUEST.len() - 10) as u32;
        t.plaintext(&c, &mut out);
        t.plaintext(&call(12, CLIENT, SERVER, false, RESPONSE), &mut out);
        t.flush(&mut out);
        assert!(http(&out).iter().all(|r| r.inside_tls));
    }

    /// An HTTP/2 frame: length, type, flags, stream, payload.
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// A server's SETTINGS read before the client's preface raise the frame
    /// size the client may use: its 20000-byte DATA frame is counted, not
    /// taken for a lost frame boundary. More than the bound kept before the
    /// client speaks becomes a gap, never a crash.
    #[test]
    fn http2_settings_the_server_sends_first_bound_the_clients_frames() {
        const H2: &str = "10.0.0.2:8443";
        // SETTINGS_MAX_FRAME_SIZE (5) = 4 MiB.
        let settings = frame(4, 0, 0, &[0, 5, 0, 0x40, 0, 0]);
        let mut request = podwire_http2::PREFACE.to_vec();
        request.extend(frame(4, 0, 0, &[]));
        // :method POST, :scheme http, :path / (static table), END_HEADERS.
        request.extend(frame(1, 0x4, 1, &[0x83, 0x86, 0x84]));
        request.extend(frame(0, 0x1, 1, &[b'x'; 20_000]));
        // :status 200, END_HEADERS | END_STREAM.
        let response = frame(1, 0x5, 1, &[0x88]);
        for (first, early) in [(&settings, 0), (&settings, 10_000)] {
            let mut t = Tracker::new(TrackerConfig::default());
            let mut out = Vec::new();
            seg(&mut t, 1, CLIENT, H2, tcp_flags::SYN, &mut out);
            seg(
                &mut t,
                2,
                H2,
                CLIENT,
                tcp_flags::SYN | tcp_flags::ACK,
                &mut out,
            );
            seg(&mut t, 3, CLIENT, H2, tcp_flags::ACK, &mut out);
            t.plaintext(&call(10, H2, CLIENT, true, first), &mut out);
            // PINGs past the bound of what is kept.
            for i in 0..early / 17 {
                t.plaintext(
                    &call(10 + i as u64, H2, CLIENT, true, &frame(6, 0, 0, &[0; 8])),
                    &mut out,
                );
            }
            // The server reads the request: one end, the server, is parsed.
            t.plaintext(&call(11, H2, CLIENT, false, &request), &mut out);
            t.plaintext(&call(12, H2, CLIENT, true, &response), &mut out);
            t.flush(&mut out);
            let reqs = http(&out);
            assert_eq!(reqs.len(), 1, "{out:#?}");
            let Body::Http(h) = &reqs[0].body else {
                unreachable!()
            };
            assert_eq!(h.method.as_deref(), Some("POST"));
            assert_eq!(h.status, Some(200));
            assert_eq!(h.request_body_bytes, 20_000, "{early} bytes first");
        }
    }
}
