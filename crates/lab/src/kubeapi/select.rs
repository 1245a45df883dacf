//! `fieldSelector` and `labelSelector`, with the real server's rules: only
//! the field labels a kind supports, fields compared as their rendered
//! strings, and the usual label requirement grammar.

use super::resource::Resource;
use serde_json::Value;

/// Field labels every kind supports.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Extra field labels of Pods (the API server's pod field set).
const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.hostNetwork",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["spec.unschedulable"];

/// A parsed pair of selectors; empty matches everything.
#[derive(Debug, Default)]
pub(super) struct Selector {
    fields: Vec<FieldTerm>,
    labels: Vec<LabelTerm>,
}

#[derive(Debug)]
struct FieldTerm {
    path: String,
    equal: bool,
    value: String,
}

#[derive(Debug, PartialEq)]
enum LabelTerm {
    Equal(String, String),
    NotEqual(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl Selector {
    /// Parses both selectors for `res`; the message of a 400 on error.
    pub fn parse(
        res: &Resource,
        field: Option<&str>,
        label: Option<&str>,
    ) -> Result<Selector, String> {
        Ok(Selector {
            fields: parse_fields(res, field.unwrap_or(""))?,
            labels: parse_labels(label.unwrap_or(""))?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.labels.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.fields
            .iter()
            .all(|t| (field_value(obj, &t.path) == t.value) == t.equal)
            && self
                .labels
                .iter()
                .all(|t| t.matches(&obj["metadata"]["labels"]))
    }
}

fn parse_fields(res: &Resource, text: &str) -> Result<Vec<FieldTerm>, String> {
    let mut terms = Vec::new();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
            (p, false, v)
        } else if let Some((p, v)) = term.split_once("==") {
            (p, true, v)
        } else if let Some((p, v)) = term.split_once('=') {
            (p, true, v)
        } else {
            return Err(format!(
                "invalid selector: '{text}'; can't understand '{term}'"
            ));
        };
        let path = path.trim();
        if !supported_field(res, path) {
            return Err(format!("field label not supported: {path}"));
        }
        terms.push(FieldTerm {
            path: path.to_string(),
            equal,
            value: value.trim().to_string(),
        });
    }
    Ok(terms)
}

fn supported_field(res: &Resource, path: &str) -> bool {
    let extra: &[&str] = match res.kind {
        "Pod" => POD_FIELDS,
        "Node" => NODE_FIELDS,
        _ => &[],
    };
    COMMON_FIELDS.contains(&path) || extra.contains(&path)
}

/// A field as the server's field set renders it: strings as they are,
/// booleans and numbers printed, missing ones empty (`false` for booleans).
fn field_value(obj: &Value, path: &str) -> String {
    let value = path.split('.').fold(obj, |v, part| &v[part]);
    match value {
        Value::String(s) => s.clone(),
        Value::Null if matches!(path, "spec.hostNetwork" | "spec.unschedulable") => "false".into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_labels(text: &str) -> Result<Vec<LabelTerm>, String> {
    split_outside_parens(text)
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse_label_term(t).ok_or_else(|| format!("unable to parse requirement: {t:?}")))
        .collect()
}

/// Splits on commas that are not inside `( )`.
fn split_outside_parens(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_term(term: &str) -> Option<LabelTerm> {
    if let Some(key) = term.strip_prefix('!') {
        return Some(LabelTerm::NotExists(label_key(key)?));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Some(LabelTerm::NotEqual(label_key(k)?, v.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Some(LabelTerm::Equal(label_key(k)?, v.trim().to_string()));
    }
    if let Some((k, set)) = split_set(term, " notin ") {
        return Some(LabelTerm::NotIn(label_key(k)?, set));
    }
    if let Some((k, set)) = split_set(term, " in ") {
        return Some(LabelTerm::In(label_key(k)?, set));
    }
    Some(LabelTerm::Exists(label_key(term)?))
}

/// `key OP (a, b)` into the key and the values.
fn split_set<'a>(term: &'a str, op: &str) -> Option<(&'a str, Vec<String>)> {
    let (key, rest) = term.split_once(op)?;
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values = inner.split(',').map(|v| v.trim().to_string()).collect();
    Some((key, values))
}

/// A syntactically plausible label key: non-empty, no spaces or operators.
fn label_key(key: &str) -> Option<String> {
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| key.to_string())
}

impl LabelTerm {
    fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            LabelTerm::Equal(k, v) => get(k) == Some(v.as_str()),
            LabelTerm::NotEqual(k, v) => get(k) != Some(v.as_str()),
            LabelTerm::Exists(k) => get(k).is_some(),
            LabelTerm::NotExists(k) => get(k).is_none(),
            LabelTerm::In(k, set) => get(k).is_some_and(|v| set.iter().any(|s| s == v)),
            LabelTerm::NotIn(k, set) => get(k).is_none_or(|v| set.iter().all(|s| s != v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::resource::RESOURCES;
    use super::*;
    use serde_json::json;

    fn pod_kind() -> &'static Resource {
        &RESOURCES[0]
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "namespace": "a",
                            "labels": {"app": "web", "tier": "front"}},
               "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    fn sel(field: &str, label: &str) -> Selector {
        Selector::parse(pod_kind(), Some(field), Some(label)).unwrap()
    }

    #[test]
    fn field_terms_compare_rendered_values() {
        assert!(sel("spec.nodeName=n1", "").matches(&pod()));
        assert!(sel("spec.nodeName==n1,status.phase!=Failed", "").matches(&pod()));
        assert!(!sel("spec.nodeName!=n1", "").matches(&pod()));
        assert!(sel("spec.hostNetwork=false", "").matches(&pod()));
        assert!(sel("metadata.namespace=a,metadata.name=p", "").matches(&pod()));
        assert!(!sel("status.podIP=10.0.0.1", "").matches(&pod()));
        let services = &RESOURCES[1];
        let err = Selector::parse(services, Some("spec.nodeName=n1"), None).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        assert!(Selector::parse(pod_kind(), Some("spec.nodeName"), None).is_err());
    }

    #[test]
    fn label_terms_follow_the_requirement_grammar() {
        assert!(sel("", "app=web").matches(&pod()));
        assert!(sel("", "app==web,tier").matches(&pod()));
        assert!(!sel("", "app!=web").matches(&pod()));
        assert!(sel("", "missing!=x,!missing").matches(&pod()));
        assert!(sel("", "app in (db, web),tier notin (back)").matches(&pod()));
        assert!(!sel("", "app notin (web)").matches(&pod()));
        assert!(!sel("", "missing").matches(&pod()));
        assert!(Selector::parse(pod_kind(), None, Some("a b")).is_err());
        assert!(sel("", "").is_empty());
    }
}
