//! A running `podwire agent` for tests: started with the caller's flags on a
//! free port, asked over its HTTP API, stopped with SIGTERM.
//!
//! The agent prints `serving http://ADDR` (or `https://`) on standard error once its API
//! listens; [`Agent::start`] waits for that line (it passes
//! `--listen 127.0.0.1:0`, so parallel agents never fight over a port).

use crate::process::Proc;
use crate::{Error, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// An agent process and where its API listens.
#[derive(Debug)]
pub struct Agent {
    proc: Proc,
    addr: SocketAddr,
    log: PathBuf,
    /// The network namespace the agent runs in, when not the test's.
    netns: Option<String>,
    /// Whether it serves HTTPS (asked without checking its certificate).
    tls: bool,
}

/// How to start an agent beyond its own flags.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// A program and arguments the agent runs under (`setpriv ... --`).
    pub wrapper: Vec<String>,
    /// Run it inside this lab namespace (`ip netns exec`); its API is then
    /// reached from a thread in that namespace.
    pub netns: Option<String>,
    /// `--listen` address [127.0.0.1:0].
    pub listen: Option<String>,
}

impl Agent {
    /// Starts `binary agent --listen 127.0.0.1:0 ARGS...`, logging to `log`,
    /// and waits (up to 20 s) until its API listens.
    pub fn start(binary: &Path, args: &[&str], log: &Path) -> Result<Agent> {
        Agent::launch(&Launch::default(), binary, args, log)
    }

    /// Like [`start`](Self::start), wrapped and placed as `how` says.
    pub fn launch(how: &Launch, binary: &Path, args: &[&str], log: &Path) -> Result<Agent> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(ns) = &how.netns {
            argv.extend(["ip", "netns", "exec", ns].map(String::from));
        }
        argv.extend(how.wrapper.iter().cloned());
        argv.push(binary.display().to_string());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args([
                "agent",
                "--listen",
                how.listen.as_deref().unwrap_or("127.0.0.1:0"),
            ])
            .args(args);
        let mut proc = Proc::spawn("podwire agent", cmd, log)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some((addr, tls)) = text.lines().find_map(|l| {
                let rest = l.split("serving http").nth(1)?;
                let (rest, tls) = match rest.strip_prefix("s://") {
                    Some(r) => (r, true),
                    None => (rest.strip_prefix("://")?, false),
                };
                Some((rest.split_whitespace().next()?.parse().ok()?, tls))
            }) {
                return Ok(Agent {
                    proc,
                    addr,
                    log: log.to_path_buf(),
                    netns: how.netns.clone(),
                    tls,
                });
            }
            proc.check_running()?;
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("podwire agent to listen; it said: {text}"),
                    seconds: 20.0,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// What the agent wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: the status code and body.
    pub fn get(&self, path: &str) -> Result<(u16, String)> {
        match &self.netns {
            None => crate::http::get_from(self.addr, path, self.tls),
            Some(ns) => {
                let (addr, path, tls) = (self.addr, path.to_string(), self.tls);
                crate::netns::in_netns(ns, move || crate::http::get_from(addr, &path, tls))?
            }
        }
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Result<serde_json::Value> {
        let (status, body) = self.get(path)?;
        if status != 200 {
            return Err(Error::parse(
                "podwire agent",
                format!("GET {path}: status {status}: {body}"),
            ));
        }
        serde_json::from_str(&body)
            .map_err(|e| Error::parse("podwire agent", format!("GET {path}: {e}: {body}")))
    }

    /// SIGTERM, and the exit status (killed after 10 s).
    pub fn stop(mut self) -> Result<ExitStatus> {
        self.proc.stop_with(libc::SIGTERM, Duration::from_secs(10))
    }
}

/// A minimal HTTP/1.1 GET; kept under this name for existing callers.
pub use crate::http::get as http_get;
