//! Turning records into bytes on standard output: JSON lines for machines,
//! a table for people.
//!
//! Each worker encodes its records into its own buffer and hands whole
//! buffers of complete lines to [`Output`], which writes them under a lock,
//! so lines from different workers never interleave and no thread waits on
//! another's encoding. Table rows go through a bounded reorder window
//! ([`reorder`]) so they come out in time order; JSON lines are written as
//! they come (a program sorts them if it wants to).
//!
//! The table's header is written with the first row, so a run that reads
//! nothing (not a capture, a directory) prints its error alone.

mod jsonl;
mod reorder;
mod table;

use crate::cli::Format;
use podwire_record::Record;
use reorder::Reorder;
pub use reorder::{HOLD as REORDER_HOLD, MAX_BYTES as REORDER_MAX_BYTES};
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Instant;

/// Appends `rec` to `out` in `format`.
pub fn encode(format: Format, rec: &Record, out: &mut Vec<u8>) {
    match format {
        Format::Jsonl => jsonl::encode(rec, out),
        Format::JsonlSerde => jsonl::encode_serde(rec, out),
        Format::Table => table::encode(rec, out),
    }
}

/// Standard output shared by the workers. The first write error is kept
/// and every later write is refused, so workers stop soon after a reader
/// goes away (`podwire read x | head`).
pub struct Output {
    inner: Mutex<State>,
}

struct State {
    out: io::Stdout,
    error: Option<io::Error>,
    /// Written before the first bytes, then `None`.
    header: Option<String>,
    /// Table rows waiting for earlier ones.
    order: Reorder,
    /// What `order` released, reused.
    ready: Vec<u8>,
}

/// Output failed; the error is reported once by [`Output::finish`].
#[derive(Debug)]
pub struct Stopped;

/// One table row and the record time it sorts by.
pub struct Row {
    pub ts: u64,
    pub text: Vec<u8>,
}

impl Output {
    pub fn stdout(format: Format) -> Output {
        Output {
            inner: Mutex::new(State {
                out: io::stdout(),
                error: None,
                header: match format {
                    Format::Jsonl | Format::JsonlSerde => None,
                    Format::Table => Some(table::header()),
                },
                order: Reorder::default(),
                ready: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a worker panicked mid-write; keep going with
        // what is there rather than losing the other workers' output.
        podwire_sync::lock(&self.inner)
    }

    /// Writes whole lines as they are.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Stopped> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.state().write(bytes)
    }

    /// Takes table rows (draining `rows`) into the reorder window and
    /// writes what is due; with no rows, only what is due.
    pub fn write_rows(&self, rows: &mut Vec<Row>) -> Result<(), Stopped> {
        let mut st = self.state();
        if st.error.is_some() {
            return Err(Stopped);
        }
        let now = Instant::now();
        let mut ready = std::mem::take(&mut st.ready);
        for r in rows.drain(..) {
            st.order.push(r.ts, r.text, now, &mut ready);
        }
        st.order.release(now, &mut ready);
        let res = st.write(&ready);
        ready.clear();
        st.ready = ready;
        res
    }

    /// Writes the rows still held, flushes, and returns how many table rows
    /// came out of time order; or the first error any write met.
    pub fn finish(&self) -> io::Result<u64> {
        let mut st = self.state();
        let mut rest = Vec::new();
        st.order.drain(&mut rest);
        let _ = st.write(&rest);
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        st.out.flush()?;
        Ok(st.order.late())
    }
}

impl State {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Stopped> {
        if self.error.is_some() {
            return Err(Stopped);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let header = self.header.take();
        let res = match header {
            Some(h) => self
                .out
                .write_all(h.as_bytes())
                .and_then(|()| self.out.write_all(bytes)),
            None => self.out.write_all(bytes),
        };
        res.map_err(|e| {
            self.error = Some(e);
            Stopped
        })
    }
}
