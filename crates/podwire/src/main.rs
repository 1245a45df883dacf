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

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Read(args) => read::run(args),
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
