//! Go programs the lab builds from source with the machine's Go toolchain
//! (Debian's `golang-go`), standard library only, so nothing is fetched.

use crate::skip::{find_tool, Skip};
use std::path::Path;
use std::process::Command;

/// `go/go_tls.go`: an HTTPS server and client (HTTP/1.1 and HTTP/2) on
/// Go's own crypto/tls; its header says how to run it.
pub const GO_TLS_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/go/go_tls.go");

/// How a Go program is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// With its symbol table (`go build`'s default).
    Symbols,
    /// Stripped (`-ldflags=-s -w`, as most container images ship Go).
    Stripped,
}

/// Builds `go/go_tls.go` into `out`. `Err` with the reason when there is
/// no Go toolchain (a skip); a failed build panics (the source is ours).
pub fn build_go_tls(out: &Path, link: Link) -> Result<(), Skip> {
    let Some(go) = find_tool("go") else {
        return Err(Skip("no Go toolchain (Debian's golang-go)".into()));
    };
    // One build cache for the whole run: Go 1.20 and later compile the
    // standard library into it on first use.
    let cache = std::env::temp_dir().join("podwire-go-cache");
    let built = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(out)
        .args(match link {
            Link::Symbols => &[][..],
            Link::Stripped => &["-ldflags=-s -w"][..],
        })
        .arg(GO_TLS_SOURCE)
        .env("GOCACHE", &cache)
        .env("GOPATH", cache.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("run go build");
    assert!(
        built.status.success(),
        "go build {GO_TLS_SOURCE}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    Ok(())
}
