//! The TLS probe against real programs: curl (`SSL_write`/`SSL_read`
//! through its own BIO: send/recv) talking to Python's `http.server`
//! behind its `ssl` module (`SSL_read_ex`/`SSL_write_ex`, OpenSSL's socket
//! BIO: write/read) over TLS 1.3 and 1.2 on loopback. Each side's plaintext must
//! come out of the probe with the process that sent or received it and the
//! socket it went through, and nothing once the library is detached.
//! Needs root, a kernel with BTF, openssl, curl and python3 with `ssl`.
//!
//! (`openssl s_server` would not do: its SSL BIO calls OpenSSL's internal
//! read and write functions, not the public ones an application calls.)

use podwire_ebpf::{TlsEvent, TlsProbe, OP_READ, OP_WRITE};
use podwire_lab::skip::{require_lab, skipped};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One record as the test keeps it.
#[derive(Debug)]
struct Seen {
    ev: TlsEvent,
    data: Vec<u8>,
}

/// The libssl a running process maps, as the agent finds it.
fn libssl_of(pid: u32) -> Option<PathBuf> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("libssl.so"))
        .map(PathBuf::from)
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(dir: &Path) -> Server {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(ok.success());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    const SERVE: &str = "import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello from inside TLS'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(sys.argv[2], sys.argv[3])
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
";
    let child = Command::new("python3")
        .args(["-c", SERVE, &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 https server");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, addr }
}

fn curl(addr: SocketAddr, path: &str, tls: &str) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http1.1",
            tls,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("https://{addr}{path}"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "curl {tls}");
}

/// Everything the probe reports for `wait`, after which it is drained.
fn collect(probe: &mut TlsProbe, wait: Duration) -> Vec<Seen> {
    let mut seen = Vec::new();
    let end = Instant::now() + wait;
    while Instant::now() < end {
        probe.poll(|ev, data| {
            seen.push(Seen {
                ev: *ev,
                data: data.to_vec(),
            })
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

fn starts(s: &Seen, prefix: &str) -> bool {
    s.data.starts_with(prefix.as_bytes())
}

#[test]
fn plaintext_of_both_ends_comes_out_with_process_and_socket() {
    let test = "plaintext_of_both_ends_comes_out_with_process_and_socket";
    if let Err(s) = require_lab(&["openssl", "curl", "python3"]) {
        return s.report(test);
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return skipped(test, "kernel has no BTF");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = server(dir.path());
    let Some(lib) = libssl_of(srv.child.id()) else {
        return skipped(test, "python3 maps no libssl.so (statically linked?)");
    };
    let mut probe = TlsProbe::load().expect("load the TLS probe");
    let functions = probe.attach(&lib).expect("attach to libssl");
    assert_eq!(functions, 4, "SSL_write, SSL_read and their _ex variants");
    assert_eq!(probe.attach(&lib).expect("again"), 0, "once per file");

    for (tls, path) in [("--tlsv1.3", "/thirteen"), ("--tls-max", "/twelve")] {
        let args: &[&str] = if tls == "--tls-max" {
            &["--tls-max", "1.2"]
        } else {
            &[tls]
        };
        let before = Instant::now();
        let out = Command::new("curl")
            .args(["-sk", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .arg(format!("https://{}{path}", srv.addr))
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "curl {tls}");
        let seen = collect(&mut probe, Duration::from_millis(500));
        let request = format!("GET {path} HTTP/1.1\r\n");
        let sent = seen
            .iter()
            .find(|s| s.ev.op == OP_WRITE && starts(s, &request))
            .unwrap_or_else(|| panic!("{tls}: curl's request not seen: {seen:#?}"));
        assert_eq!(sent.ev.comm(), "curl");
        assert_eq!(sent.ev.remote(), Some(srv.addr), "curl's socket");
        assert_eq!(
            sent.ev.len as usize,
            sent.data.len(),
            "whole request copied"
        );
        let client = sent.ev.local().expect("curl's local end");
        let got = seen
            .iter()
            .find(|s| s.ev.op == OP_READ && starts(s, &request))
            .unwrap_or_else(|| panic!("{tls}: the server's read not seen: {seen:#?}"));
        assert!(got.ev.comm().starts_with("python"), "{:?}", got.ev.comm());
        assert_eq!(got.ev.pid, srv.child.id());
        assert_eq!(
            (got.ev.local(), got.ev.remote()),
            (Some(srv.addr), Some(client))
        );
        assert!(
            seen.iter().any(|s| s.ev.op == OP_WRITE
                && s.ev.pid == srv.child.id()
                && starts(s, "HTTP/1.0 200 OK")),
            "{tls}: the server's answer"
        );
        assert!(
            seen.iter().any(|s| s.ev.op == OP_READ
                && s.ev.comm() == "curl"
                && starts(s, "HTTP/1.0 200 OK")),
            "{tls}: curl's read of the answer"
        );
        for s in &seen {
            assert!(s.ev.ts_ns > 0 && s.ev.len >= s.ev.size, "{s:?}");
            // A call that failed (SSL_read's -1 when nothing is ready:
            // curl asks first) moved nothing and is no record.
            assert!(s.ev.len < 1 << 20 && s.ev.size > 0, "{s:?}");
        }
        eprintln!("{tls}: {} records in {:?}", seen.len(), before.elapsed());
    }
    let lost = probe.lost();
    assert_eq!(lost.ring_full, 0, "{lost:?}");

    // Detached: the same exchange leaves no trace.
    let id = probe.files().next().expect("one file");
    probe.detach(id);
    assert_eq!(probe.files().count(), 0);
    curl(srv.addr, "/after", "--tlsv1.3");
    let after = collect(&mut probe, Duration::from_millis(300));
    assert!(after.is_empty(), "{after:#?}");
}
