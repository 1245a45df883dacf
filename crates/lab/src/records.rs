//! podwire's JSON lines, read back the way a consumer reads them.
//!
//! The tests compare what podwire printed, not what its library returned, so
//! this parses `podwire read --format jsonl` output independently of the
//! `podwire-record` crate (which only serialises). Reading it back with a
//! separate, strict reader also checks the schema contract: every record must
//! carry its type, `"v": 1`, a timestamp and two endpoints, and the fields of
//! its type with the right JSON types. Schema violations are collected, not
//! fatal, so one bad record does not hide the rest of a comparison.

use crate::tshark::{Addr, DirCount};
use serde_json::{Map, Value};

/// A `"type":"connection"` record.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub proto: String,
    pub client: Addr,
    pub server: Addr,
    pub close: String,
    pub handshake_seen: bool,
    pub retransmits: u64,
    pub client_to_server: DirCount,
    pub server_to_client: DirCount,
}

/// A `"type":"tls"` record (the fields the tests look at).
#[derive(Clone, Debug, PartialEq)]
pub struct Tls {
    pub client: Addr,
    pub server: Addr,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub alpn_selected: Option<String>,
    pub version: Option<String>,
    pub cipher: Option<String>,
}

/// A `"type":"http"` record. `method` and `path` are `None` (and `host` too)
/// for a response whose request was not seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Http {
    pub client: Addr,
    pub server: Addr,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub version: String,
    pub status: Option<u16>,
    pub request_body_bytes: Option<u64>,
    pub response_body_bytes: Option<u64>,
}

/// A `"type":"dns"` record.
#[derive(Clone, Debug, PartialEq)]
pub struct Dns {
    pub client: Addr,
    pub server: Addr,
    pub transport: String,
    pub id: u16,
    pub name: String,
    pub qtype: String,
    pub rcode: Option<String>,
    pub answers: usize,
}

/// Everything podwire printed for one run, by record type.
#[derive(Clone, Debug, Default)]
pub struct Output {
    pub connections: Vec<Connection>,
    pub tls: Vec<Tls>,
    pub http: Vec<Http>,
    pub dns: Vec<Dns>,
    /// Lines that are not valid records, with the reason.
    pub schema_errors: Vec<String>,
    /// Records of a type this reader does not know (allowed: new types may
    /// be added without a version bump).
    pub unknown_types: usize,
}

impl Output {
    /// TCP connection records only.
    pub fn tcp(&self) -> impl Iterator<Item = &Connection> {
        self.connections.iter().filter(|c| c.proto == "tcp")
    }
}

/// Parses podwire's JSON lines output.
pub fn parse(jsonl: &str) -> Output {
    let mut out = Output::default();
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = parse_line(line, &mut out) {
            let shown: String = line.chars().take(200).collect();
            out.schema_errors
                .push(format!("line {}: {e}: {shown}", n + 1));
        }
    }
    out
}

fn parse_line(line: &str, out: &mut Output) -> Result<(), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let kind = str_field(o, "type")?;
    let version = u64_field(o, "v")?;
    if version != 1 {
        return Err(format!("\"v\" is {version}, expected 1"));
    }
    let ts = str_field(o, "ts")?;
    check_rfc3339(&ts)?;
    let client = endpoint(o, "client")?;
    let server = endpoint(o, "server")?;
    match kind.as_str() {
        "connection" => {
            let proto = str_field(o, "proto")?;
            if proto != "tcp" && proto != "udp" {
                return Err(format!("proto {proto:?}"));
            }
            for f in ["first_seen", "last_seen"] {
                check_rfc3339(&str_field(o, f)?)?;
            }
            f64_field(o, "duration_ms")?;
            opt_f64_field(o, "handshake_rtt_ms")?;
            let close = str_field(o, "close")?;
            if !["fin", "rst", "timeout", "open"].contains(&close.as_str()) {
                return Err(format!("close {close:?}"));
            }
            out.connections.push(Connection {
                proto,
                client,
                server,
                close,
                handshake_seen: bool_field(o, "handshake_seen")?,
                retransmits: u64_field(o, "retransmits")?,
                client_to_server: direction(o, "client_to_server")?,
                server_to_client: direction(o, "server_to_client")?,
            });
        }
        "tls" => out.tls.push(Tls {
            client,
            server,
            sni: opt_str_field(o, "sni")?,
            alpn: str_array(o, "alpn")?,
            alpn_selected: opt_str_field(o, "alpn_selected")?,
            version: opt_str_field(o, "version")?,
            cipher: opt_str_field(o, "cipher")?,
        }),
        "http" => {
            let status = match o.get("status") {
                None => return Err("missing \"status\"".into()),
                Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or_else(|| format!("\"status\" is {v}"))?,
                ),
            };
            let method = opt_str_field(o, "method")?;
            let host = opt_str_field(o, "host")?;
            let path = opt_str_field(o, "path")?;
            if method.is_some() != path.is_some() {
                return Err("http \"method\" and \"path\" must be both null or both set".into());
            }
            if method.is_none() && (host.is_some() || status.is_none()) {
                return Err("an http record without a request needs a status and no host".into());
            }
            out.http.push(Http {
                client,
                server,
                method,
                host,
                path,
                version: str_field(o, "version")?,
                status,
                request_body_bytes: opt_u64_field(o, "request_body_bytes")?,
                response_body_bytes: opt_u64_field(o, "response_body_bytes")?,
            })
        }
        "dns" => {
            let id = u64_field(o, "id")?;
            out.dns.push(Dns {
                client,
                server,
                transport: str_field(o, "transport")?,
                id: u16::try_from(id).map_err(|_| format!("dns id {id}"))?,
                name: str_field(o, "name")?,
                qtype: str_field(o, "qtype")?,
                rcode: opt_str_field(o, "rcode")?,
                answers: o
                    .get("answers")
                    .and_then(Value::as_array)
                    .ok_or("missing \"answers\" array")?
                    .len(),
            })
        }
        _ => out.unknown_types += 1,
    }
    Ok(())
}

fn str_field(o: &Map<String, Value>, k: &str) -> Result<String, String> {
    o.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("missing string \"{k}\""))
}

fn opt_str_field(o: &Map<String, Value>, k: &str) -> Result<Option<String>, String> {
    match o.get(k) {
        None => Err(format!("missing \"{k}\"")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("\"{k}\" is {v}, expected a string or null")),
    }
}

fn u64_field(o: &Map<String, Value>, k: &str) -> Result<u64, String> {
    o.get(k)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("missing unsigned integer \"{k}\""))
}

fn opt_u64_field(o: &Map<String, Value>, k: &str) -> Result<Option<u64>, String> {
    match o.get(k) {
        None => Err(format!("missing \"{k}\"")),
        Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("\"{k}\" is {v}")),
    }
}

fn f64_field(o: &Map<String, Value>, k: &str) -> Result<f64, String> {
    let v = o
        .get(k)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("missing number \"{k}\""))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("\"{k}\" is {v}"))
    }
}

fn opt_f64_field(o: &Map<String, Value>, k: &str) -> Result<Option<f64>, String> {
    match o.get(k) {
        None => Err(format!("missing \"{k}\"")),
        Some(Value::Null) => Ok(None),
        Some(_) => f64_field(o, k).map(Some),
    }
}

fn bool_field(o: &Map<String, Value>, k: &str) -> Result<bool, String> {
    o.get(k)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("missing boolean \"{k}\""))
}

fn str_array(o: &Map<String, Value>, k: &str) -> Result<Vec<String>, String> {
    let a = o
        .get(k)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("missing array \"{k}\""))?;
    a.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("\"{k}\" holds {v}"))
        })
        .collect()
}

fn endpoint(o: &Map<String, Value>, k: &str) -> Result<Addr, String> {
    let e = o
        .get(k)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("missing object \"{k}\""))?;
    let ip_text = str_field(e, "ip").map_err(|m| format!("{k}: {m}"))?;
    let ip: std::net::IpAddr = ip_text
        .parse()
        .map_err(|_| format!("{k}.ip {ip_text:?} is not an address"))?;
    // The schema promises canonical text: what Rust prints is RFC 5952.
    if ip.to_string() != ip_text {
        return Err(format!(
            "{k}.ip {ip_text:?} is not canonical (expected {ip})"
        ));
    }
    let port = u64_field(e, "port").map_err(|m| format!("{k}: {m}"))?;
    let port = u16::try_from(port).map_err(|_| format!("{k}.port {port}"))?;
    Ok(Addr { ip, port })
}

fn direction(o: &Map<String, Value>, k: &str) -> Result<DirCount, String> {
    let d = o
        .get(k)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("missing object \"{k}\""))?;
    let f = |n: &str| u64_field(d, n).map_err(|m| format!("{k}: {m}"));
    Ok(DirCount {
        packets: f("packets")?,
        bytes: f("bytes")?,
        payload_bytes: f("payload_bytes")?,
    })
}

/// Checks the shape `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn check_rfc3339(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b.ends_with(b"Z")
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1) && b.len() > 21));
    if ok {
        Ok(())
    } else {
        Err(format!("timestamp {s:?} is not RFC 3339 UTC"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: &str = r#"{"type":"connection","v":1,"ts":"2024-05-01T12:00:00.123456789Z","client":{"ip":"fd00::1","port":40000},"server":{"ip":"10.0.0.2","port":80},"proto":"tcp","first_seen":"2024-05-01T12:00:00.123456789Z","last_seen":"2024-05-01T12:00:01Z","duration_ms":876.5,"close":"fin","handshake_rtt_ms":null,"retransmits":0,"client_to_server":{"packets":3,"bytes":200,"payload_bytes":10},"server_to_client":{"packets":2,"bytes":150,"payload_bytes":0},"handshake_seen":true}"#;

    #[test]
    fn connection_record_is_read() {
        let out = parse(CONN);
        assert!(out.schema_errors.is_empty(), "{:?}", out.schema_errors);
        let c = &out.connections[0];
        assert_eq!(c.client.to_string(), "[fd00::1]:40000");
        assert_eq!(
            c.client_to_server,
            DirCount {
                packets: 3,
                bytes: 200,
                payload_bytes: 10
            }
        );
    }

    #[test]
    fn non_canonical_ipv6_is_a_schema_error() {
        let out = parse(&CONN.replace("fd00::1", "fd00:0:0:0:0:0:0:1"));
        assert_eq!(out.schema_errors.len(), 1, "{:?}", out.schema_errors);
        assert!(out.schema_errors[0].contains("canonical"));
    }

    #[test]
    fn missing_field_and_bad_json_are_reported_per_line() {
        let out = parse(&format!(
            "{}\nnot json\n",
            CONN.replace(r#""retransmits":0,"#, "")
        ));
        assert_eq!(out.schema_errors.len(), 2, "{:?}", out.schema_errors);
        assert!(out.schema_errors[0].contains("retransmits"));
    }

    const HTTP_RESPONSE_ONLY: &str = r#"{"type":"http","v":1,"ts":"2024-05-01T12:00:00Z","client":{"ip":"10.0.0.1","port":40000},"server":{"ip":"10.0.0.2","port":80},"method":null,"host":null,"path":null,"version":"HTTP/1.0","status":200,"latency_ms":null,"request_body_bytes":0,"response_body_bytes":12}"#;

    #[test]
    fn http_record_of_a_response_alone_is_read() {
        let out = parse(HTTP_RESPONSE_ONLY);
        assert!(out.schema_errors.is_empty(), "{:?}", out.schema_errors);
        let h = &out.http[0];
        assert_eq!((h.method.as_deref(), h.path.as_deref()), (None, None));
        assert_eq!(h.status, Some(200));
    }

    #[test]
    fn http_record_without_request_or_status_is_a_schema_error() {
        let half = HTTP_RESPONSE_ONLY.replace(r#""method":null"#, r#""method":"GET""#);
        let no_status = HTTP_RESPONSE_ONLY.replace(r#""status":200"#, r#""status":null"#);
        let out = parse(&format!("{half}\n{no_status}\n"));
        assert_eq!(out.schema_errors.len(), 2, "{:?}", out.schema_errors);
    }

    #[test]
    fn timestamps_must_be_utc_rfc3339() {
        assert!(check_rfc3339("2024-05-01T12:00:00Z").is_ok());
        assert!(check_rfc3339("2024-05-01T12:00:00.5Z").is_ok());
        assert!(check_rfc3339("2024-05-01 12:00:00Z").is_err());
        assert!(check_rfc3339("2024-05-01T12:00:00.Z").is_err());
        assert!(check_rfc3339("2024-05-01T12:00:00+01:00").is_err());
    }
}
