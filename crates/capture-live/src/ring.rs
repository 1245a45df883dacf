//! The AF_PACKET TPACKET_V3 ring: one socket on interface index 0 whose
//! received frames the kernel writes straight into memory shared with us.
//!
//! The ring is `block_count` blocks of `block_size` bytes. The kernel fills
//! the current block with frames and hands it over (sets `TP_STATUS_USER`)
//! when it is full or `block_timeout_ms` after its first frame; we read the
//! frames in place and hand the block back (`TP_STATUS_KERNEL`). One wakeup
//! per block instead of one syscall per packet is what makes a busy node
//! affordable. When every block is ours the kernel drops frames and counts
//! them, which [`Ring::stats`] reports.

use crate::block::{self, Frame, Frames, BLOCK_STATUS};
use crate::filter::{self, DEFAULT_ACCEPT};
use crate::sys::{self, cvt};
use crate::CaptureError;
use crate::Skip;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Geometry of the ring and what to keep of each frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block; a multiple of the page size. Default 1 MiB.
    pub block_size: usize,
    /// Number of blocks. Default 8.
    pub block_count: usize,
    /// Nominal frame size the kernel checks the geometry against (TPACKET_V3
    /// packs frames by their real size); a multiple of 16. Default 2048.
    pub frame_size: usize,
    /// A partly filled block is handed over this long after its first frame,
    /// which bounds latency on a quiet link. Default 100 ms.
    pub block_timeout_ms: u32,
    /// Keep at most this many bytes of each frame; `None` keeps whole frames.
    pub snaplen: Option<u32>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 8,
            frame_size: 2048,
            block_timeout_ms: 100,
            snaplen: None,
        }
    }
}

/// Cumulative socket counters since the ring was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Frames that passed the filter, including dropped ones (as the kernel counts).
    pub packets: u64,
    /// Frames dropped because no block was free.
    pub drops: u64,
    /// Times the kernel found the ring full and froze its queue.
    pub freezes: u64,
}

/// A TPACKET_V3 receive ring on every interface of one network namespace.
#[derive(Debug)]
pub struct Ring {
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    block_count: usize,
    current: usize,
    totals: RingStats,
    snaplen: Option<u32>,
}

// SAFETY: the ring exclusively owns its socket and its mapping; neither is
// tied to the thread that created them (the namespace is fixed at socket
// creation), and all access to the mapping goes through `&mut self`.
unsafe impl Send for Ring {}

fn setsockopt_ctx<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    what: &'static str,
    value: &T,
) -> Result<(), CaptureError> {
    sys::setsockopt(fd, level, name, value)
        .map_err(|source| CaptureError::Setsockopt { what, source })
}

fn validate(cfg: &RingConfig) -> Result<libc::tpacket_req3, CaptureError> {
    // SAFETY: sysconf takes no pointers.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    if cfg.block_size == 0 || !cfg.block_size.is_multiple_of(page) {
        return Err(CaptureError::InvalidConfig(
            "block_size must be a non-zero multiple of the page size",
        ));
    }
    if cfg.frame_size < libc::TPACKET3_HDRLEN
        || !cfg.frame_size.is_multiple_of(libc::TPACKET_ALIGNMENT)
        || cfg.frame_size > cfg.block_size
    {
        return Err(CaptureError::InvalidConfig(
            "frame_size must be a multiple of 16, at least the frame header, at most block_size",
        ));
    }
    if cfg.block_count == 0 {
        return Err(CaptureError::InvalidConfig(
            "block_count must be at least 1",
        ));
    }
    if cfg.snaplen == Some(0) {
        return Err(CaptureError::InvalidConfig("snaplen 0 would keep nothing"));
    }
    let too_big = || CaptureError::InvalidConfig("ring too large");
    let frames = (cfg.block_size / cfg.frame_size)
        .checked_mul(cfg.block_count)
        .ok_or_else(too_big)?;
    cfg.block_size
        .checked_mul(cfg.block_count)
        .filter(|&total| isize::try_from(total).is_ok())
        .ok_or_else(too_big)?;
    let u32_of = |v: usize| u32::try_from(v).map_err(|_| too_big());
    Ok(libc::tpacket_req3 {
        tp_block_size: u32_of(cfg.block_size)?,
        tp_block_nr: u32_of(cfg.block_count)?,
        tp_frame_size: u32_of(cfg.frame_size)?,
        tp_frame_nr: u32_of(frames)?,
        tp_retire_blk_tov: cfg.block_timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    })
}

impl Ring {
    /// Opens a ring on every interface of the calling thread's network
    /// namespace (wrap in [`in_netns`](crate::in_netns) to choose another).
    /// Needs CAP_NET_RAW.
    pub fn open(cfg: &RingConfig) -> Result<Ring, CaptureError> {
        Ring::open_with(cfg, 0, None)
    }

    /// Opens a ring on one interface (by index, in the calling thread's
    /// namespace) with a classic BPF program of the caller's (for example a
    /// compiled tcpdump expression) in place before the first frame. The
    /// program's return value is the snap length, so `cfg.snaplen` is not
    /// used. Needs CAP_NET_RAW.
    pub fn open_on(
        cfg: &RingConfig,
        ifindex: u32,
        program: &[libc::sock_filter],
    ) -> Result<Ring, CaptureError> {
        if ifindex == 0 {
            return Err(CaptureError::InvalidConfig(
                "interface index 0 means every interface",
            ));
        }
        Ring::open_with(cfg, ifindex, Some(program))
    }

    fn open_with(
        cfg: &RingConfig,
        ifindex: u32,
        program: Option<&[libc::sock_filter]>,
    ) -> Result<Ring, CaptureError> {
        let req = validate(cfg)?;
        if let Some(p) = program {
            if p.is_empty() || p.len() > libc::BPF_MAXINSNS as usize {
                return Err(CaptureError::InvalidConfig(
                    "a socket filter has 1 to 4096 instructions",
                ));
            }
        }
        // Protocol 0: the socket receives nothing until `bind`, so no frame
        // lands in the plain receive queue before the ring exists.
        let fd = sys::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
        .map_err(CaptureError::Socket)?;
        let raw = fd.as_raw_fd();
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt_ctx(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            "PACKET_VERSION",
            &version,
        )?;
        setsockopt_ctx(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            "PACKET_RX_RING",
            &req,
        )?;

        let map_len = cfg.block_size * cfg.block_count;
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel
        // checks `map_len` against the ring it just allocated.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(CaptureError::Mmap(io::Error::last_os_error()));
        }
        let map = NonNull::new(ptr.cast::<u8>())
            .ok_or(CaptureError::Mmap(io::ErrorKind::InvalidData.into()))?;
        let ring = Ring {
            fd,
            map,
            map_len,
            block_size: cfg.block_size,
            block_count: cfg.block_count,
            current: 0,
            totals: RingStats::default(),
            snaplen: cfg.snaplen,
        };
        // The snap length is a filter's return value, so it is in place before
        // the first frame arrives.
        match program {
            None => ring.set_interfaces(None)?,
            Some(p) => ring.attach(p)?,
        }

        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = i32::try_from(ifindex)
            .map_err(|_| CaptureError::InvalidConfig("interface index out of range"))?;
        // SAFETY: `addr` is a valid sockaddr_ll and the length matches it.
        cvt(unsafe {
            libc::bind(
                raw,
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map_err(CaptureError::Bind)?;
        Ok(ring)
    }

    /// Restricts capture to frames seen on the given interfaces (`None`: all
    /// of them; an empty list: none). The kernel swaps filters atomically.
    pub fn set_interfaces(&self, only: Option<&[u32]>) -> Result<(), CaptureError> {
        self.set_filter(&Skip::default(), only)
    }

    /// As [`set_interfaces`](Ring::set_interfaces), behind `skip`'s test:
    /// what it matches is dropped before it takes ring space (see [`Skip`]).
    pub fn set_filter(&self, skip: &Skip, only: Option<&[u32]>) -> Result<(), CaptureError> {
        let accept = self.snaplen.unwrap_or(DEFAULT_ACCEPT);
        let prog = match (only, self.snaplen) {
            (Some(list), _) => filter::only_interfaces(list, accept)?,
            (None, Some(_)) => filter::accept_all(accept),
            (None, None) if !skip.is_empty() => filter::accept_all(accept),
            (None, None) => {
                let zero: libc::c_int = 0;
                return match sys::setsockopt(
                    self.fd(),
                    libc::SOL_SOCKET,
                    libc::SO_DETACH_FILTER,
                    &zero,
                ) {
                    Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                        Err(CaptureError::Setsockopt {
                            what: "SO_DETACH_FILTER",
                            source: e,
                        })
                    }
                    _ => Ok(()),
                };
            }
        };
        self.attach(&skip.wrap(&prog))
    }

    /// Attaches `prog` (at most BPF_MAXINSNS instructions) as the socket filter.
    fn attach(&self, prog: &[libc::sock_filter]) -> Result<(), CaptureError> {
        let fprog = libc::sock_fprog {
            // Callers stay within BPF_MAXINSNS, far below u16::MAX.
            len: prog.len() as u16,
            filter: prog.as_ptr().cast_mut(),
        };
        // The kernel copies the program during the call; `prog` outlives it.
        setsockopt_ctx(
            self.fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            "SO_ATTACH_FILTER",
            &fprog,
        )
    }

    /// Waits up to `timeout` for the next block of frames. `None` on timeout
    /// or when a signal interrupted the wait. The block goes back to the
    /// kernel when dropped.
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<Block<'_>>, CaptureError> {
        let start = Instant::now();
        let mut waited = false;
        loop {
            if self.status() & libc::TP_STATUS_USER != 0 {
                return Ok(Some(Block { ring: self }));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if waited && left.is_zero() {
                return Ok(None);
            }
            waited = true;
            let mut pfd = libc::pollfd {
                fd: self.fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_nanos().div_ceil(1_000_000))
                .unwrap_or(libc::c_int::MAX);
            // SAFETY: `pfd` is one valid pollfd for the duration of the call.
            match cvt(unsafe { libc::poll(&mut pfd, 1, ms) }) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(None),
                Err(e) => return Err(CaptureError::Poll(e)),
                Ok(_) => {}
            }
            if pfd.revents & libc::POLLERR != 0 {
                // A pending socket error would make every poll return at once;
                // reading it clears it. Nothing in it concerns the ring.
                let mut err: libc::c_int = 0;
                let _ = sys::getsockopt(self.fd(), libc::SOL_SOCKET, libc::SO_ERROR, &mut err);
            }
        }
    }

    /// Counters since the ring was opened. The kernel resets its counters on
    /// every read, so this accumulates them.
    pub fn stats(&mut self) -> Result<RingStats, CaptureError> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        sys::getsockopt(
            self.fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut st,
        )
        .map_err(|source| CaptureError::Getsockopt {
            what: "PACKET_STATISTICS",
            source,
        })?;
        self.totals.packets += u64::from(st.tp_packets);
        self.totals.drops += u64::from(st.tp_drops);
        self.totals.freezes += u64::from(st.tp_freeze_q_cnt);
        Ok(self.totals)
    }

    /// The packet socket, for an event loop.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The status word of the current block, shared with the kernel.
    fn status_word(&self) -> &AtomicU32 {
        // SAFETY: `current < block_count`, so the word lies inside the
        // mapping, 4-byte aligned (page-aligned block + 8); it stays mapped
        // while `self` lives, and the kernel and we only access it as a u32.
        unsafe {
            AtomicU32::from_ptr(
                self.map
                    .as_ptr()
                    .add(self.current * self.block_size + BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    fn status(&self) -> u32 {
        // Acquire: the kernel publishes the block's frames before its status.
        self.status_word().load(Ordering::Acquire)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `map`/`map_len` are exactly what mmap returned, and no
        // block borrows the ring any more (`drop` has `&mut self`).
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
        // `fd` closes after this.
    }
}

/// A block of frames owned by user space until dropped.
#[derive(Debug)]
pub struct Block<'a> {
    ring: &'a mut Ring,
}

impl Block<'_> {
    fn bytes(&self) -> &[u8] {
        let r = &*self.ring;
        // SAFETY: the current block lies inside the mapping; its status is
        // TP_STATUS_USER, so the kernel does not write to it until `Drop`
        // hands it back, which cannot happen while this borrow lives.
        unsafe {
            std::slice::from_raw_parts(r.map.as_ptr().add(r.current * r.block_size), r.block_size)
        }
    }

    /// The frames in this block, in arrival order.
    pub fn frames(&self) -> Frames<'_> {
        Frames::new(self.bytes())
    }

    /// How many frames the kernel says the block holds.
    pub fn len(&self) -> usize {
        block::num_pkts(self.bytes()) as usize
    }

    /// Whether the block holds no frames (a timed-out empty block).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'b> IntoIterator for &'b Block<'_> {
    type Item = Frame<'b>;
    type IntoIter = Frames<'b>;

    fn into_iter(self) -> Frames<'b> {
        self.frames()
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        // Release: our reads of the block happen before the kernel reuses it.
        self.ring
            .status_word()
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.ring.current = (self.ring.current + 1) % self.ring.block_count;
    }
}
