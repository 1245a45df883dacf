//! Plaintext from inside TLS: uprobes on the TLS library's read and write
//! calls (`bpf/tls.bpf.c`).
//!
//! A uprobe belongs to a file (an inode), not a process: attached once to
//! `libssl.so.3`, it fires in every process that maps that file, those
//! started later included, and in no other. So [`TlsProbe::attach`] takes
//! a file and remembers it by device and inode (the same library reached
//! through two paths, e.g. `/proc/PID/root/...` of two containers sharing an
//! image layer, is attached once), and [`TlsProbe::detach`] lets it go when
//! no process maps it any more. Finding the files is the caller's job (the
//! agent scans `/proc/*/maps`).
//!
//! The syscall tracepoints that tell which socket a call used are attached
//! at load, whether or not any library is.
//!
//! Go programs carry their own TLS: [`TlsProbe::attach`] tells them by
//! their build information and probes `crypto/tls` in the program's file
//! ([`crate::go_tls`] says how, and why not with uretprobes).

use crate::go_tls::{self, GoLook, GoTls};
use crate::tls_event::TlsEvent;
use crate::{classify, ensure_tracefs, take_map, EbpfError, BTF_PATH};
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::uprobe::{UProbeLinkId, UProbeScope};
use aya::programs::{TracePoint, UProbe};
use aya::Ebpf;
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The compiled `bpf/tls.bpf.c` (see `scripts/build-bpf.sh`).
static TLS_OBJECT: &[u8] = aya::include_bytes_aligned!("../../../bpf/tls.bpf.o");

/// (entry program, function) pairs; each function also gets the one
/// return program. OpenSSL 1.1.1+ and 3.x have all four; BoringSSL and
/// older OpenSSL lack the `_ex` ones, which are then skipped.
const FUNCTIONS: [(&str, &str); 4] = [
    ("ssl_write", "SSL_write"),
    ("ssl_write_ex", "SSL_write_ex"),
    ("ssl_read", "SSL_read"),
    ("ssl_read_ex", "SSL_read_ex"),
];
const RETURN: &str = "ssl_return";
/// Go's crypto/tls (see [`crate::go_tls`]): entry programs for `Write` and
/// `Read`, and the one program on each of `Read`'s `ret` instructions.
const GO_WRITE: &str = "go_tls_write";
const GO_READ: &str = "go_tls_read";
const GO_RETURN: &str = "go_tls_return";
/// The syscalls a TLS library's socket BIO makes (program, tracepoint).
const SYSCALLS: [(&str, &str); 8] = [
    ("enter_write", "sys_enter_write"),
    ("enter_writev", "sys_enter_writev"),
    ("enter_sendto", "sys_enter_sendto"),
    ("enter_sendmsg", "sys_enter_sendmsg"),
    ("enter_read", "sys_enter_read"),
    ("enter_readv", "sys_enter_readv"),
    ("enter_recvfrom", "sys_enter_recvfrom"),
    ("enter_recvmsg", "sys_enter_recvmsg"),
];

/// cgroups [`TlsProbe::exclude`] can hold (`skip_cgroups` in
/// `bpf/tls.bpf.c`).
pub const MAX_EXCLUDED_CGROUPS: usize = 65536;

/// A file by identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of the file at `path`.
    pub fn of(path: &Path) -> io::Result<FileId> {
        let m = std::fs::metadata(path)?;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// What the kernel side could not do, since load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsLost {
    /// Records the ring buffer had no room for.
    pub ring_full: u64,
    /// Calls whose socket was not found (no syscall seen yet on that SSL
    /// object, or not a TCP socket).
    pub no_socket: u64,
    /// Calls not recorded at entry (too many threads inside SSL calls).
    pub no_entry: u64,
    /// Calls left alone: their process's cgroup is excluded
    /// ([`TlsProbe::exclude`]). Not a loss: asked for.
    pub excluded: u64,
}

/// The TLS plaintext probe; everything detaches when it drops.
pub struct TlsProbe {
    ebpf: Ebpf,
    events: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    /// cgroup ids whose calls are not read (`skip_cgroups`).
    skip: BpfHashMap<MapData, u64, u8>,
    /// What `skip` holds, to change only what changed.
    skipping: HashSet<u64>,
    /// Attached files and their links (program name, link).
    files: HashMap<FileId, Vec<(&'static str, UProbeLinkId)>>,
}

impl TlsProbe {
    /// Loads the programs and attaches the syscall tracepoints; no library
    /// is probed until [`attach`](Self::attach).
    pub fn load() -> Result<TlsProbe, EbpfError> {
        if !Path::new(BTF_PATH).exists() {
            return Err(EbpfError::NoBtf);
        }
        ensure_tracefs().map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => EbpfError::PermissionDenied(e.to_string()),
            _ => EbpfError::Tracefs(e),
        })?;
        let mut ebpf = Ebpf::load(TLS_OBJECT).map_err(|e| classify(&e, EbpfError::Load))?;
        for name in FUNCTIONS
            .iter()
            .map(|f| f.0)
            .chain([RETURN, GO_WRITE, GO_READ, GO_RETURN])
        {
            uprobe(&mut ebpf, name)?
                .load()
                .map_err(|e| classify(&e, EbpfError::Load))?;
        }
        for (name, tracepoint) in SYSCALLS {
            let p: &mut TracePoint = ebpf
                .program_mut(name)
                .ok_or_else(|| EbpfError::Load(format!("object has no program {name}")))?
                .try_into()
                .map_err(|e| EbpfError::Load(format!("{name}: {e}")))?;
            p.load().map_err(|e| classify(&e, EbpfError::Load))?;
            p.attach("syscalls", tracepoint)
                .map_err(|e| classify(&e, EbpfError::Attach))?;
        }
        let events = RingBuf::try_from(take_map(&mut ebpf, "events")?)
            .map_err(|e| EbpfError::Load(format!("events: {e}")))?;
        let lost = PerCpuArray::try_from(take_map(&mut ebpf, "lost")?)
            .map_err(|e| EbpfError::Load(format!("lost: {e}")))?;
        let skip = BpfHashMap::try_from(take_map(&mut ebpf, "skip_cgroups")?)
            .map_err(|e| EbpfError::Load(format!("skip_cgroups: {e}")))?;
        Ok(TlsProbe {
            ebpf,
            events,
            lost,
            skip,
            skipping: HashSet::new(),
            files: HashMap::new(),
        })
    }

    /// Probes the TLS functions of the library or program at `path`, once
    /// per file: `Ok(0)` when that file is probed already, else the number
    /// of functions probed. A file without any of them is an error
    /// ([`EbpfError::Attach`]), as is one the kernel refuses, and a Go
    /// program that cannot be probed (see [`crate::go_tls`]).
    pub fn attach(&mut self, path: &Path) -> Result<usize, EbpfError> {
        let id =
            FileId::of(path).map_err(|e| EbpfError::Attach(format!("{}: {e}", path.display())))?;
        if self.files.contains_key(&id) {
            return Ok(0);
        }
        match go_tls::look(path) {
            GoLook::NotGo => {}
            GoLook::Go(go) => return self.attach_go(id, path, &go),
            GoLook::Unsupported(why) => {
                return Err(EbpfError::Attach(format!("{}: {why}", path.display())))
            }
        }
        let mut links = Vec::new();
        let mut first_error = None;
        for (entry, function) in FUNCTIONS {
            match self.attach_one(entry, function, path, &mut links) {
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let functions = links.len() / 2;
        if functions == 0 {
            return Err(first_error.unwrap_or_else(|| {
                EbpfError::Attach(format!("{}: no TLS functions", path.display()))
            }));
        }
        self.files.insert(id, links);
        Ok(functions)
    }

    /// Entry and return probes on one function; neither or both stay.
    fn attach_one(
        &mut self,
        entry: &'static str,
        function: &str,
        path: &Path,
        links: &mut Vec<(&'static str, UProbeLinkId)>,
    ) -> Result<(), EbpfError> {
        let at = |e| EbpfError::Attach(format!("{function} in {}: {e}", path.display()));
        let first = uprobe(&mut self.ebpf, entry)?
            .attach(function, path, UProbeScope::AllProcesses)
            .map_err(|e| at(crate::chain(&e)))?;
        match uprobe(&mut self.ebpf, RETURN)?.attach(function, path, UProbeScope::AllProcesses) {
            Ok(ret) => {
                links.push((entry, first));
                links.push((RETURN, ret));
                Ok(())
            }
            Err(e) => {
                let _ = uprobe(&mut self.ebpf, entry)?.detach(first);
                Err(at(crate::chain(&e)))
            }
        }
    }

    /// Go's `Write` (read at entry: its bytes are all there) and `Read`
    /// (entry, and each `ret`), entries after the stack check (see
    /// [`crate::go_tls::GoFunction`]); all of them or none.
    fn attach_go(&mut self, id: FileId, path: &Path, go: &GoTls) -> Result<usize, EbpfError> {
        let mut links: Vec<(&'static str, UProbeLinkId)> = Vec::new();
        let points = [(GO_WRITE, go.write.body), (GO_READ, go.read.body)]
            .into_iter()
            .chain(go.read.returns.iter().map(|r| (GO_RETURN, *r)));
        for (program, offset) in points {
            let attached = uprobe(&mut self.ebpf, program).and_then(|p| {
                p.attach(offset, path, UProbeScope::AllProcesses)
                    .map_err(|e| {
                        EbpfError::Attach(format!(
                            "{} ({}) at {offset:#x}: {}",
                            path.display(),
                            go.version,
                            crate::chain(&e)
                        ))
                    })
            });
            match attached {
                Ok(link) => links.push((program, link)),
                Err(e) => {
                    for (name, link) in links {
                        if let Ok(p) = uprobe(&mut self.ebpf, name) {
                            let _ = p.detach(link);
                        }
                    }
                    return Err(e);
                }
            }
        }
        self.files.insert(id, links);
        Ok(2)
    }

    /// Removes the probes from a file (when no process maps it any more).
    pub fn detach(&mut self, id: FileId) {
        for (name, link) in self.files.remove(&id).unwrap_or_default() {
            if let Ok(p) = uprobe(&mut self.ebpf, name) {
                let _ = p.detach(link);
            }
        }
    }

    /// Makes the calls of processes in these cgroups (by id) go unread
    /// from now on, and those of every other cgroup read again; at most
    /// [`MAX_EXCLUDED_CGROUPS`] (the rest are left out, and counted in the
    /// answer). Returns how many cgroups are excluded now and how many
    /// could not be.
    pub fn exclude(&mut self, cgroups: &HashSet<u64>) -> (usize, usize) {
        let gone: Vec<u64> = self.skipping.difference(cgroups).copied().collect();
        for id in gone {
            if self.skip.remove(&id).is_ok() {
                self.skipping.remove(&id);
            }
        }
        let mut refused = 0;
        for id in cgroups {
            if self.skipping.contains(id) {
                continue;
            }
            if self.skipping.len() < MAX_EXCLUDED_CGROUPS && self.skip.insert(id, 1, 0).is_ok() {
                self.skipping.insert(*id);
            } else {
                refused += 1;
            }
        }
        (self.skipping.len(), refused)
    }

    /// The files probed now.
    pub fn files(&self) -> impl Iterator<Item = FileId> + '_ {
        self.files.keys().copied()
    }

    /// Hands every record waiting in the ring buffer to `f`, in the order
    /// the kernel wrote them; never blocks. Returns how many were read.
    pub fn poll(&mut self, mut f: impl FnMut(&TlsEvent, &[u8])) -> usize {
        let mut n = 0;
        while let Some(item) = self.events.next() {
            n += 1;
            if let Some((ev, data)) = TlsEvent::parse(&item) {
                f(&ev, data);
            }
        }
        n
    }

    /// What the kernel side lost, since load.
    pub fn lost(&self) -> TlsLost {
        let get = |i: u32| -> u64 {
            self.lost
                .get(&i, 0)
                .map(|per_cpu| per_cpu.iter().sum())
                .unwrap_or(0)
        };
        TlsLost {
            ring_full: get(0),
            no_socket: get(1),
            no_entry: get(2),
            excluded: get(3),
        }
    }
}

fn uprobe<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut UProbe, EbpfError> {
    ebpf.program_mut(name)
        .ok_or_else(|| EbpfError::Load(format!("object has no program {name}")))?
        .try_into()
        .map_err(|e| EbpfError::Load(format!("{name}: {e}")))
}
