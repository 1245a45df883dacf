//! One JSON object per line, serialised straight into a buffered writer
//! (no intermediate `serde_json::Value`: the output path is hot).

use super::RecordWriter;
use podwire_record::Record;
use std::io::{self, BufWriter, Write};

pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out: BufWriter::with_capacity(256 << 10, out),
        }
    }
}

impl<W: Write> RecordWriter for JsonlWriter<W> {
    fn write(&mut self, rec: &Record) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, rec)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
