//! Regenerates the committed capture fixtures of `crates/podwire/tests/data`.
//!
//! The fixtures are real traffic between real programs (curl, dig, openssl,
//! nginx, dnsmasq) in network namespaces, so the `fixtures` tests exercise
//! podwire on what software actually sends without needing root. This
//! program builds the lab, runs the standard traffic of
//! `podwire_lab::scenario` once per fixture, captures it with tcpdump, and
//! writes the files and a README describing them.
//!
//! Run as root: `cargo run -p podwire-lab --example make-fixtures [OUT_DIR [NAME...]]`
//! (names select fixtures, e.g. `http.pcap`; the README is rewritten only
//! when all are made).

use podwire_lab::capture::{self, Capture, CaptureOptions};
use podwire_lab::scenario::{Cluster, Expected, HTTP_ODD_PORT, HTTP_PORT};
use podwire_lab::skip::require_lab;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What the clients saw, per fixture (checked by the fixtures tests).
const EXPECTED_FILE: &str = "expected.json";

/// Fixtures larger than this are a mistake: they bloat the repository.
const MAX_FIXTURE_BYTES: u64 = 200 * 1024;

fn main() -> ExitCode {
    if let Err(skip) = require_lab(&[
        "ip", "tcpdump", "editcap", "nginx", "dnsmasq", "dig", "curl", "openssl",
    ]) {
        eprintln!("make-fixtures: cannot run: {skip}");
        return ExitCode::from(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../podwire/tests/data"));
    match run(&out, &args[args.len().min(1)..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One written fixture, for the README.
struct Made {
    name: String,
    about: String,
    how: String,
    packets: u64,
    bytes: u64,
    expected: Expected,
}

/// Makes the fixtures named in `only` (all when empty) in `out`.
fn run(out: &Path, only: &[String]) -> Res<()> {
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    std::fs::create_dir_all(out)?;
    let tmp = tempfile::tempdir()?;
    let c = Cluster::start()?;
    let v4 = |p: &podwire_lab::netns::Pod| IpAddr::V4(p.ipv4);
    let v6 = |p: &podwire_lab::netns::Pod| IpAddr::V6(p.ipv6);
    let bridge = CaptureOptions::default();
    let sw = c.lab.switch_ns().to_string();
    let mut made = Vec::new();

    if want("http.pcap") {
        made.push(fixture(out, "http.pcap", &sw, "br0", &bridge,
        "HTTP/1.1 keep-alive, IPv4 then IPv6: GET of 13 B, 1000 B and 16 KiB files, HEAD, 404, POST of 2000 B with `Expect: 100-continue`, gzip response sent chunked",
        || {
            let mut e = c.http(v4(&c.web), HTTP_PORT)?;
            e.extend(c.http(v6(&c.web), HTTP_PORT)?);
            Ok(e)
        })?);
    }

    if want("tls.pcap") {
        made.push(fixture(out, "tls.pcap", &sw, "br0", &bridge,
        "TLS: openssl s_client TLS 1.2 (SNI tls12.lab.test, ALPN h2,http/1.1) and TLS 1.3 (SNI tls13.lab.test, ALPN http/1.1), IPv4 then IPv6; curl HTTPS to nginx (SNI web.lab.test, 2 requests) over IPv4 and IPv6",
        || {
            let mut e = c.tls(v4(&c.tls))?;
            e.extend(c.tls(v6(&c.tls))?);
            e.extend(c.https(v4(&c.web))?);
            e.extend(c.https(v6(&c.web))?);
            Ok(e)
        })?);
    }

    if want("dns.pcap") {
        made.push(fixture(out, "dns.pcap", &sw, "br0", &bridge,
        "DNS to dnsmasq, IPv4 then IPv6: A, AAAA, TXT, MX and NXDOMAIN over UDP; A and NXDOMAIN AAAA over TCP",
        || {
            let mut e = c.dns(v4(&c.dns))?;
            e.extend(c.dns(v6(&c.dns))?);
            Ok(e)
        })?);
    }

    if want("mixed.pcap") {
        made.push(fixture(out, "mixed.pcap", &sw, "br0", &bridge,
        "a bit of everything: DNS over IPv4, HTTP on 8080 over IPv4, TLS over IPv6, HTTPS over IPv4, and HTTP on port 18080 over IPv6 (no dissector knows that port: content detection; tshark needs `-d tcp.port==18080,http`)",
        || {
            let mut e = c.dns(v4(&c.dns))?;
            e.extend(c.http(v4(&c.web), HTTP_PORT)?);
            e.extend(c.tls(v6(&c.tls))?);
            e.extend(c.https(v4(&c.web))?);
            e.extend(c.http(v6(&c.web), HTTP_ODD_PORT)?);
            Ok(e)
        })?);
    }

    // pcapng: a fresh capture, converted.
    if want("mixed.pcapng") {
        let raw = tmp.path().join("for-pcapng.pcap");
        let (stats, expected) = capture_into(&raw, &sw, "br0", &bridge, || {
            let mut e = c.dns(v6(&c.dns))?;
            e.extend(c.http(v4(&c.web), HTTP_PORT)?);
            e.extend(c.tls(v6(&c.tls))?);
            Ok(e)
        })?;
        let ng = out.join("mixed.pcapng");
        capture::to_pcapng(&raw, &ng)?;
        made.push(describe(
            &ng,
            "DNS over IPv6, HTTP over IPv4, TLS over IPv6, as pcapng",
            "tcpdump on the bridge, then `editcap -F pcapng`",
            stats.captured,
            expected,
        )?);
    }

    let nano = CaptureOptions {
        nano: true,
        ..CaptureOptions::default()
    };
    if want("nano.pcap") {
        made.push(fixture(
            out,
            "nano.pcap",
            &sw,
            "br0",
            &nano,
            "HTTP over IPv6 and DNS over IPv4 in a nanosecond-resolution pcap (magic a1b23c4d)",
            || {
                let mut e = c.http(v6(&c.web), HTTP_PORT)?;
                e.extend(c.dns(v4(&c.dns))?);
                Ok(e)
            },
        )?);
    }

    let cooked2 = CaptureOptions {
        link_type: Some("LINUX_SLL2".into()),
        ..CaptureOptions::default()
    };
    let client_ns = c.client.ns.clone();
    if want("sll2.pcap") {
        made.push(fixture(out, "sll2.pcap", &client_ns, "any", &cooked2,
        "captured on `any` inside the client pod (Linux cooked v2 headers, link type 276): HTTP over IPv4, DNS over IPv6",
        || {
            let mut e = c.http(v4(&c.web), HTTP_PORT)?;
            e.extend(c.dns(v6(&c.dns))?);
            Ok(e)
        })?);
    }

    let cooked = CaptureOptions {
        link_type: Some("LINUX_SLL".into()),
        ..CaptureOptions::default()
    };
    if want("sll.pcap") {
        made.push(fixture(out, "sll.pcap", &client_ns, "any", &cooked,
        "captured on `any` inside the client pod (Linux cooked v1 headers, link type 113): DNS over IPv4 and TLS over IPv6",
        || {
            let mut e = c.dns(v4(&c.dns))?;
            e.extend(c.tls(v6(&c.tls))?);
            Ok(e)
        })?);
    }

    // Tagged frames: the kernel here has neither the 8021q module nor
    // VLAN-aware bridges, so the tags are added to a real capture afterwards,
    // where a trunk port would carry them.
    if want("vlan.pcap") || want("qinq.pcap") {
        let untagged = tmp.path().join("for-vlan.pcap");
        let (stats, expected) = capture_into(&untagged, &sw, "br0", &bridge, || {
            let mut e = c.http(v4(&c.web), HTTP_PORT)?;
            e.extend(c.tls(v6(&c.tls))?);
            e.extend(c.dns(v4(&c.dns))?);
            Ok(e)
        })?;
        let vlan = out.join("vlan.pcap");
        capture::tag_vlan(&untagged, &vlan, &[(capture::TPID_8021Q, 100)])?;
        made.push(describe(&vlan, "802.1Q VLAN 100 on every frame: HTTP over IPv4, TLS over IPv6, DNS over IPv4",
        "tcpdump on the bridge, then an 802.1Q tag (VLAN 100) inserted in every frame by `podwire_lab::capture::tag_vlan`", stats.captured, expected.clone())?);
        let qinq = out.join("qinq.pcap");
        capture::tag_vlan(
            &untagged,
            &qinq,
            &[(capture::TPID_8021AD, 200), (capture::TPID_8021Q, 100)],
        )?;
        made.push(describe(&qinq, "QinQ: the same traffic as vlan.pcap with an outer 802.1ad tag (VLAN 200) and an inner 802.1Q tag (VLAN 100)",
        "as vlan.pcap, with two tags", stats.captured, expected)?);
    }

    if only.is_empty() {
        write_readme(out, &made)?;
        let expected: std::collections::BTreeMap<&str, &Expected> = made
            .iter()
            .map(|m| (m.name.as_str(), &m.expected))
            .collect();
        let mut json = serde_json::to_string_pretty(&expected)?;
        json.push('\n');
        std::fs::write(out.join(EXPECTED_FILE), json)?;
    }
    for m in &made {
        println!(
            "{:14} {:>8} bytes {:>5} packets",
            m.name, m.bytes, m.packets
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn fixture(
    out: &Path,
    name: &str,
    ns: &str,
    iface: &str,
    opts: &CaptureOptions,

    about: &str,
    traffic: impl FnOnce() -> Res<Expected>,
) -> Res<Made> {
    let path = out.join(name);
    let (stats, expected) = capture_into(&path, ns, iface, opts, traffic)?;
    let mut how = format!("`tcpdump -i {iface}`");
    if iface == "br0" {
        how.push_str(" on the lab bridge");
    }
    if opts.nano {
        how.push_str(" with `--time-stamp-precision=nano`");
    }
    if let Some(l) = &opts.link_type {
        how.push_str(&format!(" with `-y {l}`"));
    }
    describe(&path, about, &how, stats.captured, expected)
}

fn capture_into(
    path: &Path,
    ns: &str,
    iface: &str,
    opts: &CaptureOptions,
    traffic: impl FnOnce() -> Res<Expected>,
) -> Res<(capture::CaptureStats, Expected)> {
    let _ = std::fs::remove_file(path);
    let cap = Capture::start(ns, iface, path, opts)?;
    let expected = traffic()?;
    let stats = cap.stop()?;
    // tcpdump leaves its log next to the file.
    let _ = std::fs::remove_file(path.with_extension("tcpdump.log"));
    Ok((stats, expected))
}

fn describe(path: &Path, about: &str, how: &str, packets: u64, expected: Expected) -> Res<Made> {
    let bytes = std::fs::metadata(path)?.len();
    if bytes > MAX_FIXTURE_BYTES {
        return Err(format!(
            "{} is {bytes} bytes, over the {MAX_FIXTURE_BYTES} limit",
            path.display()
        )
        .into());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Made {
        name,
        about: about.into(),
        how: how.into(),
        packets,
        bytes,
        expected,
    })
}

const README_HEAD: &str = r#"# Capture fixtures

Real traffic between real programs, captured in podwire's test lab
(`crates/lab`). Pods are network namespaces on one bridge, wired the way a CNI
bridge plugin wires a node:

| pod | IPv4 | IPv6 | runs |
|---|---|---|---|
| client | 10.88.0.10 | fd00:88::10 | curl 7.88, dig 9.18, `openssl s_client` 3.0 |
| web | 10.88.0.11 | fd00:88::11 | nginx 1.22: HTTP on 8080 and 18080, HTTPS on 2443 |
| dns | 10.88.0.12 | fd00:88::12 | dnsmasq 2.90 on 53, zone `lab.test` |
| tls | 10.88.0.13 | fd00:88::13 | `openssl s_server` on 443, TLS 1.2 and 1.3 |

Captured on the bridge (or on `any` in the client pod), so TCP segments
appear as the kernel's GSO super-frames (larger than the MTU), as in any
capture taken on a Linux host.

`expected.json` holds what the clients saw in each file (curl's status codes
and body sizes, dig's message ids and rcodes, the TLS versions and ALPN), and
the `fixtures` tests (crates/podwire/tests/it/fixtures.rs) check podwire's
records against it and against tshark's dissection.

Regenerate (as root; needs iproute2, tcpdump, editcap, nginx, dnsmasq, dig,
curl, openssl):

```sh
cargo run -p podwire-lab --example make-fixtures
```

| file | bytes | packets | what | how |
|---|---|---|---|---|
"#;

fn write_readme(out: &Path, made: &[Made]) -> Res<()> {
    let mut s = String::new();
    s.push_str(README_HEAD);
    for m in made {
        let e = &m.expected;
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} ({} HTTP exchanges, {} TLS handshakes, {} DNS transactions, {} TCP connections) | {} |",
            m.name,
            m.bytes,
            m.packets,
            m.about,
            e.http.len(),
            e.tls.len(),
            e.dns.len(),
            e.tcp_connections,
            m.how
        );
    }
    std::fs::write(out.join("README.md"), s)?;
    Ok(())
}
