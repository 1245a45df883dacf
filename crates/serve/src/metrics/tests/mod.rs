//! The metrics against an exposition checker written from the text
//! format's rules: helpers here, one file per concern.

use super::*;
use crate::testutil::*;
use std::collections::{BTreeMap, BTreeSet};

mod bounds;
mod compat;
mod families;

// ------------------------------------------------------ exposition checker

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A sample value as the text formats write it: a decimal or exponent
/// float, `+Inf`, `-Inf` or `NaN` (not Rust's `inf`).
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    let ok_mantissa = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let ok_exponent = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if ok_mantissa && ok_exponent {
        s.parse().ok()
    } else {
        None
    }
}

/// `name{labels} value`, label values unescaped.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            if !labels.is_empty() {
                rest = rest
                    .strip_prefix(',')
                    .ok_or("expected `,` between labels")?;
            }
            let eq = rest.find('=').ok_or("label without `=`")?;
            let key = &rest[..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[close + 1..];
            if labels.iter().any(|(k, _): &(String, String)| k == key) {
                return Err(format!("label {key} twice"));
            }
            labels.push((key.to_string(), value));
        }
    }
    let v = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = parse_value(v).ok_or_else(|| format!("bad value {v:?}"))?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The suffixes a sample may add to its family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" | "gaugehistogram" => {
            &["_bucket", "_sum", "_count", "_created", "_gsum", "_gcount"]
        }
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    }
}

/// Checks that every line of `text` is valid OpenMetrics text and returns
/// its samples; panics naming the first bad line.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "must end with `# EOF`");
    let lines: Vec<&str> = text.lines().collect();
    let mut samples = Vec::new();
    let mut families = BTreeSet::new();
    // The family being described: name, type, and the metadata seen.
    let mut family: Option<(String, Option<String>, BTreeSet<String>)> = None;
    let mut seen = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let bad = |why: &str| -> ! { panic!("line {}: {why}: {line:?}", i + 1) };
        if *line == "# EOF" {
            if i + 1 != lines.len() {
                bad("`# EOF` before the end");
            }
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let arg = parts.next().filter(|a| !a.is_empty());
            if !["HELP", "TYPE", "UNIT"].contains(&kind) {
                bad("comment is not HELP, TYPE, UNIT or EOF");
            }
            if !is_metric_name(name) {
                bad("bad family name");
            }
            if family.as_ref().is_none_or(|f| f.0 != name) {
                if !families.insert(name.to_string()) {
                    bad("family described twice");
                }
                family = Some((name.to_string(), None, BTreeSet::new()));
            }
            let f = family.as_mut().unwrap();
            if !f.2.insert(kind.to_string()) {
                bad("repeated metadata");
            }
            let arg = arg.unwrap_or_else(|| bad("metadata without a value"));
            match kind {
                "TYPE" => {
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                    ];
                    if !known.contains(&arg) {
                        bad("unknown TYPE");
                    }
                    f.1 = Some(arg.to_string());
                }
                "UNIT" if !name.ends_with(&format!("_{arg}")) => {
                    bad("a family with a unit must end in it")
                }
                _ => {}
            }
            continue;
        }
        let s = parse_sample(line).unwrap_or_else(|e| bad(&e));
        let Some((fname, Some(kind), _)) = &family else {
            bad("sample outside a typed family")
        };
        let belongs = suffixes(kind)
            .iter()
            .any(|suffix| s.name == format!("{fname}{suffix}"));
        if !belongs {
            bad(&format!("sample not of family {fname} ({kind})"));
        }
        let mut key = s.labels.clone();
        key.sort();
        if !seen.insert((s.name.clone(), key)) {
            bad("sample repeated");
        }
        samples.push(s);
    }
    samples
}

#[test]
fn checker_rejects_what_is_not_exposition_text() {
    let good = "# HELP a_total A.\n# TYPE a counter\n";
    let bad = [
        "a_total 1\n# EOF\n",                                  // no family
        "# HELP a A.\n# TYPE a counter\na_total 1\n",          // no EOF
        "# HELP a A.\n# TYPE a counter\na 1\n# EOF\n",         // counter without _total
        "# HELP a A.\n# TYPE a counter\na_total inf\n# EOF\n", // Rust's infinity
        "# HELP a A.\n# TYPE a counter\na_total{x=\"1\"} 1 2 3\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\\qb\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\"b\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\na_total{x=\"a\nb\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\n# EOF\n# HELP b B.\n# EOF\n",
        "# HELP a A.\n# TYPE a counter\n# NOTE a x\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\n# UNIT a seconds\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\n# HELP a A.\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n# EOF\n",
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n# EOF\n",
    ];
    for text in bad {
        let r = std::panic::catch_unwind(|| parse_exposition(text));
        assert!(r.is_err(), "accepted {text:?}");
    }
    let ok = format!("{good}a_total{{x=\"q\\\"\\\\\\n\"}} 1.5e3\n# EOF\n");
    let s = parse_exposition(&ok);
    assert_eq!(s[0].label("x"), Some("q\"\\\n"));
    assert_eq!(s[0].value, 1500.0);
}

// ------------------------------------------------------------- helpers

fn metrics(cfg: MetricsConfig) -> Metrics {
    Metrics::new(cfg)
}

fn k8spacket() -> MetricsConfig {
    MetricsConfig {
        k8spacket: true,
        ..MetricsConfig::default()
    }
}

/// The text and its samples, checked.
fn scrape(m: &Metrics) -> (String, Vec<Sample>) {
    let text = m.encode(&Health::default());
    let samples = parse_exposition(&text);
    (text, samples)
}

fn matching<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .collect()
}

/// The one sample `name` with (at least) `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let m = matching(samples, name, labels);
    assert_eq!(m.len(), 1, "samples {name} {labels:?}: {m:?}");
    m[0].value
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5432";

/// The client is a pod of Deployment/api in prod, the server one of
/// StatefulSet/db in data.
fn named(rec: Record) -> Record {
    rec.client_id(id().ns("prod").pod("api-7d9f").workload("Deployment/api"))
        .server_id(id().ns("data").pod("db-0").workload("StatefulSet/db"))
}

const PAIR: [(&str, &str); 4] = [
    ("src_namespace", "prod"),
    ("src", "api"),
    ("dst_namespace", "data"),
    ("dst", "db"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    PAIR.iter().chain(extra).copied().collect()
}
