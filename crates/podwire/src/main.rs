//! podwire: what workloads say to each other on the network.
//!
//! The binary is thin: it parses the command line ([`cli`]), validates it
//! into a configuration, and runs a command. `read` drives the library
//! pipeline (capture -> decode -> track -> parse) over capture files and
//! writes records ([`output`]). A bad value from an environment variable
//! is reported under the variable's name, not the flag's
//! ([`blame_environment`]).

mod agent;
mod cli;
mod names;
mod otlp;
mod output;
mod pipeline;
mod read;
mod sniff;

use podwire_api::{listen, tls_client};

use clap::{Command, CommandFactory, FromArgMatches};
use std::ffi::OsString;
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
    let argv: Vec<OsString> = std::env::args_os().collect();
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .unwrap_or_else(|e| blame_environment(cmd, &argv, e).exit());
    cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// clap names a bad value by its flag even when it came from the flag's
/// environment variable (`PODWIRE_STORE_MIB=abc` was "invalid value 'abc'
/// for '--store-mib <MIB>'", a flag the user never typed). For every
/// setting with a variable: when the value at fault is the variable's (clap
/// reads a variable only for a flag not given), the error names the
/// variable: `PODWIRE_STORE_MIB=abc: invalid value for --store-mib <MIB>:
/// invalid digit found in string`.
fn blame_environment(mut cmd: Command, argv: &[OsString], e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return e;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    // The (sub)command and argument the value belongs to (an argument
    // renders as in the error once its command is built).
    cmd.build();
    let found = std::iter::once((None, &cmd))
        .chain(cmd.get_subcommands().map(|s| (Some(s.get_name()), s)))
        .find_map(|(sub, c)| {
            c.get_arguments()
                .find(|a| a.get_env().is_some() && a.to_string() == *flag)
                .map(|a| (sub.map(str::to_string), a.clone()))
        });
    let Some((sub, arg)) = found else {
        return e;
    };
    let Some(var) = arg.get_env().map(|v| v.to_string_lossy().into_owned()) else {
        return e;
    };
    let Some(value) = std::env::var_os(&var) else {
        return e;
    };
    if typed(&arg, argv) {
        // The flag was given, so clap did not read the variable: its
        // message is right.
        return e;
    }
    let shown = if arg.is_hide_env_values_set() {
        var
    } else {
        format!("{var}={}", value.to_string_lossy())
    };
    let reason = match (
        e.get(ContextKind::ValidValue),
        std::error::Error::source(&e),
    ) {
        (Some(ContextValue::Strings(valid)), _) => format!("expected one of {}", valid.join(", ")),
        (_, Some(source)) => source.to_string(),
        _ => "not accepted".to_string(),
    };
    let message = format!("{shown}: invalid value for {flag}: {reason}");
    match sub.and_then(|name| cmd.find_subcommand_mut(&name).cloned()) {
        Some(mut s) => s.error(ErrorKind::ValueValidation, message),
        None => cmd.error(ErrorKind::ValueValidation, message),
    }
}

/// Whether `arg` is on the command line (before any `--`), by its long or
/// short name, so its value did not come from its variable.
fn typed(arg: &clap::Arg, argv: &[OsString]) -> bool {
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short();
    argv.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| {
            let by_long = long
                .as_deref()
                .is_some_and(|l| a == l || a.strip_prefix(l).is_some_and(|r| r.starts_with('=')));
            // `-t4`, `-qt 4`: a short flag anywhere in a group of shorts.
            let by_short = short.is_some_and(|c| {
                a.strip_prefix('-')
                    .is_some_and(|g| !g.starts_with('-') && g.chars().any(|x| x == c))
            });
            by_long || by_short
        })
}
