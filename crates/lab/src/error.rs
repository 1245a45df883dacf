//! The lab's error type.
//!
//! Lab failures are environment failures (a tool missing, a namespace that
//! would not come up, a server that never listened). Each error carries the
//! command or path involved so a failing test says what to look at.

use std::io;
use std::path::PathBuf;

/// What went wrong while building or using the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A program could not be started at all.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// Something did not happen within its time bound.
    #[error("timed out after {seconds:.1} s: {what}")]
    Timeout { what: String, seconds: f64 },
    /// Output of a tool did not look as expected.
    #[error("unexpected output from {tool}: {detail}")]
    Parse { tool: &'static str, detail: String },
}

/// Result alias for lab operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(tool: &'static str, detail: impl Into<String>) -> Self {
        Error::Parse {
            tool,
            detail: detail.into(),
        }
    }
}
