//! `podwire agent`'s settings in two stages: what the user gave (flags,
//! environment, file: [`AgentArgs`]) and what the agent runs with
//! ([`AgentConfig`]), validated once, with every default in one place.

use crate::cli::AgentArgs;
use crate::listen::ListenAddr;
use anyhow::{bail, ensure, Context, Result};
pub use podwire_api::{api_auth, ApiAuth, ApiConfig, PeerTls, ServeConfig, TlsFiles};
use podwire_serve::metrics::MetricsConfig;
use podwire_store::{StoreConfig, Table, TABLES};
use podwire_track::TrackerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_LISTEN: &str = "127.0.0.1:6676";
const NS: u64 = 1_000_000_000;

/// The agent's validated configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub listen: ListenAddr,
    pub interfaces: Patterns,
    /// Namespaces to capture in; empty: the agent's own.
    pub netns: Vec<PathBuf>,
    pub ebpf: bool,
    /// `--tls-plaintext`: uprobes on TLS libraries (see `agent::tls`).
    pub tls_plaintext: bool,
    /// `--tls-plaintext-exclude-namespaces`: pods whose TLS calls are not
    /// read.
    pub tls_plaintext_exclude: Vec<String>,
    /// `--tls-cert-fetch`: fetch TLS 1.3 servers' certificates (see
    /// `agent::certs`).
    pub tls_cert_fetch: bool,
    pub store: StoreConfig,
    pub tracker: TrackerConfig,
    pub ring_bytes: usize,
    pub shards: usize,
    pub serve: ServeConfig,
    /// Kubernetes naming; `None` when off.
    pub kubernetes: Option<KubeConfig>,
    /// The resolver reverse DNS asks; `None` when off.
    pub reverse_dns: Option<SocketAddr>,
    pub capture: super::capture::CaptureConfig,
    /// Standalone capture tokens (with Kubernetes, the API server decides).
    pub capture_token_file: Option<PathBuf>,
    /// `--no-capture`: every capture refused.
    pub no_capture: bool,
    pub api: ApiConfig,
    /// `--observe-self`: the agent's own API connections are analysed and
    /// captured like any other (see `agent::own`).
    pub observe_self: bool,
    /// `--otlp-*` over the file's `[otlp]` (validated when the exporter
    /// starts, `otlp::start`).
    pub otlp: crate::otlp::OtlpArgs,
}

/// How to reach and mirror the Kubernetes API.
#[derive(Clone, Debug)]
pub struct KubeConfig {
    /// `None`: in-cluster, else `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    pub cluster: podwire_k8s::ClusterConfig,
    pub cgroup_root: PathBuf,
}

impl AgentConfig {
    /// Flags and environment over the file over defaults.
    pub fn from_args(args: AgentArgs) -> Result<AgentConfig> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<AgentArgs>(&text)
                    .with_context(|| format!("{}: invalid configuration", path.display()))?
            }
            None => AgentArgs::default(),
        };
        Self::merge(args, file)
    }

    fn merge(a: AgentArgs, f: AgentArgs) -> Result<AgentConfig> {
        let mut serve = serve_config(&a, &f)?;
        let capture = capture_config(&a, &f)?;
        let capture_token_file = a
            .capture_token_file
            .clone()
            .or(f.capture_token_file.clone());
        let mut kubernetes = kube_config(&a, &f)?;
        let services: Vec<(String, String)> = serve
            .peers
            .iter()
            .filter_map(|p| podwire_api::peers::service_spec(p))
            .map(|(ns, svc, _)| (ns.to_string(), svc.to_string()))
            .collect();
        match &mut kubernetes {
            Some(k) => k.cluster.peer_services = services,
            None => ensure!(
                services.is_empty(),
                "peers: k8s://NAMESPACE/SERVICE:PORT needs Kubernetes (--kubernetes on)"
            ),
        }
        let listen = match a.listen.clone().or(f.listen.clone()) {
            Some(l) => l,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let api = api_config(&a, &f, &listen, kubernetes.is_some())?;
        if serve.peer_token_file.is_none()
            && kubernetes.is_some()
            && std::path::Path::new(SERVICE_ACCOUNT_TOKEN).exists()
        {
            serve.peer_token_file = Some(SERVICE_ACCOUNT_TOKEN.into());
        }
        let list = |x: Vec<String>, y: Vec<String>| if x.is_empty() { y } else { x };
        let interfaces = Patterns::new(
            list(a.interfaces, f.interfaces),
            list(a.exclude_interfaces, f.exclude_interfaces),
        )?;
        let netns = if a.netns.is_empty() { f.netns } else { a.netns };

        let store_mib = a.store_mib.or(f.store_mib).unwrap_or(32);
        ensure!(store_mib >= 1, "store-mib must be at least 1");
        let mut store = StoreConfig {
            budget_bytes: store_mib << 20,
            ..StoreConfig::default()
        };
        if let Some(s) = a.store_shares.or(f.store_shares) {
            store.shares = parse_shares(&s)?;
        }
        store
            .validate()
            .map_err(|e| anyhow::anyhow!("store-shares: {e}"))?;

        let max_connections = a.max_connections.or(f.max_connections).unwrap_or(131_072);
        ensure!(max_connections >= 1, "max-connections must be at least 1");
        let tcp_idle = a.tcp_idle_timeout.or(f.tcp_idle_timeout).unwrap_or(300);
        let udp_idle = a.udp_idle_timeout.or(f.udp_idle_timeout).unwrap_or(60);
        ensure!(
            tcp_idle >= 1 && udp_idle >= 1,
            "idle timeouts must be at least 1 second"
        );
        let mut tracker = TrackerConfig {
            tcp_idle_timeout_ns: tcp_idle.saturating_mul(NS),
            udp_idle_timeout_ns: udp_idle.saturating_mul(NS),
            max_connections,
            max_buffered_total: a
                .max_reassembly_mib
                .or(f.max_reassembly_mib)
                .unwrap_or(16)
                .saturating_mul(1 << 20),
            ..TrackerConfig::default()
        };
        let headers = a.http_headers || f.http_headers;
        let secrets = a.show_secrets || f.show_secrets;
        tracker.parsers = crate::pipeline::parsers::parser_config(headers, secrets);
        let ring_mib = a.ring_mib.or(f.ring_mib).unwrap_or(8);
        ensure!((1..=1024).contains(&ring_mib), "ring-mib must be 1 to 1024");
        let shards = match a.threads.or(f.threads).unwrap_or(0) {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
            n => n.min(64),
        };
        let reverse_dns = if a.reverse_dns || f.reverse_dns {
            let server = a
                .reverse_dns_server
                .or(f.reverse_dns_server)
                .or_else(super::rdns::system_resolver);
            Some(server.context(
                "reverse-dns: no resolver in /etc/resolv.conf; give --reverse-dns-server",
            )?)
        } else {
            None
        };
        let tls_plaintext = match a.tls_plaintext.as_deref().or(f.tls_plaintext.as_deref()) {
            Some("on") => !(a.no_ebpf || f.no_ebpf),
            None | Some("off") => false,
            Some(m) => bail!("tls-plaintext: {m:?} is not on or off"),
        };
        let tls_plaintext_exclude: Vec<String> = if a.tls_plaintext_exclude_namespaces.is_empty() {
            &f.tls_plaintext_exclude_namespaces
        } else {
            &a.tls_plaintext_exclude_namespaces
        }
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
        ensure!(
            tls_plaintext_exclude.is_empty() || (tls_plaintext && kubernetes.is_some()),
            "tls-plaintext-exclude-namespaces needs --tls-plaintext on and Kubernetes naming"
        );
        Ok(AgentConfig {
            api,
            capture,
            capture_token_file,
            no_capture: a.no_capture || f.no_capture,
            observe_self: a.observe_self || f.observe_self,
            reverse_dns,
            kubernetes,
            serve,
            listen,
            interfaces,
            netns,
            ebpf: !(a.no_ebpf || f.no_ebpf),
            tls_plaintext,
            tls_plaintext_exclude,
            tls_cert_fetch: match a.tls_cert_fetch.as_deref().or(f.tls_cert_fetch.as_deref()) {
                Some("on") => true,
                None | Some("off") => false,
                Some(m) => bail!("tls-cert-fetch: {m:?} is not on or off"),
            },
            store,
            tracker,
            ring_bytes: ring_mib << 20,
            shards,
            otlp: a.otlp.clone().or(f.otlp.clone()),
        })
    }
}

fn serve_config(a: &AgentArgs, f: &AgentArgs) -> Result<ServeConfig> {
    let d = ServeConfig::default();
    let peers = if a.peers.is_empty() {
        f.peers.clone()
    } else {
        a.peers.clone()
    };
    for p in &peers {
        if p.starts_with("k8s://") {
            ensure!(
                podwire_api::peers::service_spec(p).is_some(),
                "peers: {p:?} is not k8s://NAMESPACE/SERVICE:PORT"
            );
            continue;
        }
        ensure!(
            p.rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok()),
            "peers: {p:?} is not HOST:PORT"
        );
    }
    let timeout_ms = a.peer_timeout_ms.or(f.peer_timeout_ms).unwrap_or(2000);
    ensure!(
        (1..=60_000).contains(&timeout_ms),
        "peer-timeout-ms must be 1 to 60000"
    );
    let concurrency = a.peer_concurrency.or(f.peer_concurrency).unwrap_or(16);
    ensure!(
        (1..=1024).contains(&concurrency),
        "peer-concurrency must be 1 to 1024"
    );
    let max_pairs = a
        .metrics_max_pairs
        .or(f.metrics_max_pairs)
        .unwrap_or(d.metrics.max_pairs);
    ensure!(max_pairs >= 1, "metrics-max-pairs must be at least 1");
    let persistent = a
        .persistent_seconds
        .or(f.persistent_seconds)
        .unwrap_or(10.0);
    ensure!(
        persistent.is_finite() && persistent >= 0.0,
        "persistent-seconds must be a number of seconds"
    );
    Ok(ServeConfig {
        metrics: MetricsConfig {
            max_pairs,
            k8spacket: a.metrics_k8spacket || f.metrics_k8spacket,
            persistent_ms: persistent * 1e3,
            ..d.metrics
        },
        peers,
        peer_timeout: Duration::from_millis(timeout_ms),
        peer_concurrency: concurrency,
        peer_tls: a.peer_ca.clone().or(f.peer_ca.clone()).map(|ca| PeerTls {
            ca,
            server_name: a
                .peer_server_name
                .clone()
                .or(f.peer_server_name.clone())
                .unwrap_or_else(|| "podwire".into()),
        }),
        peer_token_file: a.peer_token_file.clone().or(f.peer_token_file.clone()),
    })
}

/// The service account token, which peers are sent in Kubernetes when no
/// other is given (the chart grants the agents' account the read grant).
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Who may read, and how the API is served. A listener beyond loopback
/// that nobody guards is refused unless asked for by name (`none`).
fn api_config(a: &AgentArgs, f: &AgentArgs, listen: &ListenAddr, kube: bool) -> Result<ApiConfig> {
    let token_file = a.api_token_file.clone().or(f.api_token_file.clone());
    let mode = a.api_auth.clone().or(f.api_auth.clone());
    let auth = api_auth(mode.as_deref(), token_file, listen, kube)?;
    let tls = match (
        a.tls_cert.clone().or(f.tls_cert.clone()),
        a.tls_key.clone().or(f.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => bail!("tls-cert and tls-key go together"),
    };
    Ok(ApiConfig {
        warn_open: auth == ApiAuth::Open && !listen.is_loopback(),
        auth,
        metrics_open: a.metrics_open || f.metrics_open,
        tls,
    })
}

fn kube_config(a: &AgentArgs, f: &AgentArgs) -> Result<Option<KubeConfig>> {
    let kubeconfig = a.kubeconfig.clone().or(f.kubeconfig.clone());
    let mode = a
        .kubernetes
        .clone()
        .or(f.kubernetes.clone())
        .unwrap_or_else(|| "auto".into());
    let on = match mode.as_str() {
        "on" => true,
        "off" => false,
        "auto" => kubeconfig.is_some() || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        m => bail!("kubernetes: {m:?} is not auto, on or off"),
    };
    if !on {
        return Ok(None);
    }
    let max_objects = a.k8s_max_objects.or(f.k8s_max_objects).unwrap_or(200_000);
    ensure!(max_objects >= 1, "k8s-max-objects must be at least 1");
    let node_name = a
        .node_name
        .clone()
        .or(f.node_name.clone())
        .or_else(host_name);
    let node_pods_only = match a.k8s_pods.as_deref().or(f.k8s_pods.as_deref()) {
        None | Some("all") => false,
        Some("node") => true,
        Some(p) => bail!("k8s-pods: {p:?} is not all or node"),
    };
    ensure!(
        !node_pods_only || node_name.is_some(),
        "k8s-pods node needs the node's name (--node-name)"
    );
    Ok(Some(KubeConfig {
        kubeconfig,
        cluster: podwire_k8s::ClusterConfig {
            node_name,
            max_objects,
            node_pods_only,
            ..podwire_k8s::ClusterConfig::default()
        },
        cgroup_root: a
            .cgroup_root
            .clone()
            .or(f.cgroup_root.clone())
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup")),
    }))
}

fn capture_config(a: &AgentArgs, f: &AgentArgs) -> Result<super::capture::CaptureConfig> {
    let d = super::capture::CaptureConfig::default();
    let max_streams = a
        .capture_max_streams
        .or(f.capture_max_streams)
        .unwrap_or(d.max_streams);
    let seconds = a
        .capture_max_duration
        .or(f.capture_max_duration)
        .unwrap_or(d.max_duration.as_secs());
    let mib = a
        .capture_max_mib
        .or(f.capture_max_mib)
        .unwrap_or(d.max_bytes >> 20);
    let rate = a
        .capture_rate_mib
        .or(f.capture_rate_mib)
        .unwrap_or(d.rate_bytes >> 20);
    let ring = a
        .capture_ring_mib
        .or(f.capture_ring_mib)
        .unwrap_or(d.ring_bytes as u64 >> 20);
    ensure!(
        seconds >= 1,
        "capture-max-duration must be at least 1 second"
    );
    ensure!(
        mib >= 1 && rate >= 1,
        "capture limits must be at least 1 MiB"
    );
    ensure!(
        (2..=256).contains(&ring),
        "capture-ring-mib must be 2 to 256"
    );
    Ok(super::capture::CaptureConfig {
        netns: if a.netns.is_empty() {
            f.netns.clone()
        } else {
            a.netns.clone()
        },
        max_streams,
        max_duration: Duration::from_secs(seconds),
        max_bytes: mib << 20,
        rate_bytes: rate << 20,
        ring_bytes: (ring as usize) << 20,
    })
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// `connection=40,tls=10,http=35,dns=15`: percent per table; the tables not
/// named share what is left evenly (none when nothing is left: those tables
/// are off), so a list written before a table existed keeps working.
fn parse_shares(s: &str) -> Result<[u8; TABLES]> {
    let mut shares = [None; TABLES];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, pct)) = part.split_once('=') else {
            bail!("store-shares: expected TABLE=PERCENT, got {part:?}");
        };
        let Some(t) = Table::ALL.iter().position(|t| t.name() == name.trim()) else {
            let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            bail!(
                "store-shares: unknown table {name:?} ({})",
                names.join(", ")
            );
        };
        let pct: u8 = pct
            .trim()
            .parse()
            .with_context(|| format!("store-shares: {part:?}"))?;
        shares[t] = Some(pct);
    }
    let named: u32 = shares.iter().flatten().map(|&p| u32::from(p)).sum();
    if named > 100 {
        bail!("store-shares: {s:?} adds up to {named} percent, more than 100");
    }
    let unnamed = shares.iter().filter(|s| s.is_none()).count() as u32;
    let rest = 100 - named;
    let mut out = [0u8; TABLES];
    let mut k = 0;
    for (i, s) in shares.iter().enumerate() {
        out[i] = match s {
            Some(p) => *p,
            None => {
                // Evenly, the first unnamed tables taking the remainder.
                k += 1;
                (rest / unnamed + u32::from(k <= rest % unnamed)) as u8
            }
        };
    }
    Ok(out)
}

/// Which interfaces to capture, by name.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Patterns {
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Patterns> {
        for p in include.iter().chain(&exclude) {
            ensure!(
                !p.is_empty() && p.len() <= 64,
                "interface pattern {p:?}: 1 to 64 characters"
            );
        }
        Ok(Patterns { include, exclude })
    }

    /// Whether every interface is captured (no filter needed).
    pub fn all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob(p, name)))
            && !self.exclude.iter().any(|p| glob(p, name))
    }
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("veth*", "veth1a2b"));
        assert!(glob("*", "eth0"));
        assert!(glob("e*h*", "eth0"));
        assert!(!glob("veth*", "eth0"));
        assert!(glob("eth0", "eth0"));
        assert!(!glob("eth0", "eth01"));
        assert!(glob("*0", "eth0"));
    }

    #[test]
    fn patterns_include_then_exclude() {
        let p = Patterns::new(vec!["veth*".into(), "eth0".into()], vec!["veth9*".into()]).unwrap();
        assert!(p.matches("veth1") && p.matches("eth0"));
        assert!(!p.matches("veth91") && !p.matches("lo"));
        assert!(Patterns::default().all());
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let file: AgentArgs = toml::from_str(
            "listen = \"0.0.0.0:7000\"\napi-auth = \"none\"\nstore-mib = 8\nmax-connections = 10\ninterfaces = [\"veth*\"]\n",
        )
        .unwrap();
        let flags = AgentArgs {
            max_connections: Some(20),
            ..AgentArgs::default()
        };
        let c = AgentConfig::merge(flags, file).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
        assert_eq!(c.store.budget_bytes, 8 << 20);
        assert_eq!(c.tracker.max_connections, 20);
        assert!(c.interfaces.matches("veth0") && !c.interfaces.matches("lo"));
        assert_eq!(c.tracker.tcp_idle_timeout_ns, 300 * NS);
    }

    #[test]
    fn nobody_serves_records_beyond_loopback_unguarded_unless_asked() {
        let args = |listen: &str, auth: Option<&str>, file: Option<&str>| AgentArgs {
            listen: Some(listen.parse().unwrap()),
            api_auth: auth.map(String::from),
            api_token_file: file.map(PathBuf::from),
            ..AgentArgs::default()
        };
        let api = |a: AgentArgs, kube| {
            api_config(&a, &AgentArgs::default(), a.listen.as_ref().unwrap(), kube)
        };
        let open = api(args("127.0.0.1:6676", None, None), false).unwrap();
        assert_eq!((open.auth, open.warn_open), (ApiAuth::Open, false));
        let refused = api(args("0.0.0.0:6676", None, None), false).unwrap_err();
        assert!(refused.to_string().contains("--api-auth none"), "{refused}");
        let asked = api(args("0.0.0.0:6676", Some("none"), None), false).unwrap();
        assert_eq!((asked.auth, asked.warn_open), (ApiAuth::Open, true));
        let kube = api(args("10.0.0.1:6676", None, None), true).unwrap();
        assert_eq!(kube.auth, ApiAuth::Kubernetes);
        assert_eq!(
            api(args("127.0.0.1:6676", None, Some("/t")), false)
                .unwrap()
                .auth,
            ApiAuth::TokenFile("/t".into())
        );
        assert!(api(args("127.0.0.1:6676", Some("kubernetes"), None), false).is_err());
        assert!(api(args("127.0.0.1:6676", Some("token-file"), None), false).is_err());
        assert!(api(args("127.0.0.1:6676", Some("maybe"), None), false).is_err());
    }

    #[test]
    fn otlp_settings_come_from_the_files_otlp_table_under_the_flags() {
        use crate::otlp::{OtlpCompression, OtlpSignal};
        let file: AgentArgs = toml::from_str(
            "[otlp]\nendpoint = \"http://collector:4318\"\nsignals = [\"traces\", \"logs\"]\n\
             compression = \"gzip\"\nheaders-file = \"/etc/podwire/otlp/headers\"\nqueue-kib = 64\n",
        )
        .unwrap();
        let flags = AgentArgs {
            otlp: crate::otlp::OtlpArgs {
                otlp_queue_kib: Some(128),
                ..Default::default()
            },
            ..AgentArgs::default()
        };
        let c = AgentConfig::merge(flags, file).unwrap();
        assert_eq!(
            c.otlp.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(c.otlp.otlp_signals, [OtlpSignal::Traces, OtlpSignal::Logs]);
        assert_eq!(c.otlp.otlp_compression, Some(OtlpCompression::Gzip));
        assert_eq!(
            c.otlp.otlp_headers_file,
            Some(PathBuf::from("/etc/podwire/otlp/headers"))
        );
        assert_eq!(c.otlp.otlp_queue_kib, Some(128), "the flag wins");
        assert!(toml::from_str::<AgentArgs>("[otlp]\nendpiont = \"x\"").is_err());
        assert!(toml::from_str::<AgentArgs>("[otlp]\ncompression = \"zstd\"").is_err());
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        assert!(toml::from_str::<AgentArgs>("lisen = \"x\"").is_err());
    }

    #[test]
    fn shares_not_named_split_the_rest() {
        assert_eq!(
            parse_shares("connection=25,tls=25,http=25,dns=25").unwrap(),
            [25, 25, 25, 25, 0, 0, 0, 0]
        );
        assert_eq!(
            parse_shares("connection=40,tls=10,http=25,dns=10").unwrap(),
            [40, 10, 25, 10, 4, 4, 4, 3]
        );
        assert_eq!(
            parse_shares("connection=50,http=50").unwrap(),
            [50, 0, 50, 0, 0, 0, 0, 0]
        );
        assert!(parse_shares("connection=60,http=50").is_err());
        assert!(parse_shares("conn=50").is_err());
    }
}
