//! A table for a terminal: one row per record, fixed columns, the record's
//! time first (rows are put in time order by [`super::reorder`]). Sizes
//! are in binary units (KiB, MiB), as the web UI shows them.

use podwire_record::{Body, Close, Endpoint, Outcome, ProtoError, Record, Timestamp, Transport};
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

fn ep(e: &Endpoint) -> String {
    match e.ip {
        IpAddr::V4(ip) => format!("{ip}:{}", e.port),
        IpAddr::V6(ip) => format!("[{ip}]:{}", e.port),
    }
}

/// Bytes in binary units, as the web UI shows them: `512 B`, `1.5 KiB`,
/// `3.0 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    // Decide on the rounded figure, so 1023.96 KiB is 1.0 MiB, not 1024.0 KiB.
    while (v * 10.0).round() >= 10_240.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The record's time, UTC to the millisecond: `2024-05-01T12:00:00.123Z`.
fn time(ts: Timestamp) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(ts.0)).to_string()
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}ms")).unwrap_or_else(|| "-".into())
}

fn detail(rec: &Record) -> String {
    match &rec.body {
        Body::Connection(c) => format!(
            "{} {} {}p/{} > {}p/{} {} rtt {} retx {}",
            match c.proto {
                Transport::Tcp => "tcp",
                Transport::Udp => "udp",
            },
            match c.close {
                Close::Fin => "fin",
                Close::Rst => "rst",
                Close::Timeout => "timeout",
                Close::Open => "open",
            },
            c.client_to_server.packets,
            bytes(c.client_to_server.bytes),
            c.server_to_client.packets,
            bytes(c.server_to_client.bytes),
            ms(Some(c.duration_ms)),
            ms(c.handshake_rtt_ms),
            c.retransmits
        ),
        // A response seen without its request shows `-` for the request.
        Body::Http(h) => {
            let mut d = format!(
                "{} {}{} {} {} {}",
                h.method.as_deref().unwrap_or("-"),
                h.host.as_deref().unwrap_or(""),
                h.path.as_deref().unwrap_or("-"),
                h.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                bytes(h.response_body_bytes.unwrap_or(0)),
                ms(h.latency_ms)
            );
            if let Some(g) = &h.grpc {
                d.push_str(&format!(
                    " grpc-status {} msgs {}/{}",
                    g.status.map_or_else(|| "-".into(), |s| s.to_string()),
                    g.request_messages,
                    g.response_messages
                ));
            }
            d
        }
        Body::Tls(t) => format!(
            "{} {} {} alpn {}",
            t.version.as_deref().unwrap_or("-"),
            t.sni.as_deref().unwrap_or("-"),
            t.cipher.as_deref().unwrap_or("-"),
            t.alpn_selected.as_deref().unwrap_or("-")
        ),
        Body::Dns(d) => {
            let answers: Vec<&str> = d.answers.iter().map(|a| a.data.as_str()).collect();
            format!(
                "{} {} {} {} {}",
                d.qtype,
                d.name,
                d.rcode.as_deref().unwrap_or("-"),
                answers.join(","),
                ms(d.latency_ms)
            )
        }
        Body::Postgres(b) => request(rec, b.statement.as_deref(), b.error.as_ref()),
        Body::Mysql(b) => request(rec, b.statement.as_deref(), b.error.as_ref()),
        Body::Redis(b) => request(rec, b.command.as_deref(), b.error.as_ref()),
        Body::Kafka(b) => {
            let topics: Vec<&str> = b.topics.iter().filter_map(|t| t.name.as_deref()).collect();
            let what =
                (!topics.is_empty()).then(|| format!("{} {}", b.operation, topics.join(",")));
            request(rec, what.as_deref(), b.error.as_ref())
        }
    }
}

/// A request of the database and broker protocols: the statement (else the
/// operation), outcome (the error's code when it failed), latency.
fn request(rec: &Record, what: Option<&str>, error: Option<&ProtoError>) -> String {
    let Some(req) = rec.body.request() else {
        return String::new();
    };
    let outcome = match (req.outcome, error.and_then(|e| e.code.as_deref())) {
        (None, _) => "-",
        (Some(Outcome::Ok), _) => "ok",
        (Some(Outcome::Error), Some(code)) => code,
        (Some(Outcome::Error), None) => "error",
    };
    // The statement says its verb itself; without one, the operation.
    let mut d = String::new();
    match what {
        // One row per record: the statement's own line breaks would break it.
        Some(w) => d.extend(w.chars().map(|c| if c.is_control() { ' ' } else { c })),
        None => d.push_str(req.operation),
    }
    format!("{d} {outcome} {}", ms(req.latency_ms))
}

/// The header row, written once before the first record.
pub fn header() -> String {
    format!(
        "{:<24} {:<10} {:<26} {:<26} DETAIL\n",
        "TIME", "TYPE", "CLIENT", "SERVER"
    )
}

/// Appends one row for `rec`.
pub fn encode(rec: &Record, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{:<24} {:<10} {:<26} {:<26} {}",
        time(rec.ts),
        rec.kind,
        ep(&rec.client),
        ep(&rec.server),
        detail(rec)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_like_the_ui() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn times_are_utc_to_the_millisecond() {
        assert_eq!(
            time(Timestamp(1_714_564_800_123_456_789)),
            "2024-05-01T12:00:00.123Z"
        );
    }
}
