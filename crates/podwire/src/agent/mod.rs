//! `podwire agent`: the live pipeline on one host.
//!
//! Threads: [`packets`] reads the AF_PACKET rings, decodes and deals
//! packets to the tracker shards (the same [`shard`](podwire_track::shard)
//! code `podwire read` uses); the shards hand finished records to
//! [`state::Shared::ingest`] (kernel facts merged, names applied, stored);
//! [`probe`] reads the eBPF probe into the kernel socket table and keeps
//! the clocks moving; a small tokio runtime serves the [`api`]. Either
//! capture source may be unavailable (no CAP_NET_RAW, no BTF); the agent
//! says so in one line and runs on the other.
//!
//! SIGTERM or SIGINT stops the capture threads, which drop the rings and
//! the probe: the probe's programs and maps are tied to file descriptors,
//! nothing is pinned and no qdisc is added, so nothing outlives the process.

mod api;
mod capture;
mod certs;
mod config;
mod deferred;
mod host;
mod kernel;
mod kube;
mod losses;
mod nat;
mod own;
mod packets;
mod probe;
mod rdns;
mod state;
mod tls;

pub(crate) use own::{connect as own_connect, Own};

use crate::cli::AgentArgs;
use anyhow::{bail, Context, Result};
use config::AgentConfig;
use kernel::{KernelConfig, KernelTable};
use podwire_ebpf::ConnProbe;
use podwire_store::Store;
use podwire_track::shard::Shards;
use state::{Shared, Sources, Status, StoreSink};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Records queued for each live-stream client before it starts missing some.
const STREAM_BACKLOG: usize = 4096;

/// How long a stopping agent waits for its last OTLP exports.
const OTLP_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    let cfg = AgentConfig::from_args(args)?;
    let store = Store::new(cfg.store.clone()).map_err(|e| anyhow::anyhow!("store: {e}"))?;

    let probe = if cfg.ebpf {
        ConnProbe::load().map_err(anyhow::Error::new)
    } else {
        Err(anyhow::anyhow!("disabled (--no-ebpf)"))
    };
    let sources = packets::open_sources(&cfg);
    if let Some(why) = probe.as_ref().ok().and_then(|p| p.fallback()) {
        eprintln!("podwire: eBPF: the BTF tracepoint was refused, using the classic one: {why}");
    }
    match (&probe, &sources) {
        (Err(p), Err(s)) => bail!("neither packet capture ({s:#}) nor eBPF ({p:#}) could start"),
        (Err(e), Ok(_)) if cfg.ebpf => eprintln!(
            "podwire: eBPF unavailable, running on packets alone (no process names or kernel counters): {e:#}"
        ),
        (Ok(_), Err(e)) => {
            eprintln!("podwire: packet capture unavailable, running on eBPF alone: {e:#}")
        }
        _ => {}
    }
    release_startup_memory();

    let kernel = KernelTable::new(
        KernelConfig {
            // Without packets nothing will claim a closed socket: report
            // it at once.
            linger_ns: if sources.is_ok() {
                KernelConfig::default().linger_ns
            } else {
                0
            },
            ..KernelConfig::default()
        },
        probe::mono_to_wall_ns(),
    );
    // Plaintext inside TLS needs the trackers the packets feed.
    // (Without the connection probe it would fail for the same reason,
    // already said once.)
    let tls_probe = match (cfg.tls_plaintext, &sources, &probe) {
        (false, _, _) => Err(anyhow::anyhow!("off (--tls-plaintext off)")),
        (true, Err(_), _) => Err(anyhow::anyhow!("no packet capture to parse it beside")),
        (true, _, Err(e)) => Err(anyhow::anyhow!("eBPF unavailable: {e:#}")),
        (true, Ok(_), Ok(_)) => tls::load(),
    };
    let status = Sources {
        packets: Status::of(&sources),
        ebpf: Status::of(&probe),
        ebpf_hook: probe.as_ref().ok().map(|p| p.hook().name()),
        tls_plaintext: Status::of(&tls_probe),
    };
    let nat = Arc::new(nat::Nat::open());
    let kube = cfg
        .kubernetes
        .clone()
        .map(|k| kube::Kube::start(k, Arc::clone(&nat)));
    let rdns = match cfg.reverse_dns.map(rdns::ReverseDns::start) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            eprintln!("podwire: reverse DNS could not start: {e}");
            None
        }
        None => None,
    };
    let host_name = kube
        .as_ref()
        .and_then(|k| k.node_name().map(String::from))
        .unwrap_or_else(host::Host::hostname);
    let host = Arc::new(host::Host::local(host_name.clone()));
    let own = Arc::new(own::Own::new(cfg.observe_self, Arc::clone(&host)));
    // The capture thread puts the API into its ring's kernel filter once it
    // is bound (agent::packets); the API serves after that.
    if cfg.netns.is_empty() && sources.is_ok() {
        own.expect_kernel_filter();
    }
    let mut shared = Shared::new(store, kernel, status, cfg.serve.clone());
    shared.kube = kube;
    shared.rdns = rdns;
    shared.nat = Some(nat);
    shared.host = host;
    shared.own = Arc::clone(&own);
    let tls_counters = Arc::new(tls::TlsCounters::default());
    if tls_probe.is_ok() {
        shared.tls = Some(Arc::clone(&tls_counters));
    }
    if cfg.tls_cert_fetch {
        let from = cfg.netns.first().cloned();
        match certs::CertFetcher::start(from) {
            Ok(f) => shared.certs = Some(f),
            Err(e) => eprintln!("podwire: TLS certificate fetch could not start: {e}"),
        }
    }
    shared.otlp = crate::otlp::start(&cfg.otlp, Some(host_name.clone()), Some(Arc::clone(&own)))?
        .map(Arc::new);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let client = cfg.kubernetes.as_ref().map(|k| {
        rt.block_on(podwire_k8s::client(k.kubeconfig.as_deref()))
            .map(|(c, _)| c)
    });
    let auth = capture_auth(&cfg, client.as_ref());
    shared.captures = Some(Arc::new(capture::Captures::new(cfg.capture.clone(), auth)));
    let shared = Arc::new(shared);
    let own: Arc<dyn podwire_api::OwnConns> = own;
    let mut api = podwire_api::Api::new(
        Arc::new(api::Live {
            shared: Arc::clone(&shared),
            clock: probe::now,
        }),
        &cfg.serve,
        Arc::clone(&own),
    );
    api.access = podwire_api::access::from_config(&cfg.api, client.as_ref());
    api.peers
        .set_client(podwire_api::peer_client::PeerClient::new(
            &cfg.serve,
            Some(own),
        )?);
    if let Some(k) = &shared.kube {
        let k = Arc::clone(k);
        api.peers
            .set_discover(Arc::new(move |ns, svc| k.service_endpoints(ns, svc)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();

    if let Ok(sources) = sources {
        let sinks = (0..cfg.shards)
            .map(|_| StoreSink(Arc::clone(&shared)))
            .collect();
        let shards = Shards::start(sinks, &cfg.tracker, "podwire-shard")
            .context("starting tracker threads")?;
        *state::lock(&shared.control) = Some(shards.control());
        let (sh, st, patterns) = (
            Arc::clone(&shared),
            Arc::clone(&stop),
            cfg.interfaces.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name("podwire-capture".into())
                .spawn(move || packets::run(sources, patterns, shards, sh, st))
                .context("starting the capture thread")?,
        );
    }
    if let Ok(p) = tls_probe {
        let (sh, st) = (Arc::clone(&shared), Arc::clone(&stop));
        let exclude = cfg.tls_plaintext_exclude.clone();
        threads.push(
            std::thread::Builder::new()
                .name("podwire-tls".into())
                .spawn(move || tls::run(p, sh, exclude, tls_counters, st))
                .context("starting the TLS plaintext thread")?,
        );
    }
    let api = Arc::new(api);
    {
        let (sh, ap, st) = (Arc::clone(&shared), Arc::clone(&api), Arc::clone(&stop));
        threads.push(
            std::thread::Builder::new()
                .name("podwire-losses".into())
                .spawn(move || losses::run(sh, ap, st))
                .context("starting the telemetry log thread")?,
        );
    }
    {
        let (sh, st) = (Arc::clone(&shared), Arc::clone(&stop));
        let cgroups = cfg.kubernetes.as_ref().map_or_else(
            || std::path::PathBuf::from("/sys/fs/cgroup"),
            |k| k.cgroup_root.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name("podwire-kernel".into())
                .spawn(move || probe::run(probe.ok(), sh, st, cgroups))
                .context("starting the kernel thread")?,
        );
    }

    let served = rt.block_on(podwire_api::serve(
        &cfg.listen,
        &cfg.api,
        Arc::clone(&api),
        "agent",
    ));

    stop.store(true, Ordering::Relaxed);
    // Read while the shards still answer (their counts go with them).
    let lost = losses::at_exit(&shared, &api);
    // The shards end when the capture thread and every control handle let go.
    state::lock(&shared.control).take();
    for t in threads {
        let _ = t.join();
    }
    if let Some(e) = &shared.otlp {
        e.shutdown(OTLP_SHUTDOWN);
    }
    served?;
    if lost.is_empty() {
        eprintln!("podwire: stopped");
    } else {
        eprintln!("podwire: stopped; lost since start: {lost}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The Kubernetes client the reviews go through, or why there is none.
type ReviewClient = std::result::Result<podwire_k8s::Client, podwire_k8s::Error>;

/// How capture callers are checked: the API server in Kubernetes, a token
/// file standalone, else capture is off.
fn capture_auth(cfg: &AgentConfig, client: Option<&ReviewClient>) -> capture::Auth {
    if cfg.no_capture {
        return capture::Auth::Off("capture is disabled on this agent (--no-capture)");
    }
    match client {
        Some(Ok(client)) => return capture::Auth::Kubernetes(client.clone()),
        // The Kubernetes watcher says why, once, for names and reviews.
        Some(Err(_)) => {
            return capture::Auth::Off(
                "capture is off: the agent has no Kubernetes client to review tokens with",
            );
        }
        None => {}
    }
    match &cfg.capture_token_file {
        Some(path) => capture::Auth::TokenFile(path.clone()),
        None => capture::Auth::Off(
            "capture is off on this agent: start it with --capture-token-file (or in Kubernetes)",
        ),
    }
}

/// Loading the probe parses the kernel's BTF (megabytes) and frees it
/// again; hand those pages back to the system instead of keeping them in
/// the allocator for the agent's lifetime.
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it
    // has no preconditions and no effect on live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
}
