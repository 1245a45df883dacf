//! What can go wrong setting the API up or serving it, typed; the binary
//! adds what it was doing (`anyhow` context) when it reports one.

/// See the module comment. Each message names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("listening on {listen}: {error}")]
    Listen {
        listen: String,
        error: std::io::Error,
    },
    /// The bound socket could not say its address.
    #[error("the listening address: {0}")]
    LocalAddr(std::io::Error),
    /// Serving stopped on an I/O error.
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    /// A certificate, key or certificate authority file did not load, or
    /// TLS could not be set up with them (`what` says which).
    #[error("{what}: {error}")]
    Tls { what: String, error: String },
    /// Settings that do not hold together.
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub(crate) fn tls(what: impl Into<String>, error: impl std::fmt::Display) -> Error {
        Error::Tls {
            what: what.into(),
            error: error.to_string(),
        }
    }
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
