//! `podwire read --serve`: the files into a store, then the same HTTP API
//! as the agent's (`podwire_api`) over it until SIGTERM or SIGINT.
//!
//! [`Files`] is the API's [`Backend`] here: records are named from the
//! DNS answers and SNI in the files (as the agent names them), stored,
//! counted for `/metrics`, and exported over OTLP when asked; there is
//! no packet capture, no kernel side and no live record. Relative times
//! (`since=5m`) count back from the capture's end, its newest packet, so
//! the last minutes of an older capture are its own last minutes.

use super::{read_files, Config, Summary};
use crate::names::{NameCache, MAX_NAMES};
use crate::pipeline::shard::{Shards, Sink, Stopped};
use anyhow::{Context, Result};
use podwire_api::listen::ListenAddr;
use podwire_api::{Api, ApiConfig, Backend, NoOwn, ServeConfig};
use podwire_decode::Decoder;
use podwire_record::{Record, Timestamp};
use podwire_serve::metrics::{ApiHealth, Health, Metrics};
use podwire_store::{Cursor, Filter, Store, StoreConfig, Table};
use podwire_track::TrackerStats;
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Records queued for each live-stream client (files add none once read).
const STREAM_BACKLOG: usize = 4096;

/// The files' records, served (see the module comment).
pub struct Files {
    store: Mutex<Store>,
    names: Mutex<NameCache>,
    metrics: Metrics,
    stream: broadcast::Sender<Arc<Record>>,
    otlp: Option<Arc<podwire_otlp::Exporter>>,
    /// The capture's end (ns since the epoch), once the files are read.
    end: AtomicU64,
    stream_lagged: AtomicU64,
}

impl Files {
    fn new(store: Store, serve: &ServeConfig, otlp: Option<Arc<podwire_otlp::Exporter>>) -> Files {
        Files {
            store: Mutex::new(store),
            names: Mutex::new(NameCache::new(MAX_NAMES)),
            metrics: Metrics::new(serve.metrics.clone()),
            stream: broadcast::channel(STREAM_BACKLOG).0,
            otlp,
            end: AtomicU64::new(0),
            stream_lagged: AtomicU64::new(0),
        }
    }

    /// Names, counts, exports and stores finished records (drains them).
    fn ingest(&self, records: &mut Vec<Record>) {
        if records.is_empty() {
            return;
        }
        {
            let mut n = lock(&self.names);
            for r in records.iter_mut() {
                n.process(r);
            }
        }
        if let Some(e) = &self.otlp {
            e.export(records);
        }
        let streaming = self.stream.receiver_count() > 0;
        for r in records.iter() {
            self.metrics.observe(r);
            if streaming {
                // Only fails when every client left meanwhile.
                let _ = self.stream.send(Arc::new(r.clone()));
            }
        }
        let mut s = lock(&self.store);
        for r in records.drain(..) {
            s.insert(r);
        }
    }

    fn stored(&self) -> usize {
        let s = lock(&self.store);
        Table::ALL.iter().map(|&t| s.stats().get(t).records).sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    podwire_api::lock(m)
}

impl Backend for Files {
    fn now(&self) -> Timestamp {
        Timestamp(self.end.load(Ordering::Relaxed))
    }

    fn query(&self, table: Table, filter: &Filter) -> (Vec<u8>, Option<Cursor>) {
        let mut out = Vec::with_capacity(64 << 10);
        let (_, next) = lock(&self.store).write_json_page(table, filter, &[], &mut out);
        (out, next)
    }

    fn each_connection(&self, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        self.each_stored(Table::Connection, filter, each);
    }

    fn each_stored(&self, table: Table, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        let store = lock(&self.store);
        for r in store.records(table) {
            if filter.matches(r) {
                each(r);
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.stream.subscribe()
    }

    fn stream_lagged(&self, missed: u64) {
        self.stream_lagged.fetch_add(missed, Ordering::Relaxed);
    }

    fn metrics(&self, api: ApiHealth) -> String {
        let store = lock(&self.store).stats();
        let health = Health {
            store: store
                .tables
                .iter()
                .map(|t| {
                    (
                        t.table.name(),
                        t.records as u64,
                        t.bytes as u64,
                        t.budget_bytes as u64,
                        t.dropped_records_total,
                    )
                })
                .collect(),
            resident_memory_bytes: crate::pipeline::resident_bytes(),
            stream_lagged_total: self.stream_lagged.load(Ordering::Relaxed),
            api,
            otlp: self.otlp.as_ref().map(|e| crate::otlp::health(e)),
            ..Health::default()
        };
        self.metrics.encode(&health)
    }

    /// The agent's document with what files do not have at zero, so one
    /// schema describes both.
    fn status(&self, api: serde_json::Value) -> serde_json::Value {
        let zeros = |keys: &[&str]| -> serde_json::Value {
            keys.iter().map(|k| (k.to_string(), json!(0))).collect()
        };
        let not_live = json!({"running": false, "error": "reading capture files"});
        let (known, forgotten) = {
            let n = lock(&self.names);
            (n.len(), n.forgotten())
        };
        let tracker = TrackerStats::default();
        json!({
            "mode": "capture",
            "now": self.now(),
            "sources": {
                "packets": not_live,
                "ebpf": not_live,
                "ebpf_hook": null,
                "tls_plaintext": {"running": false, "error": null},
            },
            "capture": zeros(&[
                "frames", "packets", "copies_dropped", "skipped", "ring_packets",
                "ring_drops", "ring_errors", "netlink_errors", "filter_errors",
                "links_added", "links_removed", "defrag_dropped",
            ]),
            "stream": {
                "lagged_records": self.stream_lagged.load(Ordering::Relaxed),
                "clients": self.stream.receiver_count(),
            },
            "metrics": { "pairs": self.metrics.pairs() },
            "tracker": {
                "open": tracker.open,
                "tcp_connections": tracker.tcp_connections,
                "udp_flows": tracker.udp_flows,
                "evicted": tracker.evicted,
                "reassembly_limit_hits": tracker.reassembly_limit_hits,
                "reassembly_buffered_bytes": tracker.reassembly_buffered,
                "dns_malformed": tracker.dns_malformed,
                "dns_evicted": tracker.dns_evicted,
                "parsers_failed": tracker.parsers.failed,
                "tls_decrypted": tracker.parsers.tls_decrypted,
                "tls_no_key": tracker.parsers.tls_no_key,
                "tls_unsupported": tracker.parsers.tls_unsupported,
                "tls_auth_failed": tracker.parsers.tls_auth_failed,
            },
            "ebpf": zeros(&["events", "lost", "sockets", "evicted", "unclaimed"]),
            "names": { "known": known, "forgotten": forgotten },
            "api": api,
            "own": {
                "observed": true,
                "packets_left_out": 0,
                "records_left_out": 0,
                "capture_packets_left_out": 0,
                "unregistered": 0,
            },
            "store": podwire_api::store_status(&lock(&self.store).stats()),
        })
    }
}

/// A shard's sink under `--serve`: everything into [`Files::ingest`].
struct StoreSink(Arc<Files>);

impl Sink for StoreSink {
    type Report = ();

    fn records(&mut self, records: &mut Vec<Record>, _idle: bool) -> Result<(), Stopped> {
        self.0.ingest(records);
        Ok(())
    }

    fn finish(self, _tracker: TrackerStats) {}
}

/// `podwire read --serve`: the files into a store, then the API over it
/// until SIGTERM or SIGINT.
pub(super) fn serve_files(
    cfg: Config,
    listen: ListenAddr,
    store_mib: usize,
    serve_cfg: ServeConfig,
    api_cfg: &ApiConfig,
) -> Result<ExitCode> {
    anyhow::ensure!(store_mib >= 1, "--store-mib must be at least 1");
    let store = Store::new(StoreConfig {
        budget_bytes: store_mib << 20,
        ..StoreConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("store: {e}"))?;
    let otlp = crate::otlp::start(&cfg.otlp, None, None)?.map(Arc::new);
    let files = Arc::new(Files::new(store, &serve_cfg, otlp));
    let sinks = (0..cfg.shards)
        .map(|_| StoreSink(Arc::clone(&files)))
        .collect();
    let mut shards = Shards::start(sinks, &cfg.shard.tracker, "podwire-shard")
        .context("starting worker threads")?;
    let mut decoder = Decoder::default();
    let mut summary = Summary::default();
    read_files(&cfg, &mut decoder, &mut shards, &mut summary);
    shards.finish();
    if let Some(end) = summary.newest {
        files.end.store(end.0, Ordering::Relaxed);
    }
    if !cfg.quiet {
        eprintln!(
            "podwire: {} frames, {} TCP/UDP packets, {} records kept",
            summary.frames,
            summary.packets,
            files.stored()
        );
    }
    let mut api = Api::new(files, &serve_cfg, Arc::new(NoOwn));
    api.access = podwire_api::access::from_config(api_cfg, None);
    api.peers
        .set_client(podwire_api::peer_client::PeerClient::new(&serve_cfg, None)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    rt.block_on(podwire_api::serve(&listen, api_cfg, Arc::new(api), "read"))?;
    Ok(ExitCode::SUCCESS)
}
