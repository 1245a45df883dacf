//! The object store: current objects, one global resourceVersion, and the
//! retained history of changes that watches replay and paginated lists read
//! their snapshots from (what etcd's revisions are to a real API server).

use super::resource::{by_kind, ResourceId, RESOURCES};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The resourceVersion of an empty store.
pub(super) const FIRST_RV: u64 = 1000;
/// How many events the history keeps before forgetting the oldest.
pub(super) const DEFAULT_HISTORY_LIMIT: usize = 100_000;

/// An object's identity: resource, namespace (`""` if cluster-scoped), name.
pub(super) type Key = (ResourceId, String, String);

/// The kind of a stored change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Added,
    Modified,
    Deleted,
}

/// One change, as a watch sees it.
#[derive(Clone, Debug)]
pub(super) struct Event {
    pub rv: u64,
    pub key: Key,
    pub change: Change,
    /// The object after the change; for a deletion its last state carrying
    /// the deletion's resourceVersion.
    pub object: Arc<Value>,
    /// The object before the change (`None` for an addition).
    pub prev: Option<Arc<Value>>,
}

/// A resourceVersion older than the retained history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Gone {
    pub requested: u64,
    pub oldest: u64,
}

/// Objects of one resource, optionally one namespace.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope<'a> {
    pub res: ResourceId,
    pub namespace: Option<&'a str>,
}

impl Scope<'_> {
    fn holds(&self, key: &Key) -> bool {
        key.0 == self.res && self.namespace.is_none_or(|ns| ns == key.1)
    }
}

pub(super) struct Store {
    rv: u64,
    /// Every event with an rv above this one is in `history`.
    oldest: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Event>,
    history_limit: usize,
    uid_state: u64,
}

impl Store {
    pub fn new() -> Store {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Store {
            rv: FIRST_RV,
            oldest: FIRST_RV,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            uid_state: seed,
        }
    }

    /// The current (latest) resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may still start from.
    pub fn oldest(&self) -> u64 {
        self.oldest
    }

    /// Creates or replaces `obj`; its new resourceVersion. A replacement
    /// that changes nothing is a no-op, as on a real server: no event, and
    /// the object's existing resourceVersion.
    pub fn apply(&mut self, obj: Value) -> Result<u64, String> {
        let (key, mut obj) = normalize(obj)?;
        let prev = self.objects.get(&key).cloned();
        let meta = metadata_mut(&mut obj);
        match &prev {
            Some(old) => {
                for field in ["uid", "creationTimestamp"] {
                    if let Some(v) = old["metadata"].get(field) {
                        meta.insert(field.into(), v.clone());
                    }
                }
                meta.insert(
                    "resourceVersion".into(),
                    old["metadata"]["resourceVersion"].clone(),
                );
                if **old == obj {
                    return Ok(rv_of(old).unwrap_or(self.rv));
                }
            }
            None => {
                if !meta.contains_key("uid") {
                    let uid = self.next_uid();
                    meta.insert("uid".into(), uid.into());
                }
                if !meta.contains_key("creationTimestamp") {
                    meta.insert(
                        "creationTimestamp".into(),
                        rfc3339(SystemTime::now()).into(),
                    );
                }
            }
        }
        let change = if prev.is_some() {
            Change::Modified
        } else {
            Change::Added
        };
        Ok(self.record(key, change, obj, prev))
    }

    /// Deletes an object; the deletion's resourceVersion, or `None` when
    /// there was no such object.
    pub fn delete(&mut self, key: &Key) -> Option<u64> {
        let prev = self.objects.get(key).cloned()?;
        let last = (*prev).clone();
        Some(self.record(key.clone(), Change::Deleted, last, Some(prev)))
    }

    /// Bumps the resourceVersion, stores the change and remembers it.
    fn record(
        &mut self,
        key: Key,
        change: Change,
        mut obj: Value,
        prev: Option<Arc<Value>>,
    ) -> u64 {
        self.rv += 1;
        let rv = self.rv;
        metadata_mut(&mut obj).insert("resourceVersion".into(), rv.to_string().into());
        let object = Arc::new(obj);
        if change == Change::Deleted {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), Arc::clone(&object));
        }
        self.history.push_back(Event {
            rv,
            key,
            change,
            object,
            prev,
        });
        self.trim();
        rv
    }

    fn trim(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(forgotten) = self.history.pop_front() {
                self.oldest = forgotten.rv;
            }
        }
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        self.objects.get(key).cloned()
    }

    /// Forgets all history up to now.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest = self.rv;
    }

    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit;
        self.trim();
    }

    /// The objects in `scope` now, ordered by namespace and name.
    pub fn current(&self, scope: Scope<'_>) -> Vec<Arc<Value>> {
        self.objects
            .range(range_of(scope.res))
            .filter(|(k, _)| scope.holds(k))
            .map(|(_, v)| Arc::clone(v))
            .collect()
    }

    /// The objects in `scope` as they were at resourceVersion `at`
    /// (reconstructed by undoing later changes), ordered by namespace and
    /// name; `Gone` when `at` is older than the retained history.
    pub fn snapshot(&self, scope: Scope<'_>, at: u64) -> Result<Vec<Arc<Value>>, Gone> {
        if at < self.oldest {
            return Err(Gone {
                requested: at,
                oldest: self.oldest,
            });
        }
        if at >= self.rv {
            return Ok(self.current(scope));
        }
        let mut objects: BTreeMap<&Key, Arc<Value>> = self
            .objects
            .range(range_of(scope.res))
            .filter(|(k, _)| scope.holds(k))
            .map(|(k, v)| (k, Arc::clone(v)))
            .collect();
        for event in self.history.iter().rev().take_while(|e| e.rv > at) {
            if !scope.holds(&event.key) {
                continue;
            }
            match &event.prev {
                Some(prev) => objects.insert(&event.key, Arc::clone(prev)),
                None => objects.remove(&event.key),
            };
        }
        Ok(objects.into_values().collect())
    }

    /// Up to `max` events in `scope` with an rv above `after`, in order,
    /// and the rv up to which the history has been looked through.
    pub fn events_after(
        &self,
        scope: Scope<'_>,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Event>, u64), Gone> {
        if after < self.oldest {
            return Err(Gone {
                requested: after,
                oldest: self.oldest,
            });
        }
        let start = self.history.partition_point(|e| e.rv <= after);
        let mut events = Vec::new();
        let mut seen = after;
        for event in self.history.range(start..) {
            if events.len() >= max {
                return Ok((events, seen));
            }
            seen = event.rv;
            if scope.holds(&event.key) {
                events.push(event.clone());
            }
        }
        Ok((events, self.rv.max(after)))
    }

    /// A fresh uid in the usual 8-4-4-4-12 form (version-4 style).
    fn next_uid(&mut self) -> String {
        let a = splitmix64(&mut self.uid_state);
        let b = splitmix64(&mut self.uid_state);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

/// The range of store keys that belong to `res`.
fn range_of(res: ResourceId) -> std::ops::RangeInclusive<Key> {
    (res, String::new(), String::new())..=(res, char::MAX.to_string(), char::MAX.to_string())
}

/// Checks an object names a served kind and has a name, and fills in the
/// namespace (`default` when missing) or drops it for cluster-scoped kinds.
fn normalize(mut obj: Value) -> Result<(Key, Value), String> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let res = by_kind(&api_version, &kind)
        .ok_or_else(|| format!("unserved kind {kind:?} of apiVersion {api_version:?}"))?;
    if !obj.is_object() || !obj["metadata"].is_object() {
        return Err(format!("{kind} without metadata"));
    }
    let meta = metadata_mut(&mut obj);
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => return Err(format!("{kind} without metadata.name")),
    };
    let namespace = if RESOURCES[res].namespaced {
        let ns = meta
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or("default")
            .to_string();
        meta.insert("namespace".into(), ns.clone().into());
        ns
    } else {
        meta.remove("namespace");
        String::new()
    };
    Ok(((res, namespace, name), obj))
}

/// The `metadata` map of an object already checked to have one.
fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = Value::Object(Map::new());
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(meta)) => meta,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn rv_of(obj: &Value) -> Option<u64> {
    obj["metadata"]["resourceVersion"].as_str()?.parse().ok()
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// RFC 3339 UTC with whole seconds, as Kubernetes writes timestamps.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn pod(ns: &str, name: &str, phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns},
               "status": {"phase": phase}})
    }

    const PODS: Scope<'static> = Scope {
        res: 0,
        namespace: None,
    };

    fn names(objs: &[Arc<Value>]) -> Vec<String> {
        objs.iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn apply_fills_metadata_and_keeps_identity_on_replace() {
        let mut s = Store::new();
        let rv = s.apply(pod("a", "p", "Pending")).unwrap();
        assert_eq!(rv, FIRST_RV + 1);
        let first = s.get(&(0, "a".into(), "p".into())).unwrap();
        let uid = first["metadata"]["uid"].as_str().unwrap().to_string();
        assert_eq!(uid.len(), 36);
        assert_eq!(first["metadata"]["resourceVersion"], json!(rv.to_string()));
        assert_eq!(s.apply(pod("a", "p", "Pending")).unwrap(), rv, "no-op");
        let rv2 = s.apply(pod("a", "p", "Running")).unwrap();
        assert_eq!(rv2, rv + 1);
        let second = s.get(&(0, "a".into(), "p".into())).unwrap();
        assert_eq!(second["metadata"]["uid"], json!(uid));
        assert!(s
            .apply(json!({"apiVersion": "v1", "kind": "Secret"}))
            .is_err());
        assert!(s.apply(json!({"apiVersion": "v1", "kind": "Pod"})).is_err());
    }

    #[test]
    fn snapshots_undo_later_changes() {
        let mut s = Store::new();
        s.apply(pod("a", "p1", "Running")).unwrap();
        let at = s.apply(pod("a", "p2", "Running")).unwrap();
        s.apply(pod("a", "p3", "Running")).unwrap();
        s.delete(&(0, "a".into(), "p1".into())).unwrap();
        s.apply(pod("a", "p2", "Failed")).unwrap();
        let then = s.snapshot(PODS, at).unwrap();
        assert_eq!(names(&then), ["p1", "p2"]);
        assert_eq!(then[1]["status"]["phase"], "Running");
        assert_eq!(names(&s.current(PODS)), ["p2", "p3"]);
        s.compact();
        let gone = Gone {
            requested: at,
            oldest: s.rv(),
        };
        assert_eq!(s.snapshot(PODS, at).unwrap_err(), gone);
    }

    #[test]
    fn history_is_capped() {
        let mut s = Store::new();
        s.set_history_limit(2);
        for i in 0..5 {
            s.apply(pod("a", &format!("p{i}"), "Running")).unwrap();
        }
        assert_eq!(s.oldest(), FIRST_RV + 3);
        assert!(s.events_after(PODS, FIRST_RV + 2, 10).is_err());
        let (events, seen) = s.events_after(PODS, FIRST_RV + 3, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(seen, FIRST_RV + 5);
    }
}
