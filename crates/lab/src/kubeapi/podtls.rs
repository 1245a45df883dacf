//! The proxy's connection to a pod, plain or TLS (`https:NAME:PORT` in the
//! proxy path). Like a real API server, the proxy does not verify the pod's
//! certificate (kube-apiserver dials pods with verification off): TLS on
//! this hop keeps what crosses the node network private, it does not prove
//! which pod answered. The caller's own connection to the API server is
//! what authenticates.

use rustls::{ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// A connection to a pod.
pub(super) enum PodStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl PodStream {
    /// `tcp` as is, or with a TLS client on it (the handshake happens on
    /// first use, within the socket's timeouts).
    pub fn new(tcp: TcpStream, addr: SocketAddr, tls: bool) -> Result<PodStream, String> {
        if !tls {
            return Ok(PodStream::Plain(tcp));
        }
        Ok(PodStream::Tls(Box::new(crate::tls::unverified(tcp, addr)?)))
    }
}

impl Read for PodStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PodStream::Plain(s) => s.read(buf),
            PodStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for PodStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PodStream::Plain(s) => s.write(buf),
            PodStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PodStream::Plain(s) => s.flush(),
            PodStream::Tls(s) => s.flush(),
        }
    }
}
