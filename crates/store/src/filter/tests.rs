//! One condition at a time: each key matches what it should and nothing else.

use super::*;
use crate::testutil::{at, conn, dns, http, tls, with_identity, with_pod};
use podwire_record::{Body, Identity};

fn filter(edit: impl FnOnce(&mut Filter)) -> Filter {
    let mut f = Filter::default();
    edit(&mut f);
    f
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn default_matches_everything() {
    let f = Filter::default();
    for rec in [
        conn(0, "10.0.0.2", 80),
        tls(0, "a"),
        http(0, "GET", "a", "/"),
        dns(0, "a"),
    ] {
        assert!(f.matches(&rec));
    }
}

#[test]
fn ip_matches_either_side() {
    let rec = conn(0, "10.0.0.2", 80); // client 10.1.0.1
    assert!(filter(|f| f.ip = ip("10.1.0.1")).matches(&rec));
    assert!(filter(|f| f.ip = ip("10.0.0.2")).matches(&rec));
    assert!(!filter(|f| f.ip = ip("10.0.0.3")).matches(&rec));
}

#[test]
fn ipv4_mapped_ipv6_equals_ipv4() {
    let rec = conn(0, "::ffff:10.0.0.2", 80);
    assert!(filter(|f| f.ip = ip("10.0.0.2")).matches(&rec));
    let rec = conn(0, "10.0.0.2", 80);
    assert!(filter(|f| f.server_ip = ip("::ffff:10.0.0.2")).matches(&rec));
}

#[test]
fn client_and_server_ip_match_their_side_only() {
    let rec = conn(0, "10.0.0.2", 80);
    assert!(filter(|f| f.client_ip = ip("10.1.0.1")).matches(&rec));
    assert!(!filter(|f| f.client_ip = ip("10.0.0.2")).matches(&rec));
    assert!(filter(|f| f.server_ip = ip("10.0.0.2")).matches(&rec));
    assert!(!filter(|f| f.server_ip = ip("10.1.0.1")).matches(&rec));
}

#[test]
fn port_matches_either_side_and_server_port_the_server() {
    let rec = conn(0, "10.0.0.2", 80); // client port 40000
    assert!(filter(|f| f.port = Some(80)).matches(&rec));
    assert!(filter(|f| f.port = Some(40000)).matches(&rec));
    assert!(!filter(|f| f.port = Some(443)).matches(&rec));
    assert!(filter(|f| f.server_port = Some(80)).matches(&rec));
    assert!(!filter(|f| f.server_port = Some(40000)).matches(&rec));
}

#[test]
fn proto_of_connections_dns_and_tcp_protocols() {
    let tcp = filter(|f| f.proto = Some(Transport::Tcp));
    let udp = filter(|f| f.proto = Some(Transport::Udp));
    let mut udp_conn = conn(0, "10.0.0.2", 53);
    if let Body::Connection(c) = &mut udp_conn.body {
        c.proto = Transport::Udp;
    }
    assert!(udp.matches(&udp_conn) && !tcp.matches(&udp_conn));
    assert!(tcp.matches(&conn(0, "10.0.0.2", 80)));
    assert!(udp.matches(&dns(0, "a")) && !tcp.matches(&dns(0, "a")));
    for rec in [tls(0, "a"), http(0, "GET", "a", "/")] {
        assert!(tcp.matches(&rec) && !udp.matches(&rec));
    }
}

#[test]
fn state_applies_to_connections_only() {
    let open = filter(|f| f.state = State::Open);
    let closed = filter(|f| f.state = State::Closed);
    let fin = conn(0, "10.0.0.2", 80);
    let mut running = fin.clone();
    if let Body::Connection(c) = &mut running.body {
        c.close = Close::Open;
    }
    assert!(closed.matches(&fin) && !open.matches(&fin));
    assert!(open.matches(&running) && !closed.matches(&running));
    assert!(open.matches(&dns(0, "a")) && closed.matches(&dns(0, "a")));
}

#[test]
fn process_is_a_substring_on_either_side() {
    let id = Identity {
        process: Some("nginx: worker".to_string()),
        ..Identity::default()
    };
    let rec = with_identity(conn(0, "10.0.0.2", 80), true, id);
    assert!(filter(|f| f.process = Some("nginx".into())).matches(&rec));
    assert!(filter(|f| f.process = Some("worker".into())).matches(&rec));
    assert!(!filter(|f| f.process = Some("curl".into())).matches(&rec));
    assert!(!filter(|f| f.process = Some("nginx".into())).matches(&conn(0, "10.0.0.2", 80)));
}

#[test]
fn namespace_and_pod_are_exact_on_either_side() {
    let rec = with_pod(conn(0, "10.0.0.2", 80), false, "prod", "api-1");
    assert!(filter(|f| f.namespace = Some("prod".into())).matches(&rec));
    assert!(!filter(|f| f.namespace = Some("pro".into())).matches(&rec));
    assert!(filter(|f| f.pod = Some("api-1".into())).matches(&rec));
    assert!(!filter(|f| f.pod = Some("api".into())).matches(&rec));
    let rec = with_pod(conn(0, "10.0.0.2", 80), true, "prod", "db-0");
    assert!(filter(|f| f.pod = Some("db-0".into())).matches(&rec));
}

#[test]
fn namespace_and_pod_must_hold_on_the_same_side() {
    let rec = with_pod(conn(0, "10.0.0.2", 80), false, "prod", "api-1");
    let rec = with_pod(rec, true, "staging", "db-0");
    let same = filter(|f| {
        f.namespace = Some("staging".into());
        f.pod = Some("db-0".into());
    });
    assert!(same.matches(&rec));
    let crossed = filter(|f| {
        f.namespace = Some("prod".into());
        f.pod = Some("db-0".into());
    });
    assert!(!crossed.matches(&rec));
}

#[test]
fn domain_matches_names_and_their_parents_only() {
    let d = |name: &str| filter(|f| f.domain = Some(name.into()));
    let rec = tls(0, "api.Example.com");
    assert!(d("api.example.com").matches(&rec));
    assert!(d("example.com").matches(&rec));
    assert!(d("com").matches(&rec));
    assert!(d(".example.com.").matches(&rec));
    assert!(!d("ample.com").matches(&rec));
    assert!(!d("api.example.com.evil").matches(&rec));
    assert!(!d("www.api.example.com").matches(&rec));
}

#[test]
fn domain_reads_sni_host_dns_name_and_identity() {
    let d = filter(|f| f.domain = Some("example.com".into()));
    assert!(d.matches(&tls(0, "example.com")));
    assert!(!d.matches(&tls(0, "example.org")));
    assert!(d.matches(&http(0, "GET", "www.example.com:8080", "/")));
    assert!(!d.matches(&http(0, "GET", "example.org", "/")));
    assert!(d.matches(&dns(0, "example.com.")));
    assert!(!d.matches(&dns(0, "example.org")));
    assert!(!d.matches(&conn(0, "10.0.0.2", 443)));
    let id = Identity {
        domain: Some("cdn.example.com".to_string()),
        ..Identity::default()
    };
    assert!(d.matches(&with_identity(conn(0, "10.0.0.2", 443), true, id)));
}

#[test]
fn host_name_drops_port_and_brackets() {
    assert_eq!(host_name("example.com"), "example.com");
    assert_eq!(host_name("example.com:8080"), "example.com");
    assert_eq!(host_name("[2001:db8::1]:443"), "2001:db8::1");
    assert_eq!(host_name("2001:db8::1"), "2001:db8::1");
}

#[test]
fn since_and_until_bound_ts() {
    let rec = dns(100, "a");
    assert!(filter(|f| f.since = Some(at(100))).matches(&rec));
    assert!(!filter(|f| f.since = Some(at(101))).matches(&rec));
    assert!(filter(|f| f.until = Some(at(100))).matches(&rec));
    assert!(!filter(|f| f.until = Some(at(99))).matches(&rec));
}

#[test]
fn connections_match_while_active() {
    let rec = conn(100, "10.0.0.2", 80); // active 100..=110
    let window = |since, until| {
        filter(|f| {
            f.since = Some(at(since));
            f.until = Some(at(until));
        })
    };
    assert!(window(105, 200).matches(&rec));
    assert!(window(0, 100).matches(&rec));
    assert!(window(110, 110).matches(&rec));
    assert!(!window(111, 200).matches(&rec));
    assert!(!window(0, 99).matches(&rec));
}

#[test]
fn conditions_combine() {
    let rec = conn(0, "10.0.0.2", 80);
    let f = filter(|f| {
        f.ip = ip("10.0.0.2");
        f.port = Some(443);
    });
    assert!(!f.matches(&rec));
    let f = filter(|f| {
        f.ip = ip("10.0.0.2");
        f.port = Some(80);
        f.state = State::Closed;
    });
    assert!(f.matches(&rec));
}

#[test]
fn each_conversation_is_accounted_on_exactly_one_node() {
    let on = |node: &str| Identity {
        node: Some(node.into()),
        ..Identity::default()
    };
    let both = with_identity(
        with_identity(conn(0, "10.0.0.2", 80), false, on("a")),
        true,
        on("b"),
    );
    let server_only = with_identity(conn(0, "10.0.0.2", 80), true, on("b"));
    let neither = conn(0, "10.0.0.2", 80);
    for (rec, owner) in [
        (&both, Some("a")),
        (&server_only, Some("b")),
        (&neither, None),
    ] {
        for node in ["a", "b", "c"] {
            let want = owner.is_none_or(|o| o == node);
            assert_eq!(accounted_on(rec, node), want, "{node}");
            let f = filter(|f| f.accounted_by = Some(node.into()));
            assert_eq!(f.matches(rec), want, "{node}");
        }
    }
}
