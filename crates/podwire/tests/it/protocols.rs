//! The request protocols end to end, with real servers and clients in the
//! lab: Redis (`redis-server`, `redis-cli`), HTTP/2 over cleartext
//! (`nghttpd`, `curl --http2-prior-knowledge`) and PostgreSQL (`postgres`,
//! `psql`) in pods on the lab's bridge, the live agent capturing on the
//! bridge with its eBPF probe, and tcpdump on the same bridge.
//!
//! What the agent serves and what `podwire read` makes of tcpdump's file
//! must both equal what the clients did (commands, paths, statuses, SQL
//! errors) and what tshark dissects from the file; and with eBPF, the
//! request records name the same client and server processes as their
//! connection records, which the metric families then share as labels.

use crate::util::{lab_lock, podwire, skip_unless, tshark_fields};
use podwire_lab::agent::Agent;
use podwire_lab::capture::{Capture, CaptureOptions};
use podwire_lab::netns::Pod;
use podwire_lab::scenario::Cluster;
use podwire_lab::skip::{find_tool, require_lab};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "ip",
    "tcpdump",
    "tshark",
    "nginx",
    "dnsmasq",
    "curl",
    "openssl",
    "redis-server",
    "redis-cli",
    "nghttpd",
    "nghttp",
    "psql",
];

/// Standard ports: each pod is a network namespace of its own.
const REDIS_PORT: u16 = 6379;
const H2_PORT: u16 = 8442;
const PG_PORT: u16 = 5432;

/// PostgreSQL's server programs are not on PATH in Debian.
fn pg_bin(name: &str) -> Option<PathBuf> {
    let dir = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let mut found: Vec<PathBuf> = dir
        .flatten()
        .map(|d| d.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

/// A server process in a pod, killed when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(pod: &Pod, port: u16) {
    podwire_lab::netns::wait_for_listen(
        &pod.ns,
        podwire_lab::netns::Proto::Tcp,
        port,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("nothing listens on {}:{port}: {e}", pod.name));
}

/// A throwaway PostgreSQL cluster listening on the pod's address; stopped
/// when dropped.
struct Postgres {
    dir: PathBuf,
    ns: String,
}

impl Postgres {
    fn start(pod: &Pod, dir: &Path) -> Postgres {
        let initdb = pg_bin("initdb").expect("initdb");
        let pg_ctl = pg_bin("pg_ctl").expect("pg_ctl");
        std::fs::create_dir_all(dir).expect("pg dir");
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .expect("chown");
        assert!(chown.success());
        let data = dir.join("data");
        let init = Command::new("su")
            .args(["postgres", "-c"])
            .arg(format!(
                "{} -D {} -A trust -U postgres >/dev/null",
                initdb.display(),
                data.display()
            ))
            .status()
            .expect("initdb");
        assert!(init.success(), "initdb failed");
        // The lab's pods reach it over the bridge, without a password.
        let mut hba = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("pg_hba.conf"))
            .expect("pg_hba.conf");
        std::io::Write::write_all(&mut hba, b"host all all 0.0.0.0/0 trust\n").expect("pg_hba");
        let start = pod
            .command("su")
            .args(["postgres", "-c"])
            .arg(format!(
                "{} -D {d} -l {d}/log -o '-c listen_addresses={ip} -p {PG_PORT} -c unix_socket_directories={d}' -w start >/dev/null",
                pg_ctl.display(),
                d = data.display(),
                ip = pod.ipv4
            ))
            .status()
            .expect("pg_ctl start");
        assert!(start.success(), "pg_ctl start failed");
        Postgres {
            dir: data,
            ns: pod.ns.clone(),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pg_ctl) = pg_bin("pg_ctl") {
            let _ = podwire_lab::netns::ns_command(&self.ns, "su")
                .args(["postgres", "-c"])
                .arg(format!(
                    "{} -D {} -m immediate stop >/dev/null 2>&1",
                    pg_ctl.display(),
                    self.dir.display()
                ))
                .status();
        }
    }
}

/// A client's standard output, and its standard error after a `\n--\n`.
fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run client");
    format!(
        "{}\n--\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// The `:path` of every HTTP/2 request tshark dissects in `file` (port
/// [`H2_PORT`] decoded as HTTP/2: tshark has no heuristic for it).
fn tshark_http2_paths(file: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-d", &format!("tcp.port=={H2_PORT},http2")])
        .args(["-Y", "http2.type == 1 && tcp.dstport == 8442"])
        .args(["-T", "fields", "-e", "http2.headers.path"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| l.split(','))
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// The agent's records of `table` that involve `server_ip`.
fn served(agent: &Agent, table: &str, server_ip: &str) -> Vec<Value> {
    let v = agent
        .json(&format!(
            "/api/v1/{table}?server_ip={server_ip}&limit=10000"
        ))
        .unwrap_or_else(|e| panic!("GET {table}: {e}\n{}", agent.log()));
    let mut records: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    // Oldest first, as the clients ran them.
    records.sort_by(by_time);
    records
}

/// Oldest first; HTTP/2 streams whose requests shared a packet by stream id.
fn by_time(a: &Value, b: &Value) -> std::cmp::Ordering {
    let key = |r: &Value| (s(r, &["ts"]).map(String::from), r["stream_id"].as_u64());
    key(a).cmp(&key(b))
}

fn field(records: &[Value], key: &str) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            v => v.to_string(),
        })
        .collect()
}

/// What the clients did, as the records must show it.
struct Expected {
    redis_ops: Vec<&'static str>,
    redis_outcomes: Vec<&'static str>,
    h2_paths: Vec<&'static str>,
    h2_statuses: Vec<&'static str>,
    pg_statements: Vec<&'static str>,
    pg_errors: Vec<&'static str>,
}

fn expected() -> Expected {
    Expected {
        redis_ops: vec!["SET", "GET", "INCR", "RPUSH", "LRANGE", "INCR"],
        redis_outcomes: vec!["ok", "ok", "ok", "ok", "ok", "error"],
        h2_paths: vec!["/small.txt", "/small.txt?again", "/missing", "/small.txt"],
        h2_statuses: vec!["200", "200", "404", "200"],
        pg_statements: vec!["SELECT ? + ?", "SELECT * FROM missing WHERE id = ?"],
        pg_errors: vec!["-", "42P01"],
    }
}

/// Checks one source of records (the agent's tables or `podwire read`'s
/// lines, by type) against what the clients did.
fn check(what: &str, by_type: &dyn Fn(&str) -> Vec<Value>, exp: &Expected) -> Vec<String> {
    let mut problems = Vec::new();
    let mut same = |name: &str, got: Vec<String>, want: &[&str]| {
        if got != want {
            problems.push(format!("{what}: {name}: got {got:?}, want {want:?}"));
        }
    };
    let redis = by_type("redis");
    // A container command's operation is two words (`COMMAND DOCS`).
    let first_words = field(&redis, "operation")
        .iter()
        .map(|o| o.split(' ').next().unwrap_or("").to_string())
        .collect();
    same("redis commands", first_words, &exp.redis_ops);
    same(
        "redis outcomes",
        field(&redis, "outcome"),
        &exp.redis_outcomes,
    );
    let h2: Vec<Value> = by_type("http")
        .into_iter()
        .filter(|r| r["version"] == "2")
        .collect();
    same("http/2 paths", field(&h2, "path"), &exp.h2_paths);
    same("http/2 statuses", field(&h2, "status"), &exp.h2_statuses);
    // psql's SSLRequest (refused) and its startup are records too; the
    // statements are what the user ran.
    let pg: Vec<Value> = by_type("postgres")
        .into_iter()
        .filter(|r| !r["statement"].is_null())
        .collect();
    same(
        "postgres statements",
        field(&pg, "statement"),
        &exp.pg_statements,
    );
    let codes: Vec<String> = pg
        .iter()
        .map(|r| s(r, &["error", "code"]).unwrap_or("-").to_string())
        .collect();
    same("postgres errors", codes, &exp.pg_errors);
    problems
}

#[test]
fn redis_http2_and_postgres_from_real_clients_live_and_from_the_capture() {
    skip_unless!(
        "redis_http2_and_postgres_from_real_clients_live_and_from_the_capture",
        require_lab(TOOLS)
    );
    if pg_bin("initdb").is_none() || find_tool("su").is_none() {
        eprintln!(
            "SKIPPED: redis_http2_and_postgres_...: PostgreSQL server programs not installed"
        );
        return;
    }
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let web = &c.web;
    let ip = web.ipv4.to_string();

    // Servers in the web pod.
    let _redis = Daemon(
        web.command("redis-server")
            .args([
                "--bind",
                &ip,
                "--port",
                &REDIS_PORT.to_string(),
                "--save",
                "",
            ])
            .args(["--protected-mode", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let docroot = dir.path().join("h2");
    std::fs::create_dir_all(&docroot).expect("docroot");
    std::fs::write(docroot.join("small.txt"), "hello over h2\n").expect("file");
    let _h2 = Daemon(
        web.command("nghttpd")
            .args(["--no-tls", "-d"])
            .arg(&docroot)
            .args(["-a", &ip, &H2_PORT.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("nghttpd"),
    );
    let pg = Postgres::start(web, &dir.path().join("pg"));
    for port in [REDIS_PORT, H2_PORT, PG_PORT] {
        wait_port(web, port);
    }

    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = Agent::start(
        podwire(),
        &["--netns", &netns, "--interfaces", "p*"],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    let status = agent.json("/api/v1/status").expect("status");
    let ebpf = status["sources"]["ebpf"]["running"] == Value::Bool(true);
    let file = dir.path().join("bridge.pcap");
    let cap = Capture::start(c.lab.switch_ns(), "br0", &file, &CaptureOptions::default())
        .expect("start tcpdump on the bridge");

    // The clients, one connection each. redis-cli reads the six commands
    // from stdin and sends them on one connection.
    let mut cli = c.client.command("redis-cli");
    cli.args(["-h", &ip, "-p", &REDIS_PORT.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cli.spawn().expect("redis-cli");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"SET greeting hello\nGET greeting\nINCR visits\nRPUSH queue a b c\nLRANGE queue 0 -1\nINCR greeting\n")
            .expect("write commands");
    }
    let out = child.wait_with_output().expect("redis-cli ran");
    let replies = String::from_utf8_lossy(&out.stdout);
    assert!(
        replies.contains("WRONGTYPE") || replies.contains("ERR"),
        "{replies}"
    );

    // HTTP/2: three concurrent streams on one connection from nghttp
    // (curl 7.88 and nghttpd disagree on a second request over one
    // connection), then curl on a connection of its own.
    let h2 = format!("http://{ip}:{H2_PORT}");
    let stats = run(c.client.command("nghttp").args([
        "-n",
        "-s",
        &format!("{h2}/small.txt"),
        &format!("{h2}/small.txt?again"),
        &format!("{h2}/missing"),
    ]));
    for (code, path) in [
        ("200", "/small.txt"),
        ("200", "/small.txt?again"),
        ("404", "/missing"),
    ] {
        assert!(
            stats
                .lines()
                .any(|l| l.contains(&format!(" {code} ")) && l.trim_end().ends_with(path)),
            "nghttp did not report {code} {path}: {stats}"
        );
    }
    let code = run(c.client.command("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{h2}/small.txt"),
    ]));
    assert!(code.starts_with("200"), "curl: {code}");

    let psql = run(c.client.command("psql").args([
        "-h",
        &ip,
        "-p",
        &PG_PORT.to_string(),
        "-U",
        "postgres",
        "-X",
        "-A",
        "-t",
        "-c",
        "SELECT 41 + 1",
        "-c",
        "SELECT * FROM missing WHERE id = 7",
    ]));
    assert!(psql.contains("42"), "psql: {psql}");
    cap.stop().expect("stop tcpdump");
    drop(pg);

    // tshark's view of the file: the reference for what crossed the bridge.
    // The command name is each request's first bulk string.
    let t_redis: Vec<String> = tshark_fields(
        &file,
        Some("resp && tcp.dstport == 6379"),
        &["resp.bulk_string.value"],
    )
    .iter()
    .map(|l| {
        // tshark 4.0 prints the bytes as hex.
        let hex = l.split(',').next().unwrap_or("");
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        String::from_utf8_lossy(&bytes).to_ascii_uppercase()
    })
    .collect();
    let t_paths = tshark_http2_paths(&file);
    let t_pg = tshark_fields(
        &file,
        Some("pgsql.type == \"Simple query\""),
        &["pgsql.query"],
    );
    let t_pg_err = tshark_fields(&file, Some("pgsql.code"), &["pgsql.code"]);
    let mut exp = expected();
    // redis-cli may ask for `COMMAND DOCS` before the six of the test.
    assert!(
        t_redis.ends_with(
            &exp.redis_ops
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        ),
        "tshark's Redis commands: {t_redis:?}"
    );
    exp.redis_ops = t_redis.iter().map(|s| s.clone().leak() as &str).collect();
    let extra = exp.redis_ops.len() - 6;
    exp.redis_outcomes = std::iter::repeat_n("ok", extra)
        .chain(exp.redis_outcomes.iter().copied())
        .collect();
    assert_eq!(
        t_pg.len(),
        exp.pg_statements.len(),
        "tshark's queries: {t_pg:?}"
    );
    assert!(t_pg_err.iter().any(|c| c.contains("42P01")), "{t_pg_err:?}");
    assert_eq!(t_paths, exp.h2_paths, "tshark's HTTP/2 requests");

    // podwire read on tcpdump's file.
    let out = Command::new(podwire())
        .args(["read", "--format", "jsonl"])
        .arg(&file)
        .output()
        .expect("podwire read");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect();
    let by_type_read = |t: &str| -> Vec<Value> {
        let mut v: Vec<Value> = lines
            .iter()
            .filter(|r| r["type"] == t && s(r, &["server", "ip"]) == Some(ip.as_str()))
            .cloned()
            .collect();
        v.sort_by(by_time);
        v
    };
    let problems = check("podwire read", &by_type_read, &exp);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The live agent: records arrive once each connection's records are out.
    let deadline = Instant::now() + Duration::from_secs(20);
    let by_type_live = |t: &str| served(&agent, t, &ip);
    let problems = loop {
        let p = check("agent", &by_type_live, &exp);
        if p.is_empty() || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        problems.is_empty(),
        "{}\nagent log:\n{}",
        problems.join("\n"),
        agent.log()
    );

    if !ebpf {
        eprintln!("note: eBPF not running: process checks skipped");
        return;
    }
    // Every request record names the client process its connection record
    // names. The server's process is known once the kernel has seen one of
    // the server's accepted sockets close (accepts run in softirq, without
    // a process): from the second connection on. So the first connection's
    // requests may lack it; when present it is the connection's.
    let conns = served(&agent, "connections", &ip);
    let process_of = |r: &Value, side: &str| s(r, &[side, "process"]).map(String::from);
    for (table, client, server) in [
        ("redis", "redis-cli", "redis-server"),
        ("http", "nghttp|curl", "nghttpd"),
        ("postgres", "psql", "postgres"),
    ] {
        for r in by_type_live(table) {
            let got = process_of(&r, "client").unwrap_or_default();
            assert!(client.split('|').any(|c| c == got), "{r}");
            let port = r["client"]["port"].clone();
            let conn = conns
                .iter()
                .find(|c| c["client"]["port"] == port)
                .unwrap_or_else(|| panic!("no connection record for {r}"));
            assert_eq!(process_of(conn, "client"), process_of(&r, "client"));
            assert_eq!(
                process_of(conn, "server").as_deref(),
                Some(server),
                "{conn}"
            );
            if let Some(p) = process_of(&r, "server") {
                assert_eq!(p, server, "{r}");
            }
            // curl's connection came after nghttp's had closed.
            if got == "curl" {
                assert_eq!(process_of(&r, "server").as_deref(), Some(server), "{r}");
            }
        }
    }
    // And the metric families label the pair alike.
    let (code, metrics) = agent.get("/metrics").expect("metrics");
    assert_eq!(code, 200);
    for (family, src, rest) in [
        (
            "podwire_requests_total{",
            "redis-cli",
            "protocol=\"redis\",operation=\"INCR\",outcome=\"error\"} 1",
        ),
        (
            "podwire_http_requests_total{",
            "nghttp",
            "method=\"GET\",status_class=\"4xx\"} 1",
        ),
        (
            "podwire_http_requests_total{",
            "curl",
            "dst=\"nghttpd\",method=\"GET\",status_class=\"2xx\"} 1",
        ),
        (
            "podwire_requests_total{",
            "psql",
            "protocol=\"postgres\",operation=\"SELECT\",outcome=\"error\"} 1",
        ),
    ] {
        let src = format!("src=\"{src}\",");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(family) && l.contains(&src) && l.ends_with(rest)),
            "no {family}{src}...{rest}\n{metrics}"
        );
    }
}
