use super::*;
use podwire_ebpf::{ConnEvent, KIND_LISTEN, KIND_UNLISTEN};
use std::net::{Ipv4Addr, SocketAddr};

const SEC: u64 = 1_000_000_000;

fn ev(kind: u8, local: [u8; 4], sport: u16, remote: [u8; 4], dport: u16, ts: u64) -> ConnEvent {
    let mut saddr = [0u8; 16];
    saddr[..4].copy_from_slice(&local);
    let mut daddr = [0u8; 16];
    daddr[..4].copy_from_slice(&remote);
    ConnEvent {
        ts_ns: ts,
        start_ns: 0,
        skaddr: 1,
        cgroup_id: 0,
        bytes_acked: 0,
        bytes_received: 0,
        pid: 0,
        tid: 0,
        srtt_us: 0,
        total_retrans: 0,
        saddr,
        daddr,
        sport,
        dport,
        family: 2,
        kind,
        oldstate: 0,
        comm: [0; 16],
    }
}

fn with_proc(mut e: ConnEvent, pid: u32, comm: &str) -> ConnEvent {
    e.pid = pid;
    e.comm[..comm.len()].copy_from_slice(comm.as_bytes());
    e
}

fn packet_record(close: Close) -> Record {
    let client = Endpoint::new(Ipv4Addr::new(10, 0, 0, 1).into(), 40000);
    let server = Endpoint::new(Ipv4Addr::new(10, 0, 0, 2).into(), 80);
    let body = Connection {
        proto: Transport::Tcp,
        first_seen: Timestamp(SEC),
        last_seen: Timestamp(2 * SEC),
        duration_ms: 1000.0,
        close,
        handshake_rtt_ms: None,
        retransmits: 0,
        client_to_server: DirectionStats::default(),
        server_to_client: DirectionStats::default(),
        handshake_seen: true,
        kernel: None,
    };
    Record::new(Timestamp(SEC), client, server, Body::Connection(body))
}

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

#[test]
fn both_local_ends_name_both_processes_and_client_counters_win() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 80, SEC),
        7,
        "curl",
    ));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    let mut close = with_proc(ev(KIND_CLOSE, C, 40000, S, 80, 2 * SEC), 7, "curl");
    close.bytes_acked = 102;
    close.bytes_received = 501;
    close.srtt_us = 250;
    t.event(&close);
    t.event(&with_proc(
        ev(KIND_CLOSE, S, 80, C, 40000, 2 * SEC),
        9,
        "nginx",
    ));

    let mut rec = packet_record(Close::Fin);
    t.merge(&mut rec, &mut |_, _| None);
    let client = rec.client.identity.as_ref().unwrap();
    assert_eq!(client.process.as_deref(), Some("curl"));
    assert_eq!(client.pid, Some(7));
    let server = rec.server.identity.as_ref().unwrap();
    assert_eq!(server.process.as_deref(), Some("nginx"));
    let Body::Connection(c) = &rec.body else {
        unreachable!()
    };
    let k = c.kernel.unwrap();
    assert_eq!(k.side, Side::Client);
    assert_eq!((k.bytes_acked, k.bytes_received), (102, 501));
    assert_eq!(k.srtt_ms, Some(0.25));

    // Claimed: nothing is reported on its own after the linger.
    let mut out = Vec::new();
    t.expire(Timestamp(100 * SEC), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(t.stats().sockets, 0);
}

#[test]
fn accepted_socket_takes_the_listeners_process_while_open() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    // An earlier connection taught the table who serves 10.0.0.2:80.
    t.event(&ev(KIND_ACCEPT, S, 80, C, 39999, SEC));
    t.event(&with_proc(ev(KIND_CLOSE, S, 80, C, 39999, SEC), 9, "nginx"));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    let mut rec = packet_record(Close::Open);
    t.merge(&mut rec, &mut |_, _| None);
    let server = rec.server.identity.as_ref().unwrap();
    assert_eq!(server.process.as_deref(), Some("nginx"));
    assert_eq!(server.pid, Some(9));
    assert!(rec.client.identity.is_none());
}

#[test]
fn unclaimed_close_becomes_a_record_after_the_linger() {
    let cfg = KernelConfig {
        linger_ns: 5 * SEC,
        ..KernelConfig::default()
    };
    let mut t = KernelTable::new(cfg, 1000 * SEC as i128);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 443, SEC),
        7,
        "curl",
    ));
    let mut close = with_proc(ev(KIND_CLOSE, C, 40000, S, 443, 3 * SEC), 7, "curl");
    close.bytes_acked = 10;
    t.event(&close);
    let mut out = Vec::new();
    t.expire(Timestamp(1005 * SEC), &mut out);
    assert!(out.is_empty(), "still lingering");
    t.expire(Timestamp(1008 * SEC), &mut out);
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!(r.server.port, 443);
    assert_eq!(
        r.ts,
        Timestamp(1001 * SEC),
        "monotonic start made wall-clock"
    );
    let Body::Connection(c) = &r.body else {
        unreachable!()
    };
    assert_eq!(c.client_to_server.packets, 0);
    assert_eq!(c.kernel.unwrap().bytes_acked, 10);
    assert_eq!(t.stats().unclaimed, 1);
}

#[test]
fn open_sockets_not_covered_are_listed() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 80, SEC),
        7,
        "curl",
    ));
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40001, S, 80, SEC),
        7,
        "curl",
    ));
    // A snapshot in which packets showed the connection from port 40000.
    let generation = t.begin_snapshot();
    t.merge(&mut packet_record(Close::Open), &mut |_, _| None);
    let open = t.open_records(generation, |_| true);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client.port, 40001);
    // The next snapshot did not see it: both are listed.
    let generation = t.begin_snapshot();
    assert_eq!(t.open_records(generation, |_| true).len(), 2);
    assert_eq!(
        t.open_records(generation, |r| r.client.port == 40000).len(),
        1
    );
}

#[test]
fn table_is_bounded() {
    let cfg = KernelConfig {
        max_sockets: 100,
        ..KernelConfig::default()
    };
    let mut t = KernelTable::new(cfg, 0);
    for p in 0..1000u16 {
        t.event(&ev(KIND_CONNECT, C, 10000 + p, S, 80, SEC));
    }
    let s = t.stats();
    assert_eq!(s.sockets, 100);
    assert_eq!(s.evicted, 900);
}

#[test]
fn short_connections_do_not_push_out_a_long_lived_one() {
    let cfg = KernelConfig {
        max_sockets: 10,
        ..KernelConfig::default()
    };
    let mut t = KernelTable::new(cfg, 0);
    // The oldest socket in the table, and open all along.
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 5000, S, 5432, SEC),
        3,
        "psql",
    ));
    for p in 0..5000u16 {
        let at = SEC + u64::from(p);
        t.event(&ev(KIND_CONNECT, C, 10000 + p, S, 80, at));
        t.event(&ev(KIND_CLOSE, C, 10000 + p, S, 80, at + 1));
    }
    let s = t.stats();
    assert_eq!(s.sockets, 10);
    assert_eq!(s.evicted, 4991, "closed ones made room");
    let open = t.open_records(t.generation + 1, |_| true);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].client.port, 5000);
    assert_eq!(
        open[0].client.identity.as_ref().unwrap().process.as_deref(),
        Some("psql")
    );
    // Sockets that closed leave stale entries in the open queue; they are
    // dropped once it holds twice the table, even behind a live socket.
    assert!(t.opened.len() <= 2 * 10 + 1024 + 1, "{}", t.opened.len());
    // With nothing closed left, the oldest open socket goes.
    let mut out = Vec::new();
    t.expire(Timestamp(u64::MAX), &mut out);
    for p in 0..10u16 {
        t.event(&ev(KIND_CONNECT, C, 20000 + p, S, 80, 9000 * SEC));
    }
    assert!(t
        .open_records(t.generation + 1, |r| r.client.port == 5000)
        .is_empty());
}

#[test]
fn both_sockets_of_one_open_connection_are_one_record() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 80, SEC),
        7,
        "curl",
    ));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 39999, SEC));
    t.event(&with_proc(ev(KIND_CLOSE, S, 80, C, 39999, SEC), 9, "nginx"));
    let open = t.open_records(t.generation + 1, |_| true);
    assert_eq!(open.len(), 1, "{open:?}");
    let r = &open[0];
    assert_eq!(r.client.port, 40000);
    assert_eq!(
        r.client.identity.as_ref().unwrap().process.as_deref(),
        Some("curl")
    );
    assert_eq!(
        r.server.identity.as_ref().unwrap().process.as_deref(),
        Some("nginx")
    );
}

#[test]
fn both_closed_sockets_of_one_unclaimed_connection_are_one_record() {
    let mut t = KernelTable::new(
        KernelConfig {
            linger_ns: 0,
            ..KernelConfig::default()
        },
        0,
    );
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 80, SEC),
        7,
        "curl",
    ));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    let mut close = with_proc(ev(KIND_CLOSE, S, 80, C, 40000, 2 * SEC), 9, "nginx");
    close.bytes_acked = 300;
    t.event(&close);
    let mut close = with_proc(ev(KIND_CLOSE, C, 40000, S, 80, 2 * SEC), 7, "curl");
    close.bytes_acked = 101;
    t.event(&close);
    let mut out = Vec::new();
    t.expire(Timestamp(3 * SEC), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    let r = &out[0];
    assert_eq!(
        r.client.identity.as_ref().unwrap().process.as_deref(),
        Some("curl")
    );
    assert_eq!(
        r.server.identity.as_ref().unwrap().process.as_deref(),
        Some("nginx")
    );
    let Body::Connection(c) = &r.body else {
        unreachable!()
    };
    assert_eq!(c.kernel.unwrap().side, Side::Client);
    assert_eq!(c.kernel.unwrap().bytes_acked, 101);
    // Merging a kernel-only record again keeps its counters.
    let mut again = r.clone();
    t.merge(&mut again, &mut |_, _| None);
    assert_eq!(&again, r);
    assert_eq!(t.stats().sockets, 0);
}

#[test]
fn closed_sockets_pushed_out_by_the_bound_are_reported_not_lost() {
    let cfg = KernelConfig {
        max_sockets: 10,
        ..KernelConfig::default()
    };
    let mut t = KernelTable::new(cfg, 0);
    for p in 0..30u16 {
        t.event(&ev(KIND_CONNECT, C, 10000 + p, S, 80, SEC));
        t.event(&ev(KIND_CLOSE, C, 10000 + p, S, 80, SEC + u64::from(p)));
    }
    let mut out = Vec::new();
    t.expire(Timestamp(SEC), &mut out);
    assert_eq!(out.len(), 20, "the 20 pushed out, none lingering yet");
    assert_eq!(t.stats().sockets, 10);
    assert_eq!(t.stats().unclaimed, 20);
}

#[test]
fn a_socket_to_a_rewritten_destination_matches_the_rewritten_packets() {
    // curl connected to a ClusterIP; its packets left rewritten to the
    // backend 10.0.0.2:80 (the packet record), and conntrack says so.
    const VIP: [u8; 4] = [10, 96, 0, 10];
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, VIP, 8080, SEC),
        7,
        "curl",
    ));
    let mut asked = Vec::new();
    let mut nat = |c: SocketAddr, dst: SocketAddr| {
        asked.push((c, dst));
        (dst.port() == 8080).then(|| "10.0.0.2:80".parse().unwrap())
    };
    let mut rec = packet_record(Close::Open);
    t.merge(&mut rec, &mut nat);
    assert_eq!(
        rec.client
            .identity
            .as_ref()
            .and_then(|i| i.process.as_deref()),
        Some("curl")
    );
    assert_eq!(asked.len(), 1, "asked once, for the one candidate socket");

    // A socket whose destination was not rewritten to this server is not taken.
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, VIP, 8080, SEC),
        7,
        "curl",
    ));
    let mut rec = packet_record(Close::Open);
    t.merge(&mut rec, &mut |_, _| None);
    assert!(rec.client.identity.is_none());
}

/// Regression (issue 15): HTTP and other request records carried no process
/// while their connection's record did, so the HTTP metric families were
/// labelled by address and the connection family by process.
#[test]
fn request_records_take_their_connections_processes_without_claiming() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&with_proc(
        ev(KIND_CONNECT, C, 40000, S, 80, SEC),
        7,
        "curl",
    ));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    t.event(&with_proc(
        ev(KIND_CLOSE, C, 40000, S, 80, 2 * SEC),
        7,
        "curl",
    ));
    t.event(&with_proc(
        ev(KIND_CLOSE, S, 80, C, 40000, 2 * SEC),
        9,
        "nginx",
    ));
    let conn = packet_record(Close::Fin);
    let mut http = Record::new(
        conn.ts,
        conn.client.clone(),
        conn.server.clone(),
        Body::Http(podwire_record::Http {
            method: Some("GET".into()),
            ..Default::default()
        }),
    );
    t.merge(&mut http, &mut |_, _| None);
    let process = |ep: &Endpoint| ep.identity.as_ref().and_then(|i| i.process.clone());
    assert_eq!(process(&http.client).as_deref(), Some("curl"));
    assert_eq!(process(&http.server).as_deref(), Some("nginx"));

    // The sockets are still the connection record's to claim: it gets the
    // same names and its counters, and nothing is reported on its own.
    let mut rec = conn;
    t.merge(&mut rec, &mut |_, _| None);
    assert_eq!(process(&rec.client).as_deref(), Some("curl"));
    let Body::Connection(c) = &rec.body else {
        unreachable!()
    };
    assert!(c.kernel.is_some());
    let mut out = Vec::new();
    t.expire(Timestamp(100 * SEC), &mut out);
    assert!(out.is_empty(), "{out:?}");

    // DNS over UDP rides on no TCP socket: left alone.
    let mut dns = Record::new(
        Timestamp(SEC),
        Endpoint::new(Ipv4Addr::new(10, 0, 0, 1).into(), 40000),
        Endpoint::new(Ipv4Addr::new(10, 0, 0, 2).into(), 80),
        Body::Dns(podwire_record::Dns {
            transport: podwire_record::DnsTransport::Udp,
            id: 1,
            name: "x".into(),
            qtype: "A".into(),
            rcode: None,
            answers: vec![],
            latency_ms: None,
        }),
    );
    t.merge(&mut dns, &mut |_, _| None);
    assert!(dns.client.identity.is_none());
}

/// `listen()` (KIND_LISTEN) or a listener's close (KIND_UNLISTEN) on
/// `local:port` (`[0; 4]`: any address) by `pid`/`comm` in `cgroup`.
fn listen_ev(kind: u8, local: [u8; 4], port: u16, pid: u32, comm: &str, cgroup: u64) -> ConnEvent {
    let mut e = with_proc(ev(kind, local, port, [0; 4], 0, SEC), pid, comm);
    e.cgroup_id = cgroup;
    e
}

/// The pid the table names for an accepted socket on `S:port`.
fn listener_pid(t: &KernelTable, port: u16) -> Option<u32> {
    t.listener(SocketAddr::from((S, port))).map(|l| l.pid)
}

#[test]
fn the_first_accepted_socket_takes_the_process_that_listened() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    // listen() on any address of port 80, before any connection.
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 80, 9, "nginx", 0));
    t.event(&ev(KIND_ACCEPT, S, 80, C, 40000, SEC));
    let mut rec = packet_record(Close::Open);
    t.merge(&mut rec, &mut |_, _| None);
    let server = rec.server.identity.as_ref().unwrap();
    assert_eq!(server.process.as_deref(), Some("nginx"));
    assert_eq!(server.pid, Some(9));

    // Another program's listener closing leaves nginx's in place; nginx's
    // own closing takes it away, even by another of its processes (a
    // worker that held the socket last).
    t.event(&listen_ev(KIND_UNLISTEN, [0; 4], 80, 10, "other", 0));
    assert_eq!(listener_pid(&t, 80), Some(9));
    t.event(&listen_ev(KIND_UNLISTEN, [0; 4], 80, 12, "nginx", 0));
    assert_eq!(listener_pid(&t, 80), None);
}

#[test]
fn a_listener_on_the_ipv6_wildcard_serves_ipv4_too_and_an_exact_one_wins() {
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    let mut any6 = listen_ev(KIND_LISTEN, [0; 4], 443, 5, "envoy", 0);
    any6.family = 10;
    t.event(&any6);
    assert_eq!(listener_pid(&t, 443), Some(5));
    // Another port is not its.
    assert_eq!(listener_pid(&t, 80), None);
    // A listener bound to the exact address is preferred.
    t.event(&listen_ev(KIND_LISTEN, S, 443, 6, "haproxy", 0));
    assert_eq!(listener_pid(&t, 443), Some(6));
    // A listen() without a port (autobind that failed) teaches nothing.
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 0, 7, "x", 0));
    assert_eq!(listener_pid(&t, 0), None);
}

#[test]
fn two_programs_on_one_wildcard_port_name_neither() {
    // Two pods on one node both listen on 0.0.0.0:8080, each in its own
    // network namespace, which the table does not tell apart.
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 8080, 9, "api", 100));
    assert_eq!(listener_pid(&t, 8080), Some(9));
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 8080, 10, "web", 200));
    assert_eq!(listener_pid(&t, 8080), None);
    // A close still names the pod's own address.
    t.event(&ev(KIND_ACCEPT, S, 8080, C, 40000, SEC));
    t.event(&with_proc(
        ev(KIND_CLOSE, S, 8080, C, 40000, 2 * SEC),
        10,
        "web",
    ));
    assert_eq!(listener_pid(&t, 8080), Some(10));

    // Another process of the same program in the same cgroup (prefork,
    // SO_REUSEPORT) is not ambiguous.
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 80, 20, "nginx", 7));
    t.event(&listen_ev(KIND_LISTEN, [0; 4], 80, 21, "nginx", 7));
    assert_eq!(listener_pid(&t, 80), Some(21));

    // The same from the start-up scan.
    let found = |pid, comm: &str, cgroup_id| listening::Found {
        local: "0.0.0.0:8080".parse().unwrap(),
        pid,
        comm: packed::Comm::from_name(comm.as_bytes()),
        cgroup_id,
    };
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.learn_scanned(vec![found(9, "api", 100), found(10, "web", 200)]);
    assert_eq!(listener_pid(&t, 8080), None);
    let mut t = KernelTable::new(KernelConfig::default(), 0);
    t.learn_scanned(vec![found(20, "nginx", 7), found(21, "nginx", 7)]);
    assert_eq!(listener_pid(&t, 8080), Some(20));
}
