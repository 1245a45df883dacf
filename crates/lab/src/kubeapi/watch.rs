//! WATCH: a chunked stream of events, replayed from the retained history or
//! started from the current state, filtered by selectors the way the real
//! watch cache filters them, with periodic bookmarks and a clean end at
//! `timeoutSeconds`.

use super::list::parse_rv;
use super::render::{self, Shape};
use super::resource::{Resource, ResourceId, RESOURCES};
use super::select::Selector;
use super::store::{Change, Event, Gone, Scope};
use super::wire::{Conn, Request};
use super::{lock, Shared};
use serde_json::Value;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most events taken from the history at once.
const BATCH: usize = 512;
/// The longest a quiet watch sleeps before checking its client is there.
const POLL: Duration = Duration::from_millis(200);

/// How a watch response ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// With the terminating chunk: the connection can carry more requests.
    Clean,
    /// Cut (by the test, the server stopping, or the client going away).
    Cut,
}

/// The validated parameters of a watch.
struct WatchQuery {
    selector: Selector,
    /// Replay events after this rv; `None` starts from the current state.
    since: Option<u64>,
    initial_end_bookmark: bool,
    bookmarks: bool,
    timeout: Duration,
}

/// Where the stream starts.
enum Start {
    State(u64, Vec<Arc<Value>>),
    Replay(u64),
    Gone(Gone),
}

/// A resourceVersion the store has not reached yet.
struct TooLarge {
    requested: u64,
    current: u64,
}

/// The longest `timeoutSeconds` honoured (a day; no real watch lasts longer).
const MAX_TIMEOUT: u64 = 86_400;

/// What the history had for the stream.
enum Batch {
    Events(Vec<Event>, u64),
    Gone(Gone),
}

/// Serves a watch of `res` (in `namespace`; of one object when `name`).
pub(super) fn serve(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    res: ResourceId,
    namespace: Option<&str>,
    name: Option<&str>,
) -> io::Result<Ending> {
    let query = match parse(shared, req, res, name) {
        Ok(q) => q,
        Err(message) => {
            let body = render::status(400, "BadRequest", &message);
            conn.respond_json(400, &body, req.keep_alive)?;
            return Ok(Ending::Clean);
        }
    };
    let mut stream = Stream {
        conn,
        shared,
        res: &RESOURCES[res],
        shape: Shape::of(req),
        scope: Scope { res, namespace },
        cuts: shared.cuts.load(Ordering::SeqCst),
        keep_alive: req.keep_alive,
        query,
    };
    stream.run()
}

fn parse(
    shared: &Shared,
    req: &Request,
    res: ResourceId,
    name: Option<&str>,
) -> Result<WatchQuery, String> {
    let mut fields = req.param("fieldSelector").unwrap_or("").to_string();
    if let Some(name) = name {
        // A watch of one object is a watch filtered by its name.
        fields = format!("{fields},metadata.name={name}");
    }
    let selector = Selector::parse(&RESOURCES[res], Some(&fields), req.param("labelSelector"))?;
    let initial = is_true(req.param("sendInitialEvents"));
    let since = match parse_rv(req.param("resourceVersion"))? {
        _ if initial => None,
        Some(0) | None => None,
        Some(rv) => Some(rv),
    };
    let timeout = match req.param("timeoutSeconds").filter(|t| !t.is_empty()) {
        None => lock(&shared.settings).watch_timeout,
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| format!("invalid timeoutSeconds: {t:?}"))?
                .min(MAX_TIMEOUT),
        ),
    };
    let bookmarks = is_true(req.param("allowWatchBookmarks"));
    Ok(WatchQuery {
        selector,
        since,
        initial_end_bookmark: initial && bookmarks,
        bookmarks,
        timeout,
    })
}

/// Go's `strconv.ParseBool` truths, as the server parses query booleans.
pub(super) fn is_true(param: Option<&str>) -> bool {
    matches!(param, Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
}

struct Stream<'a> {
    conn: &'a mut Conn,
    shared: &'a Shared,
    res: &'static Resource,
    shape: Shape,
    scope: Scope<'a>,
    /// The server's cut count when the watch began.
    cuts: u64,
    keep_alive: bool,
    query: WatchQuery,
}

impl Stream<'_> {
    fn run(&mut self) -> io::Result<Ending> {
        let deadline = Instant::now() + self.query.timeout;
        let start = match self.start() {
            Ok(start) => start,
            Err(TooLarge { requested, current }) => {
                let body = render::too_large(requested, current);
                self.conn.respond_json(504, &body, self.keep_alive)?;
                return Ok(Ending::Clean);
            }
        };
        self.conn.start_stream()?;
        let mut cursor = match start {
            Start::Gone(gone) => return self.end_gone(gone),
            Start::Replay(rv) => rv,
            Start::State(rv, objects) => {
                self.send_state(&objects)?;
                if self.query.initial_end_bookmark {
                    self.send_bookmark(rv, true)?;
                }
                rv
            }
        };
        let mut last_bookmark = Instant::now();
        loop {
            if self.is_cut() {
                return Ok(Ending::Cut);
            }
            let now = Instant::now();
            if now >= deadline {
                self.conn.end_stream()?;
                return Ok(Ending::Clean);
            }
            let bookmark_due = last_bookmark + lock(&self.shared.settings).bookmark_interval;
            let wake = if !self.query.bookmarks {
                deadline
            } else if now >= bookmark_due {
                self.send_bookmark(cursor, false)?;
                last_bookmark = now;
                deadline.min(now + POLL)
            } else {
                deadline.min(bookmark_due)
            };
            let wait = wake.saturating_duration_since(now).min(POLL);
            match self.next_batch(cursor, wait) {
                Batch::Gone(gone) => return self.end_gone(gone),
                Batch::Events(events, seen) => {
                    for event in &events {
                        self.send_event(event)?;
                    }
                    cursor = seen;
                    if events.is_empty() && self.conn.peer_closed() {
                        return Ok(Ending::Cut);
                    }
                }
            }
        }
    }

    fn start(&self) -> Result<Start, TooLarge> {
        let store = lock(&self.shared.store);
        Ok(match self.query.since {
            None => Start::State(store.rv(), store.current(self.scope)),
            Some(rv) if rv < store.oldest() => Start::Gone(Gone {
                requested: rv,
                oldest: store.oldest(),
            }),
            Some(rv) if rv > store.rv() => {
                return Err(TooLarge {
                    requested: rv,
                    current: store.rv(),
                })
            }
            Some(rv) => Start::Replay(rv),
        })
    }

    /// The events after `cursor`, waiting up to `wait` for some.
    fn next_batch(&self, cursor: u64, wait: Duration) -> Batch {
        let mut store = lock(&self.shared.store);
        let mut waited = false;
        loop {
            match store.events_after(self.scope, cursor, BATCH) {
                Err(gone) => return Batch::Gone(gone),
                Ok((events, seen)) if !events.is_empty() || seen > cursor || waited => {
                    return Batch::Events(events, seen)
                }
                Ok(_) => {}
            }
            if self.is_cut() || wait.is_zero() {
                return Batch::Events(Vec::new(), cursor);
            }
            store = match self.shared.changed.wait_timeout(store, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            waited = true;
        }
    }

    fn is_cut(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
            || self.shared.cuts.load(Ordering::SeqCst) != self.cuts
    }

    /// Synthetic ADDED events for the current objects that match.
    fn send_state(&mut self, objects: &[Arc<Value>]) -> io::Result<()> {
        for obj in objects {
            if self.query.selector.matches(obj) {
                self.send("ADDED", render::object(obj, self.shape))?;
            }
        }
        Ok(())
    }

    /// One stored change as this watch sees it through its selector: an
    /// object modified into the selection is ADDED, one modified out of it
    /// is DELETED (its previous state, at the change's resourceVersion).
    fn send_event(&mut self, event: &Event) -> io::Result<()> {
        let selector = &self.query.selector;
        let now = selector.matches(&event.object);
        let before = event.prev.as_deref().is_some_and(|p| selector.matches(p));
        let (kind, obj) = match (event.change, before, now) {
            (Change::Added, _, true) => ("ADDED", (*event.object).clone()),
            (Change::Modified, true, true) => ("MODIFIED", (*event.object).clone()),
            (Change::Modified, false, true) => ("ADDED", (*event.object).clone()),
            (Change::Modified, true, false) => ("DELETED", at_rv(event)),
            (Change::Deleted, true, _) => ("DELETED", (*event.object).clone()),
            _ => return Ok(()),
        };
        self.send(kind, render::object(&obj, self.shape))
    }

    fn send(&mut self, kind: &str, object: Value) -> io::Result<()> {
        self.write_line(&render::event(kind, object))?;
        self.shared.count(|s| s.events_sent += 1);
        Ok(())
    }

    fn send_bookmark(&mut self, rv: u64, initial_end: bool) -> io::Result<()> {
        self.write_line(&render::bookmark(self.res, self.shape, rv, initial_end))?;
        self.shared.count(|s| s.bookmarks_sent += 1);
        Ok(())
    }

    /// The ERROR event of a resourceVersion too old to replay, then the end.
    fn end_gone(&mut self, gone: Gone) -> io::Result<Ending> {
        self.write_line(&render::event("ERROR", render::too_old(gone)))?;
        self.shared.count(|s| {
            s.events_sent += 1;
            s.gone_410 += 1;
        });
        self.conn.end_stream()?;
        Ok(Ending::Clean)
    }

    fn write_line(&mut self, value: &Value) -> io::Result<()> {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.conn.send_chunk(&line)
    }
}

/// The previous state of a modified object, carrying the change's rv.
fn at_rv(event: &Event) -> Value {
    let mut obj = event
        .prev
        .as_deref()
        .cloned()
        .unwrap_or_else(|| (*event.object).clone());
    if obj["metadata"].is_object() {
        obj["metadata"]["resourceVersion"] = event.rv.to_string().into();
    }
    obj
}
