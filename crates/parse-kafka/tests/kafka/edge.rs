//! Edge cases from hand-built messages, each checked against the protocol
//! guide (https://kafka.apache.org/protocol): what real clients and tansu
//! would not produce on demand.

use podwire_kafka::KafkaConfig;
use podwire_record::Outcome;

use crate::util::*;

/// ApiVersions v3 has a flexible request (header v2) but its response
/// header is v0; a broker that does not know v3 answers UNSUPPORTED_VERSION
/// in the v0 body, and the client downgrades to v0.
#[test]
fn api_versions_downgrade_after_unsupported_version() {
    let mut v3_body = compact_str("librdkafka");
    v3_body.extend(compact_str("2.3.0"));
    v3_body.push(0);
    let v3 = msg(&[&req_header(18, 3, 1, "rdkafka", true), &v3_body]);
    // error 35, then the broker's ApiVersions (key 18, 0..2) in v0 form.
    let unsupported = msg(&[
        &resp_header(1, false),
        &i16b(35),
        &i32b(1),
        &i16b(18),
        &i16b(0),
        &i16b(2),
    ]);
    let v0 = msg(&[&req_header(18, 0, 2, "rdkafka", false)]);
    let ok = msg(&[&resp_header(2, false), &i16b(0), &i32b(0)]);
    let run = Conv::new()
        .client(0, &v3)
        .server(1, &unsupported)
        .client(2, &v0)
        .server(5, &ok)
        .run();
    assert_eq!(run.events.len(), 2);
    assert_eq!(run.before_finish, 2);
    let (a, b) = (&run.events[0].body, &run.events[1].body);
    assert_eq!((a.operation.as_str(), a.api_version), ("ApiVersions", 3));
    assert_eq!(a.outcome, Some(Outcome::Error));
    assert_eq!(
        a.error.as_ref().unwrap().code.as_deref(),
        Some("UNSUPPORTED_VERSION")
    );
    assert_eq!(a.latency_ms, Some(1.0));
    assert_eq!(a.client_id.as_deref(), Some("rdkafka"));
    assert_eq!(
        (b.api_version, b.outcome, b.error.clone()),
        (0, Some(Outcome::Ok), None)
    );
    assert_eq!(b.latency_ms, Some(3.0));
}

/// SaslHandshake v1 then SaslAuthenticate v2: the mechanism's bytes never
/// reach a record; both are named and timed.
#[test]
fn sasl_authenticate_bytes_are_not_recorded() {
    let hs = msg(&[&req_header(17, 1, 1, "app", false), &str16("PLAIN")]);
    let hs_ok = msg(&[&resp_header(1, false), &i16b(0), &i32b(1), &str16("PLAIN")]);
    let secret = b"\0alice\0hunter2-secret";
    let mut auth_body = vec![(secret.len() + 1) as u8];
    auth_body.extend(secret);
    auth_body.push(0);
    let auth = msg(&[&req_header(36, 2, 2, "app", true), &auth_body]);
    // error 0, null message, empty auth bytes, session lifetime, no tags.
    let mut auth_resp = i16b(0);
    auth_resp.extend([0, 1]);
    auth_resp.extend([0u8; 8]);
    auth_resp.push(0);
    let auth_ok = msg(&[&resp_header(2, true), &auth_resp]);
    let run = Conv::new()
        .client(0, &hs)
        .server(1, &hs_ok)
        .client(2, &auth)
        .server(3, &auth_ok)
        .run();
    let ops: Vec<_> = run
        .events
        .iter()
        .map(|e| e.body.operation.as_str())
        .collect();
    assert_eq!(ops, ["SaslHandshake", "SaslAuthenticate"]);
    assert!(run
        .events
        .iter()
        .all(|e| e.body.outcome == Some(Outcome::Ok)));
    let text = format!("{:?}", run.events);
    assert!(
        !text.contains("hunter2") && !text.contains("alice"),
        "{text}"
    );
}

/// After a SaslHandshake v0, the client sends its token raw (a size and the
/// bytes, no header) and the server answers raw: both skipped, counted, and
/// the requests after them parsed as usual.
#[test]
fn raw_sasl_tokens_after_handshake_v0_are_skipped() {
    let hs = msg(&[&req_header(17, 0, 1, "app", false), &str16("PLAIN")]);
    let hs_ok = msg(&[&resp_header(1, false), &i16b(0), &i32b(1), &str16("PLAIN")]);
    let token = msg(&[b"\0alice\0hunter2-secret"]);
    let token_reply = msg(&[]);
    let meta = msg(&[&req_header(3, 1, 2, "app", false), &i32b(-1)]);
    let meta_resp = msg(&[&resp_header(2, false), &i32b(0), &i32b(0), &i32b(0)]);
    let run = Conv::new()
        .client(0, &hs)
        .server(1, &hs_ok)
        .client(2, &token)
        .server(3, &token_reply)
        .client(4, &meta)
        .server(6, &meta_resp)
        .run();
    let ops: Vec<_> = run
        .events
        .iter()
        .map(|e| e.body.operation.as_str())
        .collect();
    assert_eq!(ops, ["SaslHandshake", "Metadata"]);
    assert_eq!(run.events[1].body.latency_ms, Some(2.0));
    assert_eq!(run.stats.sasl_tokens, 1, "{:?}", run.stats);
    assert_eq!(run.stats.orphan_responses, 0);
    assert!(!format!("{:?}", run.events).contains("hunter2"));
}

/// A 4 MB Produce sent in 16 KiB segments is counted through a parser that
/// may buffer only 1 KiB: record payloads are skipped, never held.
#[test]
fn big_batch_is_skipped_without_buffering() {
    let big = batch_v2(50_000, 4 << 20);
    let small = batch_v2(3, 100);
    let mut two = big.clone();
    two.extend(&small);
    let produce = msg(&[
        &req_header(0, 3, 7, "p", false),
        &produce_v3_body(1, "big", &[(0, two), (1, small.clone())]),
    ]);
    let resp = msg(&[
        &resp_header(7, false),
        &produce_v3_response("big", &[(0, 0), (1, 0)]),
    ]);
    let mut conv = Conv::new();
    for chunk in produce.chunks(16 * 1024) {
        conv = conv.client(0, chunk);
    }
    let config = KafkaConfig {
        max_buffer_bytes: 1024,
        ..KafkaConfig::default()
    };
    let run = conv.server(9, &resp).run_with(&config);
    assert_eq!(run.events.len(), 1);
    let k = &run.events[0].body;
    assert_eq!(k.records, Some(50_003 + 3));
    assert_eq!(k.record_bytes, Some((4 << 20) + 100 + 100));
    assert_eq!(k.topics[0].partitions[0].records, Some(50_003));
    assert_eq!(k.topics[0].partitions[1].records, Some(3));
    assert_eq!((k.outcome, k.truncated), (Some(Outcome::Ok), false));
    assert_eq!(k.request_bytes, produce.len() as u64);
}

/// A gap inside a record payload is skipped in step; a gap in a header loses
/// the framing, which comes back at the next request (and its response).
#[test]
fn gaps_inside_payloads_keep_sync_and_others_resync() {
    let produce = msg(&[
        &req_header(0, 3, 1, "p", false),
        &produce_v3_body(1, "t", &[(0, batch_v2(10, 5000))]),
    ]);
    let resp = msg(&[&resp_header(1, false), &produce_v3_response("t", &[(0, 0)])]);
    let meta = |corr| msg(&[&req_header(3, 1, corr, "p", false), &i32b(-1)]);
    let meta_resp = |corr| msg(&[&resp_header(corr, false), &i32b(0), &i32b(0), &i32b(0)]);
    // Lose 3000 bytes in the middle of the batch payload.
    let run = Conv::new()
        .client(0, &produce[..1000])
        .gap(ToServer, 3000)
        .client(0, &produce[4000..])
        .server(1, &resp)
        .run();
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].body.records, Some(10));
    assert_eq!(run.stats.desyncs, 0);

    // Lose the first request's header: its response is an orphan.
    let m2 = meta(2);
    let run = Conv::new()
        .client(0, &meta(1)[..3])
        .gap(ToServer, 20)
        .client(1, &m2)
        .server(2, &meta_resp(1))
        .server(3, &meta_resp(2))
        .run();
    assert_eq!(run.stats.desyncs, 1);
    assert_eq!(run.stats.orphan_responses, 1);
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].body.correlation_id, 2);
    assert_eq!(run.events[0].body.latency_ms, Some(2.0));
}

/// Lost responses: a later response passes the request, which is emitted
/// unanswered then, not at the end.
#[test]
fn a_response_passing_an_unanswered_request_emits_it() {
    let meta = |corr| msg(&[&req_header(3, 1, corr, "p", false), &i32b(-1)]);
    let meta_resp = |corr| msg(&[&resp_header(corr, false), &i32b(0), &i32b(0), &i32b(0)]);
    let run = Conv::new()
        .client(0, &meta(1))
        .client(1, &meta(2))
        .server(2, &meta_resp(2))
        .run();
    assert_eq!(run.before_finish, 2);
    assert_eq!(run.events[0].body.correlation_id, 1);
    assert_eq!(run.events[0].body.outcome, None);
    assert_eq!(run.events[1].body.outcome, Some(Outcome::Ok));
    assert_eq!(run.stats.unanswered, 1);
}

/// Joined mid-stream: the server's first bytes answer a request never
/// seen; it is counted and skipped by size, nothing is emitted for it, and
/// the next exchange is read in full.
#[test]
fn mid_stream_orphans_are_counted_not_emitted() {
    let orphan = msg(&[&resp_header(41, true), &[0u8; 300]]);
    let tail_of_request = [0x00u8, 0x01, 0x02, 0x03, 0x04];
    let meta = msg(&[&req_header(3, 1, 42, "late", false), &i32b(-1)]);
    let meta_resp = msg(&[&resp_header(42, false), &i32b(0), &i32b(0), &i32b(0)]);
    let run = Conv::new()
        .client(0, &tail_of_request)
        .server(1, &orphan)
        .client(2, &meta)
        .server(3, &meta_resp)
        .run_mid_stream();
    assert_eq!(run.stats.orphan_responses, 1);
    assert_eq!(run.stats.resync_skipped_bytes, 5);
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].body.client_id.as_deref(), Some("late"));
}

/// A version newer than the table is named and timed, its body unread.
#[test]
fn unknown_versions_are_named_and_timed() {
    let produce = msg(&[&req_header(0, 40, 1, "future", true), &[0xde; 64]]);
    let resp = msg(&[&resp_header(1, true), &[0xad; 32]]);
    let run = Conv::new().client(0, &produce).server(4, &resp).run();
    let k = &run.events[0].body;
    assert_eq!((k.operation.as_str(), k.api_version), ("Produce", 40));
    assert_eq!((k.latency_ms, k.outcome), (Some(4.0), Some(Outcome::Ok)));
    assert!(k.topics.is_empty() && k.records.is_none());
    assert_eq!(run.stats.unknown_versions, 1);
}

/// Unknown API keys get a bounded name.
#[test]
fn unknown_api_keys_are_named_by_number() {
    let req = msg(&[&req_header(150, 0, 1, "x", false)]);
    let run = Conv::new().client(0, &req).run();
    assert_eq!(run.events[0].body.operation, "API_150");
}

/// Per-partition errors set the outcome; the first code is the record's.
#[test]
fn partition_errors_make_the_outcome_an_error() {
    let produce = msg(&[
        &req_header(0, 3, 5, "p", false),
        &produce_v3_body(-1, "t", &[(0, batch_v2(1, 80)), (1, batch_v2(1, 80))]),
    ]);
    let resp = msg(&[
        &resp_header(5, false),
        &produce_v3_response("t", &[(0, 0), (1, 6)]),
    ]);
    let run = Conv::new().client(0, &produce).server(1, &resp).run();
    let k = &run.events[0].body;
    assert_eq!(k.acks, Some(-1));
    assert_eq!(k.outcome, Some(Outcome::Error));
    assert_eq!(
        k.error.as_ref().unwrap().code.as_deref(),
        Some("NOT_LEADER_OR_FOLLOWER")
    );
    assert_eq!(k.topics[0].partitions[0].error, None);
    assert_eq!(
        k.topics[0].partitions[1].error.as_deref(),
        Some("NOT_LEADER_OR_FOLLOWER")
    );
}

/// Lists are cut at the limits, totals still count everything.
#[test]
fn topic_and_partition_limits_cut_lists_not_totals() {
    let parts: Vec<_> = (0..5).map(|p| (p, batch_v2(2, 70))).collect();
    let produce = msg(&[
        &req_header(0, 3, 1, "p", false),
        &produce_v3_body(0, "t", &parts),
    ]);
    let config = KafkaConfig {
        max_partitions: 2,
        ..KafkaConfig::default()
    };
    let run = Conv::new().client(0, &produce).run_with(&config);
    let k = &run.events[0].body;
    assert_eq!(k.topics[0].partitions.len(), 2);
    assert_eq!(k.records, Some(10));
    assert_eq!(k.topics[0].records, Some(10));
    assert!(k.truncated);
}

/// More outstanding requests than allowed: the oldest goes out unanswered.
#[test]
fn pending_overflow_emits_the_oldest() {
    let config = KafkaConfig {
        max_pending_requests: 2,
        ..KafkaConfig::default()
    };
    let mut conv = Conv::new();
    for corr in 1..=3 {
        conv = conv.client(
            corr as u64,
            &msg(&[&req_header(3, 1, corr, "p", false), &i32b(-1)]),
        );
    }
    let run = conv.run_with(&config);
    assert_eq!(run.before_finish, 1);
    assert_eq!(run.stats.pending_overflows, 1);
    assert_eq!(run.events.len(), 3);
}
