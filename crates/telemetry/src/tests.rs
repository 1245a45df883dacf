//! The catalogue's promises: one name per counter, every counter in every
//! output, names that follow the rule.

use super::catalogue::{self, *};
use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Every catalogue struct, each field set to a value no other field has.
fn filled() -> Snapshot {
    let mut next = 1000u64;
    let mut set = |_: &'static Def, a: &std::sync::atomic::AtomicU64| {
        next += 1;
        a.store(next, Ordering::Relaxed);
    };
    let (cc, t, r, cf) = (
        CaptureCounters::default(),
        TlsCounters::default(),
        ReverseDnsCounters::default(),
        CertFetchCounters::default(),
    );
    cc.each_field(&mut set);
    t.each_field(&mut set);
    r.each_field(&mut set);
    cf.each_field(&mut set);
    let (c, s, m, o, a, l, li) = (
        Capture::default(),
        Sampled::default(),
        MetricsCounters::default(),
        OwnCounters::default(),
        AccessCounters::default(),
        ListenerCounters::default(),
        LimitCounters::default(),
    );
    c.each_field(&mut set);
    s.each_field(&mut set);
    m.each_field(&mut set);
    o.each_field(&mut set);
    a.each_field(&mut set);
    l.each_field(&mut set);
    li.each_field(&mut set);
    Snapshot::of(&[&c, &s, &m, &o, &a, &l, &li, &cc, &t, &r, &cf])
}

fn series(d: &Def) -> String {
    match d.label {
        Some((l, v)) => format!("{}{{{l}=\"{v}\"}}", d.sample_name()),
        None => d.sample_name(),
    }
}

#[test]
fn every_definition_is_read_from_its_own_field() {
    let snap = filled();
    let n: usize = catalogue::all().map(|d| d.len()).sum();
    assert_eq!(snap.iter().count(), n);
    let values: BTreeSet<u64> = snap.iter().map(|(_, v)| v).collect();
    assert_eq!(values.len(), n, "two definitions read the same field");
}

#[test]
fn no_counter_is_exported_under_two_names_or_one_name_twice() {
    let mut series_seen = BTreeMap::new();
    let mut paths = BTreeMap::new();
    let mut families: BTreeMap<&str, &Def> = BTreeMap::new();
    for d in catalogue::all().flatten() {
        assert!(
            series_seen.insert(series(d), d.status).is_none(),
            "{} exported twice",
            series(d)
        );
        assert!(
            paths.insert(d.status, d.name).is_none(),
            "status path {} used twice",
            d.status
        );
        // A family's series agree on what the family is.
        if let Some(f) = families.insert(d.name, d) {
            assert_eq!(
                (f.kind, f.help, f.unit),
                (d.kind, d.help, d.unit),
                "{}",
                d.name
            );
            assert!(f.label.is_some() && d.label.is_some(), "{}", d.name);
            assert_eq!(f.label.map(|l| l.0), d.label.map(|l| l.0), "{}", d.name);
        }
        // A status path is no prefix of another (an object and a number
        // at once).
        for p in paths.keys() {
            assert!(
                !p.starts_with(&format!("{}.", d.status)),
                "{p} under {}",
                d.status
            );
            assert!(
                !d.status.starts_with(&format!("{p}.")),
                "{} under {p}",
                d.status
            );
        }
    }
}

#[test]
fn names_follow_the_rule() {
    for d in catalogue::all().flatten() {
        assert!(d.name.starts_with("podwire_"), "{}", d.name);
        assert!(
            d.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}",
            d.name
        );
        assert!(!d.name.ends_with("_total"), "{}: _total is added", d.name);
        if let Some(u) = d.unit {
            assert!(d.name.ends_with(&format!("_{u}")), "{} in {u}", d.name);
        }
        if d.name.ends_with("_bytes") || d.name.ends_with("_seconds") {
            assert!(
                d.unit.is_some(),
                "{} names a unit it does not declare",
                d.name
            );
        }
        assert!(!d.help.is_empty() && !d.help.contains('\n'), "{}", d.name);
    }
}

/// Each definition's value appears exactly once in `/metrics` (under its
/// one series) and at its path in the status document; nothing else does.
#[test]
fn every_definition_reaches_metrics_and_status_once() {
    let snap = filled();
    let mut text = String::new();
    snap.write_openmetrics(&mut text);
    let samples: Vec<(&str, u64)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (s, v) = l.rsplit_once(' ').expect("sample line");
            (s, v.parse().expect("integer value"))
        })
        .collect();
    let status = snap.status_json();
    let mut leaves = 0;
    count_leaves(&status, &mut leaves);
    assert_eq!(samples.len(), snap.iter().count());
    assert_eq!(leaves, snap.iter().count());
    for (d, v) in snap.iter() {
        let hits: Vec<_> = samples.iter().filter(|(_, x)| *x == v).collect();
        assert_eq!(hits, [&(series(d).as_str(), v)], "{}", d.status);
        let at = d
            .status
            .split('.')
            .try_fold(&status, |o, k| o.get(k))
            .and_then(Value::as_u64);
        assert_eq!(at, Some(v), "{}", d.status);
    }
    // Family headers once each.
    let helps: Vec<_> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
    let distinct: BTreeSet<_> = helps.iter().collect();
    assert_eq!(helps.len(), distinct.len());
}

fn count_leaves(v: &Value, n: &mut usize) {
    match v {
        Value::Object(m) => m.values().for_each(|v| count_leaves(v, n)),
        _ => *n += 1,
    }
}

#[test]
fn a_labelled_family_is_written_together() {
    let (a, l) = (AccessCounters::default(), LimitCounters::default());
    a.add(&a.forbidden, 3);
    l.add(&l.streams_refused, 4);
    let mut text = String::new();
    Snapshot::of(&[&a, &l]).write_openmetrics(&mut text);
    let family: Vec<_> = text
        .lines()
        .skip_while(|l| !l.starts_with("# HELP podwire_api_requests_refused "))
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(family.len(), 6, "{text}");
    assert!(family.contains(&"podwire_api_requests_refused_total{reason=\"forbidden\"} 3"));
    assert!(family.contains(&"podwire_api_requests_refused_total{reason=\"streams_full\"} 4"));
}

#[test]
fn log_lines_carry_losses_not_zeros() {
    let c = Capture::default();
    c.add(&c.frames, 10);
    c.add(&c.ring_drops, 2);
    let before = Snapshot::of(&[&c]);
    assert_eq!(before.log_line(), "capture.ring_drops=2");
    c.add(&c.ebpf_lost, 5);
    c.add(&c.ring_drops, 1);
    let now = Snapshot::of(&[&c]);
    assert_eq!(now.log_line(), "capture.ring_drops=3 ebpf.lost=5");
    assert_eq!(
        now.log_line_since(&before),
        "capture.ring_drops+1 ebpf.lost+5"
    );
    assert_eq!(now.log_line_since(&now), "");
}

#[test]
fn status_counters_merge_beside_other_fields() {
    let c = Capture::default();
    c.add(&c.packets, 7);
    let mut doc = serde_json::json!({"mode": "live", "capture": {"note": 1}});
    merge_json(&mut doc, Snapshot::of(&[&c]).status_json());
    assert_eq!(doc["mode"], "live");
    assert_eq!(doc["capture"]["note"], 1);
    assert_eq!(doc["capture"]["packets"], 7);
    assert_eq!(doc["ebpf"]["lost"], 0);
}
