//! The request protocols end to end, with real servers and clients in the
//! lab: Redis (`redis-server`, `redis-cli`), HTTP/2 over cleartext
//! (`nghttpd`, `nghttp`, `curl --http2-prior-knowledge`), PostgreSQL
//! (`postgres`, `psql`) and MariaDB (`mariadbd`, `mysql`) in pods on the
//! lab's bridge, the live agent capturing on the bridge with its eBPF probe,
//! and tcpdump on the same bridge.
//!
//! What the agent serves and what `podwire read` makes of tcpdump's file
//! must both equal what the clients did (commands, paths, statuses, SQL
//! errors) and what tshark dissects from the file; and with eBPF, the
//! request records name the same client and server processes as their
//! connection records, which the metric families then share as labels.
//! (Kafka is not here: no Kafka broker installs from Debian, and the one
//! that builds from crates.io takes longer to build than this suite runs;
//! its parser is tested on real client captures.)

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
    "mysql_install_db",
    "mariadbd",
    "mysql",
];

/// Standard ports: each pod is a network namespace of its own.
const REDIS_PORT: u16 = 6379;
const H2_PORT: u16 = 8442;
pub(crate) const PG_PORT: u16 = 5432;
const MYSQL_PORT: u16 = 3306;

/// PostgreSQL's server programs are not on PATH in Debian.
pub(crate) fn pg_bin(name: &str) -> Option<PathBuf> {
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
pub(crate) struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn wait_port(pod: &Pod, port: u16) {
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
pub(crate) struct Postgres {
    dir: PathBuf,
    ns: String,
}

impl Postgres {
    pub(crate) fn start(pod: &Pod, dir: &Path) -> Postgres {
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

/// A throwaway MariaDB server listening on the pod's address; its root
/// account reachable from the lab without a password.
fn start_mariadb(pod: &Pod, dir: &Path) -> Daemon {
    std::fs::create_dir_all(dir).expect("mariadb dir");
    let owner = Command::new("chown")
        .args(["-R", "mysql:mysql"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(owner.success());
    let data = dir.join("data");
    let init = Command::new("mysql_install_db")
        .args(["--user=mysql", "--auth-root-authentication-method=normal"])
        .arg(format!("--datadir={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mysql_install_db");
    assert!(init.success(), "mysql_install_db failed");
    let socket = dir.join("sock");
    let server = pod
        .command("mariadbd")
        .args(["--user=mysql", "--skip-grant-tables", "--skip-log-bin"])
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--bind-address={}", pod.ipv4))
        .arg(format!("--port={MYSQL_PORT}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd");
    Daemon(server)
}

/// A client's standard output, and its standard error after a `\n--\n`.
pub(crate) fn run(cmd: &mut Command) -> String {
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
    mysql_statements: Vec<&'static str>,
    mysql_errors: Vec<&'static str>,
}

fn expected() -> Expected {
    Expected {
        redis_ops: vec!["SET", "GET", "INCR", "RPUSH", "LRANGE", "INCR"],
        redis_outcomes: vec!["ok", "ok", "ok", "ok", "ok", "error"],
        h2_paths: vec!["/small.txt", "/small.txt?again", "/missing", "/small.txt"],
        h2_statuses: vec!["200", "200", "404", "200"],
        pg_statements: vec!["SELECT ? + ?", "SELECT * FROM missing WHERE id = ?"],
        pg_errors: vec!["-", "42P01"],
        mysql_statements: vec![
            "SELECT ? + ?",
            "CREATE DATABASE shop",
            "CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT)",
            "INSERT INTO shop.items VALUES (?, ?), (?, ?)",
            "SELECT name FROM shop.items WHERE id = ?",
            "SELECT * FROM shop.missing",
        ],
        mysql_errors: vec!["-", "-", "-", "-", "-", "1146"],
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
    // The mysql client's own startup queries (`select @@version_comment`)
    // come first; the user's statements follow.
    let my: Vec<Value> = by_type("mysql")
        .into_iter()
        .filter(|r| !r["statement"].is_null())
        .collect();
    let statements = field(&my, "statement");
    let skip = statements.len().saturating_sub(exp.mysql_statements.len());
    same(
        "mysql statements",
        statements[skip..].to_vec(),
        &exp.mysql_statements,
    );
    let codes: Vec<String> = my[skip..]
        .iter()
        .map(|r| s(r, &["error", "code"]).unwrap_or("-").to_string())
        .collect();
    same("mysql errors", codes, &exp.mysql_errors);
    problems
}

#[test]
fn databases_caches_and_http2_from_real_clients_live_and_from_the_capture() {
    skip_unless!(
        "databases_caches_and_http2_from_real_clients_live_and_from_the_capture",
        require_lab(TOOLS)
    );
    if pg_bin("initdb").is_none() || find_tool("su").is_none() {
        podwire_lab::skip::skipped(
            "databases_caches_and_http2_...",
            "PostgreSQL server programs not installed",
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
    let _mariadb = start_mariadb(web, &dir.path().join("mariadb"));
    for port in [REDIS_PORT, H2_PORT, PG_PORT, MYSQL_PORT] {
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
    if ebpf {
        // The servers listened before the agent started: it learns them
        // from its scan of /proc, which runs beside the probe.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !agent.log().contains("listening sockets found at start") {
            assert!(
                Instant::now() < deadline,
                "no listener scan:\n{}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
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

    // One mysql client session: statements from stdin, the last one fails.
    let mut mysql = c.client.command("mysql");
    mysql
        .args(["-h", &ip, "-P", &MYSQL_PORT.to_string(), "-u", "root"])
        .args(["--ssl=0", "--force", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = mysql.spawn().expect("mysql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(
                b"SELECT 20 + 22;\nCREATE DATABASE shop;\n\
                  CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT);\n\
                  INSERT INTO shop.items VALUES (1, 'tea'), (2, 'milk');\n\
                  SELECT name FROM shop.items WHERE id = 2;\n\
                  SELECT * FROM shop.missing;\n",
            )
            .expect("write statements");
    }
    let out = child.wait_with_output().expect("mysql ran");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("42") && said.contains("milk"),
        "mysql: {said}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1146"),
        "mysql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let t_my = tshark_fields(&file, Some("mysql.query"), &["mysql.query"]);
    assert!(
        t_my.len() >= exp.mysql_statements.len(),
        "tshark's MySQL queries: {t_my:?}"
    );
    let t_my_err = tshark_fields(&file, Some("mysql.error_code"), &["mysql.error_code"]);
    assert_eq!(t_my_err, ["1146"], "tshark's MySQL errors");
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
    // Every request record names the client and server processes its
    // connection record names. Accepts run in softirq, without a process:
    // an accepted socket's process is its listener's, which the agent
    // found listening when it started (the servers were already up), until
    // the owner closes it.
    let conns = served(&agent, "connections", &ip);
    let process_of = |r: &Value, side: &str| s(r, &[side, "process"]).map(String::from);
    for (table, client, server) in [
        ("redis", "redis-cli", "redis-server"),
        ("http", "nghttp|curl", "nghttpd"),
        ("postgres", "psql", "postgres"),
        ("mysql", "mysql", "mariadbd"),
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
            assert_eq!(process_of(&r, "server").as_deref(), Some(server), "{r}");
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

/// The gRPC client of `tests/data/grpc_echo.py`, running in a pod: one
/// connection, a warm-up call, then the calls of phase two when told.
pub(crate) struct GrpcClient {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl GrpcClient {
    pub(crate) fn start(pod: &Pod, script: &Path, ip: &str, port: u16) -> GrpcClient {
        let mut child = pod
            .command("python3")
            .arg(script)
            .args(["call", ip, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("grpc client");
        let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut c = GrpcClient { child, out };
        assert_eq!(c.line(), "ready", "the warm-up call");
        c
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut self.out, &mut l).expect("client output");
        l.trim().to_string()
    }

    /// Runs phase two; the calls as the client saw them.
    pub(crate) fn calls(mut self) -> Vec<Value> {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("go");
        drop(stdin);
        let mut calls = Vec::new();
        loop {
            let l = self.line();
            if l == "done" || l.is_empty() {
                break;
            }
            calls.push(serde_json::from_str(&l).expect("a call's JSON"));
        }
        let status = self.child.wait().expect("client exits");
        assert!(status.success(), "grpc client: {status}");
        calls
    }
}

impl Drop for GrpcClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/data/grpc_echo.py serve` in `pod` on `ip:port`, listening when
/// this returns; killed when dropped.
pub(crate) fn grpc_server(pod: &Pod, ip: &str, port: u16) -> Daemon {
    let server = Daemon(
        pod.command("python3")
            .arg(crate::util::data_dir().join("grpc_echo.py"))
            .args(["serve", ip, &port.to_string()])
            .spawn()
            .expect("grpc server"),
    );
    wait_port(pod, port);
    server
}

/// Whether the python3 on PATH has grpcio (scripts/test.sh installs it;
/// CI must not go without): else `test` is reported skipped.
pub(crate) fn grpcio(test: &str) -> bool {
    let has = Command::new("python3")
        .args(["-c", "import grpc"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        podwire_lab::skip::skipped(
            test,
            "Python's grpcio is not installed (pip install grpcio)",
        );
    }
    has
}

/// gRPC from Python's grpcio, live: a connection that opened before the
/// agent started (joined mid-stream: its HPACK tables unknown) still has
/// its later calls reported, with nothing invented; one that opened after
/// has every call with service, method, gRPC status and message counts as
/// the client saw them, and as tshark dissects them from tcpdump's file.
#[test]
fn grpc_calls_live_including_a_connection_older_than_the_agent() {
    skip_unless!(
        "grpc_calls_live_including_a_connection_older_than_the_agent",
        require_lab(&["ip", "tcpdump", "tshark", "nginx", "dnsmasq", "python3"])
    );
    if !grpcio("grpc_calls_live_...") {
        return;
    }
    const GRPC_PORT: u16 = 50051;
    let _lab = lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let c = Cluster::start().expect("start the lab cluster");
    let ip = c.web.ipv4.to_string();
    let script = crate::util::data_dir().join("grpc_echo.py");
    let _server = grpc_server(&c.web, &ip, GRPC_PORT);

    // A connection older than the agent.
    let old = GrpcClient::start(&c.client, &script, &ip, GRPC_PORT);
    let netns = format!("/run/netns/{}", c.lab.switch_ns());
    let agent = Agent::start(
        podwire(),
        &["--netns", &netns, "--interfaces", "p*", "--no-ebpf"],
        &dir.path().join("agent.log"),
    )
    .expect("start the agent");
    let file = dir.path().join("grpc.pcap");
    let cap = Capture::start(c.lab.switch_ns(), "br0", &file, &CaptureOptions::default())
        .expect("start tcpdump on the bridge");
    // Let the agent's rings settle before the old connection speaks again.
    std::thread::sleep(Duration::from_millis(500));
    let old_calls = {
        let calls = old.calls();
        assert_eq!(calls.len(), 5, "{calls:?}");
        calls
    };
    // A new connection, seen whole.
    let new = GrpcClient::start(&c.client, &script, &ip, GRPC_PORT);
    let calls = new.calls();
    cap.stop().expect("stop tcpdump");

    let want_paths: Vec<String> = std::iter::once("Unary".to_string())
        .chain(
            calls
                .iter()
                .map(|c| c["method"].as_str().unwrap_or("?").to_string()),
        )
        .map(|m| format!("/lab.Echo/{m}"))
        .collect();
    // tshark, on the connection it saw whole (the second).
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args(["-d", &format!("tcp.port=={GRPC_PORT},http2")])
        .args(["-Y", "http2.type == 1 && tcp.dstport == 50051"])
        .args([
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "http2.headers.path",
        ])
        .output()
        .expect("tshark");
    let t_paths: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| {
            let (port, paths) = l.split_once('\t').unwrap_or((l, ""));
            paths
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| (port.to_string(), p.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let new_port = t_paths
        .iter()
        .find(|(_, p)| p == "/lab.Echo/Unary")
        .map(|(port, _)| port.clone())
        .expect("tshark saw the new connection's first call");
    let t_new: Vec<&str> = t_paths
        .iter()
        .filter(|(port, _)| *port == new_port)
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(t_new, want_paths, "tshark's requests on the new connection");

    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let all = served(&agent, "http", &ip);
        if all.len() >= 11 || Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let port = |r: &Value| r["client"]["port"].as_u64().unwrap_or(0).to_string();
    let new_recs: Vec<&Value> = records.iter().filter(|r| port(r) == new_port).collect();
    let old_recs: Vec<&Value> = records.iter().filter(|r| port(r) != new_port).collect();

    // The new connection: every call, whole.
    let paths: Vec<&str> = new_recs.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, want_paths, "{new_recs:?}");
    for (r, call) in new_recs.iter().skip(1).zip(&calls) {
        let g = &r["grpc"];
        assert_eq!(g["service"], "lab.Echo", "{r}");
        assert_eq!(g["method"], call["method"], "{r}");
        assert_eq!(g["status"], call["code"], "{r}");
        assert_eq!(g["request_messages"], call["sent"], "{r}");
        assert_eq!(g["response_messages"], call["received"], "{r}");
        assert_eq!(r["version"], "2");
    }
    let failed = new_recs
        .iter()
        .find(|r| r["grpc"]["status"] == 5)
        .expect("the failing call");
    assert_eq!(failed["grpc"]["message"], "no such thing: caf\u{e9} 50%");

    // The old connection: its five later calls are reported; what its
    // unknown header tables hid is null, never another call's value.
    assert_eq!(old_recs.len(), old_calls.len(), "{old_recs:?}");
    for (r, call) in old_recs.iter().zip(&old_calls) {
        assert_eq!(r["version"], "2", "{r}");
        if let Some(p) = r["path"].as_str() {
            assert_eq!(
                p,
                format!("/lab.Echo/{}", call["method"].as_str().unwrap_or("?")),
                "{r}"
            );
        }
        if let Some(m) = r["grpc"]["method"].as_str() {
            assert_eq!(Some(m), call["method"].as_str(), "{r}");
        }
    }
    // Methods the connection had not called before the agent started come
    // as literals: those it names.
    for m in ["ServerStream", "ClientStream", "Bidi"] {
        let path = format!("/lab.Echo/{m}");
        assert!(
            old_recs.iter().any(|r| r["path"] == path.as_str()),
            "{m} on the old connection: {old_recs:?}"
        );
    }
}
