//! Where `podwire read`'s shards put records: encoded, then written as
//! whole lines to the shared [`Output`].

use crate::cli::{Format, Kind};
use crate::output::{self, Output};
use crate::pipeline::shard::{Sink, Stopped};
use podwire_record::Record;
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
    report: ShardReport,
}

impl WriteSink {
    pub fn new(format: Format, only: Vec<Kind>, out: Arc<Output>) -> WriteSink {
        WriteSink {
            format,
            only,
            out,
            buf: Vec::with_capacity(OUT_BYTES + (64 << 10)),
            report: ShardReport::default(),
        }
    }

    fn write(&mut self) -> Result<(), Stopped> {
        let res = self.out.write(&self.buf);
        self.buf.clear();
        res.map_err(|_| Stopped)
    }
}

impl Sink for WriteSink {
    type Report = ShardReport;

    fn records(&mut self, records: &mut Vec<Record>, idle: bool) -> Result<(), Stopped> {
        for rec in records.drain(..) {
            if wants(&self.only, &rec) {
                *self.report.records.entry(rec.kind).or_default() += 1;
                output::encode(self.format, &rec, &mut self.buf);
            }
        }
        if self.buf.len() >= OUT_BYTES || (idle && !self.buf.is_empty()) {
            self.write()?;
        }
        Ok(())
    }

    fn finish(mut self, tracker: TrackerStats) -> ShardReport {
        if !self.buf.is_empty() {
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
