//! DNS over TCP: real `dig +tcp +keepopen` streams, re-cut every way the
//! network could cut them, and damaged framing.
//!
//! tshark (`-d tcp.port==15353,dns -e dns.id -e dns.qry.name -e
//! dns.flags.rcode -e dns.a -e dns.cname -e dns.txt -e dns.time`) shows for
//! tcp.pcap: stream 0 carries 0x9f0c host.lab.test A (10.0.0.5, 0.000269 s),
//! 0xaf21 alias.lab.test A (CNAME host.lab.test, 10.0.0.5, 0.000075 s) and
//! 0xc57a txt.lab.test TXT (0.000063 s); stream 1 carries 0x9cd7
//! missing.lab.test, rcode 3 (0.000749 s).

use crate::support::{query, response, tcp, Segment};
use podwire_dns::{DnsConfig, DnsEvent, DnsTcpParser};
use podwire_parse::{Direction, Status, StreamParser};
use podwire_record::{DnsTransport, Timestamp};

fn dir(s: &Segment) -> Direction {
    if s.to_server {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}

fn stream(n: u32) -> Vec<Segment> {
    tcp().into_iter().filter(|s| s.stream == n).collect()
}

/// Feeds each segment cut into pieces of at most `piece` bytes.
fn run(segments: &[Segment], piece: usize) -> (Vec<DnsEvent<()>>, DnsTcpParser) {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    for s in segments {
        for chunk in s.payload.chunks(piece) {
            assert_eq!(p.data(dir(s), s.ts, chunk, &mut out), Status::Continue);
        }
    }
    p.finish(segments.last().unwrap().ts, &mut out);
    (out, p)
}

fn summary(out: &[DnsEvent<()>]) -> Vec<(u16, String, Option<String>, Vec<String>)> {
    out.iter()
        .map(|e| {
            let data = e.dns.answers.iter().map(|a| a.data.clone()).collect();
            (e.dns.id, e.dns.name.clone(), e.dns.rcode.clone(), data)
        })
        .collect()
}

fn stream0_expected() -> Vec<(u16, String, Option<String>, Vec<String>)> {
    let ok = Some("NOERROR".to_string());
    vec![
        (
            0x9f0c,
            "host.lab.test".into(),
            ok.clone(),
            vec!["10.0.0.5".into()],
        ),
        (
            0xaf21,
            "alias.lab.test".into(),
            ok.clone(),
            vec!["host.lab.test".into(), "10.0.0.5".into()],
        ),
        (
            0xc57a,
            "txt.lab.test".into(),
            ok,
            vec![r#""v=spf1 -all" "second \"quoted\" string""#.into()],
        ),
    ]
}

#[test]
fn keepopen_stream_pairs_three_exchanges_like_tshark() {
    let (out, p) = run(&stream(0), usize::MAX);
    assert_eq!(summary(&out), stream0_expected());
    let tshark_time = [0.000269, 0.000075, 0.000063];
    for (ev, secs) in out.iter().zip(tshark_time) {
        assert!((ev.dns.latency_ms.unwrap() - secs * 1000.0).abs() < 1e-9);
        assert_eq!(ev.dns.transport, DnsTransport::Tcp);
    }
    assert_eq!(p.malformed(), 0);
}

#[test]
fn nxdomain_over_tcp() {
    let (out, _) = run(&stream(1), usize::MAX);
    assert_eq!(
        summary(&out),
        [(
            0x9cd7,
            "missing.lab.test".into(),
            Some("NXDOMAIN".into()),
            vec![]
        )]
    );
    assert!((out[0].dns.latency_ms.unwrap() - 0.749).abs() < 1e-9);
}

#[test]
fn split_byte_by_byte() {
    let (out, p) = run(&stream(0), 1);
    assert_eq!(summary(&out), stream0_expected());
    assert_eq!(p.malformed(), 0);
}

#[test]
fn split_at_every_odd_size() {
    for piece in [2, 3, 5, 7, 13, 57, 58] {
        let (out, p) = run(&stream(0), piece);
        assert_eq!(summary(&out), stream0_expected(), "pieces of {piece}");
        assert_eq!(p.malformed(), 0);
    }
}

#[test]
fn several_messages_in_one_call() {
    // All three queries in one segment, then all three responses in one.
    let segs = stream(0);
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    for to_server in [true, false] {
        let bytes: Vec<u8> = segs
            .iter()
            .filter(|s| s.to_server == to_server)
            .flat_map(|s| s.payload.clone())
            .collect();
        let d = if to_server {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        p.data(d, segs[0].ts, &bytes, &mut out);
    }
    assert_eq!(summary(&out), stream0_expected());
    assert!(out.iter().all(|e| e.dns.latency_ms == Some(0.0)));
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

const T: Timestamp = Timestamp(1_000);

#[test]
fn unanswered_query_is_emitted_at_finish() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    p.data(
        Direction::ToServer,
        T,
        &framed(&query(5, "a.test", 1)),
        &mut out,
    );
    assert!(out.is_empty());
    p.finish(T, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].dns.name.as_str(), out[0].dns.rcode.clone()),
        ("a.test", None)
    );
}

#[test]
fn message_longer_than_the_buffer_is_skipped_and_counted() {
    let config = DnsConfig {
        max_tcp_buffer: 40,
        ..DnsConfig::default()
    };
    let mut p = DnsTcpParser::new(&config);
    let mut out = Vec::new();
    let long = framed(&query(1, "a-rather-long-name-for-a-small-buffer.test", 1));
    let short = framed(&query(2, "b.test", 1));
    // Byte by byte, so the long one cannot be parsed in place either.
    for b in long.iter().chain(&short) {
        p.data(Direction::ToServer, T, std::slice::from_ref(b), &mut out);
    }
    p.finish(T, &mut out);
    assert_eq!(p.malformed(), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dns.name, "b.test");
}

#[test]
fn garbage_frame_is_counted_and_framing_goes_on() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    let mut bytes = framed(&[0xff; 5]);
    bytes.extend(framed(&query(2, "b.test", 1)));
    p.data(Direction::ToServer, T, &bytes, &mut out);
    p.finish(T, &mut out);
    assert_eq!(p.malformed(), 1);
    assert_eq!(out[0].dns.name, "b.test");
}

#[test]
fn gap_inside_a_message_loses_only_that_message() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    let first = framed(&query(1, "lost.test", 1));
    p.data(Direction::ToServer, T, &first[..10], &mut out);
    p.gap(Direction::ToServer, T, 5, &mut out);
    p.data(Direction::ToServer, T, &first[15..], &mut out);
    p.data(
        Direction::ToServer,
        T,
        &framed(&query(2, "kept.test", 1)),
        &mut out,
    );
    p.finish(T, &mut out);
    assert_eq!(p.malformed(), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dns.name, "kept.test");
}

#[test]
fn gap_at_a_boundary_loses_the_direction() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    p.data(
        Direction::ToServer,
        T,
        &framed(&query(1, "a.test", 1)),
        &mut out,
    );
    assert_eq!(
        p.gap(Direction::ToClient, T, 30, &mut out),
        Status::Continue
    );
    // Whatever follows in that direction cannot be framed: ignored.
    p.data(
        Direction::ToClient,
        T,
        &framed(&response(1, "a.test", 1, 0, &[])),
        &mut out,
    );
    assert_eq!(p.gap(Direction::ToServer, T, 1, &mut out), Status::Failed);
    p.finish(T, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dns.rcode, None);
}

#[test]
fn half_message_at_the_end_is_counted() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    let q = framed(&query(1, "a.test", 1));
    p.data(Direction::ToServer, T, &q[..q.len() - 1], &mut out);
    p.finish(T, &mut out);
    assert_eq!(p.malformed(), 1);
    assert!(out.is_empty());
}

#[test]
fn queries_time_out_within_a_connection() {
    let mut p = DnsTcpParser::new(&DnsConfig::default());
    let mut out = Vec::new();
    p.data(
        Direction::ToServer,
        Timestamp(0),
        &framed(&query(1, "a.test", 1)),
        &mut out,
    );
    p.data(
        Direction::ToServer,
        Timestamp(6_000_000_000),
        &framed(&query(2, "b.test", 1)),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].dns.name.as_str(), out[0].dns.rcode.clone()),
        ("a.test", None)
    );
}
