//! podwire: what workloads say to each other on the network.
//!
//! The binary is thin: it parses the command line ([`cli`]), validates it
//! into a configuration, and runs a command. `read` drives the library
//! pipeline (capture -> decode -> track -> parse) over capture files and
//! writes records ([`output`]).

mod agent;
mod cli;
mod output;
mod pipeline;
mod read;
mod sniff;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = parse();
    let result = match cli.command {
        cli::Command::Read(args) => read::run(*args),
        cli::Command::Agent(args) => agent::run(*args),
        cli::Command::Sniff(args) => sniff::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("podwire: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The command line; run as `kubectl-podwire` (the kubectl plugin: a copy
/// or link of this binary under that name, as krew installs it), help and
/// errors say `kubectl podwire`.
fn parse() -> cli::Cli {
    let plugin = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .is_some_and(|n| n == "kubectl-podwire");
    let mut cmd = cli::Cli::command();
    if plugin {
        cmd = cmd.name("kubectl podwire").bin_name("kubectl podwire");
    }
    let matches = cmd.get_matches();
    cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
