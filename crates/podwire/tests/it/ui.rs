//! The built-in web UI: every file of `ui/` is served from the binary, byte
//! for byte, with its content type, `Cache-Control: no-cache` and a strict
//! Content-Security-Policy, and everything the page loads is there; then
//! the page itself in headless Chromium (`ui/tests/e2e.mjs`, driven by
//! playwright-core from npm) against `podwire read mixed.pcap --serve`:
//! the map against `/api/v1/graph`, the details against the record
//! endpoints, filters, table view and export, keyboard, themes, and frame
//! times on a synthetic 1,000-node / 5,000-edge graph. Screenshots go to
//! `target/test-data/screenshots/`, and with `PODWIRE_UPDATE_SCREENSHOTS=1`
//! to `docs/screenshots/` (the README's, committed: taken by this test so
//! they stay true; a plain test run leaves the tree unchanged). Without
//! node, Chromium or `npm ci --prefix ui/tests`, the browser test prints
//! SKIPPED and passes, unless `PODWIRE_REQUIRE_BROWSER` is set (CI sets it).

use crate::util::{data_dir, podwire};
use podwire_lab::child::{run_watched, Outcome};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `podwire read mixed.pcap --serve 127.0.0.1:0` process.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Served`'s Drop, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn serve(log: &Path) -> Served {
    let err = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(podwire())
        .arg("read")
        .arg(data_dir().join("mixed.pcap"))
        .args(["--serve", "127.0.0.1:0", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn podwire read --serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split("serving http://").nth(1))
            .and_then(|a| a.trim().parse().ok())
        {
            return Served { child, addr };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("not serving: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 GET, read to the end (the server sends `Content-Length`).
fn get(addr: SocketAddr, path: &str) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The files of `ui/` the page is made of (not its tests).
fn ui_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join("ui"))
        .expect("ui/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

fn assert_ui_headers(a: &Answer, what: &str) {
    let h = |k: &str| a.headers.get(k).map(String::as_str).unwrap_or("");
    assert_eq!(h("cache-control"), "no-cache", "{what}");
    let csp = h("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP `{csp}` lacks {part}");
    }
    assert!(!csp.contains("unsafe"), "{what}: CSP allows {csp}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
}

#[test]
fn ui_routes_serve_every_file_with_its_type_and_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(&dir.path().join("serve.log"));

    let root = get(s.addr, "/");
    assert_eq!(root.status, 302);
    assert_eq!(
        root.headers.get("location").map(String::as_str),
        Some("ui/")
    );
    assert_ui_headers(&root, "/");

    let page = get(s.addr, "/ui/");
    assert_eq!(page.status, 200);
    assert_ui_headers(&page, "/ui/");
    assert_eq!(
        page.headers.get("content-type").map(String::as_str),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        page.body,
        std::fs::read(repo().join("ui/index.html")).expect("index.html")
    );

    let files = ui_files();
    assert!(files.len() >= 5, "ui/ has {files:?}");
    let mut names = Vec::new();
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let a = get(s.addr, &format!("/ui/{name}"));
        assert_eq!(
            a.status, 200,
            "/ui/{name} (is it listed in crates/api/src/ui.rs?)"
        );
        assert_ui_headers(&a, &name);
        let want = match f.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{name}: which content type for {other:?}?"),
        };
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some(want),
            "{name}"
        );
        assert_eq!(
            a.body,
            std::fs::read(f).expect("read"),
            "{name} differs from the binary's copy"
        );
        names.push(name);
    }

    // Everything the page and its modules load is one of those files.
    let mut wanted = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for pat in ["src=\"", "href=\"", "from './"] {
            for part in text.split(pat).skip(1) {
                let end = part.find(['"', '\'']).unwrap_or(part.len());
                let target = &part[..end];
                if !target.starts_with('#') && !target.contains("//") {
                    wanted.push(target.trim_start_matches("./").to_string());
                }
            }
        }
    }
    assert!(wanted.iter().any(|w| w == "app.js"), "{wanted:?}");
    for w in &wanted {
        assert!(
            names.contains(w),
            "the page loads {w}, which ui/ does not have"
        );
    }

    for bad in [
        "/ui/nothing.js",
        "/ui/..%2fCargo.toml",
        "/ui/tests",
        "/ui/%2e%2e",
    ] {
        let a = get(s.addr, bad);
        assert_eq!(a.status, 404, "{bad}");
        assert_ui_headers(&a, bad);
    }
    // The API beside it is unchanged.
    assert_eq!(get(s.addr, "/api/v1/graph").status, 200);
}

/// The Chromium a browser test drives (`$CHROMIUM`, else Debian's), or
/// `None` after saying why it cannot run here: node, Chromium or
/// `npm ci --prefix ui/tests` missing. With `PODWIRE_REQUIRE_BROWSER` set
/// (CI) that is a failure, not a skip.
pub(crate) fn browser(test: &str) -> Option<PathBuf> {
    let chromium = PathBuf::from(
        std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string()),
    );
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let why = if !node.is_ok_and(|s| s.success()) {
        "node is not installed".to_string()
    } else if !chromium.exists() {
        format!("no Chromium at {}", chromium.display())
    } else if !repo()
        .join("ui/tests/node_modules/playwright-core/package.json")
        .exists()
    {
        "ui/tests/node_modules is missing (npm ci --prefix ui/tests)".to_string()
    } else {
        return Some(chromium);
    };
    assert!(
        std::env::var_os("PODWIRE_REQUIRE_BROWSER").is_none(),
        "PODWIRE_REQUIRE_BROWSER is set but the browser test cannot run: {why}"
    );
    podwire_lab::skip::skipped(test, &why.to_string());
    None
}

#[test]
fn ui_in_a_browser() {
    let Some(chromium) = browser("ui_in_a_browser") else {
        return;
    };
    // Chromium laying out 1,000 nodes takes both cores for a while: not at
    // the same time as the lab tests, whose packet timing it would disturb.
    let _lab = crate::util::lab_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(&dir.path().join("serve.log"));
    let shots = if std::env::var_os("PODWIRE_UPDATE_SCREENSHOTS").is_some() {
        repo().join("docs/screenshots")
    } else {
        crate::util::target_dir().join("test-data/screenshots")
    };
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    // PODWIRE_BIN: for the second server it starts on the request
    // protocols' captures (`lib.mjs`).
    let url = format!("http://{}", s.addr);
    run_script("e2e.mjs", &url, &shots, &chromium, Duration::from_secs(300));
}

/// Runs `ui/tests/SCRIPT ARG SHOTS` in node (with `CHROMIUM` and
/// `PODWIRE_BIN` set), prints what it said, and fails unless it passed.
fn run_script(script: &str, arg: &str, shots: &Path, chromium: &Path, limit: Duration) {
    let run = run_watched(
        Command::new("node")
            .arg(repo().join("ui/tests").join(script))
            .arg(arg)
            .arg(shots)
            .env("CHROMIUM", chromium)
            .env("PODWIRE_BIN", podwire())
            .current_dir(repo().join("ui/tests")),
        limit,
        true,
    )
    .expect("run node");
    println!("{}", String::from_utf8_lossy(&run.stdout));
    let err = String::from_utf8_lossy(&run.stderr);
    if !err.trim().is_empty() {
        println!("stderr:\n{err}");
    }
    assert_eq!(
        run.outcome,
        Outcome::Exited(0),
        "the browser test {script} failed (output above)"
    );
}

/// The page against a server that guards its records: it asks for a token,
/// keeps it in memory only, and works with it (`ui/tests/e2e-auth.mjs`).
#[test]
fn ui_asks_for_a_token_and_keeps_it_in_memory() {
    let Some(chromium) = browser("ui_asks_for_a_token_and_keeps_it_in_memory") else {
        return;
    };
    let _lab = crate::util::lab_lock();
    let shots = crate::util::target_dir().join("test-data/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let capture = data_dir().join("mixed.pcap").display().to_string();
    run_script(
        "e2e-auth.mjs",
        &capture,
        &shots,
        &chromium,
        Duration::from_secs(120),
    );
}
