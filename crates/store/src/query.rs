//! The agent's query strings: `ip=10.0.0.1&port=80&since=5m&limit=50`.
//!
//! Strict on purpose: an unknown key, a key given twice or a value that does
//! not parse is an error that names it, because a filter silently ignored
//! (`prot=udp`) answers a different question than the one asked, and the
//! answer looks plausible. The messages are for people: the agent returns them
//! as the body of an HTTP 400.

use crate::filter::{Cursor, Filter, State};
use podwire_record::{Timestamp, Transport};
use std::net::IpAddr;
use std::time::UNIX_EPOCH;
use thiserror::Error;

/// Every key [`Filter::parse_query`] knows, as listed in its errors.
const KEYS: &str = "ip, client_ip, server_ip, port, server_port, proto, state, process, \
                    domain, namespace, pod, workload, service, node, since, until, limit, after";

/// Why a query string is not a [`Filter`].
///
/// Keys and values in it are the user's, shortened to 64 characters; the
/// caller escapes them for whatever it writes them into.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A key the filter does not have (a typo, usually).
    #[error("unknown query parameter `{key}` (known: {KEYS})")]
    UnknownKey { key: String },
    /// A key given twice: which one was meant is not clear.
    #[error("query parameter `{key}` is given more than once")]
    Repeated { key: &'static str },
    /// A value that does not parse for its key.
    #[error("bad value `{value}` for `{key}`: {reason}")]
    BadValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// Invalid percent-encoding, or bytes that are not UTF-8 once decoded.
    #[error("`{part}` in the query string is not valid percent-encoded UTF-8")]
    Encoding { part: String },
    /// `since` is later than `until`: nothing could match.
    #[error("`since` ({since}) is later than `until` ({until})")]
    EmptyRange { since: Timestamp, until: Timestamp },
}

impl Filter {
    /// Parses a URL query string (with or without its leading `?`).
    ///
    /// Keys: `ip`, `client_ip`, `server_ip` (addresses); `port`,
    /// `server_port`; `proto` (`tcp`, `udp`); `state` (`any`, `open`,
    /// `closed`); `process`, `domain`, `namespace`, `pod` (text);
    /// `since`, `until`: an RFC 3339 UTC time (`2026-11-22T10:00:00Z`, the `T`,
    /// the `Z` and fractions optional) or a duration back from `now` (`5m`,
    /// `1h 30m`, `2days`); `limit`: 1 to [`Filter::MAX_LIMIT`], default
    /// [`Filter::DEFAULT_LIMIT`]. Form encoding: `%XX` escapes, `+` for a
    /// space (so write an offset's `+` as `%2B`, or use `Z`).
    pub fn parse_query(query: &str, now: Timestamp) -> Result<Filter, FilterError> {
        Filter::parse_query_with(query, now, &[]).map(|(f, _)| f)
    }

    /// [`Filter::parse_query`] for an endpoint that takes keys of its own
    /// (`extra`): those are returned, decoded, instead of being errors.
    pub fn parse_query_with(
        query: &str,
        now: Timestamp,
        extra: &[&'static str],
    ) -> Result<(Filter, Vec<(String, String)>), FilterError> {
        let mut f = Filter::default();
        let mut own = Vec::new();
        let mut seen = [false; KEY_NAMES.len()];
        for (key, value) in pairs(query)? {
            let Some(at) = KEY_NAMES.iter().position(|&k| k == key) else {
                if let Some(&name) = extra.iter().find(|&&k| k == key) {
                    if own.iter().any(|(k, _)| *k == key) {
                        return Err(FilterError::Repeated { key: name });
                    }
                    own.push((key, value));
                    continue;
                }
                return Err(FilterError::UnknownKey { key: shorten(&key) });
            };
            let key = KEY_NAMES[at];
            if std::mem::replace(&mut seen[at], true) {
                return Err(FilterError::Repeated { key });
            }
            let bad = |reason: &str| FilterError::BadValue {
                key,
                value: shorten(&value),
                reason: reason.to_string(),
            };
            if value.is_empty() {
                return Err(bad("a value is needed"));
            }
            let ip = || {
                let v = value.trim_start_matches('[').trim_end_matches(']');
                v.parse::<IpAddr>().map_err(|_| bad("not an IP address"))
            };
            let port = || {
                value
                    .parse::<u16>()
                    .map_err(|_| bad("not a port (0 to 65535)"))
            };
            let text = || Some(value.clone());
            match key {
                "ip" => f.ip = Some(ip()?),
                "client_ip" => f.client_ip = Some(ip()?),
                "server_ip" => f.server_ip = Some(ip()?),
                "port" => f.port = Some(port()?),
                "server_port" => f.server_port = Some(port()?),
                "proto" => {
                    f.proto = Some(match value.to_ascii_lowercase().as_str() {
                        "tcp" => Transport::Tcp,
                        "udp" => Transport::Udp,
                        _ => return Err(bad("expected `tcp` or `udp`")),
                    })
                }
                "state" => {
                    f.state = match value.to_ascii_lowercase().as_str() {
                        "any" => State::Any,
                        "open" => State::Open,
                        "closed" => State::Closed,
                        _ => return Err(bad("expected `any`, `open` or `closed`")),
                    }
                }
                "process" => f.process = text(),
                "namespace" => f.namespace = text(),
                "pod" => f.pod = text(),
                "workload" => f.workload = text(),
                "service" => f.service = text(),
                "node" => f.node = text(),
                "after" => {
                    f.after = Some(
                        Cursor::parse(&value)
                            .ok_or_else(|| bad("not a cursor from a previous answer"))?,
                    )
                }
                "domain" => {
                    let d = value.trim_matches('.').to_ascii_lowercase();
                    if d.is_empty() {
                        return Err(bad("not a DNS name"));
                    }
                    f.domain = Some(d);
                }
                "since" => f.since = Some(parse_time(&value, now).map_err(|r| bad(&r))?),
                "until" => f.until = Some(parse_time(&value, now).map_err(|r| bad(&r))?),
                "limit" => {
                    f.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=Filter::MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad("expected a number from 1 to 100000"))?
                }
                _ => unreachable!("every key in KEY_NAMES is handled"),
            }
        }
        if let (Some(since), Some(until)) = (f.since, f.until) {
            if since > until {
                return Err(FilterError::EmptyRange { since, until });
            }
        }
        Ok((f, own))
    }
}

/// The decoded `(key, value)` pairs of a query string (with or without its
/// leading `?`), in order; a key without `=` has an empty value.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, FilterError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The keys, in the order of `KEYS` (and of the `seen` flags).
const KEY_NAMES: [&str; 18] = [
    "ip",
    "client_ip",
    "server_ip",
    "port",
    "server_port",
    "proto",
    "state",
    "process",
    "domain",
    "namespace",
    "pod",
    "workload",
    "service",
    "node",
    "since",
    "until",
    "limit",
    "after",
];

/// An RFC 3339 time, or a duration before `now`; the error is a reason.
fn parse_time(value: &str, now: Timestamp) -> Result<Timestamp, String> {
    // An unescaped `+00:00` arrives as ` 00:00` (form decoding); nothing else
    // could be meant.
    let utc;
    let value = match value.strip_suffix(" 00:00") {
        Some(time) => {
            utc = format!("{time}+00:00");
            utc.as_str()
        }
        None => value,
    };
    match humantime::parse_rfc3339_weak(value) {
        Ok(t) => {
            let since_epoch = t
                .duration_since(UNIX_EPOCH)
                .map_err(|_| "before 1970".to_string())?;
            return Ok(Timestamp(
                u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
            ));
        }
        Err(humantime::TimestampError::OutOfRange) => {
            return Err("a date or time out of range (years 1970 to 9999)".to_string())
        }
        Err(_) => {}
    }
    match humantime::parse_duration(value) {
        Ok(ago) => {
            let ago = u64::try_from(ago.as_nanos()).unwrap_or(u64::MAX);
            Ok(Timestamp(now.0.saturating_sub(ago)))
        }
        Err(_) => Err("expected an RFC 3339 UTC time (2026-11-22T10:00:00Z) \
                       or a duration back from now (30s, 5m, 1h 30m)"
            .to_string()),
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn decode(raw: &str) -> Result<String, FilterError> {
    if !raw.contains(['%', '+']) {
        return Ok(raw.to_string());
    }
    let bad = || FilterError::Encoding { part: shorten(raw) };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digit = |at: usize| {
                    bytes
                        .get(at)
                        .and_then(|&b| (b as char).to_digit(16))
                        .ok_or_else(bad)
                };
                out.push((digit(i + 1)? << 4 | digit(i + 2)?) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// At most 64 characters of user input, for an error message.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
