//! Record writers: JSON lines for machines, a table for people, and the
//! thread that runs them.
//!
//! Serialising records costs about as much CPU as finding them, so writing
//! happens on its own thread ([`Sink`]): the pipeline hands over batches of
//! records and gets the emptied batches back, so neither side allocates in
//! the steady state.

mod jsonl;
mod table;

use crate::cli::Format;
use podwire_record::Record;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Writes records somewhere, buffered; [`finish`](RecordWriter::finish) flushes.
pub trait RecordWriter {
    fn write(&mut self, rec: &Record) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

/// The writer for `format` over `out`.
pub fn writer<'a, W: Write + 'a>(format: Format, out: W) -> Box<dyn RecordWriter + 'a> {
    match format {
        Format::Jsonl => Box::new(jsonl::JsonlWriter::new(out)),
        Format::Table => Box::new(table::TableWriter::new(out)),
    }
}

/// Batches in flight between the pipeline and the writer thread.
const IN_FLIGHT: usize = 4;

/// The writer thread's end of the pipeline. Dropping it without
/// [`finish`](Sink::finish) loses nothing already sent but hides errors.
pub struct Sink {
    tx: Option<SyncSender<Vec<Record>>>,
    free: Receiver<Vec<Record>>,
    handle: Option<JoinHandle<io::Result<()>>>,
}

/// The writer thread stopped (its error comes from [`Sink::finish`]).
#[derive(Debug)]
pub struct Stopped;

impl Sink {
    /// Starts a writer thread writing `format` to standard output.
    pub fn stdout(format: Format) -> io::Result<Sink> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(IN_FLIGHT);
        let (free_tx, free) = mpsc::sync_channel::<Vec<Record>>(IN_FLIGHT + 1);
        let handle = std::thread::Builder::new()
            .name("podwire-writer".into())
            .spawn(move || {
                let stdout = io::stdout().lock();
                let mut w = writer(format, stdout);
                for mut batch in rx {
                    for rec in batch.drain(..) {
                        w.write(&rec)?;
                    }
                    // The pipeline may have stopped waiting for batches back.
                    let _ = free_tx.try_send(batch);
                }
                w.finish()
            })?;
        Ok(Sink {
            tx: Some(tx),
            free,
            handle: Some(handle),
        })
    }

    /// Hands `batch` to the writer and leaves an empty one in its place.
    pub fn send(&mut self, batch: &mut Vec<Record>) -> Result<(), Stopped> {
        if batch.is_empty() {
            return Ok(());
        }
        let spare = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(batch.capacity()));
        let full = std::mem::replace(batch, spare);
        let tx = self.tx.as_ref().ok_or(Stopped)?;
        tx.send(full).map_err(|_| Stopped)
    }

    /// Waits for everything sent to be written.
    pub fn finish(mut self) -> io::Result<()> {
        self.tx.take();
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(res)) => res,
            Some(Err(_)) => Err(io::Error::other("writer thread panicked")),
            None => Ok(()),
        }
    }
}
