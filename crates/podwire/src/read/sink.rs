//! Where `podwire read`'s shards put records: encoded, then written as
//! whole lines to the shared [`Output`] (table rows with their time, for
//! its reorder window).

use crate::cli::{Format, Kind};
use crate::output::{self, Output, Row};
use podwire_record::Record;
use podwire_track::shard::{Sink, Stopped};
use podwire_track::TrackerStats;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Encoded output a shard gathers before writing it.
const OUT_BYTES: usize = 256 << 10;

/// What a shard saw, for the summary.
#[derive(Default)]
pub struct ShardReport {
    pub records: BTreeMap<&'static str, u64>,
    pub tracker: TrackerStats,
}

/// One shard's encoder and writer.
pub struct WriteSink {
    format: Format,
    only: Vec<Kind>,
    out: Arc<Output>,
    buf: Vec<u8>,
    /// Table rows gathered (`buf` is for JSON lines).
    rows: Vec<Row>,
    rows_bytes: usize,
    report: ShardReport,
    /// OTLP export, fed every record (whatever `only` keeps for output).
    otlp: Option<Arc<podwire_otlp::Exporter>>,
}

impl WriteSink {
    pub fn new(
        format: Format,
        only: Vec<Kind>,
        out: Arc<Output>,
        otlp: Option<Arc<podwire_otlp::Exporter>>,
    ) -> WriteSink {
        WriteSink {
            format,
            only,
            out,
            buf: Vec::with_capacity(match format {
                Format::Jsonl | Format::JsonlSerde => OUT_BYTES + (64 << 10),
                Format::Table => 0,
            }),
            rows: Vec::new(),
            rows_bytes: 0,
            report: ShardReport::default(),
            otlp,
        }
    }

    fn write(&mut self) -> Result<(), Stopped> {
        let res = match self.format {
            Format::Jsonl | Format::JsonlSerde => self.out.write(&self.buf),
            // Also when no row is new: rows held may have become due.
            Format::Table => self.out.write_rows(&mut self.rows),
        };
        self.buf.clear();
        self.rows_bytes = 0;
        res.map_err(|_| Stopped)
    }

    fn gathered(&self) -> usize {
        self.buf.len() + self.rows_bytes
    }
}

impl Sink for WriteSink {
    type Report = ShardReport;

    fn records(&mut self, records: &mut Vec<Record>, idle: bool) -> Result<(), Stopped> {
        if let Some(e) = &self.otlp {
            e.export(records);
        }
        // By reference, then cleared: a record is a few hundred bytes, and
        // moving each out of the vector was a copy per record for nothing.
        for rec in records.iter() {
            if wants(&self.only, rec) {
                *self.report.records.entry(rec.kind).or_default() += 1;
                match self.format {
                    Format::Jsonl | Format::JsonlSerde => {
                        output::encode(self.format, rec, &mut self.buf)
                    }
                    Format::Table => {
                        let mut text = Vec::new();
                        output::encode(self.format, rec, &mut text);
                        self.rows_bytes += text.len();
                        self.rows.push(Row { ts: rec.ts.0, text });
                    }
                }
            }
        }
        records.clear();
        let table_idle = idle && self.format == Format::Table;
        if self.gathered() >= OUT_BYTES || (idle && self.gathered() > 0) || table_idle {
            self.write()?;
        }
        Ok(())
    }

    fn finish(mut self, tracker: TrackerStats) -> ShardReport {
        if self.gathered() > 0 {
            let _ = self.write();
        }
        self.report.tracker = tracker;
        self.report
    }
}

fn wants(only: &[Kind], rec: &Record) -> bool {
    only.is_empty()
        || only.iter().any(|k| {
            rec.kind
                == match k {
                    Kind::Connection => "connection",
                    Kind::Tls => "tls",
                    Kind::Http => "http",
                    Kind::Dns => "dns",
                    Kind::Postgres => "postgres",
                    Kind::Mysql => "mysql",
                    Kind::Redis => "redis",
                    Kind::Kafka => "kafka",
                }
        })
}
