//! Running programs with bounded time and a useful error when they fail.
//!
//! Every lab step is a program (`ip`, `curl`, `tshark`, ...). A test that
//! hangs forever on a stuck client, or fails with "exit status 1" and nothing
//! else, costs more than it finds, so every run here has a deadline and
//! failures carry the command line and its stderr.

use crate::{Error, Result};
use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The command line of `cmd` as a shell-like string, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion within `timeout`, capturing stdout and stderr.
/// Returns the output whatever the exit status; see [`run_ok`] to require
/// success.
pub fn run_within(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let what = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: what.clone(),
        source,
    })?;
    let out = drain(&mut child);
    let status = match wait_deadline(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                what,
                seconds: timeout.as_secs_f64(),
            });
        }
    };
    let (stdout, stderr) = out.join();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Like [`run_within`], and fails unless the program exited with status 0.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let what = describe(cmd);
    let out = run_within(cmd, timeout)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            command: what,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Shorthand: `program args...` must succeed within 30 s; returns stdout.
pub fn sh(program: &str, args: &[&str]) -> Result<String> {
    let out = run_ok(Command::new(program).args(args), Duration::from_secs(30))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits for `child` up to `timeout`; `None` when it is still running.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            // The child was already reaped elsewhere: nothing left to wait for.
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Readers of a child's stdout and stderr, on their own threads so a chatty
/// child never blocks on a full pipe while we wait for it.
pub(crate) struct Drain {
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
}

pub(crate) fn drain(child: &mut Child) -> Drain {
    fn reader<R: Read + Send + 'static>(r: Option<R>) -> Option<thread::JoinHandle<Vec<u8>>> {
        r.map(|mut r| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        })
    }
    Drain {
        stdout: reader(child.stdout.take()),
        stderr: reader(child.stderr.take()),
    }
}

impl Drain {
    pub(crate) fn join(self) -> (Vec<u8>, Vec<u8>) {
        let get = |h: Option<thread::JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        (get(self.stdout), get(self.stderr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command_and_its_stderr() {
        let err = run_ok(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sh -c"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }

    #[test]
    fn a_hanging_program_times_out() {
        let t0 = Instant::now();
        let err =
            run_within(Command::new("sleep").arg("10"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
