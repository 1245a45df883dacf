//! OTLP/gRPC without a gRPC library: what a transport needs besides an
//! HTTP/2 client. The export request goes in gRPC's length-prefixed frame
//! to the collector service's `Export` method; the answer's `grpc-status`
//! (a trailer, or a header in a trailers-only answer) decides, by the OTLP
//! specification's rules, whether the batch is sent, retried or refused.
//! Mapped onto the HTTP statuses the delivery loop already knows, so both
//! transports share one retry policy.

use crate::{Response, Signal};
use std::time::Duration;

/// The `:path` of `signal`'s export method (the services of
/// `opentelemetry/proto/collector/*/v1/*_service.proto`).
pub fn method_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// One gRPC message: a compressed flag, the length (big-endian), the bytes.
pub fn frame(message: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(u8::from(compressed));
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// gRPC status codes the OTLP specification names.
const OK: u32 = 0;
const RESOURCE_EXHAUSTED: u32 = 8;

/// Codes retried as they are (OTLP/gRPC "Failures": CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS);
/// RESOURCE_EXHAUSTED only when the server says when (RetryInfo).
fn retryable(code: u32) -> bool {
    matches!(code, 1 | 4 | 10 | 11 | 14 | 15)
}

/// The answer to one export: `http_status` of the HTTP/2 response,
/// `grpc_status` and `details` (`grpc-status-details-bin`, base64) from
/// its trailers or headers. A 200 without a `grpc-status` is a broken
/// answer (retried, as a network error would be).
pub fn response(http_status: u16, grpc_status: Option<&str>, details: Option<&[u8]>) -> Response {
    let (status, retry_after) = if http_status != 200 {
        (http_status, None)
    } else {
        match grpc_status.map(|s| s.trim().parse::<u32>()) {
            Some(Ok(OK)) => (200, None),
            Some(Ok(code)) if retryable(code) => (503, details.and_then(retry_delay)),
            Some(Ok(RESOURCE_EXHAUSTED)) => match details.and_then(retry_delay) {
                Some(d) => (429, Some(d)),
                None => (400, None),
            },
            Some(Ok(_)) => (400, None),
            Some(Err(_)) | None => (502, None),
        }
    };
    Response {
        status,
        retry_after,
    }
}

/// `RetryInfo.retry_delay` from a `google.rpc.Status` in base64 (the
/// `grpc-status-details-bin` trailer), if it carries one.
pub fn retry_delay(base64: &[u8]) -> Option<Duration> {
    const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
    let status = decode_base64(base64)?;
    // google.rpc.Status { 3: repeated Any { 1: type_url, 2: value } }
    for (field, any) in fields(&status)? {
        let Field::Bytes(any) = any else { continue };
        if field != 3 {
            continue;
        }
        let mut type_url = None;
        let mut value = None;
        for (f, v) in fields(any)? {
            match (f, v) {
                (1, Field::Bytes(b)) => type_url = Some(b),
                (2, Field::Bytes(b)) => value = Some(b),
                _ => {}
            }
        }
        if type_url != Some(RETRY_INFO.as_bytes()) {
            continue;
        }
        // RetryInfo { 1: Duration { 1: seconds, 2: nanos } }
        for (f, v) in fields(value.unwrap_or_default())? {
            if let (1, Field::Bytes(d)) = (f, v) {
                let (mut secs, mut nanos) = (0u64, 0u64);
                for (f, v) in fields(d)? {
                    match (f, v) {
                        (1, Field::Varint(s)) => secs = s,
                        (2, Field::Varint(n)) => nanos = n,
                        _ => {}
                    }
                }
                // Negative values (two's complement) are no delay at all.
                let secs = if secs > i64::MAX as u64 { 0 } else { secs };
                let nanos = if nanos >= 1_000_000_000 { 0 } else { nanos };
                return Some(Duration::new(secs, nanos as u32));
            }
        }
        return Some(Duration::ZERO);
    }
    None
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The fields of one protobuf message (varint and length-delimited ones;
/// fixed-width ones skipped); `None` when it does not parse.
fn fields(mut b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let field = key >> 3;
        match key & 7 {
            0 => out.push((field, Field::Varint(varint(&mut b)?))),
            1 => b = b.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                let value = b.get(..len)?;
                b = b.get(len..)?;
                out.push((field, Field::Bytes(value)));
            }
            5 => b = b.get(4..)?,
            _ => return None,
        }
        if out.len() > 64 {
            return None;
        }
    }
    Some(out)
}

/// Standard base64, padded or not (gRPC sends binary metadata unpadded).
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text.iter().take_while(|&&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `google.rpc.Status{code: 8, details: [Any(RetryInfo{retry_delay:
    /// {seconds: 3, nanos: 500000000}})]}`, hand-encoded, in base64.
    fn retry_info_status(seconds: u8) -> Vec<u8> {
        let duration = [0x08, seconds, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend_from_slice(&duration);
        let url = b"type.googleapis.com/google.rpc.RetryInfo";
        let mut any = vec![0x0a, url.len() as u8];
        any.extend_from_slice(url);
        any.extend_from_slice(&[0x12, retry_info.len() as u8]);
        any.extend_from_slice(&retry_info);
        let mut status = vec![0x08, 8, 0x1a, any.len() as u8];
        status.extend_from_slice(&any);
        base64(&status)
    }

    fn base64(b: &[u8]) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize]);
            }
        }
        out
    }

    #[test]
    fn a_frame_is_flag_length_message() {
        assert_eq!(frame(b"abc", false), [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(frame(b"", true), [1, 0, 0, 0, 0]);
    }

    #[test]
    fn statuses_map_onto_the_delivery_rules() {
        let r = |g: Option<&str>| response(200, g, None).status;
        assert_eq!(r(Some("0")), 200);
        for retried in ["1", "4", "10", "11", "14", "15"] {
            assert_eq!(r(Some(retried)), 503, "code {retried}");
        }
        for refused in ["2", "3", "5", "7", "12", "13", "16"] {
            assert_eq!(r(Some(refused)), 400, "code {refused}");
        }
        assert_eq!(r(Some("8")), 400, "RESOURCE_EXHAUSTED without RetryInfo");
        assert_eq!(r(None), 502, "no grpc-status: a broken answer");
        assert_eq!(r(Some("x")), 502);
        assert_eq!(response(503, None, None).status, 503, "HTTP first");
    }

    #[test]
    fn resource_exhausted_with_retry_info_is_retried_after_its_delay() {
        let details = retry_info_status(3);
        let got = response(200, Some("8"), Some(&details));
        assert_eq!(got.status, 429);
        assert_eq!(got.retry_after, Some(Duration::from_millis(3500)));
        assert_eq!(retry_delay(b"CAg"), None, "a Status without details");
        assert_eq!(retry_delay(b"!!"), None, "not base64");
        assert_eq!(
            retry_delay(&details[..details.len() / 2]),
            None,
            "cut short"
        );
    }
}
