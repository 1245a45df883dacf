//! Turning records into bytes on standard output: JSON lines for machines,
//! a table for people.
//!
//! Each worker encodes its records into its own buffer and hands whole
//! buffers of complete lines to [`Output`], which writes them under a lock,
//! so lines from different workers never interleave and no thread waits on
//! another's encoding.

mod jsonl;
mod table;

use crate::cli::Format;
use podwire_record::Record;
use std::io::{self, Write};
use std::sync::Mutex;

/// Appends `rec` to `out` in `format`.
pub fn encode(format: Format, rec: &Record, out: &mut Vec<u8>) {
    match format {
        Format::Jsonl => jsonl::encode(rec, out),
        Format::Table => table::encode(rec, out),
    }
}

/// What goes before the first record, if anything.
pub fn header(format: Format) -> Option<String> {
    match format {
        Format::Jsonl => None,
        Format::Table => Some(table::header()),
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
}

/// Output failed; the error is reported once by [`Output::finish`].
#[derive(Debug)]
pub struct Stopped;

impl Output {
    pub fn stdout() -> Output {
        Output {
            inner: Mutex::new(State {
                out: io::stdout(),
                error: None,
            }),
        }
    }

    /// Writes whole lines.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Stopped> {
        if bytes.is_empty() {
            return Ok(());
        }
        // A poisoned lock means a worker panicked mid-write; keep going with
        // what is there rather than losing the other workers' output.
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if st.error.is_some() {
            return Err(Stopped);
        }
        if let Err(e) = st.out.write_all(bytes) {
            st.error = Some(e);
            return Err(Stopped);
        }
        Ok(())
    }

    /// Flushes; returns the first error any write met.
    pub fn finish(&self) -> io::Result<()> {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        st.out.flush()
    }
}
