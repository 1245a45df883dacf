//! Budgets hold, the oldest go first, drops add up, answers come newest first.

use super::*;
use crate::testutil::{self, at, conn, dns, http, tls};
use crate::State;
use podwire_record::{Body, Close, DnsAnswer, Identity};

/// A store whose tables each get `per_table` bytes.
fn store(per_table: usize) -> Store {
    Store::new(StoreConfig {
        budget_bytes: per_table * 4,
        shares: [25, 25, 25, 25, 0, 0, 0, 0],
    })
    .unwrap()
}

fn ports(recs: &[&Record]) -> Vec<u16> {
    recs.iter().map(|r| r.server.port).collect()
}

/// Room for exactly `n` bare connection records, slots included.
fn room_for(n: usize) -> usize {
    n * (size_of::<Record>() + SLOT)
}

#[test]
fn oldest_inserted_goes_first() {
    let mut s = store(room_for(4));
    // Inserted out of ts order, as connection records are.
    for (i, secs) in [50, 10, 40, 20, 30, 0].into_iter().enumerate() {
        s.insert(conn(secs, "10.0.0.2", 1000 + i as u16));
    }
    let kept: Vec<u16> = s
        .records(Table::Connection)
        .map(|r| r.server.port)
        .collect();
    assert_eq!(kept, [1002, 1003, 1004, 1005]);
    let st = *s.stats().get(Table::Connection);
    assert_eq!(
        (st.inserted_total, st.records, st.dropped_records_total),
        (6, 4, 2)
    );
    assert_eq!(st.dropped_bytes_total, 2 * size_of::<Record>() as u64);
    assert_eq!(st.bytes, room_for(4));
    assert!(st.bytes <= st.budget_bytes);
}

#[test]
fn tables_are_budgeted_apart() {
    let mut s = store(room_for(4));
    for i in 0..10 {
        s.insert(conn(i, "10.0.0.2", 80));
    }
    s.insert(dns(0, "a"));
    let stats = s.stats();
    assert_eq!(stats.get(Table::Dns).records, 1);
    assert_eq!(stats.get(Table::Dns).dropped_records_total, 0);
    assert_eq!(stats.get(Table::Connection).records, 4);
    assert_eq!(stats.get(Table::Tls).records, 0);
}

#[test]
fn a_record_larger_than_the_table_is_dropped_and_counted() {
    let mut s = store(room_for(4));
    s.insert(conn(0, "10.0.0.2", 80));
    let huge = http(1, "GET", "a", &"x".repeat(room_for(4)));
    let cost = record_bytes(&huge) as u64;
    s.insert(huge);
    let st = *s.stats().get(Table::Http);
    assert_eq!((st.inserted_total, st.records, st.bytes), (1, 0, 0));
    assert_eq!(
        (st.dropped_records_total, st.dropped_bytes_total),
        (1, cost)
    );
    assert_eq!(s.stats().get(Table::Connection).records, 1);
}

#[test]
fn a_large_record_pushes_out_many_small_ones_and_the_spare_slots() {
    let budget = 64 << 10;
    let mut s = store(budget);
    for i in 0..1000 {
        s.insert(conn(i, "10.0.0.2", 80));
    }
    let st = *s.stats().get(Table::Connection);
    let slot_bytes = st.bytes - st.records * size_of::<Record>();
    assert!(slot_bytes > 1024, "{st:?}");
    // Fits only in a table that holds nothing else and has at most 1 KiB of
    // slots: the slot array must be given up too.
    let process = "x".repeat(budget - 1024 - size_of::<Record>() - size_of::<Identity>());
    let mut big = conn(2000, "10.0.0.2", 80);
    big.client.identity = Some(Box::new(Identity {
        process: Some(process),
        ..Identity::default()
    }));
    let cost = record_bytes(&big);
    assert_eq!(cost, budget - 1024);
    s.insert(big);
    let after = *s.stats().get(Table::Connection);
    assert_eq!(after.records, 1);
    assert_eq!(after.bytes, cost + 4 * SLOT);
    assert_eq!(
        after.dropped_records_total,
        st.dropped_records_total + st.records as u64
    );
    assert_eq!(after.inserted_total, 1001);
    assert_eq!(s.records(Table::Connection).next().unwrap().ts, at(2000));
}

#[test]
fn zero_share_table_keeps_nothing() {
    let mut s = Store::new(StoreConfig {
        budget_bytes: 1 << 20,
        shares: [100, 0, 0, 0, 0, 0, 0, 0],
    })
    .unwrap();
    s.insert(tls(0, "a"));
    let st = *s.stats().get(Table::Tls);
    assert_eq!(
        (st.records, st.dropped_records_total, st.budget_bytes),
        (0, 1, 0)
    );
}

/// Deterministic, varied records: every type, strings from empty to a few
/// hundred bytes, identities, headers and answers now and then.
fn request(i: u64, body: Body) -> Record {
    Record::new(
        at(i),
        crate::testutil::ep("10.0.0.1", 40000),
        crate::testutil::ep("10.0.0.2", 5432),
        body,
    )
}

fn varied(i: u64) -> Record {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let text = |len: u64| "abcdefghij".repeat(len as usize / 10 + 1)[..len as usize].to_string();
    let mut rec = match next(8) {
        0 => conn(i, "10.0.0.2", 80),
        4 => request(
            i,
            Body::Postgres(podwire_record::Postgres {
                operation: "SELECT".into(),
                statement: Some(text(next(300))),
                ..Default::default()
            }),
        ),
        5 => request(
            i,
            Body::Mysql(podwire_record::Mysql {
                operation: "UPDATE".into(),
                statement: Some(text(next(300))),
                ..Default::default()
            }),
        ),
        6 => request(
            i,
            Body::Redis(podwire_record::Redis {
                operation: text(next(8)).into(),
                ..Default::default()
            }),
        ),
        7 => request(
            i,
            Body::Kafka(podwire_record::Kafka {
                operation: text(next(12)),
                ..Default::default()
            }),
        ),
        1 => {
            let mut r = tls(i, &text(next(60)));
            if let Body::Tls(t) = &mut r.body {
                t.alpn = vec!["h2".into(), "http/1.1".into()];
                t.client_ciphers = (0..next(30)).map(|_| text(next(40))).collect();
                t.ja4 = Some(text(36));
            }
            r
        }
        2 => {
            let mut r = http(i, "GET", &text(next(40)), &text(next(400)));
            if let Body::Http(h) = &mut r.body {
                if next(3) == 0 {
                    h.request_headers = Some(vec![("User-Agent".into(), text(next(120)))]);
                }
            }
            r
        }
        _ => {
            let mut r = dns(i, &text(next(80)));
            if let Body::Dns(d) = &mut r.body {
                for _ in 0..next(4) {
                    d.answers.push(DnsAnswer {
                        name: text(next(80)),
                        rtype: "CNAME".into(),
                        ttl: 60,
                        data: text(next(80)),
                    });
                }
            }
            r
        }
    };
    if next(2) == 0 {
        rec = testutil::with_pod(rec, next(2) == 0, &text(next(20)), &text(next(60)));
    }
    rec
}

#[test]
fn two_hundred_thousand_records_stay_within_one_mebibyte() {
    let cfg = StoreConfig {
        budget_bytes: 1 << 20,
        ..StoreConfig::default()
    };
    let mut s = Store::new(cfg.clone()).unwrap();
    let mut offered = [0u64; crate::TABLES];
    for i in 0..200_000 {
        let rec = varied(i);
        offered[Table::of(&rec).index()] += 1;
        s.insert(rec);
        if i.is_multiple_of(997) {
            for t in s.stats().tables {
                assert!(t.bytes <= t.budget_bytes, "{t:?} after {i} records");
            }
        }
    }
    let stats = s.stats();
    for t in Table::ALL {
        let st = stats.get(t);
        assert_eq!(st.budget_bytes, cfg.table_budget(t));
        assert!(st.bytes <= st.budget_bytes, "{st:?}");
        assert_eq!(st.inserted_total, offered[t.index()]);
        assert_eq!(
            st.inserted_total,
            st.records as u64 + st.dropped_records_total
        );
        assert!(st.records > 0 && st.dropped_records_total > 0, "{st:?}");
        // The bytes held are the records held (and their slots).
        let held: usize = s.records(t).map(record_bytes).sum();
        assert!(
            held <= st.bytes && st.bytes <= held + st.budget_bytes / 2,
            "{st:?}"
        );
        // Kept is the newest: the last record inserted is still there.
        let last = s.records(t).next_back().unwrap();
        assert!(last.ts >= at(200_000 - 100));
    }
    assert!(stats.bytes() <= cfg.budget_bytes);
}

#[test]
fn answers_are_newest_first_by_ts_and_limited() {
    let mut s = store(1 << 20);
    for (port, secs) in [(1, 30), (2, 10), (3, 50), (4, 20), (5, 40), (6, 30)] {
        s.insert(conn(secs, "10.0.0.2", port));
    }
    let all = Filter::default();
    assert_eq!(
        ports(&s.query(Table::Connection, &all, &[])),
        [3, 5, 6, 1, 4, 2]
    );
    let top = Filter {
        limit: 3,
        ..Filter::default()
    };
    assert_eq!(ports(&s.query(Table::Connection, &top, &[])), [3, 5, 6]);
    let none = Filter {
        limit: 0,
        ..Filter::default()
    };
    assert!(s.query(Table::Connection, &none, &[]).is_empty());
}

#[test]
fn filter_applies_before_the_limit() {
    let mut s = store(1 << 20);
    for i in 0..100 {
        s.insert(conn(
            i,
            "10.0.0.2",
            if i.is_multiple_of(10) { 53 } else { 80 },
        ));
    }
    let f = Filter {
        port: Some(53),
        limit: 3,
        ..Filter::default()
    };
    let hits = s.query(Table::Connection, &f, &[]);
    let secs: Vec<u64> = hits
        .iter()
        .map(|r| r.ts.0 / 1_000_000_000 - testutil::BASE_SECS)
        .collect();
    assert_eq!(secs, [90, 80, 70]);
}

#[test]
fn pages_cover_the_answer_once_while_records_arrive() {
    let mut s = store(1 << 20);
    // Five records share a timestamp: the cursor must still split them.
    for port in 0..20u16 {
        s.insert(conn(10 + u64::from(port % 4), "10.0.0.2", port));
    }
    let mut f = Filter {
        limit: 3,
        ..Filter::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (hits, next) = s.query_page(Table::Connection, &f, &[]);
        seen.extend(ports(&hits));
        pages += 1;
        // Newer records arriving between pages do not shift later pages.
        s.insert(conn(99, "10.0.0.3", 1000 + pages));
        match next {
            Some(c) => f.after = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 7);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<u16>>());
}

#[test]
fn extra_records_are_merged_filtered_and_sorted() {
    let mut s = store(1 << 20);
    s.insert(conn(10, "10.0.0.2", 1));
    s.insert(conn(30, "10.0.0.2", 2));
    let open = |secs, port| {
        let mut r = conn(secs, "10.0.0.2", port);
        if let Body::Connection(c) = &mut r.body {
            c.close = Close::Open;
        }
        r
    };
    let extra = [open(20, 11), open(30, 12), open(40, 13), dns(50, "a")];
    let all = Filter::default();
    // At equal ts (ports 2 and 12), by cursor key.
    let got = ports(&s.query(Table::Connection, &all, &extra));
    let tie = if Cursor::of(&open(30, 12)) > Cursor::of(&conn(30, "10.0.0.2", 2)) {
        [12, 2]
    } else {
        [2, 12]
    };
    assert_eq!(got, [13, tie[0], tie[1], 11, 1]);
    let open_only = Filter {
        state: State::Open,
        limit: 2,
        ..Filter::default()
    };
    assert_eq!(
        ports(&s.query(Table::Connection, &open_only, &extra)),
        [13, 12]
    );
    // Records of another table in `extra` are skipped.
    assert!(s.query(Table::Dns, &all, &extra[..3]).is_empty());
    assert_eq!(s.query(Table::Dns, &all, &extra).len(), 1);
}

#[test]
fn json_is_an_array_of_the_answer() {
    let mut s = store(1 << 20);
    s.insert(http(10, "GET", "example.com", "/a\"b"));
    s.insert(http(20, "POST", "example.org", "/"));
    s.insert(http(30, "GET", "api.example.com", "/c"));
    let extra = [http(25, "GET", "example.com", "/open")];
    let f = Filter {
        domain: Some("example.com".into()),
        ..Filter::default()
    };
    let mut out = b"prefix:".to_vec();
    let n = s.write_json(Table::Http, &f, &extra, &mut out);
    assert_eq!(n, 3);
    let v: serde_json::Value = serde_json::from_slice(&out[7..]).unwrap();
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/c", "/open", "/a\"b"]);
    assert_eq!(v[0]["type"], "http");

    let mut out = Vec::new();
    let none = Filter {
        port: Some(1),
        ..Filter::default()
    };
    assert_eq!(s.write_json(Table::Http, &none, &[], &mut out), 0);
    assert_eq!(out, b"[]");
}

#[test]
fn json_of_a_full_table_parses_with_the_right_count() {
    let mut s = store(256 << 10);
    for i in 0..5_000 {
        s.insert(varied(i));
    }
    for t in Table::ALL {
        let mut out = Vec::new();
        let f = Filter {
            limit: Filter::MAX_LIMIT,
            ..Filter::default()
        };
        let n = s.write_json(t, &f, &[], &mut out);
        assert_eq!(n, s.stats().get(t).records);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|r| r["type"] == t.name()));
    }
}
