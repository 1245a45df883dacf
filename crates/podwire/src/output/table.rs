//! A table for a terminal: one row per record, fixed columns, written as
//! records arrive so a long capture shows results at once.

use podwire_record::{Body, Close, Endpoint, Outcome, ProtoError, Record, Transport};
use std::io::Write;
use std::net::IpAddr;

fn ep(e: &Endpoint) -> String {
    match e.ip {
        IpAddr::V4(ip) => format!("{ip}:{}", e.port),
        IpAddr::V6(ip) => format!("[{ip}]:{}", e.port),
    }
}

/// Bytes in human units (1000-based, as Wireshark shows them).
fn bytes(n: u64) -> String {
    match n {
        0..=999 => format!("{n} B"),
        1_000..=999_999 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
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

/// The header row, written once before any record.
pub fn header() -> String {
    format!("{:<10} {:<26} {:<26} DETAIL\n", "TYPE", "CLIENT", "SERVER")
}

/// Appends one row for `rec`.
pub fn encode(rec: &Record, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{:<10} {:<26} {:<26} {}",
        rec.kind,
        ep(&rec.client),
        ep(&rec.server),
        detail(rec)
    );
}
