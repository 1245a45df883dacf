//! Real servers for the lab: nginx, dnsmasq and `openssl s_server`.
//!
//! podwire has to understand what real software sends, including the parts a
//! hand-written test server would not think of (nginx's chunked gzip bodies,
//! 100-continue, dnsmasq's answers over TCP, TLS 1.3's encrypted extensions).
//! Each server runs inside a pod from a private temporary directory (config,
//! pid file, logs, content), never as a daemon, and stops when dropped.
//!
//! Ports: the lab's namespaces are private, so servers can use the ports
//! tshark dissects by default (DNS on 53, HTTP on 8080, TLS on 443/2443),
//! which keeps captures readable in Wireshark without "Decode As".

use crate::netns::{self, Pod, Proto};
use crate::process::Proc;
use crate::{cmd, Error, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Files nginx serves, with their exact sizes.
pub const NGINX_FILES: &[(&str, usize)] = &[
    ("/small.txt", 13),
    ("/1k.bin", 1000),
    ("/16k.bin", 16384),
    ("/chunked/lines.txt", 6000),
];

/// A self-signed certificate and key (EC P-256, small handshakes) for
/// `*.lab.test` and `lab.test`.
#[derive(Debug)]
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Cert {
    /// Creates `cert.pem` and `key.pem` in `dir` with `openssl req -x509`.
    pub fn create(dir: &Path) -> Result<Cert> {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        cmd::run_ok(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-days",
                    "3650",
                ])
                .args([
                    "-subj",
                    "/CN=lab.test",
                    "-addext",
                    "subjectAltName=DNS:lab.test,DNS:*.lab.test",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
            Duration::from_secs(30),
        )?;
        // nginx workers run as an unprivileged user and read the key after
        // dropping privileges.
        for p in [&cert, &key] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io("chmod", p, e))?;
        }
        Ok(Cert { cert, key })
    }
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    }
    fs::write(path, data).map_err(|e| Error::io("write", path, e))
}

/// Makes a directory (and its parents up to the temp dir root) traversable
/// by nginx's unprivileged workers.
fn open_up(dir: &Path) -> Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("chmod", dir, e))
}

/// The content of the file at `path` from [`NGINX_FILES`]: deterministic
/// bytes of the listed size.
pub fn nginx_file_content(path: &str, size: usize) -> Vec<u8> {
    if path.ends_with(".txt") {
        // Compressible text for the gzip (chunked) location.
        let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
        if size == 13 {
            return b"hello, world\n".to_vec();
        }
        line.iter().cycle().take(size).copied().collect()
    } else {
        (0..size).map(|i| (i * 7 % 251) as u8).collect()
    }
}

/// nginx serving [`NGINX_FILES`] over HTTP and HTTPS on IPv4 and IPv6.
///
/// Locations: static files; `/chunked/` gzips text (the client must send
/// `Accept-Encoding: gzip`), which makes nginx answer with a chunked body;
/// `= /post` answers any method, including POST with a body, with
/// `201 created\n` (8 bytes); anything else is a 404.
#[derive(Debug)]
pub struct Nginx {
    pub http_ports: Vec<u16>,
    pub https_port: u16,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(pod: &Pod, http_ports: &[u16], https_port: u16) -> Result<Nginx> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-nginx")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", "/tmp", e))?;
        let d = dir.path();
        open_up(d)?;
        let cert = Cert::create(d)?;
        let www = d.join("www");
        for (path, size) in NGINX_FILES {
            write(
                &www.join(path.trim_start_matches('/')),
                &nginx_file_content(path, *size),
            )?;
        }
        open_up(&www)?;
        open_up(&www.join("chunked"))?;
        let tmp = d.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io("create directory", &tmp, e))?;
        let d = d.display();
        let conf = format!(
            r#"worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    keepalive_requests 1000;
    keepalive_timeout 60s;
    server_tokens off;
    server {{
{listen}        listen 0.0.0.0:{https} ssl;
        listen [::]:{https} ssl ipv6only=on;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {d}/www;
        location / {{ }}
        location = /post {{ return 201 "created\n"; }}
        location /chunked/ {{
            gzip on;
            gzip_min_length 1;
            gzip_types text/plain;
        }}
    }}
}}
"#,
            listen = http_ports
                .iter()
                .map(|p| format!(
                    "        listen 0.0.0.0:{p};\n        listen [::]:{p} ipv6only=on;\n"
                ))
                .collect::<String>(),
            https = https_port,
            cert = cert.cert.display(),
            key = cert.key.display(),
        );
        let conf_path = dir.path().join("nginx.conf");
        write(&conf_path, conf.as_bytes())?;
        let mut c = pod.command("nginx");
        // `-e stderr`: nginx opens its compiled-in error log before it reads the
        // config; keep even that one in our log file.
        c.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-e", "stderr"]);
        let mut proc = Proc::spawn("nginx", c, &dir.path().join("stderr.log"))?;
        let mut ports = http_ports.to_vec();
        ports.push(https_port);
        wait_listening(&mut proc, &pod.ns, Proto::Tcp, &ports)?;
        Ok(Nginx {
            http_ports: http_ports.to_vec(),
            https_port,
            proc,
            _dir: dir,
        })
    }

    /// nginx's own log output (start-up errors and notices).
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

fn wait_listening(proc: &mut Proc, ns: &str, proto: Proto, ports: &[u16]) -> Result<()> {
    for &port in ports {
        if let Err(e) = netns::wait_for_listen(ns, proto, port, START_TIMEOUT) {
            proc.check_running()?;
            return Err(e);
        }
    }
    proc.check_running()
}

/// Records dnsmasq serves, all under `lab.test`.
#[derive(Clone, Debug, Default)]
pub struct DnsZone {
    /// `name -> (ipv4, ipv6)`, answered for A and AAAA.
    pub hosts: Vec<(String, String, String)>,
    /// `name -> text`, answered for TXT.
    pub txt: Vec<(String, String)>,
    /// `(name, exchange, preference)`, answered for MX.
    pub mx: Vec<(String, String, u16)>,
}

/// dnsmasq answering for `lab.test` on UDP and TCP, IPv4 and IPv6; names
/// under `lab.test` it does not know get NXDOMAIN, everything else REFUSED
/// (it has no upstream).
#[derive(Debug)]
pub struct Dnsmasq {
    pub port: u16,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Dnsmasq {
    pub fn start(pod: &Pod, port: u16, zone: &DnsZone) -> Result<Dnsmasq> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-dnsmasq")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", "/tmp", e))?;
        let mut c = pod.command("dnsmasq");
        c.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
        ]);
        c.args([
            "--user=root",
            "--group=root",
            "--log-queries",
            "--log-facility=-",
            "--local=/lab.test/",
        ]);
        c.arg(format!("--port={port}"));
        c.arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ));
        c.arg(format!("--listen-address={}", pod.ipv4));
        c.arg(format!("--listen-address={}", pod.ipv6));
        for (name, v4, v6) in &zone.hosts {
            c.arg(format!("--host-record={name},{v4},{v6}"));
        }
        for (name, text) in &zone.txt {
            c.arg(format!("--txt-record={name},\"{text}\""));
        }
        for (name, exchange, pref) in &zone.mx {
            c.arg(format!("--mx-host={name},{exchange},{pref}"));
        }
        let mut proc = Proc::spawn("dnsmasq", c, &dir.path().join("dnsmasq.log"))?;
        wait_listening(&mut proc, &pod.ns, Proto::Udp, &[port])?;
        wait_listening(&mut proc, &pod.ns, Proto::Tcp, &[port])?;
        Ok(Dnsmasq {
            port,
            proc,
            _dir: dir,
        })
    }

    /// dnsmasq's query log.
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// `openssl s_server -www` on one port, IPv4 and IPv6, TLS 1.2 and 1.3,
/// selecting ALPN `http/1.1` when offered.
#[derive(Debug)]
pub struct TlsServer {
    pub port: u16,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub fn start(pod: &Pod, port: u16) -> Result<TlsServer> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-tls")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", "/tmp", e))?;
        let cert = Cert::create(dir.path())?;
        let mut c = pod.command("openssl");
        c.args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-www",
            "-alpn",
            "http/1.1",
        ]);
        c.arg("-cert").arg(&cert.cert).arg("-key").arg(&cert.key);
        let mut proc = Proc::spawn("openssl s_server", c, &dir.path().join("s_server.log"))?;
        wait_listening(&mut proc, &pod.ns, Proto::Tcp, &[port])?;
        Ok(TlsServer {
            port,
            proc,
            _dir: dir,
        })
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}
