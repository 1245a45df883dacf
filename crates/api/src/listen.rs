//! Where the HTTP API listens (`agent --listen`, `read --serve`), written
//! the ways other tools accept:
//!
//! - `127.0.0.1:6676`, `[::1]:6676`: an address and port;
//! - `:6676`: every IPv4 address of the host, as `0.0.0.0:6676` (Go's and
//!   nginx's meaning of a bare port; IPv4 only, so it works on hosts
//!   without IPv6, as the chart's `0.0.0.0:6676` does);
//! - `localhost:6676`, `node1.example:6676`: a host name, looked up once
//!   when the setting is read (so a name that does not resolve is an error
//!   at start, not at the first request); the first address it resolves
//!   to that can be bound is used.

use serde::Deserialize;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A listen address as given, with the socket addresses it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddr {
    text: String,
    addrs: Vec<SocketAddr>,
}

/// Why a listen address was refused.
#[derive(Debug)]
pub enum ListenError {
    Syntax,
    Port(String),
    Resolve { host: String, reason: String },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Syntax => f.write_str("expected HOST:PORT, IP:PORT or :PORT"),
            ListenError::Port(p) => write!(f, "{p:?} is not a port number (0 to 65535)"),
            ListenError::Resolve { host, reason } => write!(f, "cannot resolve {host:?}: {reason}"),
        }
    }
}

impl std::error::Error for ListenError {}

impl ListenAddr {
    /// Every address the setting stands for (one, except for some names).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Whether only this host can reach it: every address is a loopback
    /// one (a listener beyond loopback needs someone checking who reads).
    pub fn is_loopback(&self) -> bool {
        self.addrs.iter().all(|a| a.ip().is_loopback())
    }
}

impl FromStr for ListenAddr {
    type Err = ListenError;

    fn from_str(s: &str) -> Result<ListenAddr, ListenError> {
        let addrs = if let Ok(a) = s.parse::<SocketAddr>() {
            vec![a]
        } else {
            let (host, port) = s.rsplit_once(':').ok_or(ListenError::Syntax)?;
            let port: u16 = port
                .parse()
                .map_err(|_| ListenError::Port(port.to_string()))?;
            if host.is_empty() {
                vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))]
            } else {
                if host.contains(':') || host.starts_with('[') {
                    // A malformed IPv6 literal, not a name.
                    return Err(ListenError::Syntax);
                }
                let resolve = |reason: String| ListenError::Resolve {
                    host: host.to_string(),
                    reason,
                };
                let found: Vec<SocketAddr> = (host, port)
                    .to_socket_addrs()
                    .map_err(|e| resolve(e.to_string()))?
                    .collect();
                if found.is_empty() {
                    return Err(resolve("no address".into()));
                }
                found
            }
        };
        Ok(ListenAddr {
            text: s.to_string(),
            addrs,
        })
    }
}

/// As given (`:6676`, `localhost:6676`).
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `listen` key of the agent's configuration file.
impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(s: &str) -> Vec<String> {
        let l: ListenAddr = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        l.addrs().iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn addresses_as_before() {
        assert_eq!(addrs("127.0.0.1:6676"), ["127.0.0.1:6676"]);
        assert_eq!(addrs("[::1]:6676"), ["[::1]:6676"]);
        assert_eq!(addrs("0.0.0.0:0"), ["0.0.0.0:0"]);
    }

    #[test]
    fn a_bare_port_is_every_ipv4_address() {
        assert_eq!(addrs(":6676"), ["0.0.0.0:6676"]);
    }

    #[test]
    fn a_host_name_is_what_it_resolves_to() {
        let got = addrs("localhost:6676");
        assert!(!got.is_empty());
        for a in got {
            let a: SocketAddr = a.parse().unwrap();
            assert!(a.ip().is_loopback() && a.port() == 6676, "{a}");
        }
        let l: ListenAddr = "localhost:6676".parse().unwrap();
        assert_eq!(l.to_string(), "localhost:6676");
    }

    #[test]
    fn nonsense_is_refused_with_its_reason() {
        for (s, why) in [
            ("6676", "expected HOST:PORT"),
            ("localhost", "expected HOST:PORT"),
            (":http", "not a port number"),
            (":70000", "not a port number"),
            ("::1:6676", "expected HOST:PORT"),
            (
                "no-such-host.invalid:1",
                "cannot resolve \"no-such-host.invalid\"",
            ),
        ] {
            let e = s.parse::<ListenAddr>().expect_err(s).to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn the_configuration_file_takes_the_same_forms() {
        #[derive(Deserialize)]
        struct F {
            listen: ListenAddr,
        }
        let f: F = toml::from_str("listen = \":7000\"").unwrap();
        assert_eq!(f.listen.addrs(), ["0.0.0.0:7000".parse().unwrap()]);
        assert!(toml::from_str::<F>("listen = \"7000\"").is_err());
    }
}
