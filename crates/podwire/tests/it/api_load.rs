//! The API under load, bounded in count and time, on loopback only: many
//! clients from many addresses, live streams that are never read, request
//! targets far too long and more idle connections than the agent serves, all
//! while it captures traffic of its own on `lo`. The agent must refuse what
//! is over its limits (and count each refusal), keep its memory within its
//! budget, and store every connection it was capturing meanwhile, or count
//! what its ring dropped: the API's own packets must not even reach the
//! packet ring. Prints its numbers. Needs root (packet capture), else SKIPPED.

use crate::util::{podwire, skip_unless};
use podwire_lab::agent::Agent;
use podwire_lab::skip::require_root;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "load-token";
/// Client threads, each from its own loopback address.
const CLIENTS: usize = 48;
const REQUESTS_EACH: usize = 60;
/// Streams opened and never read (the agent serves 64).
const SLOW_STREAMS: usize = 80;
/// Connections opened and left idle (the agent serves 512 at once).
const IDLE: usize = 560;
/// Connections of the capture traffic the agent must not lose.
const CAPTURED: usize = 1000;

/// A TCP connection from `from` to `to`, the request written.
fn send(from: IpAddr, to: SocketAddr, request: &[u8]) -> std::io::Result<TcpStream> {
    let mut s = bind_connect(from, to)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    Ok(s)
}

/// Connects from `from`: any address of 127/8 is this host's, so clients
/// can come from many addresses (std cannot bind before connecting).
fn bind_connect(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let IpAddr::V4(v4) = from else {
        return TcpStream::connect(to);
    };
    let SocketAddr::V4(dst) = to else {
        return TcpStream::connect(to);
    };
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // sockaddr structs are fully initialised and their sizes passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let sa = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sa(v4, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sa(*dst.ip(), dst.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// The status code of an HTTP answer read to its end.
fn status_of(mut s: TcpStream) -> u16 {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn get(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// `GET path` with the token, from 127.0.0.1: (status, body).
fn fetch(api: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = send(IpAddr::V4(Ipv4Addr::LOCALHOST), api, &get(path)) else {
        return (0, String::new());
    };
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The agent's high-water resident memory, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[test]
fn the_api_holds_its_limits_under_load_and_counts_any_loss() {
    let name = "the_api_holds_its_limits_under_load_and_counts_any_loss";
    skip_unless!(name, require_root());
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{TOKEN} load\n")).unwrap();
    let tok = tokens.display().to_string();
    let agent = Agent::start(
        podwire(),
        &[
            "--no-ebpf",
            "--interfaces",
            "lo",
            "--api-token-file",
            &tok,
            "--store-mib",
            "64",
        ],
        &dir.path().join("agent.log"),
    )
    .expect("agent");
    let api = agent.addr();
    let pid = agent.pid().expect("pid");
    let started = Instant::now();

    // The traffic the agent captures meanwhile: CAPTURED connections to a
    // listener of this test, each with a few bytes each way.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        for _ in 0..CAPTURED {
            let (mut c, _) = sink.accept().unwrap();
            let mut b = [0u8; 5];
            let _ = c.read_exact(&mut b);
            let _ = c.write_all(b"world");
        }
    });
    let capture = std::thread::spawn(move || {
        for _ in 0..CAPTURED {
            let mut c = TcpStream::connect(("127.0.0.1", sink_port)).unwrap();
            c.write_all(b"hello").unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });

    // Streams that are never read, then idle connections beyond the bound.
    let mut slow = Vec::new();
    let mut streams_refused = 0;
    for _ in 0..SLOW_STREAMS {
        let mut s = send(
            IpAddr::V4(Ipv4Addr::new(127, 0, 9, 1)),
            api,
            &get("/api/v1/stream"),
        )
        .expect("stream");
        let mut head = [0u8; 12];
        let _ = s.read_exact(&mut head);
        if head.ends_with(b"429") {
            streams_refused += 1;
        } else {
            slow.push(s);
        }
    }
    let idle: Vec<TcpStream> = (0..IDLE)
        .filter_map(|i| {
            bind_connect(
                IpAddr::V4(Ipv4Addr::new(127, 0, 10, (i % 250) as u8 + 1)),
                api,
            )
            .ok()
        })
        .collect();
    // Give the agent a moment to accept (and refuse) them all.
    std::thread::sleep(Duration::from_millis(500));
    drop(idle);

    // Many clients, each from its own address, as fast as they can; and
    // request targets far beyond the bound.
    let codes: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let codes = Arc::clone(&codes);
            std::thread::spawn(move || {
                let from = IpAddr::V4(Ipv4Addr::new(127, 0, 11, i as u8 + 1));
                for j in 0..REQUESTS_EACH {
                    let path = if j % 20 == 19 {
                        format!("/api/v1/connections?server_ip={}", "9".repeat(64 * 1024))
                    } else {
                        "/api/v1/connections?limit=20".to_string()
                    };
                    let code = send(from, api, &get(&path)).map(status_of).unwrap_or(0);
                    let slot = match code {
                        200 => 0,
                        414 => 1,
                        429 => 2,
                        431 | 400 => 3,
                        0 => 4,
                        _ => 5,
                    };
                    codes[slot].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // One client address alone, far over its rate.
    let flood_from = IpAddr::V4(Ipv4Addr::new(127, 0, 12, 1));
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        send(flood_from, api, &get("/healthz"))
                            .map(status_of)
                            .unwrap_or(0)
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let flooded: Vec<u16> = flooders
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    capture.join().unwrap();
    served.join().unwrap();
    drop(slow);
    let load_secs = started.elapsed().as_secs_f64();

    // Every captured connection is stored, none lost to the load.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let (code, body) = fetch(
            api,
            &format!("/api/v1/connections?server_port={sink_port}&limit=100000"),
        );
        let n = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        if (code == 200 && n >= CAPTURED) || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (_, metrics) = fetch(api, "/metrics");
    let peak = peak_rss_kib(pid);
    let c: Vec<u64> = codes.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let flood_ok = flooded.iter().filter(|&&c| c == 200).count();
    let flood_429 = flooded.iter().filter(|&&c| c == 429).count();
    println!(
        "api load: {load_secs:.1} s; {} requests from {CLIENTS} addresses: {} ok, {} 414, {} 429, {} 400/431, {} no answer, {} other; \
         one address x800 from 8 threads: {flood_ok} ok, {flood_429} 429; streams: {} open, {streams_refused} refused; \
         {IDLE} idle connections, refused_busy {}; captured {stored}/{CAPTURED}; agent peak RSS {} KiB",
        CLIENTS * REQUESTS_EACH,
        c[0], c[1], c[2], c[3], c[4], c[5],
        SLOW_STREAMS - streams_refused,
        metric(&metrics, "podwire_api_connections_refused_total "),
        peak
    );
    let (_, status) = fetch(api, "/api/v1/status");
    let ring_drops = serde_json::from_str::<serde_json::Value>(&status)
        .ok()
        .and_then(|v| v["capture"]["ring_drops"].as_u64())
        .unwrap_or(0);
    let own_after_ring = metric(&metrics, "podwire_own_packets_left_out_total ");
    println!(
        "api load: kernel ring drops {ring_drops}; own packets that reached the ring {own_after_ring}"
    );
    // The API's packets are dropped by the ring's kernel filter, so the load
    // cannot crowd the captured traffic out of the ring. Each of the load's
    // connections makes at least 8 packets (handshake, request, answer,
    // close), each seen twice on `lo`: without the filter every one reaches
    // the ring. With it, only those of the first moments, before the capture
    // thread read the API's address (at most one ring wait, 100 ms), may:
    // on average under one per connection.
    let api_connections = CLIENTS * REQUESTS_EACH + 800 + SLOW_STREAMS + IDLE;
    assert!(
        own_after_ring < api_connections as f64,
        "the API's own packets reached the packet ring: {own_after_ring} for {api_connections} connections"
    );
    // Alone, this test stores every captured connection with no ring drop
    // (printed above). In the full suite other tests' loopback traffic and
    // CPU share can still starve the capture thread long enough for its
    // ring to fill: then the loss is counted, never silent.
    assert!(
        stored == CAPTURED || ring_drops > 0,
        "captured connections lost without a count\n{status}\n{}",
        agent.log()
    );
    assert_eq!(
        c[4] + c[5],
        0,
        "every request answered, with a status the API documents"
    );
    assert_eq!(
        c[1] + c[3],
        (CLIENTS * REQUESTS_EACH / 20) as u64,
        "every long target refused"
    );
    assert!(
        c[0] > (CLIENTS * REQUESTS_EACH * 8 / 10) as u64,
        "most requests served: {c:?}"
    );
    assert_eq!(
        streams_refused,
        SLOW_STREAMS - 64,
        "streams beyond the bound refused"
    );
    assert!(
        flood_429 > 0 && flood_ok >= 400,
        "one address is held to its rate: {flood_ok} ok"
    );
    assert!(
        metric(&metrics, "podwire_api_connections_refused_total ") > 0.0,
        "idle flood refused"
    );
    for reason in ["rate_limited", "streams_full"] {
        let line = format!("podwire_api_requests_refused_total{{reason=\"{reason}\"}} ");
        assert!(metric(&metrics, &line) > 0.0, "{reason} counted: {metrics}");
    }
    // The store's 64 MiB, the capture ring and what the load itself holds.
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}
