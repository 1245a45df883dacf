use super::*;
use crate::graph::{GraphBuilder, Level};
use crate::testutil::*;
use podwire_record::Close;

// ---------------------------------------------------------------- fields

/// A row of the contract's table: mode, mainStat, secondaryStat, arc__1
/// (color, name), arc__2 (color, name).
type Row = (&'static str, &'static str, &'static str, ArcField, ArcField);
type ArcField = (&'static str, &'static str);

const TABLE: [Row; 3] = [
    (
        "connection",
        "All connections ",
        "Persistent connections ",
        ("green", "Persistent connections"),
        ("red", "Short-lived connections"),
    ),
    (
        "bytes",
        "Bytes received ",
        "Bytes responded ",
        ("blue", "Bytes received"),
        ("yellow", "Bytes responded"),
    ),
    (
        "duration",
        "Average duration ",
        "Max duration ",
        ("purple", "Average duration"),
        ("white", "Max duration"),
    ),
];

#[test]
fn fields_have_the_contracts_display_names_and_colors() {
    for (mode, main, secondary, arc1, arc2) in TABLE {
        let want = json!({
            "edges_fields": [
                {"field_name": "id", "type": "string"},
                {"field_name": "source", "type": "string"},
                {"field_name": "target", "type": "string"},
                {"field_name": "mainStat", "type": "string"},
                {"field_name": "secondaryStat", "type": "string"},
            ],
            "nodes_fields": [
                {"field_name": "id", "type": "string"},
                {"field_name": "title", "type": "string"},
                {"field_name": "subTitle", "type": "string"},
                {"field_name": "mainStat", "type": "string", "displayName": main},
                {"field_name": "secondaryStat", "type": "string", "displayName": secondary},
                {"field_name": "arc__1", "type": "number", "color": arc1.0, "displayName": arc1.1},
                {"field_name": "arc__2", "type": "number", "color": arc2.0, "displayName": arc2.1},
            ],
        });
        assert_eq!(fields(StatsType::parse(mode)), want, "{mode}");
    }
}

#[test]
fn stat_display_names_keep_their_trailing_space() {
    for t in [StatsType::Connection, StatsType::Bytes, StatsType::Duration] {
        let f = fields(t);
        let nodes = f["nodes_fields"].as_array().unwrap();
        for (i, n) in nodes.iter().enumerate() {
            let Some(name) = n["displayName"].as_str() else {
                continue;
            };
            // The two stats end in a space, the arcs do not.
            let is_stat = i == 3 || i == 4;
            assert_eq!(name.ends_with(' '), is_stat, "{t:?} {name:?}");
        }
    }
}

#[test]
fn unknown_or_absent_stats_type_means_connection() {
    assert_eq!(StatsType::parse("bytes"), StatsType::Bytes);
    assert_eq!(StatsType::parse("duration"), StatsType::Duration);
    for s in ["connection", "", "BYTES", "Duration", "latency", " bytes"] {
        assert_eq!(StatsType::parse(s), StatsType::Connection, "{s:?}");
    }
    assert_eq!(StatsType::default(), StatsType::Connection);
    assert_eq!(
        fields(StatsType::parse("nonsense")),
        fields(StatsType::Connection)
    );
}

// ---------------------------------------------------------------- query

#[test]
fn empty_values_are_no_condition() {
    let q = GraphQuery::parse("namespace=&include=&exclude=&stats-type=&from=&to=").unwrap();
    assert_eq!(q.stats, StatsType::Connection);
    assert!(q.namespace.is_none());
    assert!(q.include.is_none());
    assert!(q.exclude.is_none());
    assert_eq!(q.from_ms, None);
    assert_eq!(q.to_ms, None);
}

#[test]
fn the_dashboards_query_string_parses() {
    let q = GraphQuery::parse(
        "namespace=prod&include=api&exclude=&stats-type=bytes&from=1700000000000&to=1700000060000",
    )
    .unwrap();
    assert_eq!(q.stats, StatsType::Bytes);
    assert!(q.namespace.as_ref().unwrap().is_match("prod"));
    assert!(q.include.as_ref().unwrap().is_match("api-1"));
    assert!(q.exclude.is_none());
    assert_eq!(q.from_ms, Some(1_700_000_000_000));
    assert_eq!(q.to_ms, Some(1_700_000_060_000));
}

#[test]
fn unknown_keys_are_ignored() {
    let q = GraphQuery::parse("orgId=1&refresh=5s&var-x=(").unwrap();
    assert!(q.namespace.is_none() && q.include.is_none() && q.exclude.is_none());
}

#[test]
fn values_are_percent_decoded() {
    let q = GraphQuery::parse("namespace=prod%7Cstaging&include=10%5C.0%5C.").unwrap();
    let ns = q.namespace.unwrap();
    assert!(ns.is_match("staging"));
    assert!(ns.is_match("prod"));
    let inc = q.include.unwrap();
    assert!(inc.is_match("10.0.0.1"));
    assert!(!inc.is_match("10a0b0"));
}

#[test]
fn an_invalid_regex_is_an_error_naming_its_key() {
    for key in ["namespace", "include", "exclude"] {
        let err = GraphQuery::parse(&format!("stats-type=bytes&{key}=(unclosed"))
            .expect_err(key)
            .to_string();
        assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        assert!(err.contains("(unclosed"), "{key}: {err}");
    }
}

#[test]
fn a_time_that_is_not_unix_milliseconds_is_an_error_naming_its_key() {
    for (key, v) in [("from", "now-1h"), ("to", "-5"), ("from", "1.5")] {
        let err = GraphQuery::parse(&format!("{key}={v}"))
            .expect_err(key)
            .to_string();
        assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
    }
}

fn q(s: &str) -> GraphQuery {
    GraphQuery::parse(s).unwrap()
}

/// 10.0.0.1 (prod/api-1) -> 10.0.0.2 (data/db-0), active 0..60 s.
fn api_to_db() -> Record {
    conn("10.0.0.1:40000", "10.0.0.2:5432")
        .duration_ms(60_000.0)
        .build()
        .client_id(id().ns("prod").pod("api-1"))
        .server_id(id().ns("data").pod("db-0"))
}

#[test]
fn namespace_keeps_a_connection_when_either_side_matches() {
    let r = api_to_db();
    assert!(q("namespace=^prod$").keeps(&r));
    assert!(q("namespace=^data$").keeps(&r));
    assert!(q("namespace=prod|web").keeps(&r));
    assert!(!q("namespace=^web$").keeps(&r));
}

/// k8spacket matches its Go regexp against the namespace string, which is
/// empty for an end outside the cluster: `.*` (Grafana's "All") keeps
/// standalone hosts, external and hostNetwork endpoints.
#[test]
fn namespace_all_keeps_connections_whose_ends_have_no_namespace() {
    let unnamed = conn("10.0.0.1:40000", "10.0.0.2:80").build();
    assert!(q("namespace=.*").keeps(&unnamed));
    assert!(q("namespace=^$").keeps(&unnamed));
    assert!(q("namespace=").keeps(&unnamed));
    assert!(!q("namespace=prod").keeps(&unnamed));
    // One end named, the other not: the empty one matches `^$` too.
    let half = conn("10.0.0.1:40000", "1.1.1.1:443")
        .build()
        .client_id(id().ns("prod").pod("api-1"));
    assert!(q("namespace=^$").keeps(&half));
    assert!(q("namespace=^prod$").keeps(&half));
    assert!(!q("namespace=^data$").keeps(&half));
}

#[test]
fn include_keeps_a_connection_when_any_address_or_name_matches() {
    let r = api_to_db();
    for re in [r"^10\.0\.0\.1$", "^api-1$", r"^10\.0\.0\.2$", "^db-0$"] {
        assert!(q(&format!("include={re}")).keeps(&r), "{re}");
    }
    assert!(!q("include=^web$").keeps(&r));
    // The namespace is not one of the four texts.
    assert!(!q("include=^prod$").keeps(&r));
}

#[test]
fn exclude_drops_a_connection_when_any_address_or_name_matches() {
    let r = api_to_db();
    for re in [r"^10\.0\.0\.1$", "^api-1$", r"^10\.0\.0\.2$", "^db-0$"] {
        assert!(!q(&format!("exclude={re}")).keeps(&r), "{re}");
    }
    assert!(q("exclude=^web$").keeps(&r));
    // Exclusion wins over inclusion.
    assert!(!q("include=api&exclude=db").keeps(&r));
}

#[test]
fn from_and_to_are_compared_with_the_last_activity() {
    // Starts at BASE_MS, last seen at BASE_MS + 60 s.
    let r = api_to_db();
    let last = BASE_MS + 60_000;
    let keeps = |from: Option<u64>, to: Option<u64>| {
        GraphQuery {
            from_ms: from,
            to_ms: to,
            ..GraphQuery::default()
        }
        .keeps(&r)
    };
    // Started before `from` but still active after it.
    assert!(keeps(Some(BASE_MS + 30_000), None));
    assert!(keeps(Some(last), Some(last)));
    assert!(!keeps(Some(last + 1), None));
    assert!(!keeps(None, Some(last - 1)));
    assert!(!keeps(None, Some(BASE_MS + 30_000)));
    assert!(q(&format!("from={}&to={}", BASE_MS, last)).keeps(&r));
    assert!(!q(&format!("from={}", last + 1)).keeps(&r));
}

#[test]
fn only_connection_records_are_kept() {
    let t = tls("10.0.0.1:40000", "10.0.0.2:443", None, None, None);
    assert!(!GraphQuery::default().keeps(&t));
    assert!(GraphQuery::default().keeps_endpoints(&t.client, &t.server));
}

// ---------------------------------------------------------------- data

fn ip_graph(recs: &[Record]) -> Graph {
    let mut b = GraphBuilder::new(Level::Ip, 10_000.0);
    for r in recs {
        b.add(r);
    }
    b.finish()
}

fn node_of<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id}"))
}

fn edge_of<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no edge {id}"))
}

fn arcs(n: &Value) -> (f64, f64) {
    (n["arc__1"].as_f64().unwrap(), n["arc__2"].as_f64().unwrap())
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn data_has_the_contracts_shape() {
    let g = ip_graph(&[api_to_db()]);
    for t in [StatsType::Connection, StatsType::Bytes, StatsType::Duration] {
        let v = data(&g, t);
        let keys = |o: &Value| {
            let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&v), ["edges", "nodes"]);
        for n in v["nodes"].as_array().unwrap() {
            assert_eq!(
                keys(n),
                [
                    "arc__1",
                    "arc__2",
                    "id",
                    "mainStat",
                    "secondaryStat",
                    "subTitle",
                    "title"
                ]
            );
            assert!(n["mainStat"].is_string() && n["arc__1"].is_number());
        }
        for e in v["edges"].as_array().unwrap() {
            assert_eq!(
                keys(e),
                ["id", "mainStat", "secondaryStat", "source", "target"]
            );
        }
    }
}

#[test]
fn nodes_are_ids_by_address_titles_by_name_subtitles_by_address() {
    let v = data(&ip_graph(&[api_to_db()]), StatsType::Connection);
    let n = node_of(&v, "10.0.0.1");
    assert_eq!(n["title"], "api-1");
    assert_eq!(n["subTitle"], "10.0.0.1");
    let e = edge_of(&v, "10.0.0.1-10.0.0.2");
    assert_eq!(e["source"], "10.0.0.1");
    assert_eq!(e["target"], "10.0.0.2");
}

#[test]
fn connection_stats_count_a_nodes_served_connections() {
    let durations = [500.0, 9_000.0, 10_000.0, 45_000.0, 1_000.0];
    let recs: Vec<Record> = durations
        .iter()
        .map(|ms| {
            conn("10.0.0.1:40000", "10.0.0.2:80")
                .duration_ms(*ms)
                .build()
        })
        .collect();
    let v = data(&ip_graph(&recs), StatsType::Connection);
    let all = durations.len();
    let persistent = durations.iter().filter(|ms| **ms >= 10_000.0).count();
    let server = node_of(&v, "10.0.0.2");
    assert_eq!(server["mainStat"], format!("all: {all}"));
    assert_eq!(server["secondaryStat"], format!("persistent: {persistent}"));
    let (a1, a2) = arcs(server);
    assert!(close_to(a1, persistent as f64 / all as f64));
    assert!(close_to(a2, (all - persistent) as f64 / all as f64));
    // A node that only opened connections served none.
    let client = node_of(&v, "10.0.0.1");
    assert_eq!(client["mainStat"], "all: N/A");
    assert_eq!(client["secondaryStat"], "persistent: N/A");
    assert_eq!(arcs(client), (0.0, 0.0));
    let e = edge_of(&v, "10.0.0.1-10.0.0.2");
    assert_eq!(e["mainStat"], format!("all: {all}"));
    assert_eq!(e["secondaryStat"], format!("persistent: {persistent}"));
}

#[test]
fn bytes_stats_are_rates_over_the_time_a_nodes_connections_were_open() {
    // B (10.0.0.2) serves A and is a client of C.
    let recs = [
        conn("10.0.0.1:40000", "10.0.0.2:80")
            .bytes(1000, 400)
            .duration_ms(1500.0)
            .build(),
        conn("10.0.0.2:40000", "10.0.0.3:80")
            .bytes(100, 2000)
            .duration_ms(500.0)
            .build(),
    ];
    let v = data(&ip_graph(&recs), StatsType::Bytes);
    // B received 1000 (from A) + 2000 (from C) and sent 400 + 100, over
    // 1.5 + 0.5 s.
    let b = node_of(&v, "10.0.0.2");
    assert_eq!(b["mainStat"], "recv: 1.5 kB/s");
    assert_eq!(b["secondaryStat"], "resp: 250 B/s");
    let (a1, a2) = arcs(b);
    assert!(close_to(a1, 3000.0 / 3500.0));
    assert!(close_to(a2, 500.0 / 3500.0));
    // A received 400 and sent 1000 over 1.5 s.
    let a = node_of(&v, "10.0.0.1");
    assert_eq!(a["mainStat"], "recv: 267 B/s");
    assert_eq!(a["secondaryStat"], "resp: 667 B/s");
    // Edges carry totals, client to server first.
    let e = edge_of(&v, "10.0.0.1-10.0.0.2");
    assert_eq!(e["mainStat"], "sent: 1.0 kB");
    assert_eq!(e["secondaryStat"], "recv: 400 B");
    let e = edge_of(&v, "10.0.0.2-10.0.0.3");
    assert_eq!(e["mainStat"], "sent: 100 B");
    assert_eq!(e["secondaryStat"], "recv: 2.0 kB");
}

#[test]
fn bytes_stats_are_not_available_without_bytes_or_time() {
    let recs = [
        conn("10.0.0.1:40000", "10.0.0.2:80").bytes(0, 0).build(),
        conn("10.0.0.3:40000", "10.0.0.4:80")
            .bytes(10, 10)
            .duration_ms(0.0)
            .build(),
    ];
    let v = data(&ip_graph(&recs), StatsType::Bytes);
    for id in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        let n = node_of(&v, id);
        assert_eq!(n["mainStat"], "recv: N/A", "{id}");
        assert_eq!(n["secondaryStat"], "resp: N/A", "{id}");
        assert_eq!(arcs(n), (0.0, 0.0), "{id}");
    }
}

#[test]
fn duration_stats_show_the_average_and_longest_served_connection() {
    let recs = [
        conn("10.0.0.1:40000", "10.0.0.2:80")
            .duration_ms(1000.0)
            .build(),
        conn("10.0.0.1:40001", "10.0.0.2:80")
            .duration_ms(3000.0)
            .build(),
        conn("10.0.0.1:40002", "10.0.0.2:80")
            .duration_ms(2000.0)
            .build(),
    ];
    let v = data(&ip_graph(&recs), StatsType::Duration);
    let n = node_of(&v, "10.0.0.2");
    assert_eq!(n["mainStat"], "avg: 2.00s");
    assert_eq!(n["secondaryStat"], "max: 3.00s");
    let (a1, a2) = arcs(n);
    assert!(close_to(a1, 2.0 / 3.0));
    assert!(close_to(a2, 1.0 / 3.0));
    let c = node_of(&v, "10.0.0.1");
    assert_eq!(c["mainStat"], "avg: N/A");
    assert_eq!(c["secondaryStat"], "max: N/A");
    assert_eq!(arcs(c), (0.0, 0.0));
    let e = edge_of(&v, "10.0.0.1-10.0.0.2");
    assert_eq!(e["mainStat"], "avg: 2.00s");
    assert_eq!(e["secondaryStat"], "max: 3.00s");
}

#[test]
fn duration_stats_of_instant_connections_are_below_a_millisecond() {
    let recs = [conn("10.0.0.1:40000", "10.0.0.2:80")
        .duration_ms(0.0)
        .build()];
    let v = data(&ip_graph(&recs), StatsType::Duration);
    let n = node_of(&v, "10.0.0.2");
    assert_eq!(n["mainStat"], "avg: <0.001s");
    assert_eq!(n["secondaryStat"], "max: <0.001s");
    let (a1, a2) = arcs(n);
    assert_eq!(a1 + a2, 1.0);
}

#[test]
fn arcs_are_fractions_summing_to_one_or_both_zero_when_not_available() {
    let mut rng = Rng::new(3);
    let addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
    let recs: Vec<Record> = (0..200)
        .map(|_| {
            let mut b = conn(
                &format!("{}:40000", rng.pick(&addrs[..3])),
                &format!("{}:80", rng.pick(&addrs[2..])),
            )
            .duration_ms(rng.below(30_000) as f64)
            .bytes(rng.below(100_000), rng.below(100_000));
            if rng.chance(1, 5) {
                b = b.close(Close::Open);
            }
            b.build()
        })
        .collect();
    let g = ip_graph(&recs);
    for t in [StatsType::Connection, StatsType::Bytes, StatsType::Duration] {
        let v = data(&g, t);
        for n in v["nodes"].as_array().unwrap() {
            let (a1, a2) = arcs(n);
            let na = n["mainStat"].as_str().unwrap().ends_with("N/A");
            assert!(
                (0.0..=1.0).contains(&a1) && (0.0..=1.0).contains(&a2),
                "{n}"
            );
            if na {
                assert_eq!((a1, a2), (0.0, 0.0), "{t:?} {n}");
            } else {
                assert!((a1 + a2 - 1.0).abs() < 1e-9, "{t:?} {n}");
            }
        }
    }
}

// ---------------------------------------------------------------- format

#[test]
fn bytes_below_a_kilobyte_are_whole_bytes() {
    assert_eq!(bytes(0.0), "0 B");
    assert_eq!(bytes(1.0), "1 B");
    assert_eq!(bytes(0.4), "0 B");
    assert_eq!(bytes(512.0), "512 B");
    assert_eq!(bytes(999.0), "999 B");
    assert_eq!(bytes(999.4), "999 B");
}

#[test]
fn bytes_are_decimal_si_with_one_decimal() {
    assert_eq!(bytes(1000.0), "1.0 kB");
    assert_eq!(bytes(1234.0), "1.2 kB");
    assert_eq!(bytes(999_900.0), "999.9 kB");
    assert_eq!(bytes(1e6), "1.0 MB");
    assert_eq!(bytes(3.4e6), "3.4 MB");
    assert_eq!(bytes(1e9), "1.0 GB");
    assert_eq!(bytes(1e12), "1.0 TB");
    assert_eq!(bytes(1e15), "1.0 PB");
    assert_eq!(bytes(1e18), "1.0 EB");
    // Past the largest unit the number grows.
    assert_eq!(bytes(2.5e21), "2500.0 EB");
}

#[test]
fn bytes_that_round_up_to_the_next_unit_show_in_it() {
    assert_eq!(bytes(999.5), "1.0 kB");
    assert_eq!(bytes(999.99), "1.0 kB");
    assert_eq!(bytes(999_950.0), "1.0 MB");
    assert_eq!(bytes(999_999.0), "1.0 MB");
    assert_eq!(bytes(999_999_999.0), "1.0 GB");
}

#[test]
fn duration_below_a_millisecond() {
    assert_eq!(duration(0.0), "<0.001s");
    assert_eq!(duration(0.000_999), "<0.001s");
}

#[test]
fn duration_in_milliseconds_seconds_minutes_and_hours() {
    assert_eq!(duration(0.001), "1.0ms");
    assert_eq!(duration(0.0123), "12.3ms");
    assert_eq!(duration(0.5), "500.0ms");
    assert_eq!(duration(1.0), "1.00s");
    assert_eq!(duration(4.56), "4.56s");
    assert_eq!(duration(59.99), "59.99s");
    assert_eq!(duration(60.0), "1m0s");
    assert_eq!(duration(125.0), "2m5s");
    assert_eq!(duration(3599.0), "59m59s");
    assert_eq!(duration(3600.0), "1h0m");
    assert_eq!(duration(3.0 * 3600.0 + 4.0 * 60.0), "3h4m");
    assert_eq!(duration(100.0 * 3600.0), "100h0m");
}

#[test]
fn duration_that_rounds_up_to_the_next_unit_shows_in_it() {
    assert_eq!(duration(0.999_96), "1.00s");
    assert_eq!(duration(59.996), "1m0s");
    assert_eq!(duration(3599.6), "1h0m");
    assert_eq!(duration(60.0 * 60.0 * 2.0 - 10.0), "2h0m");
}
