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
use anyhow::{Context, Result};
use podwire_api::listen::ListenAddr;
use podwire_api::{Api, ApiConfig, Backend, NoOwn, ServeConfig};
use podwire_decode::Decoder;
use podwire_record::{Record, Timestamp};
use podwire_serve::metrics::{Health, Metrics};
use podwire_store::{Cursor, Filter, Store, StoreConfig, Table};
use podwire_telemetry::catalogue::{Capture, OwnCounters, Sampled};
use podwire_telemetry::Snapshot;
use podwire_track::shard::{Shards, Sink, Stopped};
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

    fn metrics(&self, api: Snapshot) -> String {
        let health = Health {
            telemetry: self.telemetry(api),
            store: Health::store_rows(&lock(&self.store).stats()),
            kubernetes: None,
            otlp: self.otlp.as_ref().map(|e| crate::otlp::health(e)),
        };
        self.metrics.encode(&health)
    }

    /// The agent's document; what files do not have is zero (the
    /// catalogue's counters all there), so one schema describes both.
    fn status(&self, auth: &'static str, api: Snapshot) -> serde_json::Value {
        let not_live = json!({"running": false, "error": "reading capture files"});
        let mut doc = json!({
            "mode": "capture",
            "now": self.now(),
            "sources": {
                "packets": not_live,
                "ebpf": not_live,
                "ebpf_hook": null,
                "tls_plaintext": {"running": false, "error": null},
            },
            "api": { "auth": auth },
            "own": { "observed": true },
            "store": podwire_api::store_status(&lock(&self.store).stats()),
            "otlp": self.otlp.as_deref().map(crate::otlp::status),
        });
        let mut counters = self.telemetry(api);
        counters.add(&self.metrics.counters);
        podwire_telemetry::merge_json(&mut doc, counters.status_json());
        doc
    }
}

impl Files {
    /// The agent's always-present counters of the telemetry catalogue:
    /// the live capture's at zero, the names and the stream's as they are
    /// here, and the API's (`api`).
    fn telemetry(&self, api: Snapshot) -> Snapshot {
        let capture = Capture::default();
        capture.set(
            &capture.stream_lagged,
            self.stream_lagged.load(Ordering::Relaxed),
        );
        let sampled = Sampled::default();
        let (known, forgotten) = {
            let n = lock(&self.names);
            (n.len() as u64, n.forgotten())
        };
        sampled.set(&sampled.names_known, known);
        sampled.set(&sampled.names_forgotten, forgotten);
        sampled.set(&sampled.stream_clients, self.stream.receiver_count() as u64);
        sampled.set(&sampled.resident_memory, crate::pipeline::resident_bytes());
        let mut snap = Snapshot::of(&[&capture, &sampled, &OwnCounters::default()]);
        snap.extend(api);
        snap
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
    // A file's flows reach the shards only through `push`.
    shards.balance();
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
