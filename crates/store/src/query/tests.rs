//! Every key parses, and every way to get one wrong says what was wrong.

use super::*;
use crate::testutil::at;

const NOW: u64 = 36_000;

fn parse(q: &str) -> Result<Filter, FilterError> {
    Filter::parse_query(q, at(NOW))
}

fn err(q: &str) -> String {
    parse(q).unwrap_err().to_string()
}

#[test]
fn empty_query_is_the_default_filter() {
    assert_eq!(parse(""), Ok(Filter::default()));
    assert_eq!(parse("?"), Ok(Filter::default()));
    assert_eq!(parse("&&"), Ok(Filter::default()));
}

#[test]
fn every_key_parses() {
    let f = parse(
        "?ip=10.0.0.1&client_ip=10.0.0.2&server_ip=2001:db8::1&port=80&server_port=443\
         &proto=UDP&state=open&process=nginx&domain=Example.COM.&namespace=prod&pod=api-1\
         &workload=Deployment/api&service=api&node=node-1\
         &since=2023-11-14T22:13:20Z&until=2023-11-14T22:14:00.5Z&limit=50\
         &after=1700000000000000000-00000000000000ff",
    )
    .unwrap();
    let expected = Filter {
        ip: Some("10.0.0.1".parse().unwrap()),
        client_ip: Some("10.0.0.2".parse().unwrap()),
        server_ip: Some("2001:db8::1".parse().unwrap()),
        port: Some(80),
        server_port: Some(443),
        proto: Some(Transport::Udp),
        state: State::Open,
        process: Some("nginx".into()),
        domain: Some("example.com".into()),
        namespace: Some("prod".into()),
        pod: Some("api-1".into()),
        workload: Some("Deployment/api".into()),
        service: Some("api".into()),
        node: Some("node-1".into()),
        since: Some(at(0)),
        until: Some(Timestamp(at(40).0 + 500_000_000)),
        limit: 50,
        after: Some(Cursor {
            ts: Timestamp(1_700_000_000_000_000_000),
            key: 0xff,
        }),
        accounted_by: None,
    };
    assert_eq!(f, expected);
    assert_eq!(KEYS, KEY_NAMES.join(", "));
}

#[test]
fn state_values() {
    assert_eq!(parse("state=any").unwrap().state, State::Any);
    assert_eq!(parse("state=closed").unwrap().state, State::Closed);
    assert_eq!(
        err("state=done"),
        "bad value `done` for `state`: expected `any`, `open` or `closed`"
    );
}

#[test]
fn bracketed_ipv6_is_accepted() {
    let f = parse("ip=[::1]").unwrap();
    assert_eq!(f.ip, Some("::1".parse().unwrap()));
}

#[test]
fn values_are_percent_and_form_decoded() {
    let f = parse("process=kworker%2F0%3A1+events&ip=2001%3Adb8%3A%3A1").unwrap();
    assert_eq!(f.process.as_deref(), Some("kworker/0:1 events"));
    assert_eq!(f.ip, Some("2001:db8::1".parse().unwrap()));
    let f = parse("p%6Fd=caf%C3%A9").unwrap();
    assert_eq!(f.pod.as_deref(), Some("café"));
}

#[test]
fn relative_times_count_back_from_now() {
    let f = parse("since=5m&until=30s").unwrap();
    assert_eq!(f.since, Some(at(NOW - 300)));
    assert_eq!(f.until, Some(at(NOW - 30)));
    let f = parse("since=1h+30m").unwrap();
    assert_eq!(f.since, Some(at(NOW - 5400)));
    // Further back than the epoch: the epoch.
    assert_eq!(parse("since=100years").unwrap().since, Some(Timestamp(0)));
}

#[test]
fn weak_rfc3339_forms_are_utc() {
    for q in [
        "since=2023-11-14+22:13:20",
        "since=2023-11-14T22:13:20",
        "since=2023-11-14T22:13:20%2B00:00",
        "since=2023-11-14T22:13:20+00:00",
    ] {
        assert_eq!(parse(q).unwrap().since, Some(at(0)), "{q}");
    }
}

#[test]
fn endpoint_keys_are_returned_not_refused() {
    let (f, own) = Filter::parse_query_with(
        "level=workload&namespace=prod&x=%20y",
        at(0),
        &["level", "x"],
    )
    .unwrap();
    assert_eq!(f.namespace.as_deref(), Some("prod"));
    assert_eq!(
        own,
        [
            ("level".to_string(), "workload".to_string()),
            ("x".to_string(), " y".to_string())
        ]
    );
    assert!(matches!(
        Filter::parse_query_with("x=1&x=2", at(0), &["x"]),
        Err(FilterError::Repeated { key: "x" })
    ));
    assert!(matches!(
        parse("level=pod"),
        Err(FilterError::UnknownKey { .. })
    ));
    assert!(matches!(
        parse("after=12"),
        Err(FilterError::BadValue { key: "after", .. })
    ));
}

#[test]
fn unknown_key_is_named() {
    assert_eq!(
        err("ip=10.0.0.1&prot=udp"),
        "unknown query parameter `prot` (known: ip, client_ip, server_ip, port, server_port, \
         proto, state, process, domain, namespace, pod, workload, service, node, since, until, \
         limit, after)"
    );
    assert!(matches!(parse("IP=10.0.0.1"), Err(FilterError::UnknownKey { key }) if key == "IP"));
}

#[test]
fn repeated_key_is_an_error() {
    assert_eq!(
        err("port=80&port=443"),
        "query parameter `port` is given more than once"
    );
}

#[test]
fn bad_values_name_key_and_value() {
    let cases = [
        (
            "ip=10.0.0.300",
            "bad value `10.0.0.300` for `ip`: not an IP address",
        ),
        (
            "client_ip=x",
            "bad value `x` for `client_ip`: not an IP address",
        ),
        (
            "server_ip=1.2.3",
            "bad value `1.2.3` for `server_ip`: not an IP address",
        ),
        (
            "port=65536",
            "bad value `65536` for `port`: not a port (0 to 65535)",
        ),
        (
            "server_port=-1",
            "bad value `-1` for `server_port`: not a port (0 to 65535)",
        ),
        (
            "proto=icmp",
            "bad value `icmp` for `proto`: expected `tcp` or `udp`",
        ),
        ("domain=..", "bad value `..` for `domain`: not a DNS name"),
        (
            "limit=0",
            "bad value `0` for `limit`: expected a number from 1 to 100000",
        ),
        (
            "limit=100001",
            "bad value `100001` for `limit`: expected a number from 1 to 100000",
        ),
        (
            "limit=ten",
            "bad value `ten` for `limit`: expected a number from 1 to 100000",
        ),
        (
            "since=yesterday",
            "bad value `yesterday` for `since`: expected an RFC 3339 UTC time \
             (2026-11-22T10:00:00Z) or a duration back from now (30s, 5m, 1h 30m)",
        ),
        (
            "until=1969-12-31T23:59:59Z",
            "bad value `1969-12-31T23:59:59Z` for `until`: a date or time out of range \
             (years 1970 to 9999)",
        ),
        (
            "until=2026-02-30T10:00:00Z",
            "bad value `2026-02-30T10:00:00Z` for `until`: a date or time out of range \
             (years 1970 to 9999)",
        ),
        (
            "since=2026-11-22T10:00:00+01:00",
            "bad value `2026-11-22T10:00:00 01:00` for `since`: expected an RFC 3339 UTC time \
             (2026-11-22T10:00:00Z) or a duration back from now (30s, 5m, 1h 30m)",
        ),
    ];
    for (query, message) in cases {
        assert_eq!(err(query), message, "{query}");
    }
    assert!(parse("limit=100000").is_ok());
    assert!(parse("port=0").is_ok());
}

#[test]
fn empty_values_are_errors() {
    assert_eq!(err("ip="), "bad value `` for `ip`: a value is needed");
    assert_eq!(err("pod"), "bad value `` for `pod`: a value is needed");
}

#[test]
fn since_after_until_is_an_error() {
    assert_eq!(
        err("since=1m&until=2m"),
        "`since` (2023-11-15T08:12:20.000000000Z) is later than `until` \
         (2023-11-15T08:11:20.000000000Z)"
    );
}

#[test]
fn bad_percent_encoding_is_an_error() {
    for q in ["ip=%", "ip=%4", "ip=%zz", "ip=%+1", "i%p=1", "pod=%ff"] {
        assert!(matches!(parse(q), Err(FilterError::Encoding { .. })), "{q}");
    }
    assert_eq!(
        err("pod=%C3"),
        "`%C3` in the query string is not valid percent-encoded UTF-8"
    );
}

#[test]
fn long_values_are_shortened_in_errors() {
    let long = "x".repeat(1000);
    let msg = err(&format!("{long}=1"));
    assert!(msg.starts_with(&format!("unknown query parameter `{}...`", "x".repeat(64))));
    assert!(msg.len() < 300);
}
