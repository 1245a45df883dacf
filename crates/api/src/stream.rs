//! `/api/v1/stream`: new records as server-sent events, as they are stored.
//!
//! `table=connection,http` picks record types (default: all); every
//! filter key of the record endpoints applies (`limit` does not: a stream
//! has no end). Each event is `event: <type>` and `data: <record JSON>`.
//! A client that reads too slowly misses records rather than holding the
//! agent's memory: it receives `event: lagged` with how many it missed,
//! and the count is exported (`podwire_stream_lagged_records_total`). One
//! that has missed more than [`MAX_MISSED`] records in all is not keeping
//! up at all: its stream ends with `event: dropped` (counted), and it may
//! come back. At most `limits::MAX_STREAMS` streams are open at once.

use crate::limits::MAX_STREAMS;
use crate::{bad_request, Api};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use podwire_record::Record;
use podwire_store::{Filter, Table, TABLES};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// Records a client may miss before its stream is ended.
const MAX_MISSED: u64 = 1 << 16;

struct Client {
    /// Its place among the open streams, given back when it ends.
    _slot: tokio::sync::OwnedSemaphorePermit,
    missed: u64,
    /// Set once `dropped` was sent: the stream ends next.
    done: bool,
    rx: Receiver<Arc<Record>>,
    stopping: tokio::sync::watch::Receiver<bool>,
    filter: Filter,
    tables: [bool; TABLES],
    shared: Arc<Api>,
}

pub async fn stream(State(shared): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let (filter, own) = match Filter::parse_query_with(&q, shared.backend.now(), &["table"]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let mut tables = [true; TABLES];
    if let Some((_, list)) = own.first() {
        tables = [false; TABLES];
        if list.split(',').all(|n| n.is_empty()) {
            return bad_request("bad value `` for `table`: name at least one table");
        }
        for name in list.split(',').filter(|n| !n.is_empty()) {
            match Table::from_name(name) {
                Some(t) => tables[t.index()] = true,
                None => {
                    let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                    return bad_request(format!(
                        "bad value `{}` for `table`: expected one of {}",
                        name.chars().take(64).collect::<String>(),
                        names.join(", ")
                    ));
                }
            }
        }
    }
    let Ok(slot) = Arc::clone(&shared.limits.streams).try_acquire_owned() else {
        let c = &shared.limits.counters;
        c.streams_refused.fetch_add(1, Ordering::Relaxed);
        let msg = format!("{MAX_STREAMS} streams are open, the most this agent serves\n");
        return (StatusCode::TOO_MANY_REQUESTS, msg).into_response();
    };
    let client = Client {
        _slot: slot,
        missed: 0,
        done: false,
        rx: shared.backend.subscribe(),
        stopping: shared.stopping.subscribe(),
        filter,
        tables,
        shared,
    };
    let events = futures_util::stream::unfold(client, |mut c| async move {
        loop {
            if *c.stopping.borrow() || c.done {
                return None;
            }
            let next = tokio::select! {
                next = c.rx.recv() => next,
                // Ends the stream (the response completes) on shutdown.
                _ = c.stopping.changed() => return None,
            };
            match next {
                Ok(rec) => {
                    if !c.tables[Table::of(&rec).index()] || !c.filter.matches(&rec) {
                        continue;
                    }
                    let mut json = Vec::with_capacity(512);
                    podwire_record::json::write_record(&mut json, &rec);
                    let data = String::from_utf8_lossy(&json).into_owned();
                    let ev = Event::default().event(rec.kind).data(data);
                    return Some((Ok::<_, Infallible>(ev), c));
                }
                Err(RecvError::Lagged(n)) => {
                    c.shared.backend.stream_lagged(n);
                    c.missed = c.missed.saturating_add(n);
                    if c.missed > MAX_MISSED {
                        let counters = &c.shared.limits.counters;
                        counters
                            .streams_dropped_slow
                            .fetch_add(1, Ordering::Relaxed);
                        c.done = true;
                        let ev = Event::default().event("dropped").data(c.missed.to_string());
                        return Some((Ok(ev), c));
                    }
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), c));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
