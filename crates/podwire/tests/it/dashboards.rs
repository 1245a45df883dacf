//! The Grafana dashboards of `deploy/grafana` against what podwire serves:
//! only Grafana's built-in panels, only the data sources the dashboards are
//! documented to need, PromQL naming only metrics that `/metrics` exports,
//! and Infinity URLs naming only routes the agent's router has.
//!
//! The metric names and routes are read from the source at test time
//! (`crates/serve/src/metrics*`, the telemetry catalogue's definitions,
//! `crates/api/src/lib.rs`),
//! not listed here, so renaming a metric or a route fails this test until
//! the dashboards follow. No root, no network, no Grafana.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Grafana's built-in panels the dashboards may use.
const PANELS: &[&str] = &[
    "row",
    "nodeGraph",
    "timeseries",
    "stat",
    "table",
    "gauge",
    "bargauge",
    "text",
    "piechart",
    "state-timeline",
    "heatmap",
];

const PROMETHEUS: &str = "prometheus";
const INFINITY: &str = "yesoreyeram-infinity-datasource";
const NODEGRAPH_API: &str = "hamedkarbasi93-nodegraphapi-datasource";
const JSON_API: &str = "marcusolsson-json-datasource";

/// The query string k8spacket's node graph dashboard sends (its contract).
const K8SPACKET_GRAPH_QUERY: &str = "namespace=$namespace&include=$include&exclude=$exclude\
                                     &stats-type=$statstype&from=${__from}&to=${__to}";

const METRIC_PREFIXES: &[&str] = &["podwire_", "k8s_packet_"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn grafana_dir() -> PathBuf {
    repo().join("deploy/grafana")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every `.json` file under `dir`, recursively, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Rust source with comments and the insides of string and character
/// literals blanked out (positions kept), and the string literals found.
struct Source {
    /// The source with literal contents and comments replaced by spaces.
    code: String,
    /// `(start, content)`: each string literal's position (of its opening
    /// quote) and its text as written (escapes not decoded).
    strings: Vec<(usize, String)>,
}

impl Source {
    fn parse(src: &str) -> Source {
        let b = src.as_bytes();
        let mut code = b.to_vec();
        let mut strings = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        code[i] = b' ';
                        i += 1;
                    }
                }
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' {
                            code[i] = b' ';
                            i += 1;
                        }
                        if i < b.len() {
                            code[i] = b' ';
                            i += 1;
                        }
                    }
                    strings.push((start, src[start + 1..i].to_string()));
                    i += 1;
                }
                // A character literal ('x', '\n', '"'); a lifetime is left alone.
                b'\'' => {
                    let end = if b.get(i + 1) == Some(&b'\\') {
                        i + 3
                    } else {
                        i + 2
                    };
                    if b.get(end) == Some(&b'\'') {
                        for c in &mut code[i + 1..end] {
                            *c = b' ';
                        }
                        i = end + 1;
                    } else {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        Source {
            code: String::from_utf8(code).expect("blanking keeps UTF-8 boundaries"),
            strings,
        }
    }

    /// Where the block that `open` (a `{` or `(`) starts ends (the position
    /// of its closing bracket).
    fn closing(&self, open: usize) -> usize {
        let b = self.code.as_bytes();
        let (o, c) = match b[open] {
            b'{' => (b'{', b'}'),
            b'(' => (b'(', b')'),
            other => panic!("not an opening bracket: {}", other as char),
        };
        let mut depth = 0usize;
        for (i, &x) in b.iter().enumerate().skip(open) {
            if x == o {
                depth += 1;
            } else if x == c {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
        }
        panic!("unbalanced brackets from {open}")
    }

    /// The span of the body of `fn <name>`.
    fn fn_body(&self, name: &str) -> (usize, usize) {
        let at = self
            .code
            .find(&format!("fn {name}("))
            .unwrap_or_else(|| panic!("metrics.rs has no `fn {name}`: update this test"));
        let open = at + self.code[at..].find('{').expect("a function body");
        (open, self.closing(open))
    }

    /// String literals within `span`, in order.
    fn strings_in(&self, span: (usize, usize)) -> impl Iterator<Item = &(usize, String)> {
        self.strings
            .iter()
            .filter(move |(at, _)| *at > span.0 && *at < span.1)
    }
}

/// A metric name at the start of `s`: a prefix, then `[a-z0-9_]`.
fn metric_at(s: &str) -> Option<&str> {
    METRIC_PREFIXES.iter().find(|p| s.starts_with(**p))?;
    let end = s
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(s.len());
    Some(&s[..end])
}

/// The names of the series `/metrics` exposes, derived from the source:
/// the families registered with prometheus-client in `Metrics::new` (with
/// their unit and type suffixes), the hand-written ones of `metrics/text.rs`
/// and `metrics/health.rs`, and the agent's own counters and gauges from
/// the telemetry catalogue's definitions.
fn exported_metrics() -> BTreeSet<String> {
    let path = repo().join("crates/serve/src/metrics.rs");
    let src = Source::parse(&read(&path));
    let mut names = BTreeSet::new();
    registered(&src, &mut names);
    let before = names.len();
    for (file, fns) in [
        ("text.rs", &["encode_certificates", "encode_k8spacket"][..]),
        ("health.rs", &["encode"][..]),
    ] {
        let path = repo().join("crates/serve/src/metrics").join(file);
        let src = Source::parse(&read(&path));
        for f in fns {
            hand_written(&src, src.fn_body(f), f, &mut names);
        }
    }
    assert!(
        before > 0 && names.len() > before,
        "found no metric names in {}: update this test's reading of it",
        path.display()
    );
    for d in podwire_telemetry::catalogue::all().flatten() {
        names.insert(d.sample_name());
    }
    names
}

/// `registry.register(name, help, family)` and
/// `registry.register_with_unit(name, help, Unit::X, family)` in `new`.
fn registered(src: &Source, names: &mut BTreeSet<String>) {
    let body = src.fn_body("new");
    let code = &src.code;
    let mut from = body.0;
    let mut found = 0;
    while let Some(off) = code[from..body.1].find(".register") {
        let at = from + off;
        let open = at + code[at..].find('(').expect("a call");
        let close = src.closing(open);
        from = close;
        let name = src
            .strings_in((open, close))
            .next()
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("a register call without a literal name at {at}"));
        let args = &code[open + 1..close];
        let unit = args.find("Unit::").map(|u| {
            let rest = &args[u + "Unit::".len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            rest[..end].to_ascii_lowercase()
        });
        // The family is the last argument: `family.clone()`.
        let last = args
            .trim()
            .trim_end_matches(',')
            .rsplit(',')
            .next()
            .unwrap_or("");
        let var = last.trim().trim_end_matches(".clone()").trim();
        let decl = code[body.0..at]
            .rfind(&format!("let {var}"))
            .map(|d| {
                let d = body.0 + d;
                &code[d..d + code[d..].find(';').expect("a statement")]
            })
            .unwrap_or_else(|| panic!("no `let {var}` before registering {name}"));
        let base = match &unit {
            Some(u) => format!("{name}_{u}"),
            None => name.clone(),
        };
        if decl.contains("Counter") {
            names.insert(format!("{base}_total"));
        } else if decl.contains("Hist") {
            for s in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{base}{s}"));
            }
        } else if decl.contains("Gauge") {
            names.insert(base);
        } else {
            panic!("cannot tell the type of `{var}` ({decl}): update this test");
        }
        found += 1;
    }
    assert!(found > 0, "no registry.register calls in Metrics::new");
}

/// Names written by hand: a sample line that starts with a metric name
/// (`"podwire_x {}"`, `"podwire_x{{..."`), and names given as literals
/// (`"podwire_x"`) that a following `"{name}<suffix>..."` line writes,
/// with that suffix. Lines starting with `#` (HELP, TYPE) are not samples.
fn hand_written(src: &Source, body: (usize, usize), f: &str, names: &mut BTreeSet<String>) {
    let mut group: Vec<String> = Vec::new();
    let mut group_written = false;
    let mut literals: BTreeSet<String> = BTreeSet::new();
    let mut written: BTreeSet<String> = BTreeSet::new();
    for (_, s) in src.strings_in(body) {
        if s.starts_with('#') {
            continue;
        }
        if let Some(name) = metric_at(s) {
            if name.len() == s.len() {
                // A name given as a literal.
                if group_written {
                    group.clear();
                    group_written = false;
                }
                group.push(name.to_string());
                literals.insert(name.to_string());
            } else {
                // A sample line of its own name.
                written.insert(name.to_string());
                names.insert(name.to_string());
                group_written = true;
            }
            continue;
        }
        for (at, _) in s.match_indices("{name}") {
            let rest = &s[at + "{name}".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            for g in &group {
                names.insert(format!("{g}{}", &rest[..end]));
                written.insert(g.clone());
            }
            group_written = true;
        }
    }
    for l in literals {
        assert!(
            written.contains(&l),
            "metrics.rs `{f}` names `{l}` but this test cannot tell which series it \
             writes: update this test"
        );
    }
}

/// The agent's routes: `.route("...")` in `api/mod.rs`.
fn routes() -> Vec<String> {
    let path = repo().join("crates/api/src/lib.rs");
    let src = Source::parse(&read(&path));
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = src.code[from..].find(".route(") {
        let at = from + off;
        let route = src
            .strings
            .iter()
            .find(|(s, _)| *s > at)
            .map(|(_, r)| r.clone())
            .expect("a route path");
        out.push(route);
        from = at + 1;
    }
    assert!(!out.is_empty(), "no routes found in {}", path.display());
    out
}

/// Whether `path` (no query string) is `route`, whose `{param}` segments
/// match any non-empty segment.
fn route_matches(route: &str, path: &str) -> bool {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    r.len() == p.len()
        && r.iter().zip(&p).all(|(r, p)| {
            if r.starts_with('{') && r.ends_with('}') {
                !p.is_empty()
            } else {
                r == p
            }
        })
}

/// Metric names a PromQL expression mentions.
fn metrics_in(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < expr.len() {
        let word_start = i == 0 || {
            let c = expr.as_bytes()[i - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        if word_start {
            if let Some(m) = metric_at(&expr[i..]) {
                out.push(m);
                i += m.len();
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Template variables a query string refers to: `$name` and `${name...}`.
fn variables_in(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let inner = rest.strip_prefix('{').unwrap_or(rest);
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        if end > 0 {
            out.push(&inner[..end]);
        }
    }
    out
}

/// What one dashboard file holds that the checks look at.
#[derive(Default)]
struct Found {
    /// `(where, plugin type)` of every data source reference.
    datasources: Vec<(String, String)>,
    /// `(where, panel type)`.
    panels: Vec<(String, String)>,
    /// `(where, expression)`: PromQL sent to a Prometheus data source.
    promql: Vec<(String, String)>,
    /// `(where, url)`: URLs an Infinity query asks for.
    urls: Vec<(String, String)>,
    /// `(where, queryText)`: Node Graph API queries.
    node_graph_queries: Vec<(String, String)>,
    /// `(where, text)`: every query text that may name variables.
    query_texts: Vec<(String, String)>,
    panel_ids: Vec<u64>,
}

fn ds_type(v: &Value) -> Option<&str> {
    v.get("datasource")?.get("type")?.as_str()
}

fn collect_datasources(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let here = format!("{at}.{k}");
                if k == "datasource" {
                    match x {
                        Value::Null => {}
                        Value::Object(d) => match d.get("type").and_then(Value::as_str) {
                            Some(t) => out.push((here.clone(), t.to_string())),
                            None => panic!("{here}: a data source reference without a type"),
                        },
                        other => panic!(
                            "{here}: data source `{other}` is not a {{type, uid}} reference, \
                             so its type cannot be checked"
                        ),
                    }
                }
                collect_datasources(x, &here, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_datasources(x, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// One query of a panel (or of a variable), whose data source is its own
/// or, without one, the panel's.
fn collect_query(q: &Value, panel_ds: Option<&str>, at: &str, found: &mut Found) {
    let ds = ds_type(q).or(panel_ds);
    let text = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    match ds {
        Some(PROMETHEUS) => {
            let expr =
                text("expr").unwrap_or_else(|| panic!("{at}: a Prometheus query without expr"));
            found.promql.push((at.to_string(), expr.clone()));
            found.query_texts.push((at.to_string(), expr));
        }
        Some(INFINITY) => {
            let url = text("url").unwrap_or_else(|| panic!("{at}: an Infinity query without url"));
            found.urls.push((at.to_string(), url.clone()));
            found.query_texts.push((at.to_string(), url));
            for k in ["computed_columns", "columns"] {
                for c in q.get(k).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(s) = c.get("selector").and_then(Value::as_str) {
                        found.query_texts.push((format!("{at}.{k}"), s.to_string()));
                    }
                }
            }
        }
        Some(NODEGRAPH_API) => {
            let t = text("queryText").unwrap_or_default();
            found.node_graph_queries.push((at.to_string(), t.clone()));
            found.query_texts.push((at.to_string(), t));
        }
        _ => {}
    }
}

fn collect_panels(panels: &[Value], at: &str, found: &mut Found) {
    for (i, p) in panels.iter().enumerate() {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("");
        let here = format!("{at}[{i}] \"{title}\"");
        let ty = p
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{here}: a panel without a type"));
        found.panels.push((here.clone(), ty.to_string()));
        if let Some(id) = p.get("id").and_then(Value::as_u64) {
            found.panel_ids.push(id);
        }
        for (j, t) in p
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            collect_query(t, ds_type(p), &format!("{here}.targets[{j}]"), found);
        }
        if let Some(nested) = p.get("panels").and_then(Value::as_array) {
            collect_panels(nested, &format!("{here}.panels"), found);
        }
    }
}

fn collect(d: &Value) -> Found {
    let mut found = Found::default();
    collect_datasources(d, "", &mut found.datasources);
    let panels = d
        .get("panels")
        .and_then(Value::as_array)
        .expect("a dashboard with a `panels` array");
    collect_panels(panels, "panels", &mut found);
    for (i, v) in d
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let here = format!("templating[{i}] ${name}");
        match v.get("type").and_then(Value::as_str) {
            Some("datasource") => {
                let plugin = v.get("query").and_then(Value::as_str).unwrap_or("");
                found.datasources.push((here, plugin.to_string()));
            }
            Some("query") => match ds_type(v) {
                Some(PROMETHEUS) => {
                    let q = v.get("query");
                    let q = q
                        .and_then(Value::as_str)
                        .or_else(|| q.and_then(|q| q.get("query")).and_then(Value::as_str))
                        .unwrap_or_else(|| panic!("{here}: a Prometheus variable without a query"));
                    found.promql.push((here.clone(), q.to_string()));
                    found.query_texts.push((here, q.to_string()));
                }
                Some(INFINITY) => {
                    let q = v.pointer("/query/infinityQuery").unwrap_or_else(|| {
                        panic!("{here}: an Infinity variable without infinityQuery")
                    });
                    collect_query(q, Some(INFINITY), &here, &mut found);
                }
                other => panic!("{here}: a query variable of data source {other:?}"),
            },
            _ => {}
        }
    }
    for (i, r) in d
        .get("__inputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if r.get("type").and_then(Value::as_str) == Some("datasource") {
            let id = r.get("pluginId").and_then(Value::as_str).unwrap_or("");
            found
                .datasources
                .push((format!("__inputs[{i}]"), id.to_string()));
        }
    }
    for (i, r) in d
        .get("__requires")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let here = format!("__requires[{i}]");
        match r.get("type").and_then(Value::as_str) {
            Some("datasource") => found.datasources.push((here, id)),
            Some("panel") => found.panels.push((here, id)),
            _ => {}
        }
    }
    found
}

#[test]
fn dashboards_use_what_podwire_serves() {
    let dir = grafana_dir();
    let files = json_files(&dir);
    assert!(!files.is_empty(), "no dashboards under {}", dir.display());
    let metrics = exported_metrics();
    let routes = routes();
    let mut problems: Vec<String> = Vec::new();
    let mut uids: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let d: Value = match serde_json::from_str(&read(file)) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{rel}: not JSON: {e}"));
                continue;
            }
        };
        let k8spacket = file
            .strip_prefix(&dir)
            .is_ok_and(|p| p.starts_with("k8spacket"));
        let mut report = |what: String| problems.push(format!("{rel}: {what}"));

        if d.get("schemaVersion").and_then(Value::as_u64) != Some(39) {
            report("schemaVersion is not 39".into());
        }
        match d.get("uid").and_then(Value::as_str) {
            Some(uid) => {
                if let Some(other) = uids.insert(uid.to_string(), file.clone()) {
                    report(format!("uid `{uid}` is also {}'s", other.display()));
                }
            }
            None => report("no uid".into()),
        }

        let found = collect(&d);
        let mut ids = found.panel_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != found.panel_ids.len() {
            report("panel ids repeat".into());
        }
        for (at, ty) in &found.panels {
            if !PANELS.contains(&ty.as_str()) {
                report(format!(
                    "{at}: panel type `{ty}` is not one of Grafana's built-in panels"
                ));
            }
        }
        for (at, ty) in &found.datasources {
            let allowed = ty == PROMETHEUS
                || ty == INFINITY
                || (k8spacket && (ty == NODEGRAPH_API || ty == JSON_API));
            if !allowed {
                report(format!("{at}: data source type `{ty}` is not allowed here"));
            }
        }
        for (at, expr) in &found.promql {
            for m in metrics_in(expr) {
                if !metrics.contains(m) {
                    report(format!(
                        "{at}: `{m}` is not a metric podwire exports (in `{expr}`)"
                    ));
                }
            }
        }
        for (at, url) in &found.urls {
            let path = url.split('?').next().unwrap_or("");
            if !routes.iter().any(|r| route_matches(r, path)) {
                report(format!(
                    "{at}: Infinity URL `{url}` is not one of the agent's routes \
                     (relative to the data source's URL)"
                ));
            }
        }
        for (at, q) in &found.node_graph_queries {
            if q != K8SPACKET_GRAPH_QUERY {
                report(format!(
                    "{at}: Node Graph API query `{q}` is not k8spacket's"
                ));
            }
        }
        let vars: BTreeSet<&str> = d
            .pointer("/templating/list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        for (at, text) in &found.query_texts {
            for v in variables_in(text) {
                if !v.starts_with("__") && !vars.contains(v) {
                    report(format!("{at}: `${v}` is not a variable of this dashboard"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in the dashboards under {}:\n{}\n(podwire exports: {})",
        problems.len(),
        dir.display(),
        problems.join("\n"),
        metrics.iter().cloned().collect::<Vec<_>>().join(" ")
    );
}

/// The derivation itself: the names the dashboards' checks rely on are
/// shaped as prometheus-client and the hand-written encoders write them.
#[test]
fn exported_metric_names_are_derived_from_the_source() {
    let m = exported_metrics();
    for name in &m {
        assert!(
            metric_at(name) == Some(name.as_str()),
            "`{name}` is not a metric name"
        );
    }
    // Every counter family ends in `_total`, every histogram has all three
    // series, every summary both of its own.
    for name in m.iter().filter(|n| n.ends_with("_bucket")) {
        let base = name.trim_end_matches("_bucket");
        assert!(m.contains(&format!("{base}_sum")) && m.contains(&format!("{base}_count")));
    }
    assert!(m.iter().any(|n| n.ends_with("_total")));
    assert!(m.iter().any(|n| n.ends_with("_bucket")));
    assert!(m.iter().any(|n| n.starts_with("k8s_packet_")));
}

#[test]
fn route_patterns_match_segments() {
    assert!(route_matches("/api/v1/graph", "/api/v1/graph"));
    assert!(!route_matches("/api/v1/graph", "/api/v1/graphs"));
    assert!(!route_matches("/api/v1/graph", "/api/v1"));
    assert!(route_matches(
        "/tlsparser/api/data/{id}",
        "/tlsparser/api/data/${tls}"
    ));
    assert!(!route_matches(
        "/tlsparser/api/data/{id}",
        "/tlsparser/api/data/"
    ));
    assert_eq!(
        metrics_in("sum(rate(podwire_a_total{x=\"y\"}[5m])) / k8s_packet_c_sum + xpodwire_d"),
        vec!["podwire_a_total", "k8s_packet_c_sum"]
    );
    assert_eq!(
        variables_in("a=$a&b=${b:csv}&c=${__from}&$__combineValues(x)"),
        vec!["a", "b", "__from", "__combineValues"]
    );
}
