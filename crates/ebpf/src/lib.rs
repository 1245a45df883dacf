//! Kernel probes for the live agent (the `capture` side of the pipeline, from
//! the kernel's point of view rather than the wire's).
//!
//! Packets tell podwire what was said; they cannot tell which process said
//! it, and on a node they are often encrypted or on a veth the agent cannot
//! see. The kernel knows both: [`ConnProbe`] attaches a small BPF program to
//! the stable tracepoint `sock/inet_sock_set_state` and reports every TCP
//! connection's start (with pid, comm and cgroup) and end (with the kernel's
//! own byte, RTT and retransmission counters) as a [`ConnEvent`].
//!
//! The BPF side is C (`bpf/conn.bpf.c`), compiled once by
//! `scripts/build-bpf.sh` into a committed, path-independent object that is
//! embedded here, so building podwire needs no clang and the loaded bytes are
//! the reviewed ones. It is CO-RE: field offsets are fixed up at load time
//! from the running kernel's BTF, so one object runs on many kernels.
//!
//! [`TlsProbe`] (`bpf/tls.bpf.c`) reads plaintext inside TLS with uprobes
//! on the TLS library's read and write calls.
//!
//! eBPF is an optional capability: [`ConnProbe::load`] returns a typed
//! [`EbpfError`] (no BTF, no privileges, ...) so the agent can log one line
//! and carry on without it.

mod event;
pub mod go_tls;
mod tls;
mod tls_event;
mod tls_symbols;

pub use event::{
    ConnEvent, CONN_EVENT_SIZE, KIND_ACCEPT, KIND_CLOSE, KIND_CONNECT, KIND_LISTEN, KIND_UNLISTEN,
};
pub use tls::{FileId, TlsLost, TlsProbe, MAX_EXCLUDED_CGROUPS};
pub use tls_event::{
    TlsEvent, FD_CACHED, FROM_GO, OP_READ, OP_WRITE, TLS_CHUNK, TLS_EVENT_SIZE, TLS_MAX_CHUNKS,
};
pub use tls_symbols::defines_tls_functions;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, TracePoint};
use aya::{Btf, Ebpf};
use std::ffi::CStr;
use std::io;
use std::path::Path;
use std::time::Duration;

/// The compiled `bpf/conn.bpf.c` (see `scripts/build-bpf.sh`).
static CONN_OBJECT: &[u8] = aya::include_bytes_aligned!("../../../bpf/conn.bpf.o");

/// Events the ring buffer holds (1 MiB of 120-byte events with their
/// 8-byte headers; `RING_BYTES` in `bpf/conn.bpf.c`).
pub const RING_EVENTS: usize = (1 << 20) / (CONN_EVENT_SIZE + 8);

const PROGRAM: &str = "inet_sock_set_state";
const BTF_PROGRAM: &str = "btf_inet_sock_set_state";
pub(crate) const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
/// Where tracefs lives, in the order aya looks for it.
const TRACEFS_PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Why the probe could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EbpfError {
    /// The kernel exposes no BTF (`/sys/kernel/btf/vmlinux`), which CO-RE
    /// needs to fit the program to this kernel (needs CONFIG_DEBUG_INFO_BTF).
    #[error("kernel has no BTF at {BTF_PATH} (CONFIG_DEBUG_INFO_BTF): eBPF probes unavailable")]
    NoBtf,
    /// The kernel refused: not root and without CAP_BPF + CAP_PERFMON (or
    /// CAP_SYS_ADMIN), or a lockdown/seccomp policy forbids BPF.
    #[error("not permitted to load eBPF programs (need root or CAP_BPF+CAP_PERFMON): {0}")]
    PermissionDenied(String),
    /// tracefs, where tracepoint ids are read, is neither mounted nor
    /// mountable.
    #[error("tracefs not available: {0}")]
    Tracefs(io::Error),
    /// Parsing, relocating or verifying the object failed.
    #[error("loading the eBPF object failed: {0}")]
    Load(String),
    /// Attaching to the tracepoint failed.
    #[error("attaching to sock/inet_sock_set_state failed: {0}")]
    Attach(String),
}

/// The connection-lifecycle probe, attached while this value lives.
///
/// Dropping it detaches the program and frees its maps: nothing is pinned,
/// so nothing outlives the process.
pub struct ConnProbe {
    events: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    hook: Hook,
    fallback: Option<String>,
    // Owns the program and its tracepoint link; dropped last.
    _ebpf: Ebpf,
}

impl ConnProbe {
    /// Loads the program into the kernel and attaches it.
    ///
    /// RLIMIT_MEMLOCK is raised by aya only when the kernel charges BPF
    /// memory to it (before 5.11) and a load fails with EPERM.
    ///
    /// Tries the BTF-typed raw tracepoint first and falls back to the
    /// classic tracepoint when the kernel refuses it ([`hook`](Self::hook)
    /// says which is attached, [`fallback`](Self::fallback) why).
    pub fn load() -> Result<ConnProbe, EbpfError> {
        ConnProbe::load_with(None)
    }

    /// Like [`load`](Self::load), with the hook forced (`Some`) or chosen
    /// as `load` does (`None`).
    pub fn load_with(force: Option<Hook>) -> Result<ConnProbe, EbpfError> {
        if !Path::new(BTF_PATH).exists() {
            return Err(EbpfError::NoBtf);
        }
        let mut ebpf = Ebpf::load(CONN_OBJECT).map_err(|e| classify(&e, EbpfError::Load))?;
        let mut fallback = None;
        let hook = match force {
            Some(Hook::Tracepoint) => {
                attach_tracepoint(&mut ebpf)?;
                Hook::Tracepoint
            }
            Some(Hook::BtfTracepoint) => {
                attach_btf(&mut ebpf)?;
                Hook::BtfTracepoint
            }
            None => match attach_btf(&mut ebpf) {
                Ok(()) => Hook::BtfTracepoint,
                // No privileges is no privileges for either hook.
                Err(e @ EbpfError::PermissionDenied(_)) => return Err(e),
                Err(e) => {
                    fallback = Some(e.to_string());
                    attach_tracepoint(&mut ebpf)?;
                    Hook::Tracepoint
                }
            },
        };

        let events = take_map(&mut ebpf, "events")?;
        let events =
            RingBuf::try_from(events).map_err(|e| EbpfError::Load(format!("events: {e}")))?;
        let lost = take_map(&mut ebpf, "lost")?;
        let lost =
            PerCpuArray::try_from(lost).map_err(|e| EbpfError::Load(format!("lost: {e}")))?;
        Ok(ConnProbe {
            events,
            lost,
            hook,
            fallback,
            _ebpf: ebpf,
        })
    }

    /// The hook the program is attached with.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// Why the preferred hook was refused, when [`load`](Self::load) fell
    /// back.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Appends every event waiting in the ring buffer to `out`; never
    /// blocks. Records too short to be a [`ConnEvent`] are skipped (the size
    /// assertions on both sides make that a build error in practice).
    pub fn poll(&mut self, out: &mut Vec<ConnEvent>) {
        while let Some(item) = self.events.next() {
            if let Some(ev) = ConnEvent::from_bytes(&item) {
                out.push(ev);
            }
        }
    }

    /// How long to wait before the next [`poll`](Self::poll), given that
    /// the last one read `read` events that came in over `over`. The
    /// program never wakes the reader (a wakeup cost more than the rest of
    /// its run, see `bpf/conn.bpf.c`), so the reader paces itself: at the
    /// rate just seen, the next read should find the ring an eighth full,
    /// leaving seven eighths for a reader that runs late (at 85,000 events/s,
    /// 21,000 connections/s with both ends here: a read every 12 ms, and
    /// 84 ms of slack). Never longer than `quiet`, never under 1 ms.
    pub fn next_poll(read: usize, over: Duration, quiet: Duration) -> Duration {
        let Ok(read) = u32::try_from(read) else {
            return Duration::from_millis(1);
        };
        if read == 0 {
            return quiet;
        }
        (over / read * (RING_EVENTS as u32 / 8)).clamp(
            Duration::from_millis(1),
            quiet.max(Duration::from_millis(1)),
        )
    }

    /// Events the kernel dropped because the ring buffer was full, since
    /// load (summed over CPUs).
    pub fn lost(&self) -> u64 {
        match self.lost.get(&0, 0) {
            Ok(per_cpu) => per_cpu.iter().sum(),
            Err(_) => 0,
        }
    }
}

/// Where the program hooks into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `tp_btf/inet_sock_set_state`: BTF-typed raw tracepoint (Linux 5.5+).
    BtfTracepoint,
    /// `tracepoint/sock/inet_sock_set_state` (Linux 4.16+; needs tracefs).
    Tracepoint,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::BtfTracepoint => "tp_btf/inet_sock_set_state",
            Hook::Tracepoint => "tracepoint/sock/inet_sock_set_state",
        }
    }
}

fn attach_btf(ebpf: &mut Ebpf) -> Result<(), EbpfError> {
    let btf = Btf::from_sys_fs().map_err(|e| EbpfError::Load(format!("kernel BTF: {e}")))?;
    let program: &mut BtfTracePoint = ebpf
        .program_mut(BTF_PROGRAM)
        .ok_or_else(|| EbpfError::Load(format!("object has no program {BTF_PROGRAM}")))?
        .try_into()
        .map_err(|e| EbpfError::Load(format!("{BTF_PROGRAM}: {e}")))?;
    program
        .load("inet_sock_set_state", &btf)
        .map_err(|e| classify(&e, EbpfError::Load))?;
    program
        .attach()
        .map_err(|e| classify(&e, EbpfError::Attach))?;
    Ok(())
}

fn attach_tracepoint(ebpf: &mut Ebpf) -> Result<(), EbpfError> {
    ensure_tracefs().map_err(|e| match e.kind() {
        // Unreadable or unmountable for lack of privileges: the same
        // cause as a refused BPF load, so report it as that.
        io::ErrorKind::PermissionDenied => EbpfError::PermissionDenied(e.to_string()),
        _ => EbpfError::Tracefs(e),
    })?;
    let program: &mut TracePoint = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| EbpfError::Load(format!("object has no program {PROGRAM}")))?
        .try_into()
        .map_err(|e| EbpfError::Load(format!("{PROGRAM}: {e}")))?;
    program.load().map_err(|e| classify(&e, EbpfError::Load))?;
    program
        .attach("sock", "inet_sock_set_state")
        .map_err(|e| classify(&e, EbpfError::Attach))?;
    Ok(())
}

pub(crate) fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, EbpfError> {
    ebpf.take_map(name)
        .ok_or_else(|| EbpfError::Load(format!("object has no map {name}")))
}

/// Maps an aya error to [`EbpfError::PermissionDenied`] when EPERM is
/// somewhere in its chain, else to `other`.
pub(crate) fn classify(
    e: &(dyn std::error::Error + 'static),
    other: fn(String) -> EbpfError,
) -> EbpfError {
    let text = chain(e);
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.raw_os_error() == Some(libc::EPERM) {
                return EbpfError::PermissionDenied(text);
            }
        }
        cur = err.source();
    }
    other(text)
}

/// "outer: inner: innermost" (aya's messages often hide the errno below).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = err.source();
    }
    text
}

/// Makes sure tracefs is mounted where aya looks for it: not mounted by
/// default on many hosts and containers, and tracepoint ids are read there.
pub(crate) fn ensure_tracefs() -> io::Result<()> {
    let mounted = |p: &str| {
        std::fs::read_dir(p)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    };
    if TRACEFS_PATHS.iter().any(|p| mounted(p)) {
        return Ok(());
    }
    let target = TRACEFS_PATHS[0];
    let source: &CStr = c"tracefs";
    let path: &CStr = c"/sys/kernel/tracing";
    debug_assert_eq!(path.to_str(), Ok(target));
    // SAFETY: all three strings are NUL-terminated literals that outlive the
    // call, and tracefs takes no mount data (null is allowed).
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            path.as_ptr(),
            source.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("mount -t tracefs tracefs {target}: {err}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_paces_itself_to_find_an_eighth_of_the_ring() {
        let quiet = Duration::from_millis(50);
        let ms = Duration::from_millis;
        // Nothing came: wait the longest.
        assert_eq!(ConnProbe::next_poll(0, ms(50), quiet), quiet);
        // A trickle: still the longest.
        assert_eq!(ConnProbe::next_poll(10, ms(50), quiet), quiet);
        // 85 events a millisecond: an eighth of the ring (1,024) in 12 ms.
        let w = ConnProbe::next_poll(85, ms(1), quiet);
        assert!(w >= ms(11) && w <= ms(13), "{w:?}");
        // A flood: at least a millisecond between reads.
        assert_eq!(ConnProbe::next_poll(100_000, ms(1), quiet), ms(1));
        assert_eq!(ConnProbe::next_poll(usize::MAX, ms(1), quiet), ms(1));
        assert_eq!(RING_EVENTS, 8192);
    }
}
