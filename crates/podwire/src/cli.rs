//! The command line, as the user types it. Validation into the
//! configuration the pipeline uses happens in each command (`read::Config`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "podwire",
    version,
    about = "Shows what workloads say to each other on the network."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse pcap/pcapng files: connections, TLS handshakes, HTTP and DNS.
    Read(Box<ReadArgs>),
    /// Watch this host's traffic live (eBPF and AF_PACKET) and serve it over HTTP.
    Agent(Box<AgentArgs>),
    /// Capture pods' packets through the podwire agents into one pcapng
    /// (for Wireshark); nothing is copied into the pods.
    Sniff(Box<SniffArgs>),
}

/// `podwire sniff` (also `kubectl podwire sniff`).
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  podwire sniff -n shop web-1 -f 'tcp port 443' -o web.pcapng
  podwire sniff -n shop -l app=web -o - | wireshark -k -i -
  podwire sniff --agent http://127.0.0.1:6676 -i eth0 --token-file tok -o - | tshark -r -

In Kubernetes the agents are reached through the API server's pod proxy with
your kubeconfig; you need `get pods/proxy` on the agent pods and the verb
`capture` on the pods you capture (see docs/capture.md).")]
pub struct SniffArgs {
    /// Pods to capture (several pods give one file with one interface each).
    #[arg(value_name = "POD")]
    pub pods: Vec<String>,

    /// Namespace of the pods [the kubeconfig context's].
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Also capture every pod matching this label selector.
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Container of the pod (containers share the pod's network, so this
    /// checks the container exists; the capture is the pod's).
    #[arg(long, short = 'c', value_name = "CONTAINER")]
    pub container: Option<String>,

    /// Capture filter in tcpdump's syntax (pcap-filter(7)).
    #[arg(long, short = 'f', value_name = "FILTER")]
    pub filter: Option<String>,

    /// Bytes kept of each packet [262144].
    #[arg(long, short = 's', value_name = "BYTES")]
    pub snaplen: Option<u32>,

    /// Where to write pcapng: a file, or `-` for standard output [on a
    /// terminal: start Wireshark if installed].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Stop after this long (`30s`, `5m`) [until interrupted, up to the agent's limit].
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: Option<String>,

    /// Stop after this many packets from each pod.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Talk to this agent directly (standalone, or a port-forwarded agent)
    /// instead of finding agents through Kubernetes.
    #[arg(long, value_name = "URL", env = "PODWIRE_AGENT")]
    pub agent: Option<String>,

    /// With an https:// --agent: the certificate authorities (PEM) its
    /// certificate must chain to (the chart's: the `ca.crt` of its Secret).
    #[arg(
        long,
        value_name = "FILE",
        env = "PODWIRE_AGENT_CA",
        requires = "agent"
    )]
    pub agent_ca: Option<PathBuf>,

    /// With --agent: capture this interface of the agent's host.
    #[arg(long, short = 'i', value_name = "INTERFACE", requires = "agent")]
    pub interface: Option<String>,

    /// Bearer token for the agent [the kubeconfig user's token].
    #[arg(
        long,
        env = "PODWIRE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Read the bearer token from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// Kubeconfig [$KUBECONFIG or ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context [the current one].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace the podwire agents run in.
    #[arg(
        long,
        default_value = "podwire",
        env = "PODWIRE_AGENT_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    pub agent_namespace: String,

    /// No summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Output formats of `podwire read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// One JSON record per line (schema: docs/records.md).
    Jsonl,
    /// `jsonl` through serde's derive instead of the hand-written encoder:
    /// the reference the tests hold the encoder to, byte for byte.
    #[value(hide = true)]
    JsonlSerde,
}

/// Record types, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Connection,
    Tls,
    Http,
    Dns,
    Postgres,
    Mysql,
    Redis,
    Kafka,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Capture files (pcap or pcapng), read in order as one capture; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, short = 'f', value_enum, env = "PODWIRE_FORMAT")]
    pub format: Option<Format>,

    /// Only these record types (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Kind>,

    /// Include HTTP headers in records; credentials (Authorization, Cookie, ...) are redacted.
    #[arg(long)]
    pub http_headers: bool,

    /// Record SQL statements with their literals and Redis commands with
    /// their arguments, and (with --http-headers) credential headers
    /// verbatim. Passwords and auth exchanges are never recorded.
    #[arg(long)]
    pub show_secrets: bool,

    /// Decrypt TLS with this key log (SSLKEYLOGFILE format, as curl, browsers,
    /// OpenSSL and Go write it) and parse what is inside; may be repeated.
    /// Secrets in pcapng decryption secrets blocks are used too, without it.
    #[arg(long, value_name = "FILE", env = "PODWIRE_TLS_KEYLOG")]
    pub tls_keylog: Vec<PathBuf>,

    /// Seconds without a packet after which a TCP connection is reported as timed out.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub tcp_idle_timeout: u64,

    /// Seconds without a packet after which a UDP flow ends.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub udp_idle_timeout: u64,

    /// Connections and flows tracked at once; beyond it the least recently active are reported early.
    #[arg(long, default_value_t = 262_144, value_name = "N")]
    pub max_connections: usize,

    /// Out-of-order bytes held for reassembly, all connections together (MiB).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub max_reassembly_mib: usize,

    /// Worker threads for tracking and parsing (0: one per core, up to 8).
    /// With 1, records come out in a stable order.
    #[arg(long, default_value_t = 0, value_name = "N", env = "PODWIRE_THREADS")]
    pub threads: usize,

    /// No summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Instead of printing records, keep them and serve them over HTTP at
    /// ADDR (the agent's API, Grafana endpoints and /metrics) until
    /// interrupted: IP:PORT, HOST:PORT, or :PORT for every IPv4 address.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<crate::listen::ListenAddr>,

    /// With --serve: memory for the kept records, MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB", requires = "serve")]
    pub store_mib: usize,

    /// With --serve: answer for these agents too (as `podwire agent --peers`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "HOST:PORT",
        requires = "serve"
    )]
    pub peers: Vec<String>,

    /// With --peers: how long to wait for one peer, milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS", requires = "peers")]
    pub peer_timeout_ms: u64,

    /// With --serve: who may read, `auto`, `token-file` or `none` (as
    /// `podwire agent --api-auth`; beyond loopback, `auto` needs a token
    /// file).
    #[arg(long, value_name = "MODE", requires = "serve")]
    pub api_auth: Option<String>,

    /// With --serve: tokens that may read, one per line, `TOKEN [NAME]`.
    #[arg(long, value_name = "FILE", requires = "serve")]
    pub api_token_file: Option<PathBuf>,

    #[command(flatten)]
    pub otlp: crate::otlp::OtlpArgs,
}

/// `podwire agent`. Every setting is also an environment variable and a key
/// of the `--config` file (TOML, the flag's name without dashes:
/// `listen = "0.0.0.0:6676"`); a flag beats the environment, which beats the
/// file. Defaults are in brackets.
#[derive(Args, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "PODWIRE_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address of the HTTP API: IP:PORT, HOST:PORT, or :PORT for every
    /// IPv4 address [127.0.0.1:6676].
    #[arg(long, env = "PODWIRE_LISTEN", value_name = "ADDR")]
    pub listen: Option<crate::listen::ListenAddr>,

    /// Capture only interfaces whose name matches one of these patterns
    /// (`*` matches anything; comma-separated) [all].
    #[arg(
        long,
        env = "PODWIRE_INTERFACES",
        value_delimiter = ',',
        value_name = "PATTERNS"
    )]
    #[serde(default)]
    pub interfaces: Vec<String>,

    /// Never capture interfaces matching these patterns [none].
    #[arg(
        long,
        env = "PODWIRE_EXCLUDE_INTERFACES",
        value_delimiter = ',',
        value_name = "PATTERNS"
    )]
    #[serde(default)]
    pub exclude_interfaces: Vec<String>,

    /// Capture inside these network namespaces (a path such as
    /// /var/run/netns/NAME or /proc/PID/ns/net; repeat or comma-separate)
    /// instead of the agent's own.
    #[arg(
        long,
        env = "PODWIRE_NETNS",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    #[serde(default)]
    pub netns: Vec<PathBuf>,

    /// Do not load the eBPF probe (packets only: no process names or kernel counters).
    #[arg(long, env = "PODWIRE_NO_EBPF")]
    #[serde(default)]
    pub no_ebpf: bool,

    /// Read requests inside TLS from the TLS library (uprobes on OpenSSL's
    /// SSL_read/SSL_write in every process that maps libssl): `on` or `off`
    /// [off: the uprobes slow TLS-heavy processes, see docs/security.md].
    /// Needs eBPF, CAP_SYS_PTRACE (to read other processes'
    /// /proc/PID/maps) and the host's PID namespace to see the node's
    /// processes.
    #[arg(long, env = "PODWIRE_TLS_PLAINTEXT", value_name = "MODE")]
    pub tls_plaintext: Option<String>,

    /// Kubernetes namespaces whose pods' TLS plaintext is never read,
    /// comma-separated (with --tls-plaintext on and Kubernetes naming):
    /// their processes' TLS calls are skipped in the kernel, before any
    /// byte is copied. A pod is excluded within 2 s of its containers'
    /// cgroups appearing and the API server listing it.
    #[arg(
        long,
        env = "PODWIRE_TLS_PLAINTEXT_EXCLUDE_NAMESPACES",
        value_name = "NS,...",
        value_delimiter = ','
    )]
    #[serde(default)]
    pub tls_plaintext_exclude_namespaces: Vec<String>,

    /// Fetch the certificate of TLS 1.3 servers (encrypted in their
    /// handshakes) with the agent's own handshake to the same address and
    /// SNI: `on` or `off` [off]. At most one handshake a second, each
    /// (SNI, address) once an hour; records carry it as `fetched`.
    #[arg(long, env = "PODWIRE_TLS_CERT_FETCH", value_name = "MODE")]
    pub tls_cert_fetch: Option<String>,

    /// Memory for stored records, all tables together, MiB [32].
    #[arg(long, env = "PODWIRE_STORE_MIB", value_name = "MIB")]
    pub store_mib: Option<usize>,

    /// Share of the store per table, percent; tables not named share the
    /// rest evenly
    /// [connection=30,tls=5,http=25,dns=10,postgres=10,mysql=8,redis=7,kafka=5].
    #[arg(long, env = "PODWIRE_STORE_SHARES", value_name = "TABLE=PCT,...")]
    pub store_shares: Option<String>,

    /// Connections and flows tracked at once; beyond it the least recently
    /// active are stored early, as open [131072].
    #[arg(long, env = "PODWIRE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Seconds without a packet after which a TCP connection is closed as timed out [300].
    #[arg(long, env = "PODWIRE_TCP_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub tcp_idle_timeout: Option<u64>,

    /// Seconds without a packet after which a UDP flow ends [60].
    #[arg(long, env = "PODWIRE_UDP_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub udp_idle_timeout: Option<u64>,

    /// Out-of-order bytes held for reassembly, all connections together, MiB [16].
    #[arg(long, env = "PODWIRE_MAX_REASSEMBLY_MIB", value_name = "MIB")]
    pub max_reassembly_mib: Option<usize>,

    /// Packet ring per network namespace, MiB [8].
    #[arg(long, env = "PODWIRE_RING_MIB", value_name = "MIB")]
    pub ring_mib: Option<usize>,

    /// Worker threads for tracking and parsing (0: one per core, up to 8) [0].
    #[arg(long, env = "PODWIRE_THREADS", value_name = "N")]
    pub threads: Option<usize>,

    /// Include HTTP request headers in records, credentials redacted.
    #[arg(long, env = "PODWIRE_HTTP_HEADERS")]
    #[serde(default)]
    pub http_headers: bool,

    /// Record SQL statements with their literals and Redis commands with
    /// their arguments, and (with --http-headers) credential headers
    /// verbatim. Passwords and auth exchanges are never recorded.
    #[arg(long, env = "PODWIRE_SHOW_SECRETS")]
    #[serde(default)]
    pub show_secrets: bool,

    /// Agents to ask for cluster-wide answers, as HOST:PORT (comma-separated;
    /// list this agent too). A name resolving to many addresses (a headless
    /// Service) stands for all of them, looked up again every 30 s; with
    /// Kubernetes, k8s://NAMESPACE/SERVICE:PORT stands for the endpoints of
    /// that Service's EndpointSlices [none: answers are this agent's own].
    #[arg(
        long,
        env = "PODWIRE_PEERS",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    #[serde(default)]
    pub peers: Vec<String>,

    /// How long a cluster answer waits for one peer, milliseconds [2000].
    #[arg(long, env = "PODWIRE_PEER_TIMEOUT_MS", value_name = "MS")]
    pub peer_timeout_ms: Option<u64>,

    /// Peers asked at once [16].
    #[arg(long, env = "PODWIRE_PEER_CONCURRENCY", value_name = "N")]
    pub peer_concurrency: Option<usize>,

    /// Also export k8spacket's metric names (k8s_packet_*), for its dashboards.
    #[arg(long, env = "PODWIRE_METRICS_K8SPACKET")]
    #[serde(default)]
    pub metrics_k8spacket: bool,

    /// Distinct source/destination pairs in metric labels; later pairs are
    /// counted as "other" [2000].
    #[arg(long, env = "PODWIRE_METRICS_MAX_PAIRS", value_name = "N")]
    pub metrics_max_pairs: Option<usize>,

    /// A connection that lived this many seconds counts as persistent in
    /// the graph (k8spacket's default) [10].
    #[arg(long, env = "PODWIRE_PERSISTENT_SECONDS", value_name = "SECONDS")]
    pub persistent_seconds: Option<f64>,

    /// Name endpoints from the Kubernetes API: `auto` (when running in a
    /// pod or given --kubeconfig), `on`, `off` [auto].
    #[arg(long, env = "PODWIRE_KUBERNETES", value_name = "MODE")]
    pub kubernetes: Option<String>,

    /// Kubeconfig to reach the API server with [in-cluster service account,
    /// else $KUBECONFIG or ~/.kube/config].
    #[arg(long, env = "PODWIRE_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// This node's name in Kubernetes (its pods keep container ids, to name
    /// hostNetwork pods) [the host name].
    #[arg(long, env = "PODWIRE_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,

    /// The cgroup v2 tree, to map a socket's cgroup to its container
    /// [/sys/fs/cgroup].
    #[arg(long, env = "PODWIRE_CGROUP_ROOT", value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,

    /// Kubernetes objects of each kind (and addresses with history) kept at
    /// once; more are refused and counted [200000].
    #[arg(long, env = "PODWIRE_K8S_MAX_OBJECTS", value_name = "N")]
    pub k8s_max_objects: Option<usize>,

    /// Which pods to watch: `all` (every pod: exact names everywhere) or
    /// `node` (this node's only, other pods named from EndpointSlices: far
    /// less API traffic in large clusters, but pods behind no Service stay
    /// unnamed) [all].
    #[arg(long, env = "PODWIRE_K8S_PODS", value_name = "SCOPE")]
    pub k8s_pods: Option<String>,

    /// Name addresses nothing else named by reverse DNS (PTR); sends
    /// queries of its own, so off by default.
    #[arg(long, env = "PODWIRE_REVERSE_DNS")]
    #[serde(default)]
    pub reverse_dns: bool,

    /// With --reverse-dns: the resolver to ask, IP:PORT [the first
    /// nameserver of /etc/resolv.conf].
    #[arg(long, env = "PODWIRE_REVERSE_DNS_SERVER", value_name = "ADDR")]
    pub reverse_dns_server: Option<std::net::SocketAddr>,

    /// Also analyse and capture the agent's own API connections (the ones
    /// it serves on --listen, its requests to --peers, capture streams);
    /// left out by default, and counted.
    #[arg(long, env = "PODWIRE_OBSERVE_SELF")]
    #[serde(default)]
    pub observe_self: bool,

    /// Refuse every packet capture (`/api/v1/capture`).
    #[arg(long, env = "PODWIRE_NO_CAPTURE")]
    #[serde(default)]
    pub no_capture: bool,

    /// Without Kubernetes: tokens that may capture packets
    /// (`/api/v1/capture`), one per line, `TOKEN [NAME]`; re-read on every
    /// request. In Kubernetes the API server decides (TokenReview and
    /// SubjectAccessReview) [capture off].
    #[arg(long, env = "PODWIRE_CAPTURE_TOKEN_FILE", value_name = "FILE")]
    pub capture_token_file: Option<PathBuf>,

    /// Who may read records and metrics from the API: `auto`, `token-file`
    /// (--api-token-file), `kubernetes` (TokenReview and
    /// SubjectAccessReview: `get` on `records.podwire.io`; `/metrics` needs
    /// `get` on the URL `/metrics`) or `none`. `auto` is the token file
    /// when one is given, else Kubernetes when it is on and the API listens
    /// beyond loopback, else none; a listener beyond loopback that nobody
    /// guards must be asked for with `none` [auto].
    #[arg(long, env = "PODWIRE_API_AUTH", value_name = "MODE")]
    pub api_auth: Option<String>,

    /// Tokens that may read records and metrics, one per line, `TOKEN
    /// [NAME]` (the capture token file's format); re-read on every request.
    #[arg(long, env = "PODWIRE_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,

    /// Serve `/metrics` to anyone, whatever --api-auth says of the rest.
    #[arg(long, env = "PODWIRE_METRICS_OPEN")]
    #[serde(default)]
    pub metrics_open: bool,

    /// Serve the API over HTTPS with this certificate chain (PEM; re-read
    /// when the file changes, as a mounted Secret does) [plain HTTP].
    #[arg(long, env = "PODWIRE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "PODWIRE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Ask peers over HTTPS, trusting the certificate authorities in this
    /// file (PEM) [plain HTTP].
    #[arg(long, env = "PODWIRE_PEER_CA", value_name = "FILE")]
    pub peer_ca: Option<PathBuf>,

    /// The name peers' certificates must carry; they are reached by address,
    /// so one name stands for all of them [podwire].
    #[arg(long, env = "PODWIRE_PEER_SERVER_NAME", value_name = "NAME")]
    pub peer_server_name: Option<String>,

    /// The bearer token sent to peers, read from this file at every request
    /// [in Kubernetes: the service account token; else none].
    #[arg(long, env = "PODWIRE_PEER_TOKEN_FILE", value_name = "FILE")]
    pub peer_token_file: Option<PathBuf>,

    /// Packet captures running at once [4].
    #[arg(long, env = "PODWIRE_CAPTURE_MAX_STREAMS", value_name = "N")]
    pub capture_max_streams: Option<usize>,

    /// Longest packet capture, seconds [3600].
    #[arg(long, env = "PODWIRE_CAPTURE_MAX_DURATION", value_name = "SECONDS")]
    pub capture_max_duration: Option<u64>,

    /// Most one packet capture streams, MiB [2048].
    #[arg(long, env = "PODWIRE_CAPTURE_MAX_MIB", value_name = "MIB")]
    pub capture_max_mib: Option<u64>,

    /// Bandwidth of all packet captures together, MiB/s; packets beyond it
    /// are dropped and counted in the stream [32].
    #[arg(long, env = "PODWIRE_CAPTURE_RATE_MIB", value_name = "MIB")]
    pub capture_rate_mib: Option<u64>,

    /// Kernel packet ring of each capture, MiB [4].
    #[arg(long, env = "PODWIRE_CAPTURE_RING_MIB", value_name = "MIB")]
    pub capture_ring_mib: Option<u64>,

    /// `[otlp]` in the file.
    #[command(flatten)]
    #[serde(default)]
    pub otlp: crate::otlp::OtlpArgs,
}
