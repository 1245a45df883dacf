//! Record writers: JSON lines for machines, a table for people.

mod jsonl;
mod table;

use crate::cli::Format;
use podwire_record::Record;
use std::io::{self, Write};

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
