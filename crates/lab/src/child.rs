//! Running podwire under watch: exit status, time and peak memory.
//!
//! podwire's promise is "never crashes on any input, memory is bounded". A
//! corpus run has to tell a panic (exit 101) from a clean refusal (exit 1), a
//! hang from a slow file, and measure the child's own peak RSS, not the test
//! harness's. The child is reaped with `wait4(2)`, which returns exactly that
//! process's resource usage.

use crate::cmd::{describe, drain};
use crate::{Error, Result};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a watched run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (a crash, or our kill after the timeout).
    Signaled(i32),
    /// Still running at the deadline (then killed).
    TimedOut,
}

/// The result of [`run_watched`].
#[derive(Clone, Debug)]
pub struct Watched {
    pub outcome: Outcome,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Peak resident set size of the child, in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
    pub elapsed: Duration,
}

impl Watched {
    /// Exit code 101 is what a Rust panic on the main thread exits with.
    pub fn panicked(&self) -> bool {
        self.outcome == Outcome::Exited(101)
    }

    /// The first line of stderr mentioning a panic, or its last line.
    pub fn stderr_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let pick = text
            .lines()
            .find(|l| l.contains("panicked"))
            .or_else(|| text.lines().last())
            .unwrap_or("");
        pick.chars().take(300).collect()
    }
}

/// Runs `cmd` (stdin closed), keeping stdout only if `keep_stdout` (else it
/// goes to /dev/null, as in `podwire read ... > /dev/null`), killing it after
/// `timeout`, and returns how it ended with its peak RSS.
pub fn run_watched(cmd: &mut Command, timeout: Duration, keep_stdout: bool) -> Result<Watched> {
    let what = describe(cmd);
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    cmd.stdout(if keep_stdout {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: what.clone(),
        source,
    })?;
    let pipes = drain(&mut child);
    let pid = child.id() as libc::pid_t;
    let deadline = start + timeout;
    let mut timed_out = false;
    let mut pause = Duration::from_millis(1);
    let (status, usage) = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if timed_out { 0 } else { libc::WNOHANG };
        // SAFETY: `pid` is our unreaped child; status and usage are valid
        // out-pointers for the duration of the call.
        let rc = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if rc == pid {
            break (status, usage);
        }
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("wait4 for", what, e));
        }
        if Instant::now() >= deadline && !timed_out {
            timed_out = true;
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            continue;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let (stdout, stderr) = pipes.join();
    let outcome = if timed_out {
        Outcome::TimedOut
    } else if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        Outcome::Signaled(0)
    };
    // The std handle must not try to reap the child again.
    drop(child);
    Ok(Watched {
        outcome,
        stdout,
        stderr,
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_output_and_rss_are_reported() {
        let w = run_watched(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 7"]),
            Duration::from_secs(10),
            true,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::Exited(7));
        assert_eq!(w.stdout, b"out\n");
        assert_eq!(w.stderr_summary(), "err");
        assert!(w.max_rss_kib > 0);
    }

    #[test]
    fn signals_and_timeouts_are_told_apart() {
        let w = run_watched(
            Command::new("sh").args(["-c", "kill -SEGV $$"]),
            Duration::from_secs(10),
            false,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::Signaled(libc::SIGSEGV));
        let w = run_watched(
            Command::new("sleep").arg("10"),
            Duration::from_millis(200),
            false,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::TimedOut);
        assert!(w.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn peak_rss_is_the_childs() {
        // A child that touches ~64 MiB must report at least that much.
        let w = run_watched(
            Command::new("sh").args(["-c", "head -c 67108864 /dev/zero | tr '\\0' 'x' > /dev/null; dd if=/dev/zero bs=64M count=1 of=/dev/null 2>/dev/null"]),
            Duration::from_secs(30),
            false,
        )
        .unwrap();
        assert_eq!(w.outcome, Outcome::Exited(0));
        assert!(w.max_rss_kib >= 60 * 1024, "max_rss_kib {}", w.max_rss_kib);
    }
}
