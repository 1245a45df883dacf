//! Damaged and unusual messages: each is counted by the caller, none is
//! fatal, and the question survives whenever it was readable.

use crate::support::{header, query, response, rr, udp, udp_frame, wire_name, Rng, QNAME};
use podwire_dns::{parse, rcode_name, DnsError, NameError, MAX_ANSWERS};

#[test]
fn shorter_than_a_header() {
    assert_eq!(parse(&[0; 11]), Err(DnsError::TooShort { len: 11 }));
    assert_eq!(parse(&[]), Err(DnsError::TooShort { len: 0 }));
}

#[test]
fn compression_loop_in_the_question() {
    // The question name is a pointer to itself.
    let mut msg = header(1, 0x0100, [1, 0, 0, 0]);
    msg.extend_from_slice(&QNAME);
    msg.extend_from_slice(&[0, 1, 0, 1]);
    assert_eq!(
        parse(&msg),
        Err(DnsError::BadQuestionName(NameError::TooManyPointers))
    );
}

#[test]
fn two_pointers_pointing_at_each_other() {
    let mut msg = header(1, 0x0100, [1, 0, 0, 0]);
    msg.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(
        parse(&msg),
        Err(DnsError::BadQuestionName(NameError::TooManyPointers))
    );
}

#[test]
fn pointer_past_the_end_in_the_question() {
    let mut msg = header(1, 0x0100, [1, 0, 0, 0]);
    msg.extend_from_slice(&[0xc1, 0x00, 0, 1, 0, 1]);
    assert_eq!(
        parse(&msg),
        Err(DnsError::BadQuestionName(NameError::PointerOutOfRange))
    );
}

#[test]
fn question_cut_before_type_and_class() {
    let mut msg = header(1, 0x0100, [1, 0, 0, 0]);
    msg.extend(wire_name("a.test"));
    msg.extend_from_slice(&[0, 1]);
    assert_eq!(parse(&msg), Err(DnsError::TruncatedQuestion));
}

#[test]
fn pointer_past_the_end_in_an_answer_keeps_the_question() {
    let a = rr(&[0xc1, 0x00], 1, 60, &[10, 0, 0, 1]);
    let msg = parse(&response(7, "a.test", 1, 0, &[a])).unwrap();
    assert!(msg.malformed);
    assert_eq!(msg.id, 7);
    assert_eq!(msg.question.unwrap().name, "a.test");
    assert!(msg.answers.is_empty());
}

#[test]
fn real_response_cut_inside_its_second_answer_keeps_question_and_first_answer() {
    // UDP frame 6: alias.lab.test CNAME host.lab.test, then host.lab.test A.
    let full = udp_frame(6);
    let msg = parse(&full[..full.len() - 20]).unwrap();
    assert!(msg.malformed);
    assert_eq!(msg.id, 0xbf0a);
    assert_eq!(msg.question.unwrap().name, "alias.lab.test");
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].data, "host.lab.test");
}

#[test]
fn every_prefix_of_every_real_message_parses_or_errs_without_panic() {
    for d in udp() {
        let question_end = 12 + d.payload[12..].iter().position(|&b| b == 0).unwrap() + 5;
        for cut in 0..d.payload.len() {
            let r = parse(&d.payload[..cut]);
            // Past the question, a prefix is always a message (maybe malformed).
            assert_eq!(
                r.is_ok(),
                cut >= question_end,
                "frame {} cut at {cut}",
                d.frame
            );
        }
    }
}

#[test]
fn counts_larger_than_the_message_are_malformed_not_fatal() {
    let mut msg = query(9, "a.test", 1);
    msg[6..8].copy_from_slice(&65535u16.to_be_bytes());
    let m = parse(&msg).unwrap();
    assert!(m.malformed);
    assert_eq!(m.question.unwrap().name, "a.test");
}

#[test]
fn tc_bit() {
    let mut msg = response(3, "big.test", 16, 0, &[]);
    msg[2] |= 0x02;
    let m = parse(&msg).unwrap();
    assert!(m.truncated && m.response && !m.malformed);
}

#[test]
fn unknown_type_in_question_and_answer() {
    let a = rr(&QNAME, 65280, 30, &[0xde, 0xad]);
    let m = parse(&response(4, "x.test", 65280, 0, &[a])).unwrap();
    assert_eq!(m.question.unwrap().qtype, 65280);
    assert_eq!(m.answers[0].rtype, "TYPE65280");
    assert_eq!(m.answers[0].data, "\\# 2 dead");
}

/// An OPT record in the additional section whose TTL carries `ext` as the
/// upper 8 bits of the rcode.
fn with_opt(mut msg: Vec<u8>, ext: u8) -> Vec<u8> {
    msg[10..12].copy_from_slice(&1u16.to_be_bytes());
    let ttl = (ext as u32) << 24;
    let mut opt = vec![0];
    opt.extend_from_slice(&41u16.to_be_bytes());
    opt.extend_from_slice(&1232u16.to_be_bytes());
    opt.extend_from_slice(&ttl.to_be_bytes());
    opt.extend_from_slice(&[0, 0]);
    msg.extend(opt);
    msg
}

#[test]
fn edns_extended_rcode_badvers() {
    // Header rcode 0, OPT extended rcode 1: 1 << 4 | 0 = 16.
    let m = parse(&with_opt(response(5, "a.test", 1, 0, &[]), 1)).unwrap();
    assert_eq!(m.rcode, 16);
    assert_eq!(rcode_name(m.rcode), "BADVERS");
}

#[test]
fn edns_extended_rcode_combines_with_header_bits() {
    // Header 7, extended 1: 23 = BADCOOKIE (RFC 7873).
    let m = parse(&with_opt(response(5, "a.test", 1, 7, &[]), 1)).unwrap();
    assert_eq!(rcode_name(m.rcode), "BADCOOKIE");
}

#[test]
fn opt_without_extension_keeps_header_rcode() {
    let m = parse(&with_opt(response(5, "a.test", 1, 3, &[]), 0)).unwrap();
    assert_eq!(rcode_name(m.rcode), "NXDOMAIN");
}

#[test]
fn answers_are_capped_but_the_message_is_whole() {
    let answers: Vec<Vec<u8>> = (0..100u8)
        .map(|i| rr(&QNAME, 1, 1, &[10, 0, 0, i]))
        .collect();
    let m = parse(&with_opt(response(1, "many.test", 1, 0, &answers), 1)).unwrap();
    assert_eq!(m.answers.len(), MAX_ANSWERS);
    assert_eq!(m.answers[63].data, "10.0.0.63");
    // The OPT after the skipped answers was still read.
    assert_eq!(m.rcode, 16);
    assert!(!m.malformed);
}

#[test]
fn no_question_is_allowed() {
    let m = parse(&header(2, 0x8181, [0, 0, 0, 0])).unwrap();
    assert_eq!(m.question, None);
    assert_eq!(rcode_name(m.rcode), "FORMERR");
}

#[test]
fn root_question_is_a_dot() {
    let m = parse(&query(1, "", 2)).unwrap();
    assert_eq!(m.question.unwrap().name, ".");
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let frames: Vec<Vec<u8>> = udp().into_iter().map(|d| d.payload).collect();
    for i in 0..20_000 {
        let buf = if i % 2 == 0 {
            let n = (rng.next() % 300) as usize;
            rng.bytes(n)
        } else {
            let mut f = frames[i % frames.len()].clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % f.len();
                f[at] = rng.next() as u8;
            }
            f
        };
        if let Ok(m) = parse(&buf) {
            assert!(m.answers.len() <= MAX_ANSWERS);
        }
    }
}
