//! The query string of `GET /api/v1/capture`, validated against the
//! agent's limits.
//!
//! `interface=NAME`, `namespace=NS&pod=NAME[&container=C]`, or
//! `netns=NAME|pid:PID[&interface=NAME]` (a network namespace by its
//! `ip netns` name or a process; entering it needs CAP_SYS_ADMIN); `filter`
//! (tcpdump syntax), `snaplen` (bytes kept per packet, default 262144 as
//! tcpdump), `duration` (`30s`, `5m`, or seconds), `count` (packets),
//! `bytes` (stream size). Without `duration` a capture runs until the
//! client leaves or the agent's `--capture-max-duration`.

use super::CaptureConfig;
use std::fmt;
use std::time::Duration;

/// tcpdump's default snap length.
pub const DEFAULT_SNAPLEN: u32 = 262_144;
/// Longest filter expression accepted.
const MAX_FILTER: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Interface(String),
    /// A network namespace (`/run/netns/NAME` or `/proc/PID/ns/net`), and
    /// which of its interfaces (needed when it has more than one besides lo).
    Netns {
        path: std::path::PathBuf,
        interface: Option<String>,
    },
    Pod {
        namespace: String,
        name: String,
        container: Option<String>,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Interface(i) => write!(f, "interface/{i}"),
            Target::Netns { path, interface } => {
                write!(f, "netns/{}", path.display())?;
                match interface {
                    Some(i) => write!(f, "/{i}"),
                    None => Ok(()),
                }
            }
            Target::Pod {
                namespace,
                name,
                container: Some(c),
            } => write!(f, "pod/{namespace}/{name}/{c}"),
            Target::Pod {
                namespace, name, ..
            } => write!(f, "pod/{namespace}/{name}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureRequest {
    pub target: Target,
    pub filter: String,
    pub snaplen: u32,
    pub duration: Duration,
    pub count: Option<u64>,
    pub bytes: u64,
}

impl CaptureRequest {
    pub fn parse(query: &str, cfg: &CaptureConfig) -> Result<CaptureRequest, String> {
        let (mut interface, mut namespace, mut pod, mut container) = (None, None, None, None);
        let mut netns = None;
        let (mut filter, mut snaplen, mut duration, mut count, mut bytes) = (
            String::new(),
            DEFAULT_SNAPLEN,
            cfg.max_duration,
            None,
            cfg.max_bytes,
        );
        for (k, v) in podwire_store::pairs(query).map_err(|e| e.to_string())? {
            match k.as_str() {
                "interface" => interface = Some(v),
                "netns" => netns = Some(netns_path(&v)?),
                "namespace" => namespace = Some(v),
                "pod" => pod = Some(v),
                "container" => container = Some(v).filter(|c: &String| !c.is_empty()),
                "filter" => {
                    if v.len() > MAX_FILTER {
                        return Err(format!("filter longer than {MAX_FILTER} bytes"));
                    }
                    filter = v;
                }
                "snaplen" => {
                    snaplen = v
                        .parse()
                        .ok()
                        .filter(|&n: &u32| n > 0)
                        .ok_or("snaplen must be a positive number of bytes")?;
                    // As tcpdump: 0 or more than the maximum means the maximum.
                    snaplen = snaplen.min(DEFAULT_SNAPLEN);
                }
                "duration" => {
                    let d = parse_duration(&v)?;
                    if d > cfg.max_duration {
                        return Err(format!(
                            "duration {v} is longer than this agent allows ({}s, --capture-max-duration)",
                            cfg.max_duration.as_secs()
                        ));
                    }
                    duration = d;
                }
                "count" => {
                    count = Some(
                        v.parse()
                            .ok()
                            .filter(|&n: &u64| n > 0)
                            .ok_or("count must be a positive number of packets")?,
                    )
                }
                "bytes" => {
                    let b: u64 = v
                        .parse()
                        .ok()
                        .filter(|&n: &u64| n > 0)
                        .ok_or("bytes must be a positive number")?;
                    if b > cfg.max_bytes {
                        return Err(format!(
                            "bytes {b} is more than this agent allows ({}, --capture-max-mib)",
                            cfg.max_bytes
                        ));
                    }
                    bytes = b;
                }
                other => {
                    return Err(format!(
                        "unknown parameter {:?}",
                        other.chars().take(64).collect::<String>()
                    ))
                }
            }
        }
        if let Some(path) = netns {
            if namespace.is_some() || pod.is_some() || container.is_some() {
                return Err("netns goes with interface only".into());
            }
            return Ok(CaptureRequest {
                target: Target::Netns {
                    path,
                    interface: interface.filter(|i| !i.is_empty()),
                },
                filter,
                snaplen,
                duration,
                count,
                bytes,
            });
        }
        let target = match (interface, namespace, pod) {
            (Some(i), None, None) if !i.is_empty() => {
                if container.is_some() {
                    return Err("container goes with pod, not interface".into());
                }
                Target::Interface(i)
            }
            (None, Some(ns), Some(p)) if !ns.is_empty() && !p.is_empty() => Target::Pod {
                namespace: ns,
                name: p,
                container,
            },
            (None, None, Some(_)) => return Err("pod needs namespace".into()),
            (None, None, None) => {
                return Err("say what to capture: interface=NAME, or namespace=NS&pod=NAME".into())
            }
            _ => return Err("give either interface, or namespace and pod".into()),
        };
        Ok(CaptureRequest {
            target,
            filter,
            snaplen,
            duration,
            count,
            bytes,
        })
    }
}

/// `NAME` (an `ip netns` name: `/run/netns/NAME`) or `pid:PID`
/// (`/proc/PID/ns/net`); nothing else, so a request never makes the agent
/// open a path of the caller's choosing.
fn netns_path(v: &str) -> Result<std::path::PathBuf, String> {
    if let Some(pid) = v.strip_prefix("pid:") {
        let pid: u32 = pid
            .parse()
            .map_err(|_| format!("netns {v:?}: pid:PID wants a process id"))?;
        return Ok(format!("/proc/{pid}/ns/net").into());
    }
    let ok = !v.is_empty()
        && v != "."
        && v != ".."
        && v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(format!(
            "netns {:?}: expected an `ip netns` name or pid:PID",
            v.chars().take(64).collect::<String>()
        ));
    }
    Ok(std::path::Path::new("/run/netns").join(v))
}

/// `30s`, `5m`, `1h30m` (humantime), or plain seconds.
fn parse_duration(v: &str) -> Result<Duration, String> {
    let d = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => humantime::parse_duration(v).map_err(|e| format!("duration {v:?}: {e}"))?,
    };
    if d.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<CaptureRequest, String> {
        CaptureRequest::parse(q, &CaptureConfig::default())
    }

    #[test]
    fn pod_with_filter_and_limits() {
        let r = parse("namespace=shop&pod=web-1&container=nginx&filter=tcp+port+443+and+host+10.0.0.1&snaplen=96&duration=30s&count=10").unwrap();
        assert_eq!(
            r.target,
            Target::Pod {
                namespace: "shop".into(),
                name: "web-1".into(),
                container: Some("nginx".into())
            }
        );
        assert_eq!(r.filter, "tcp port 443 and host 10.0.0.1");
        assert_eq!(
            (r.snaplen, r.duration, r.count),
            (96, Duration::from_secs(30), Some(10))
        );
    }

    #[test]
    fn percent_encoding() {
        let r =
            parse("interface=eth0&filter=tcp%5btcpflags%5d%20%26%20tcp-syn%20!%3D%200").unwrap();
        assert_eq!(r.filter, "tcp[tcpflags] & tcp-syn != 0");
        assert!(parse("interface=eth0&filter=%zz").is_err());
    }

    #[test]
    fn limits_and_targets_are_checked() {
        assert!(parse("").is_err());
        assert!(parse("pod=x").is_err());
        assert!(parse("interface=eth0&pod=x&namespace=y").is_err());
        assert!(parse("interface=eth0&container=c").is_err());
        assert!(
            parse("interface=eth0&duration=2h").is_err(),
            "over the 1h maximum"
        );
        assert!(parse("interface=eth0&duration=0").is_err());
        assert!(parse("interface=eth0&snaplen=0").is_err());
        assert!(parse("interface=eth0&count=-1").is_err());
        assert!(parse("interface=eth0&bogus=1").is_err());
        let r = parse("interface=eth0&duration=90").unwrap();
        assert_eq!(r.duration, Duration::from_secs(90));
        assert_eq!(
            parse("interface=eth0&snaplen=999999").unwrap().snaplen,
            DEFAULT_SNAPLEN
        );
    }

    #[test]
    fn network_namespaces_by_name_or_process_only() {
        let r = parse("netns=pod-a&interface=eth0").unwrap();
        assert_eq!(
            r.target,
            Target::Netns {
                path: "/run/netns/pod-a".into(),
                interface: Some("eth0".into())
            }
        );
        let r = parse("netns=pid:42").unwrap();
        assert_eq!(
            r.target,
            Target::Netns {
                path: "/proc/42/ns/net".into(),
                interface: None
            }
        );
        for bad in [
            "netns=../etc",
            "netns=a/b",
            "netns=..",
            "netns=%2Fetc%2Fshadow",
            "netns=pid:x",
            "netns=x&pod=p&namespace=n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
