//! The agent's own telemetry: every internal counter and gauge is defined
//! once, as a [`Def`] (metric name, help, unit, label, status JSON path,
//! whether it is logged), next to the atomic that holds it, and every
//! output is produced from those definitions: the Prometheus text of
//! `/metrics`, the counters of `/api/v1/status` and the agent's log lines.
//! Vector's `internal_events` are the model; before this, one counter had
//! up to three names (an atomic, a renamed copy for `/metrics`, another
//! name in the status document) kept in step by hand.
//!
//! [`counters!`] declares a struct of `AtomicU64` fields, one per
//! definition: counting stays a relaxed atomic add on a field (no lookup,
//! no allocation, no lock). Values that are read at scrape time from
//! elsewhere (the trackers' statistics, a table's size) are gauges or
//! counters of a struct the scrape fills with `set`. A [`Snapshot`] reads
//! every [`Source`] once, and the encoders write from it, so `/metrics`
//! and the status document cannot disagree.
//!
//! The definitions themselves are in [`catalogue`]: one place to read
//! what the agent reports about itself.

use serde_json::{Map, Value};
use std::fmt::Write;

pub mod catalogue;

/// A Prometheus metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic since start; exported as `<name>_total`.
    Counter,
    /// A value now.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One internal counter or gauge; see the module docs.
#[derive(Debug)]
pub struct Def {
    /// The metric family's name, without `_total`.
    pub name: &'static str,
    pub kind: Kind,
    /// The family's `# HELP` text (the same for every series of a family).
    pub help: &'static str,
    /// The family's `# UNIT`, which its name ends with.
    pub unit: Option<&'static str>,
    /// This series' one label, when the family has several series.
    pub label: Option<(&'static str, &'static str)>,
    /// Where `/api/v1/status` puts the value: object keys joined by `.`.
    pub status: &'static str,
    /// Whether log lines carry it (losses and errors worth a line).
    pub log: bool,
}

impl Def {
    /// A counter called `name` (`name_total` in the text formats), at
    /// `status` in the status document.
    pub const fn counter(name: &'static str, status: &'static str, help: &'static str) -> Def {
        Def {
            name,
            kind: Kind::Counter,
            help,
            unit: None,
            label: None,
            status,
            log: false,
        }
    }

    /// A gauge called `name`, at `status` in the status document.
    pub const fn gauge(name: &'static str, status: &'static str, help: &'static str) -> Def {
        Def {
            kind: Kind::Gauge,
            ..Def::counter(name, status, help)
        }
    }

    /// The family's unit (its name must end with `_<unit>`).
    pub const fn unit(self, unit: &'static str) -> Def {
        Def {
            unit: Some(unit),
            ..self
        }
    }

    /// This series' label within its family.
    pub const fn label(self, name: &'static str, value: &'static str) -> Def {
        Def {
            label: Some((name, value)),
            ..self
        }
    }

    /// Carried in log lines.
    pub const fn logged(self) -> Def {
        Def { log: true, ..self }
    }

    /// The sample's name in the text formats.
    pub fn sample_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge => self.name.to_string(),
        }
    }
}

/// Something holding values of definitions (a [`counters!`] struct).
pub trait Source {
    /// Calls `f` with each definition and its value now.
    fn visit(&self, f: &mut dyn FnMut(&'static Def, u64));
}

/// Declares a struct of `AtomicU64` fields, each with its [`Def`]:
///
/// ```
/// podwire_telemetry::counters! {
///     /// What the example counts.
///     pub struct Example {
///         /// Frames read.
///         frames = podwire_telemetry::Def::counter(
///             "podwire_example_frames", "example.frames", "Frames read"),
///     }
/// }
/// let e = Example::default();
/// e.add(&e.frames, 2);
/// assert_eq!(Example::DEFS[0].name, "podwire_example_frames");
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident = $def:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: ::std::sync::atomic::AtomicU64, )*
        }

        impl $name {
            /// Every definition, in field order.
            pub const DEFS: &'static [$crate::Def] = &[$($def),*];

            /// Adds `n` to `c` (relaxed: a count, not a synchronisation).
            #[inline]
            pub fn add(&self, c: &::std::sync::atomic::AtomicU64, n: u64) {
                if n > 0 {
                    c.fetch_add(n, ::std::sync::atomic::Ordering::Relaxed);
                }
            }

            /// Sets `c` to `n` (a gauge, or a count kept elsewhere).
            #[inline]
            pub fn set(&self, c: &::std::sync::atomic::AtomicU64, n: u64) {
                c.store(n, ::std::sync::atomic::Ordering::Relaxed);
            }
        }

        impl $crate::Source for $name {
            fn visit(&self, f: &mut dyn FnMut(&'static $crate::Def, u64)) {
                self.each_field(|d, a| f(d, a.load(::std::sync::atomic::Ordering::Relaxed)));
            }
        }

        impl $name {
            /// Calls `f` with each definition and its atomic.
            pub fn each_field(
                &self,
                mut f: impl FnMut(&'static $crate::Def, &::std::sync::atomic::AtomicU64),
            ) {
                let fields = [$(&self.$field),*];
                for (d, a) in Self::DEFS.iter().zip(fields) {
                    f(d, a);
                }
            }
        }
    };
}

/// Every value of some sources, read once.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    values: Vec<(&'static Def, u64)>,
}

impl Snapshot {
    /// Reads `sources` now.
    pub fn of(sources: &[&dyn Source]) -> Snapshot {
        let mut s = Snapshot::default();
        for src in sources {
            s.add(*src);
        }
        s
    }

    /// Reads one more source.
    pub fn add(&mut self, src: &dyn Source) {
        src.visit(&mut |d, v| self.values.push((d, v)));
    }

    /// Takes another snapshot's values (read elsewhere, e.g. by the API).
    pub fn extend(&mut self, other: Snapshot) {
        self.values.extend(other.values);
    }

    /// Every definition and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Def, u64)> + '_ {
        self.values.iter().copied()
    }

    /// The value at a status path, if a definition has it.
    pub fn get(&self, status: &str) -> Option<u64> {
        self.iter()
            .find(|(d, _)| d.status == status)
            .map(|(_, v)| v)
    }

    /// The families in OpenMetrics text (without `# EOF`): each family's
    /// `# HELP`, `# TYPE` and `# UNIT` once, then its series, families in
    /// the order of their first definition.
    pub fn write_openmetrics(&self, out: &mut String) {
        let mut done: Vec<&str> = Vec::new();
        for (i, (d, _)) in self.values.iter().enumerate() {
            if done.contains(&d.name) {
                continue;
            }
            done.push(d.name);
            let _ = writeln!(out, "# HELP {} {}", d.name, d.help);
            let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind.as_str());
            if let Some(u) = d.unit {
                let _ = writeln!(out, "# UNIT {} {u}", d.name);
            }
            for (s, v) in self.values.get(i..).unwrap_or_default() {
                if s.name != d.name {
                    continue;
                }
                let _ = match s.label {
                    Some((l, lv)) => writeln!(out, "{}{{{l}=\"{lv}\"}} {v}", s.sample_name()),
                    None => writeln!(out, "{} {v}", s.sample_name()),
                };
            }
        }
    }

    /// The values as nested JSON objects at their status paths, for
    /// merging into `/api/v1/status`.
    pub fn status_json(&self) -> Value {
        let mut root = Map::new();
        for (d, v) in self.iter() {
            insert(&mut root, d.status, Value::from(v));
        }
        Value::Object(root)
    }

    /// `path=value` for every logged definition that is not zero, space
    /// separated (empty when none is).
    pub fn log_line(&self) -> String {
        let mut out = String::new();
        for (d, v) in self.iter().filter(|(d, v)| d.log && *v > 0) {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{}={v}", d.status);
        }
        out
    }

    /// [`Snapshot::log_line`] of what grew since `before`.
    pub fn log_line_since(&self, before: &Snapshot) -> String {
        let mut out = String::new();
        for (d, v) in self.iter().filter(|(d, _)| d.log) {
            let was = before
                .iter()
                .find(|(b, _)| std::ptr::eq(*b, d))
                .map_or(0, |(_, v)| v);
            if v > was {
                if !out.is_empty() {
                    out.push(' ');
                }
                let _ = write!(out, "{}+{}", d.status, v - was);
            }
        }
        out
    }
}

/// Puts `v` at the dotted `path` of `root`, making objects on the way (a
/// non-object in the way is replaced: paths are checked unique in tests).
fn insert(root: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let e = root
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !e.is_object() {
                *e = Value::Object(Map::new());
            }
            if let Value::Object(m) = e {
                insert(m, rest, v);
            }
        }
    }
}

/// Merges `from` into `into`, object by object (for the status document:
/// counters from a [`Snapshot`] beside fields built by hand).
pub fn merge_json(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

#[cfg(test)]
mod tests;
