//! Queries paired with responses: latency, unanswered and unmatched
//! messages, the timeout, and the bound on the table.

use crate::support::{query, response, rr, udp, QNAME};
use podwire_dns::{parse, DnsConfig, DnsEvent, DnsPairer};
use podwire_record::{DnsTransport, Timestamp};

fn pairer(config: &DnsConfig) -> DnsPairer<u16> {
    DnsPairer::new(config, DnsTransport::Udp)
}

fn feed(p: &mut DnsPairer<u16>, key: u16, ms: u64, bytes: &[u8], out: &mut Vec<DnsEvent<u16>>) {
    p.message(key, at(ms), parse(bytes).unwrap(), out);
}

fn at(ms: u64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000)
}

#[test]
fn latency_equals_tsharks_dns_time() {
    // tshark -e dns.time for the 15 responses of udp.pcap, in order.
    let tshark = [
        0.001480, 0.001203, 0.000140, 0.000274, 0.000303, 0.000136, 0.000602, 0.000190, 0.000112,
        0.000290, 0.000293, 0.000397, 0.000301, 0.000820, 0.000221,
    ];
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    for d in udp() {
        p.expire(d.ts, &mut out);
        p.message(d.client_port(), d.ts, parse(&d.payload).unwrap(), &mut out);
    }
    assert_eq!(out.len(), 15);
    assert_eq!(p.pending(), 0);
    for (ev, secs) in out.iter().zip(tshark) {
        let latency = ev.dns.latency_ms.unwrap();
        assert!(
            (latency - secs * 1000.0).abs() < 1e-9,
            "{}: {latency} ms vs tshark {secs} s",
            ev.dns.name
        );
        assert_eq!(ev.dns.transport, DnsTransport::Udp);
        assert!(ev.dns.rcode.is_some());
    }
    // The record's time is the query's: frame 1.
    assert_eq!(out[0].ts, udp()[0].ts);
    assert_eq!(out[0].dns.name, "example.test");
    assert_eq!(out[0].dns.qtype, "A");
    assert_eq!(out[0].dns.rcode.as_deref(), Some("NOERROR"));
    assert_eq!(out[0].dns.answers[0].data, "10.1.2.3");
    assert_eq!(out[6].dns.rcode.as_deref(), Some("NXDOMAIN"));
}

#[test]
fn unmatched_response_is_emitted_from_its_own_question() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    let a = rr(&QNAME, 1, 60, &[10, 0, 0, 1]);
    feed(
        &mut p,
        1,
        50,
        &response(9, "late.test", 1, 0, &[a]),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let ev = &out[0];
    assert_eq!((ev.key, ev.ts), (1, at(50)));
    assert_eq!(ev.dns.name, "late.test");
    assert_eq!(ev.dns.latency_ms, None);
    assert_eq!(ev.dns.rcode.as_deref(), Some("NOERROR"));
    assert_eq!(ev.dns.answers.len(), 1);
}

#[test]
fn same_id_on_another_flow_does_not_pair() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(9, "a.test", 1), &mut out);
    feed(&mut p, 2, 1, &response(9, "a.test", 1, 0, &[]), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dns.latency_ms, None);
    assert_eq!(p.pending(), 1);
}

#[test]
fn response_to_another_question_does_not_pair() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(9, "a.test", 1), &mut out);
    feed(&mut p, 1, 1, &response(9, "b.test", 1, 0, &[]), &mut out);
    assert_eq!(out[0].dns.name, "b.test");
    assert_eq!(out[0].dns.latency_ms, None);
    assert_eq!(p.pending(), 1);
}

#[test]
fn randomised_case_still_pairs() {
    // DNS 0x20: the resolver mixes case, the server echoes it.
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(9, "ExAmPle.TEST", 1), &mut out);
    feed(
        &mut p,
        1,
        3,
        &response(9, "ExAmPle.TEST", 1, 0, &[]),
        &mut out,
    );
    assert_eq!(out[0].dns.name, "ExAmPle.TEST");
    assert_eq!(out[0].dns.latency_ms, Some(3.0));
}

#[test]
fn retransmitted_query_keeps_the_first_time() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(9, "a.test", 1), &mut out);
    feed(&mut p, 1, 1000, &query(9, "a.test", 1), &mut out);
    feed(&mut p, 1, 1010, &response(9, "a.test", 1, 0, &[]), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ts, at(0));
    assert_eq!(out[0].dns.latency_ms, Some(1010.0));
}

#[test]
fn reused_id_for_a_new_question_emits_the_old_one_unanswered() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(9, "a.test", 1), &mut out);
    feed(&mut p, 1, 1, &query(9, "a.test", 28), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].dns.qtype.as_str(), out[0].dns.rcode.as_deref()),
        ("A", None)
    );
    assert_eq!(p.pending(), 1);
}

#[test]
fn timeout_expires_pending_queries_unanswered() {
    let config = DnsConfig::default(); // 5 s
    let mut p = pairer(&config);
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(1, "slow.test", 1), &mut out);
    feed(&mut p, 1, 2000, &query(2, "fast.test", 1), &mut out);
    p.expire(at(5000), &mut out);
    assert!(out.is_empty(), "exactly the timeout is not older than it");
    p.expire(at(5001), &mut out);
    assert_eq!(out.len(), 1);
    let ev = &out[0];
    assert_eq!((ev.dns.name.as_str(), ev.ts), ("slow.test", at(0)));
    assert_eq!((ev.dns.rcode.clone(), ev.dns.latency_ms), (None, None));
    assert!(ev.dns.answers.is_empty());
    assert_eq!(p.pending(), 1);
    // The late response no longer pairs.
    feed(
        &mut p,
        1,
        5002,
        &response(1, "slow.test", 1, 0, &[]),
        &mut out,
    );
    assert_eq!(out[1].dns.latency_ms, None);
}

#[test]
fn answered_queries_do_not_expire() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    for id in 0..1000u16 {
        feed(&mut p, 1, id as u64, &query(id, "a.test", 1), &mut out);
        feed(
            &mut p,
            1,
            id as u64 + 1,
            &response(id, "a.test", 1, 0, &[]),
            &mut out,
        );
    }
    p.expire(at(1_000_000), &mut out);
    p.drain(&mut out);
    assert_eq!(out.len(), 1000);
    assert!(out.iter().all(|e| e.dns.latency_ms == Some(1.0)));
}

#[test]
fn full_table_evicts_the_oldest_and_counts_it() {
    let config = DnsConfig {
        max_pending: 2,
        ..DnsConfig::default()
    };
    let mut p = pairer(&config);
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(1, "one.test", 1), &mut out);
    feed(&mut p, 1, 1, &query(2, "two.test", 1), &mut out);
    // Answer and re-ask so the queue holds a stale entry at its front.
    feed(&mut p, 1, 2, &response(1, "one.test", 1, 0, &[]), &mut out);
    feed(&mut p, 1, 3, &query(3, "three.test", 1), &mut out);
    assert_eq!(p.evicted(), 0);
    feed(&mut p, 1, 4, &query(4, "four.test", 1), &mut out);
    assert_eq!(p.evicted(), 1);
    assert_eq!(p.pending(), 2);
    let evicted = out.last().unwrap();
    assert_eq!(
        (evicted.dns.name.as_str(), evicted.dns.rcode.clone()),
        ("two.test", None)
    );
}

#[test]
fn drain_emits_everything_pending_oldest_first() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 2, 0, &query(1, "first.test", 1), &mut out);
    feed(&mut p, 1, 1, &query(1, "second.test", 28), &mut out);
    p.drain(&mut out);
    let names: Vec<&str> = out.iter().map(|e| e.dns.name.as_str()).collect();
    assert_eq!(names, ["first.test", "second.test"]);
    assert_eq!(p.pending(), 0);
}

#[test]
fn response_without_question_pairs_by_id() {
    let mut p = pairer(&DnsConfig::default());
    let mut out = Vec::new();
    feed(&mut p, 1, 0, &query(4, "a.test", 1), &mut out);
    // FORMERR with QDCOUNT 0.
    feed(
        &mut p,
        1,
        2,
        &crate::support::header(4, 0x8181, [0, 0, 0, 0]),
        &mut out,
    );
    assert_eq!(out[0].dns.name, "a.test");
    assert_eq!(out[0].dns.rcode.as_deref(), Some("FORMERR"));
    assert_eq!(out[0].dns.latency_ms, Some(2.0));
}

#[test]
fn queue_stays_bounded_under_churn() {
    // Many answered queries behind one that never is: the stale entries
    // behind it must not pile up (checked through behaviour: eviction still
    // picks the right, oldest live query).
    let config = DnsConfig {
        max_pending: 3,
        ..DnsConfig::default()
    };
    let mut p = pairer(&config);
    let mut out = Vec::new();
    feed(&mut p, 9, 0, &query(0, "stuck.test", 1), &mut out);
    for i in 1..20_000u64 {
        let id = (i % 10_000) as u16 + 1;
        feed(&mut p, 1, i, &query(id, "a.test", 1), &mut out);
        feed(&mut p, 1, i, &response(id, "a.test", 1, 0, &[]), &mut out);
    }
    out.clear();
    for id in 1..=3u16 {
        feed(&mut p, 2, 200_000, &query(id, "new.test", 1), &mut out);
    }
    assert_eq!(p.evicted(), 1);
    assert_eq!(out[0].dns.name, "stuck.test");
}
