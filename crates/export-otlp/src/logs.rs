//! Records as OTLP log records, for backends that index logs: the record's
//! JSON fields become attributes (nested objects as dotted keys, lists as
//! array values), its type the body and the event name.
//!
//! The JSON is the record schema's own (`docs/records.md`), so a log
//! attribute means what the same field means in `podwire read --format
//! jsonl`; secrets are already out of it.

use crate::proto::{
    AnyValue, ArrayValue, Attribute, KeyValueList, LogRecord, Value, SEVERITY_INFO,
};
use podwire_record::Record;

/// Deepest nesting turned into attributes; deeper values are left out.
const MAX_DEPTH: usize = 6;
/// Most elements of one list kept.
const MAX_LIST: usize = 256;

/// The log record of `rec`, observed at `now` (ns since the epoch).
pub fn log_record(rec: &Record, now: u64) -> LogRecord {
    let mut attributes = Vec::with_capacity(24);
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(rec) {
        for (k, v) in map {
            flatten(&k, v, 0, &mut attributes);
        }
    }
    LogRecord {
        time_unix_nano: rec.ts.0,
        severity_number: SEVERITY_INFO,
        severity_text: "INFO".into(),
        body: Some(crate::proto::str_value(rec.kind)),
        attributes,
        observed_time_unix_nano: now,
        event_name: format!("podwire.{}", rec.kind),
    }
}

fn flatten(key: &str, v: serde_json::Value, depth: usize, out: &mut Vec<Attribute>) {
    match v {
        serde_json::Value::Object(map) if depth < MAX_DEPTH => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, depth + 1, out);
            }
        }
        v => {
            if let Some(value) = any(v, depth) {
                out.push(Attribute {
                    key: key.to_string(),
                    value: Some(value),
                });
            }
        }
    }
}

fn any(v: serde_json::Value, depth: usize) -> Option<AnyValue> {
    use serde_json::Value as J;
    let value = match v {
        J::Null => return None,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::String(s),
        J::Array(items) if depth < MAX_DEPTH => Value::Array(ArrayValue {
            values: items
                .into_iter()
                .take(MAX_LIST)
                .filter_map(|i| any(i, depth + 1))
                .collect(),
        }),
        J::Object(map) if depth < MAX_DEPTH => Value::KvList(KeyValueList {
            values: map
                .into_iter()
                .filter_map(|(k, v)| {
                    any(v, depth + 1).map(|a| Attribute {
                        key: k,
                        value: Some(a),
                    })
                })
                .collect(),
        }),
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}
