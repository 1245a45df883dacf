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
    use prost::Message;
    const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
    let status = RpcStatus::decode(decode_base64(base64)?.as_slice()).ok()?;
    let any = status.details.iter().find(|a| a.type_url == RETRY_INFO)?;
    let delay = RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay;
    let Some(d) = delay else {
        return Some(Duration::ZERO);
    };
    // Negative or out-of-range values are no delay at all.
    let secs = u64::try_from(d.seconds).unwrap_or(0);
    let nanos = u32::try_from(d.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .unwrap_or(0);
    Some(Duration::new(secs, nanos))
}

/// `google.rpc.Status`, the parts read here (`google/rpc/status.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo` (`google/rpc/error_details.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// Standard base64, padded or not (gRPC sends binary metadata unpadded).
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    ENGINE.decode(text).ok()
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
