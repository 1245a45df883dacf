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
    Read(ReadArgs),
}

/// Output formats of `podwire read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// One JSON record per line (schema: docs/records.md).
    Jsonl,
}

/// Record types, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Connection,
    Tls,
    Http,
    Dns,
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

    /// With --http-headers: show credential headers verbatim instead of redacted.
    #[arg(long, requires = "http_headers")]
    pub show_secrets: bool,

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
}
