//! Deciding whether a lab test can run here, and saying so when it cannot.
//!
//! Lab tests need root (namespaces, captures) and real programs. On a laptop
//! without them the test must not pretend to pass: it prints
//! `SKIPPED: <reason>` on stderr and returns. CI runs as root with every tool
//! installed, so there every test really runs; `scripts/test.sh` sets
//! `PODWIRE_NO_SKIP=1` there, which turns any skip into a failure, so a tool
//! that stopped installing cannot quietly turn tests into passes.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a test cannot run in this environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip(pub String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Skip {
    /// Prints the standard skip line for `test` on stderr.
    pub fn report(&self, test: &str) {
        skipped(test, &self.0);
    }

    /// As [`Skip::report`], for what CI may lack by design (the capture
    /// corpus beside the repository): never a failure.
    pub fn report_optional(&self, test: &str) {
        eprintln!("SKIPPED: {test}: {}", self.0);
    }
}

/// Says that `test` is skipped and why: a line on stderr, or a panic under
/// `PODWIRE_NO_SKIP=1` (CI), where every test must run.
pub fn skipped(test: &str, why: &str) {
    if env::var_os("PODWIRE_NO_SKIP").is_some_and(|v| v == "1") {
        panic!("{test} cannot run here: {why} (PODWIRE_NO_SKIP=1: every test must run)");
    }
    eprintln!("SKIPPED: {test}: {why}");
}

/// Ok when running as root (effective uid 0), else the reason to skip.
pub fn require_root() -> Result<(), Skip> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        Ok(())
    } else {
        Err(Skip(format!("needs root (euid is {euid})")))
    }
}

/// Ok when every named program is on `PATH` (or in the sbin directories,
/// where Debian puts nginx, dnsmasq and ip), else the reason to skip naming
/// all the missing ones.
pub fn require_tools(tools: &[&str]) -> Result<(), Skip> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Skip(format!("missing tools: {}", missing.join(", "))))
    }
}

/// Root and tools together, the usual precondition of a lab test.
pub fn require_lab(tools: &[&str]) -> Result<(), Skip> {
    require_root()?;
    require_tools(tools)
}

/// The full path of a program, searching `PATH` and then the sbin directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let from_env = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let extra = [
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
    ];
    from_env
        .into_iter()
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_is_named_in_the_reason() {
        let err = require_tools(&["sh", "podwire-lab-no-such-tool"]).unwrap_err();
        assert_eq!(err.0, "missing tools: podwire-lab-no-such-tool");
    }

    #[test]
    fn present_tool_is_found() {
        assert!(require_tools(&["sh"]).is_ok());
    }
}
