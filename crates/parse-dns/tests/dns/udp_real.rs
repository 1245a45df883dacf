//! Real dnsmasq answers over UDP, checked against what tshark 4.0 shows for
//! the same capture (`tests/data/udp.pcap`):
//!
//! ```text
//! tshark -r udp.pcap -T fields -e frame.number -e dns.id -e dns.flags.response \
//!   -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.flags.truncated \
//!   -e dns.resp.name -e dns.resp.type -e dns.resp.ttl -e dns.a -e dns.aaaa \
//!   -e dns.cname -e dns.txt -e dns.mx.preference -e dns.mx.mail_exchange \
//!   -e dns.srv.priority -e dns.srv.weight -e dns.srv.port -e dns.srv.target \
//!   -e dns.ptr.domain_name -e dns.soa.mname -e dns.soa.rname -e dns.caa.value \
//!   -e dns.data -e dns.time
//! ```
//!
//! tshark's values are quoted in the comments; where its field text differs
//! from zone-file presentation (TXT strings unquoted, CAA split in fields,
//! SVCB params as a tree) the comment says how they correspond.

use crate::support::{udp, udp_frame};
use podwire_dns::{parse, qtype_name, rcode_name, DnsMessage};
use podwire_record::DnsAnswer;

fn response(frame: u32) -> DnsMessage {
    let msg = parse(&udp_frame(frame)).unwrap();
    assert!(msg.response, "frame {frame} is a response");
    assert!(!msg.malformed, "frame {frame} parses whole");
    msg
}

fn ans(name: &str, rtype: &str, data: &str) -> DnsAnswer {
    // dnsmasq was run with --local-ttl=300; tshark: dns.resp.ttl 300.
    DnsAnswer {
        name: name.into(),
        rtype: rtype.into(),
        ttl: 300,
        data: data.into(),
    }
}

fn question(msg: &DnsMessage) -> (String, String) {
    let q = msg.question.as_ref().unwrap();
    (q.name.clone(), qtype_name(q.qtype))
}

/// tshark: every frame's dns.id, dns.qry.name and dns.qry.type, in order.
#[test]
fn every_message_has_tsharks_id_name_and_type() {
    let tshark: [(u16, &str, &str); 15] = [
        (0xf5a6, "example.test", "A"),
        (0xfdf6, "host.lab.test", "AAAA"),
        (0xbf0a, "alias.lab.test", "A"),
        (0x7511, "txt.lab.test", "TXT"),
        (0xe0c5, "lab.test", "MX"),
        (0xedc6, "_sip._tcp.lab.test", "SRV"),
        (0x80b6, "nothing.nx.test", "A"),
        (0xa748, "missing.lab.test", "A"),
        (0x213e, "unk.lab.test", "TYPE65280"),
        (0x1f31, "caa.lab.test", "CAA"),
        (0x1990, "soa.lab.test", "SOA"),
        (0x4bfd, "https.lab.test", "HTTPS"),
        (0xa51f, "5.0.0.10.in-addr.arpa", "PTR"),
        (0xdb8b, "many.lab.test", "A"),
        (0xc22b, "host.lab.test", "A"),
    ];
    let frames = udp();
    assert_eq!(frames.len(), 30);
    for (i, d) in frames.iter().enumerate() {
        let msg = parse(&d.payload).unwrap();
        let (id, name, qtype) = tshark[i / 2];
        assert_eq!(msg.id, id, "frame {}", d.frame);
        assert_eq!(msg.response, i % 2 == 1, "frame {}", d.frame);
        assert_eq!(
            question(&msg),
            (name.to_string(), qtype.to_string()),
            "frame {}",
            d.frame
        );
        assert_eq!(msg.opcode, 0);
    }
}

#[test]
fn a_record() {
    // tshark frame 2: dns.a 10.1.2.3, dns.flags.rcode 0
    let msg = response(2);
    assert_eq!(rcode_name(msg.rcode), "NOERROR");
    assert_eq!(msg.answers, [ans("example.test", "A", "10.1.2.3")]);
}

#[test]
fn aaaa_record() {
    // tshark frame 4: dns.aaaa 2001:db8::5
    assert_eq!(
        response(4).answers,
        [ans("host.lab.test", "AAAA", "2001:db8::5")]
    );
}

#[test]
fn cname_then_a_with_compressed_names() {
    // tshark frame 6: dns.resp.name alias.lab.test,host.lab.test;
    // dns.resp.type 5,1; dns.cname host.lab.test; dns.a 10.0.0.5
    assert_eq!(
        response(6).answers,
        [
            ans("alias.lab.test", "CNAME", "host.lab.test"),
            ans("host.lab.test", "A", "10.0.0.5")
        ]
    );
}

#[test]
fn txt_strings_are_quoted_and_escaped() {
    // tshark frame 8: dns.txt `v=spf1 -all`,`second "quoted" string`
    assert_eq!(
        response(8).answers,
        [ans(
            "txt.lab.test",
            "TXT",
            r#""v=spf1 -all" "second \"quoted\" string""#
        )]
    );
}

#[test]
fn mx_is_preference_and_exchange_and_additional_section_is_left_out() {
    // tshark frame 10: dns.count.answers 1; dns.mx.preference 10,
    // dns.mx.mail_exchange mail.lab.test (the A of mail.lab.test is in the
    // additional section: tshark's dns.a shows it, podwire's answers do not).
    assert_eq!(
        response(10).answers,
        [ans("lab.test", "MX", "10 mail.lab.test")]
    );
}

#[test]
fn srv() {
    // tshark frame 12: dns.srv.priority 10, weight 20, port 5060, target sip.lab.test
    assert_eq!(
        response(12).answers,
        [ans("_sip._tcp.lab.test", "SRV", "10 20 5060 sip.lab.test")]
    );
}

#[test]
fn nxdomain_from_a_forced_domain_and_a_local_one() {
    // tshark frames 14, 16: dns.flags.rcode 3, dns.count.answers 0
    for frame in [14, 16] {
        let msg = response(frame);
        assert_eq!(rcode_name(msg.rcode), "NXDOMAIN");
        assert!(msg.answers.is_empty());
    }
}

#[test]
fn unknown_type_uses_rfc3597_generic_data() {
    // tshark frame 18: dns.resp.type 65280, dns.data 0102abcd
    assert_eq!(
        response(18).answers,
        [ans("unk.lab.test", "TYPE65280", "\\# 4 0102abcd")]
    );
}

#[test]
fn caa() {
    // tshark frame 20: dns.caa.flags 0x00, dns.caa.tag issue, dns.caa.value example.net
    assert_eq!(
        response(20).answers,
        [ans("caa.lab.test", "CAA", "0 issue \"example.net\"")]
    );
}

#[test]
fn soa() {
    // tshark frame 22: dns.soa.mname ns.lab.test, rname hostmaster.lab.test,
    // serial 2024010101, refresh 3600, retry 600, expire 86400, minimum 300
    assert_eq!(
        response(22).answers,
        [ans(
            "soa.lab.test",
            "SOA",
            "ns.lab.test hostmaster.lab.test 2024010101 3600 600 86400 300"
        )]
    );
}

#[test]
fn https_service_binding() {
    // tshark frame 24: SvcPriority 1, TargetName <Root>, alpn=h2,h3,
    // port=443, ipv4hint=10.0.0.5,10.0.0.6 (dig: the same, alpn quoted)
    assert_eq!(
        response(24).answers,
        [ans(
            "https.lab.test",
            "HTTPS",
            "1 . alpn=\"h2,h3\" port=443 ipv4hint=10.0.0.5,10.0.0.6"
        )]
    );
}

#[test]
fn ptr() {
    // tshark frame 26: dns.ptr.domain_name host.lab.test
    assert_eq!(
        response(26).answers,
        [ans("5.0.0.10.in-addr.arpa", "PTR", "host.lab.test")]
    );
}

#[test]
fn truncated_response_has_tc_bit_and_the_answers_that_fit() {
    // tshark frame 28: dns.flags.truncated 1, dns.count.answers 30, dns.a:
    let tshark_a = "10.9.0.3,10.9.0.21,10.9.0.11,10.9.0.22,10.9.0.6,10.9.0.23,10.9.0.12,\
        10.9.0.24,10.9.0.2,10.9.0.25,10.9.0.13,10.9.0.26,10.9.0.7,10.9.0.27,10.9.0.14,\
        10.9.0.28,10.9.0.4,10.9.0.29,10.9.0.15,10.9.0.30,10.9.0.8,10.9.0.31,10.9.0.16,\
        10.9.0.32,10.9.0.1,10.9.0.33,10.9.0.17,10.9.0.34,10.9.0.9,10.9.0.35";
    let msg = response(28);
    assert!(msg.truncated);
    let expected: Vec<DnsAnswer> = tshark_a
        .split(',')
        .map(|a| ans("many.lab.test", "A", a))
        .collect();
    assert_eq!(msg.answers, expected);
}

#[test]
fn queries_are_not_truncated_or_malformed() {
    for d in udp().iter().filter(|d| d.frame % 2 == 1) {
        let msg = parse(&d.payload).unwrap();
        assert!(
            !msg.truncated && !msg.malformed && msg.answers.is_empty(),
            "frame {}",
            d.frame
        );
    }
}
