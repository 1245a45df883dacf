//! Running code inside another network namespace.
//!
//! A socket belongs to the network namespace of the thread that created it,
//! for its whole life. So to capture "inside" a namespace (a pod's, or a
//! test's) the agent only needs to *create* the ring and the link monitor
//! there; it can then read them from any thread. [`in_netns`] does exactly
//! that on a short-lived thread, so the caller's own threads never change
//! namespace (switching a pooled thread's namespace and forgetting to switch
//! back is a classic source of sockets in the wrong place).

use crate::CaptureError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Runs `f` on a new thread that has joined the network namespace at `path`
/// (`/var/run/netns/NAME`, `/proc/PID/ns/net`, ...) and returns its result.
/// Sockets `f` creates stay in that namespace. A panic in `f` is propagated.
/// Needs CAP_SYS_ADMIN.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, CaptureError> {
    let netns_err = |source| CaptureError::Netns {
        path: path.to_path_buf(),
        source,
    };
    // std opens with O_CLOEXEC.
    let ns = File::open(path).map_err(netns_err)?;
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            // SAFETY: setns takes a valid open descriptor and changes only
            // this (fresh, private) thread's network namespace.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(f())
        });
        match worker.join() {
            Ok(result) => result.map_err(netns_err),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_namespace_is_a_typed_error() {
        let err = in_netns(Path::new("/nonexistent/netns/x"), || 1).unwrap_err();
        assert!(
            matches!(err, CaptureError::Netns { ref path, .. } if path == Path::new("/nonexistent/netns/x"))
        );
    }

    #[test]
    fn a_file_that_is_not_a_namespace_is_refused() {
        let err = in_netns(Path::new("/proc/self/stat"), || 1).unwrap_err();
        assert!(matches!(err, CaptureError::Netns { .. }), "{err}");
    }

    #[test]
    fn own_namespace_runs_the_closure() {
        // Joining the namespace we are already in needs CAP_SYS_ADMIN too.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            podwire_lab::skip::skipped("own_namespace_runs_the_closure", "setns needs root");
            return;
        }
        let v = [1, 2, 3];
        let sum = in_netns(Path::new("/proc/self/ns/net"), || v.iter().sum::<i32>()).unwrap();
        assert_eq!(sum, 6);
    }
}
