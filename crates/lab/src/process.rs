//! Long-running programs (servers, captures) that die with the test.
//!
//! A server left running after a failed test keeps its namespace alive and its
//! port taken; a zombie tcpdump keeps writing. [`Proc`] owns a child process,
//! sends it SIGTERM and then SIGKILL when dropped, and keeps its output in a
//! log file so a failing test can show what the server said.

use crate::cmd::{self, wait_deadline};
use crate::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A running child process, stopped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::create(log).map_err(|e| Error::io("create log", log, e))?;
        let err = out.try_clone().map_err(|e| Error::io("dup log", log, e))?;
        let what = cmd::describe(&cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn {
                command: what,
                source,
            })?;
        Ok(Proc {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// Wraps an already spawned child (for callers that need its pipes).
    pub fn from_child(name: &str, child: Child, log: &Path) -> Proc {
        Proc {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fails with the process's log if it has already exited (a server that
    /// died on start-up, for instance).
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(Error::parse(
                "lab",
                format!("{} was already stopped", self.name),
            ));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Command {
                command: self.name.clone(),
                status: format!("exited early: {status}"),
                stderr: self.log().trim().to_string(),
            }),
            Err(e) => Err(Error::io("wait for", self.name.clone(), e)),
        }
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit;
    /// kills it if it does not. Returns its exit status.
    pub fn stop_with(&mut self, signal: i32, timeout: Duration) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return Err(Error::parse(
                "lab",
                format!("{} was already stopped", self.name),
            ));
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we own (not yet reaped, so not reused).
        unsafe { libc::kill(pid, signal) };
        if let Some(status) = wait_deadline(&mut child, timeout) {
            return Ok(status);
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(Error::Timeout {
            what: format!("{} to exit after signal {signal} (killed)", self.name),
            seconds: timeout.as_secs_f64(),
        })
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        self.stop_with(libc::SIGTERM, Duration::from_secs(5))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop_with(libc::SIGTERM, Duration::from_secs(3));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_terminates_and_log_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let mut p = Proc::spawn("sleeper", cmd, &log).unwrap();
        // Wait for the echo to land.
        for _ in 0..100 {
            if p.log().contains("started") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        p.check_running().unwrap();
        let status = p.stop().unwrap();
        assert!(!status.success());
        assert!(p.log().contains("started"));
    }

    #[test]
    fn early_exit_is_reported_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo bad config; exit 1"]);
        let mut p = Proc::spawn("server", cmd, &log).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let err = p.check_running().unwrap_err().to_string();
        assert!(err.contains("bad config"), "{err}");
    }
}
