//! The connection probe against real TCP connections on loopback: the
//! kernel's counters and the ports, addresses and process it reports must
//! match what this test did. Needs root and a kernel with BTF.

use podwire_ebpf::{
    ConnEvent, ConnProbe, Hook, KIND_ACCEPT, KIND_CLOSE, KIND_CONNECT, KIND_LISTEN, KIND_UNLISTEN,
};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const UP: usize = 10_000;
const DOWN: usize = 3_000;

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to load eBPF");
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Some("kernel has no BTF (/sys/kernel/btf/vmlinux)");
    }
    None
}

/// What one exchange looked like from user space.
struct Exchange {
    client: SocketAddr,
    server: SocketAddr,
    comm: String,
}

/// Client sends UP bytes, server answers DOWN bytes, client closes first.
fn exchange(ip: IpAddr) -> Exchange {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let server_addr = listener.local_addr().expect("local_addr");
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; UP];
        s.read_exact(&mut buf).expect("server read");
        s.write_all(&[7u8; DOWN]).expect("server write");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("server read to EOF");
        assert!(rest.is_empty());
    });
    let comm = std::fs::read_to_string("/proc/self/comm")
        .expect("comm")
        .trim_end()
        .to_string();
    let mut c = TcpStream::connect(server_addr).expect("connect");
    let client_addr = c.local_addr().expect("client local_addr");
    c.write_all(&[1u8; UP]).expect("client write");
    let mut buf = vec![0u8; DOWN];
    c.read_exact(&mut buf).expect("client read");
    drop(c);
    server.join().expect("server thread");
    Exchange {
        client: client_addr,
        server: server_addr,
        comm,
    }
}

fn find(
    events: &[ConnEvent],
    kind: u8,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<&ConnEvent> {
    events.iter().find(|e| {
        e.kind == kind
            && e.sport == local.port()
            && e.dport == remote.port()
            && e.local_addr() == Some(local.ip())
            && e.remote_addr() == Some(remote.ip())
    })
}

/// A listener's event: its bound address, no remote end.
fn find_listener(events: &[ConnEvent], kind: u8, local: SocketAddr) -> Option<&ConnEvent> {
    events.iter().find(|e| {
        e.kind == kind
            && e.sport == local.port()
            && e.local_addr() == Some(local.ip())
            && e.dport == 0
    })
}

fn all_seen(events: &[ConnEvent], x: &Exchange) -> bool {
    find_listener(events, KIND_LISTEN, x.server).is_some()
        && find_listener(events, KIND_UNLISTEN, x.server).is_some()
        && find(events, KIND_CONNECT, x.client, x.server).is_some()
        && find(events, KIND_ACCEPT, x.server, x.client).is_some()
        && find(events, KIND_CLOSE, x.client, x.server).is_some()
        && find(events, KIND_CLOSE, x.server, x.client).is_some()
}

fn check(events: &[ConnEvent], x: &Exchange) {
    let pid = std::process::id();
    let what = format!("{} -> {}", x.client, x.server);

    // listen() and the listener's close run in this process.
    for kind in [KIND_LISTEN, KIND_UNLISTEN] {
        let l = find_listener(events, kind, x.server)
            .unwrap_or_else(|| panic!("{what}: no listener event {kind} in {events:#?}"));
        assert_eq!(l.pid, pid, "{what}: listener {kind} pid");
        assert_eq!(l.comm(), x.comm, "{what}: listener {kind} comm");
        assert_ne!(l.cgroup_id, 0, "{what}: listener {kind} cgroup id");
        assert_eq!(l.remote_addr().map(|a| a.is_unspecified()), Some(true));
    }

    let connect = find(events, KIND_CONNECT, x.client, x.server)
        .unwrap_or_else(|| panic!("{what}: no connect event in {events:#?}"));
    assert_eq!(connect.pid, pid, "{what}: connect pid");
    assert_eq!(connect.comm(), x.comm, "{what}: connect comm");
    assert_ne!(connect.cgroup_id, 0, "{what}: connect cgroup id");
    assert!(
        connect.start_ns != 0 && connect.start_ns <= connect.ts_ns,
        "{what}: connect start (SYN) must precede ESTABLISHED"
    );

    let accept = find(events, KIND_ACCEPT, x.server, x.client)
        .unwrap_or_else(|| panic!("{what}: no accept event in {events:#?}"));
    assert_ne!(
        accept.skaddr, connect.skaddr,
        "{what}: accept is the other socket"
    );

    let close = find(events, KIND_CLOSE, x.client, x.server)
        .unwrap_or_else(|| panic!("{what}: no client close event in {events:#?}"));
    assert_eq!(
        close.skaddr, connect.skaddr,
        "{what}: client close joins its connect"
    );
    assert_eq!(
        close.start_ns, connect.start_ns,
        "{what}: client close start"
    );
    assert!(close.ts_ns >= close.start_ns, "{what}: close before start");
    assert_eq!(close.pid, pid, "{what}: client close pid");
    assert_eq!(close.comm(), x.comm, "{what}: client close comm");
    // The kernel counts sequence space (bpf/conn_event.h): the client's SYN
    // and FIN were acked, the server's FIN received.
    assert_eq!(
        close.bytes_acked,
        UP as u64 + 2,
        "{what}: client bytes_acked (SYN + data + FIN)"
    );
    assert_eq!(
        close.bytes_received,
        DOWN as u64 + 1,
        "{what}: client bytes_received (data + FIN)"
    );
    assert_eq!(
        close.total_retrans, 0,
        "{what}: retransmissions on loopback"
    );

    let sclose = find(events, KIND_CLOSE, x.server, x.client)
        .unwrap_or_else(|| panic!("{what}: no server close event in {events:#?}"));
    assert_eq!(
        sclose.skaddr, accept.skaddr,
        "{what}: server close joins its accept"
    );
    assert_eq!(sclose.start_ns, accept.ts_ns, "{what}: server close start");
    // The server thread's close() is what names the accepted socket.
    assert_eq!(sclose.pid, pid, "{what}: server close pid");
    // A passive open starts counting after the handshake: no SYN here.
    assert_eq!(
        sclose.bytes_acked,
        DOWN as u64 + 1,
        "{what}: server bytes_acked (data + FIN)"
    );
    assert_eq!(
        sclose.bytes_received,
        UP as u64 + 1,
        "{what}: server bytes_received (data + FIN)"
    );
}

#[test]
fn reports_connect_accept_and_close_with_kernel_counters_v4_and_v6() {
    if let Some(why) = skip_reason() {
        podwire_lab::skip::skipped("reports_connect_accept_and_close...", why);
        return;
    }
    let probe = ConnProbe::load().expect("load conn probe");
    // Kernels since 5.5 take the preferred hook; say it when this one did not.
    if let Some(why) = probe.fallback() {
        eprintln!("note: fell back to the classic tracepoint: {why}");
    }
    run_exchanges(probe);
}

/// The fallback hook must work on its own (kernels without tp_btf).
#[test]
fn classic_tracepoint_reports_the_same() {
    if let Some(why) = skip_reason() {
        podwire_lab::skip::skipped("classic_tracepoint_reports_the_same", why);
        return;
    }
    let probe = ConnProbe::load_with(Some(Hook::Tracepoint)).expect("load on the tracepoint");
    assert_eq!(probe.hook(), Hook::Tracepoint);
    run_exchanges(probe);
}

fn run_exchanges(mut probe: ConnProbe) {
    let runs = [
        exchange(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        exchange(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !runs.iter().all(|x| all_seen(&events, x)) {
        probe.poll(&mut events);
        thread::sleep(Duration::from_millis(20));
    }
    probe.poll(&mut events);
    for x in &runs {
        check(&events, x);
    }
    assert_eq!(probe.lost(), 0, "ring buffer dropped events");
}
