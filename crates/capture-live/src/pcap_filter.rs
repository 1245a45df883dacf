//! Capture filters in tcpdump's syntax (pcap-filter(7)), compiled by
//! tcpdump's own compiler, so `podwire sniff -f 'tcp port 443'` keeps exactly
//! the packets `tcpdump 'tcp port 443'` would.
//!
//! # Why libpcap, and why loaded at run time
//!
//! The filter language is large (hosts, nets, port ranges, VLAN and MPLS
//! stacks, byte offsets, link-type specific offsets) and its meaning is
//! whatever libpcap's `gencode.c` and optimizer say it is; a rewrite would
//! disagree with tcpdump in corner cases nobody would notice until a capture
//! silently missed packets. So [`compile`] asks libpcap itself, through
//! `pcap_open_dead` + `pcap_compile`, and copies out the classic BPF program.
//!
//! libpcap is opened with `dlopen` on first use rather than linked: podwire
//! builds without libpcap-dev and runs without libpcap, and only a filter
//! needs it. The names tried, in order, are `libpcap.so.1` (the soname of
//! every libpcap since 1.0), `libpcap.so.0.8` (the name Debian and Ubuntu
//! ship it under) and `libpcap.so` (a development symlink). The library is
//! loaded once per process and never unloaded, so the function pointers stay
//! valid for the process lifetime. When it is missing, an empty filter still
//! compiles (to the same accept-all program libpcap would give) and any
//! other filter is a [`FilterError::Unavailable`] naming the package to
//! install.
//!
//! `pcap_compile` is serialized behind a mutex: libpcap before 1.8 kept the
//! parser's state in globals, and nothing is gained by compiling two filters
//! at once.
//!
//! # Choices that differ from a plain `pcap_compile` call
//!
//! * The netmask is `PCAP_NETMASK_UNKNOWN`. A capture spans every interface
//!   of a namespace, so there is no one netmask, and `ip broadcast` is an
//!   error rather than a test against a guessed one. (tcpdump reading a file
//!   passes 0, which makes `ip broadcast` mean "to 0.0.0.0 or
//!   255.255.255.255".)
//! * The snap length is clamped to libpcap's maximum (262144), and 0 means
//!   that maximum, as `tcpdump -s 0` does; it is the value accepted packets
//!   are cut to (`ret #snaplen`).
//! * The link type is a pcap LINKTYPE (the value in a pcap file's header,
//!   e.g. [`LINKTYPE_RAW`](crate::LINKTYPE_RAW) = 101) and is translated to
//!   the DLT value `pcap_open_dead` expects, as libpcap does for files.
//! * Programs are refused beyond the kernel's `BPF_MAXINSNS` instructions.
//!
//! # Live sockets and VLAN tags
//!
//! A program compiled here matches frames as they appear in a pcap file, with
//! any 802.1Q tag in the packet bytes. On a live AF_PACKET socket the kernel
//! usually strips the tag before the socket filter runs (it is in the ring's
//! metadata, [`Frame::vlan_tci`](crate::Frame::vlan_tci)); libpcap handles
//! that for live captures with a different program (ancillary loads) that
//! `pcap_open_dead` cannot produce. Keep that in mind before attaching a
//! `vlan` filter to a socket.
//!
//! # The interpreter
//!
//! [`run`] executes a classic BPF program over a byte slice with the Linux
//! kernel's semantics (out-of-bounds loads and division by zero end the
//! program with 0, i.e. drop). podwire's tests and fuzzers use it to check
//! compiled programs on real packets; it never panics, whatever the program
//! and packet.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// Library names tried by `dlopen`, in order.
pub const LIBPCAP_NAMES: [&str; 3] = ["libpcap.so.1", "libpcap.so.0.8", "libpcap.so"];

/// Longest filter expression handed to libpcap, in bytes.
pub const MAX_EXPR_LEN: usize = 64 * 1024;

/// Most instructions the kernel accepts in a classic BPF program.
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// libpcap's largest snap length (`MAXIMUM_SNAPLEN`), also what 0 means.
pub const MAX_SNAPLEN: u32 = 262_144;

/// `PCAP_NETMASK_UNKNOWN` from pcap.h.
const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;

/// Scratch memory words of a classic BPF machine (`BPF_MEMWORDS`).
const MEMWORDS: usize = 16;

/// One classic BPF instruction, as in `struct bpf_insn` / `struct
/// sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// The instruction in the layout `SO_ATTACH_FILTER` takes.
    pub fn to_sock_filter(self) -> libc::sock_filter {
        libc::sock_filter {
            code: self.code,
            jt: self.jt,
            jf: self.jf,
            k: self.k,
        }
    }
}

/// A classic BPF program. [`compile`] only returns programs of 1 to
/// [`MAX_INSNS`] instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Wraps instructions as they are, unchecked: for tests and fuzzing of
    /// [`run`]. The kernel validates a program when it is attached.
    pub fn from_insns(insns: Vec<Insn>) -> Self {
        Self { insns }
    }

    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The program in the layout `SO_ATTACH_FILTER` takes.
    pub fn to_sock_filters(&self) -> Vec<libc::sock_filter> {
        self.insns.iter().map(|i| i.to_sock_filter()).collect()
    }

    /// Whether the program keeps every packet without looking at it (what an
    /// empty expression compiles to), so no socket filter is needed beyond
    /// the snap length.
    pub fn accepts_all(&self) -> bool {
        matches!(self.insns[..], [Insn { code: RET_K, k, .. }] if k != 0)
    }

    /// The program as `tcpdump -dd` prints it, one `{ code, jt, jf, k },`
    /// line per instruction.
    pub fn to_c_array(&self) -> String {
        let mut out = String::new();
        for i in &self.insns {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{{ {:#x}, {}, {}, {:#010x} }},",
                i.code, i.jt, i.jf, i.k
            );
        }
        out
    }
}

/// Why a filter expression did not give a program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// libpcap could not be loaded; the text says which names were tried and
    /// why each failed.
    #[error(
        "capture filters need libpcap, which could not be loaded ({0}); \
         install libpcap (Debian: libpcap0.8)"
    )]
    Unavailable(String),
    /// libpcap refused the expression; `message` is its own text, e.g.
    /// `can't parse filter expression: syntax error`.
    #[error("invalid capture filter {expr:?}: {message}")]
    Invalid { expr: String, message: String },
    /// The expression is longer than [`MAX_EXPR_LEN`] bytes.
    #[error("capture filter is {len} bytes long, at most {MAX_EXPR_LEN} are accepted")]
    ExpressionTooLong { len: usize },
    /// The expression contains a NUL byte, which C strings cannot carry.
    #[error("capture filter contains a NUL byte at byte {offset}")]
    Nul { offset: usize },
    /// The program is longer than the kernel accepts.
    #[error(
        "capture filter {expr:?} compiles to {len} BPF instructions, \
         the kernel accepts at most {MAX_INSNS}; simplify it"
    )]
    ProgramTooLong { expr: String, len: usize },
    /// libpcap has no filters for this pcap link type (libpcap's message
    /// says why).
    #[error("libpcap cannot filter link type {linktype}: {message}")]
    LinkType { linktype: u32, message: String },
}

/// Whether libpcap could be loaded (loads it on first call).
pub fn available() -> bool {
    libpcap().is_ok()
}

/// The loaded libpcap's version string (`pcap_lib_version()`), or why it
/// could not be loaded.
pub fn libpcap_version() -> Result<&'static str, FilterError> {
    libpcap()
        .map(|lib| lib.version.as_str())
        .map_err(|why| FilterError::Unavailable(why.clone()))
}

/// Compiles a tcpdump filter expression for frames of pcap link type
/// `linktype`, accepted packets cut to `snaplen` bytes, with libpcap's
/// optimizer on (as tcpdump does).
///
/// `snaplen` 0 means [`MAX_SNAPLEN`], larger values are clamped to it. A
/// blank expression gives the accept-all program (`ret #snaplen`), with or
/// without libpcap; anything else needs it ([`FilterError::Unavailable`]).
/// libpcap's complaints come back as [`FilterError::Invalid`] (or
/// [`FilterError::LinkType`] when no expression could work for the link
/// type).
pub fn compile(expr: &str, linktype: u32, snaplen: u32) -> Result<Program, FilterError> {
    if expr.len() > MAX_EXPR_LEN {
        return Err(FilterError::ExpressionTooLong { len: expr.len() });
    }
    if let Some(offset) = expr.bytes().position(|b| b == 0) {
        return Err(FilterError::Nul { offset });
    }
    let snaplen = if snaplen == 0 {
        MAX_SNAPLEN
    } else {
        snaplen.min(MAX_SNAPLEN)
    };
    let lib = match libpcap() {
        Ok(lib) => lib,
        // What libpcap compiles a blank expression to (blank as its lexer
        // sees it), so that capturing without a filter never needs the
        // library.
        Err(_) if is_blank(expr) => {
            return Ok(Program::from_insns(vec![Insn {
                code: RET_K,
                jt: 0,
                jf: 0,
                k: snaplen,
            }]))
        }
        Err(why) => return Err(FilterError::Unavailable(why.clone())),
    };
    let dlt = c_int::try_from(dlt_of(linktype)).map_err(|_| FilterError::LinkType {
        linktype,
        message: "out of range".into(),
    })?;
    // Checked above: no NUL inside.
    let c_expr = CString::new(expr).map_err(|e| FilterError::Nul {
        offset: e.nul_position(),
    })?;

    // Declared first, dropped last: every libpcap call below is serialized,
    // including the frees in the guards' Drop.
    let _serial = podwire_sync::lock(&lib.compile_lock);
    // snaplen <= MAX_SNAPLEN fits in a c_int.
    let pcap = DeadHandle::open(lib, dlt, snaplen as c_int).ok_or(FilterError::LinkType {
        linktype,
        message: "pcap_open_dead failed".into(),
    })?;
    let code = match pcap.compile(&c_expr) {
        Ok(code) => code,
        // libpcap reports a link type it has no filters for as a failure of
        // whatever expression it was given; the empty one tells them apart.
        Err(message) if is_blank(expr) || pcap.compile(c"").is_err() => {
            return Err(FilterError::LinkType { linktype, message })
        }
        Err(message) => {
            return Err(FilterError::Invalid {
                expr: expr.to_owned(),
                message,
            })
        }
    };
    let insns = code.insns();
    if insns.len() > MAX_INSNS {
        return Err(FilterError::ProgramTooLong {
            expr: expr.to_owned(),
            len: insns.len(),
        });
    }
    if insns.is_empty() {
        // libpcap always ends a program with a `ret`; an empty one would be a
        // libpcap bug, and the kernel refuses empty programs.
        return Err(FilterError::Invalid {
            expr: expr.to_owned(),
            message: "libpcap returned an empty program".into(),
        });
    }
    Ok(Program { insns })
}

/// Whether libpcap's lexer sees nothing but blanks in `expr`.
fn is_blank(expr: &str) -> bool {
    expr.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// pcap file LINKTYPE to the DLT value libpcap's handles use. They only
/// differ where BSDs had assigned clashing DLT numbers; the values are
/// libpcap's (pcap-common.c) for Linux.
fn dlt_of(linktype: u32) -> u32 {
    match linktype {
        100 => 11, // ATM_RFC1483
        101 => 12, // RAW
        102 => 15, // SLIP_BSDOS
        103 => 16, // PPP_BSDOS
        106 => 19, // ATM_CLIP
        other => other,
    }
}

// ---------------------------------------------------------------------------
// libpcap, loaded at run time

/// Opaque `pcap_t`.
#[repr(C)]
struct Pcap {
    _opaque: [u8; 0],
}

/// `struct bpf_program`. Its instructions (`struct bpf_insn`) have the same
/// layout as `struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut libc::sock_filter,
}

type OpenDeadFn = unsafe extern "C" fn(c_int, c_int) -> *mut Pcap;
type CompileFn =
    unsafe extern "C" fn(*mut Pcap, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type FreecodeFn = unsafe extern "C" fn(*mut BpfProgram);
type GeterrFn = unsafe extern "C" fn(*mut Pcap) -> *mut c_char;
type CloseFn = unsafe extern "C" fn(*mut Pcap);
type LibVersionFn = unsafe extern "C" fn() -> *const c_char;

/// The libpcap functions podwire calls, resolved once.
struct Libpcap {
    open_dead: OpenDeadFn,
    compile: CompileFn,
    freecode: FreecodeFn,
    geterr: GeterrFn,
    close: CloseFn,
    version: String,
    compile_lock: Mutex<()>,
}

/// The process's libpcap, loaded on first use; the error says what was
/// tried.
fn libpcap() -> Result<&'static Libpcap, &'static String> {
    static LIB: OnceLock<Result<Libpcap, String>> = OnceLock::new();
    LIB.get_or_init(open_libpcap).as_ref()
}

fn open_libpcap() -> Result<Libpcap, String> {
    let mut tried = Vec::new();
    for name in LIBPCAP_NAMES {
        let c_name = CString::new(name).expect("library names have no NUL");
        // SAFETY: `c_name` is a NUL-terminated string. Loading runs the
        // library's initializers; libpcap's only set up its own state.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            tried.push(format!("{name}: {}", dl_error()));
            continue;
        }
        match resolve(handle) {
            Ok(lib) => return Ok(lib), // `handle` stays open for good.
            Err(missing) => {
                tried.push(format!("{name}: {missing}"));
                // SAFETY: `handle` came from dlopen above and none of its
                // symbols escaped this function.
                unsafe { libc::dlclose(handle) };
            }
        }
    }
    Err(format!("tried {}", tried.join("; ")))
}

/// The last `dlerror()` text of this thread.
fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the
    // next dl* call on this thread; it is copied at once.
    let err = unsafe { libc::dlerror() };
    if err.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-null, NUL-terminated, see above.
        unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Address of `name` in the library `handle`.
fn symbol(handle: *mut c_void, name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: `handle` is a live dlopen handle and `name` NUL-terminated.
    let ptr = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if ptr.is_null() {
        Err(format!("no symbol {}", name.to_string_lossy()))
    } else {
        Ok(ptr)
    }
}

fn resolve(handle: *mut c_void) -> Result<Libpcap, String> {
    // Each symbol is the libpcap function of that name, whose C prototype
    // (pcap/pcap.h, stable since libpcap 0.8) the target type spells out; a
    // data pointer and a function pointer have the same size on every
    // platform with dlsym.
    // SAFETY: `pcap_open_dead` has the prototype `OpenDeadFn` spells out (see above).
    let open_dead = unsafe {
        std::mem::transmute::<*mut c_void, OpenDeadFn>(symbol(handle, c"pcap_open_dead")?)
    };
    // SAFETY: `pcap_compile` has the prototype `CompileFn` spells out (see above).
    let compile =
        unsafe { std::mem::transmute::<*mut c_void, CompileFn>(symbol(handle, c"pcap_compile")?) };
    // SAFETY: `pcap_freecode` has the prototype `FreecodeFn` spells out (see above).
    let freecode = unsafe {
        std::mem::transmute::<*mut c_void, FreecodeFn>(symbol(handle, c"pcap_freecode")?)
    };
    // SAFETY: `pcap_geterr` has the prototype `GeterrFn` spells out (see above).
    let geterr =
        unsafe { std::mem::transmute::<*mut c_void, GeterrFn>(symbol(handle, c"pcap_geterr")?) };
    // SAFETY: `pcap_close` has the prototype `CloseFn` spells out (see above).
    let close =
        unsafe { std::mem::transmute::<*mut c_void, CloseFn>(symbol(handle, c"pcap_close")?) };
    // SAFETY: `pcap_lib_version` has the prototype `LibVersionFn` spells out (see above).
    let lib_version = unsafe {
        std::mem::transmute::<*mut c_void, LibVersionFn>(symbol(handle, c"pcap_lib_version")?)
    };
    // SAFETY: pcap_lib_version takes nothing and returns a static string.
    let version = unsafe { lib_version() };
    let version = if version.is_null() {
        String::from("unknown libpcap version")
    } else {
        // SAFETY: non-null and NUL-terminated (static storage in libpcap).
        unsafe { CStr::from_ptr(version) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Libpcap {
        open_dead,
        compile,
        freecode,
        geterr,
        close,
        version,
        compile_lock: Mutex::new(()),
    })
}

/// A `pcap_t` from `pcap_open_dead`, closed on drop.
struct DeadHandle {
    lib: &'static Libpcap,
    ptr: *mut Pcap,
}

impl DeadHandle {
    fn open(lib: &'static Libpcap, dlt: c_int, snaplen: c_int) -> Option<Self> {
        // SAFETY: pcap_open_dead takes two integers and returns a new handle
        // or NULL.
        let ptr = unsafe { (lib.open_dead)(dlt, snaplen) };
        (!ptr.is_null()).then_some(Self { lib, ptr })
    }

    /// Compiles `expr` (optimized, netmask unknown), or returns libpcap's
    /// message. The caller holds the compile lock.
    fn compile(&self, expr: &CStr) -> Result<Code, String> {
        let mut code = Code {
            lib: self.lib,
            prog: BpfProgram {
                bf_len: 0,
                bf_insns: std::ptr::null_mut(),
            },
        };
        // SAFETY: `self.ptr` is a live handle from pcap_open_dead,
        // `code.prog` a writable bpf_program that libpcap fills on success
        // (and that `code`'s Drop frees), `expr` a NUL-terminated string that
        // outlives the call. The caller's lock serializes libpcap's compiler.
        let rc = unsafe {
            (self.lib.compile)(
                self.ptr,
                &mut code.prog,
                expr.as_ptr(),
                1,
                PCAP_NETMASK_UNKNOWN,
            )
        };
        if rc == 0 {
            Ok(code)
        } else {
            Err(self.error())
        }
    }

    /// The handle's last error message.
    fn error(&self) -> String {
        // SAFETY: `self.ptr` is live; pcap_geterr returns a pointer to the
        // handle's NUL-terminated error buffer, copied before the handle can
        // be closed.
        let msg = unsafe { (self.lib.geterr)(self.ptr) };
        if msg.is_null() {
            return "unknown libpcap error".into();
        }
        // SAFETY: non-null, NUL-terminated, alive as long as `self`.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for DeadHandle {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from pcap_open_dead and is closed only here.
        unsafe { (self.lib.close)(self.ptr) }
    }
}

/// A `bpf_program` that libpcap may have filled, freed on drop.
struct Code {
    lib: &'static Libpcap,
    prog: BpfProgram,
}

impl Code {
    fn insns(&self) -> Vec<Insn> {
        if self.prog.bf_insns.is_null() {
            return Vec::new();
        }
        // SAFETY: after a successful pcap_compile, `bf_insns` points to
        // `bf_len` initialized instructions owned by `self.prog`.
        let raw =
            unsafe { std::slice::from_raw_parts(self.prog.bf_insns, self.prog.bf_len as usize) };
        raw.iter()
            .map(|i| Insn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: `self.prog` is either still zeroed (pcap_freecode then does
        // nothing) or filled by pcap_compile and freed only here.
        unsafe { (self.lib.freecode)(&mut self.prog) }
    }
}

// ---------------------------------------------------------------------------
// The interpreter

// Opcodes, written out whole (class | size | mode, class | op | source):
// `run` matches complete opcodes, so anything else is invalid.
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_IND: u16 = 0x40;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LD_IMM: u16 = 0x00;
const LD_MEM: u16 = 0x60;
const LD_LEN: u16 = 0x80;
const LDX_IMM: u16 = 0x01;
const LDX_MEM: u16 = 0x61;
const LDX_LEN: u16 = 0x81;
const LDX_MSH: u16 = 0xb1;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const CLASS_ALU: u16 = 0x04;
const CLASS_JMP: u16 = 0x05;
const RET_K: u16 = 0x06;
const RET_A: u16 = 0x16;
const TAX: u16 = 0x07;
const TXA: u16 = 0x87;
/// Source bit of ALU and jump instructions: X rather than k.
const SRC_X: u16 = 0x08;

/// Runs `program` over `packet` (the bytes available to loads) of a frame
/// `wire_len` bytes long on the wire (what `len` loads), and returns how
/// many bytes to keep: 0 drops the packet.
///
/// Semantics are the Linux kernel's: a load outside the packet, from scratch
/// memory beyond its 16 words, or from a negative (ancillary) offset, and a
/// division or modulo by zero, end the program with 0; offsets of indirect
/// loads are X + k in wrapping 32-bit arithmetic; shifts use the low 5 bits
/// of their count; a jump past the end or an invalid opcode ends it with 0.
/// Scratch memory starts zeroed (the kernel refuses programs that read it
/// before writing it).
pub fn run(program: &Program, packet: &[u8], wire_len: u32) -> u32 {
    let insns = program.insns();
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEMWORDS];
    let mut pc = 0usize;
    // Every instruction moves `pc` forward by at least one, so no program
    // runs more than `insns.len()` instructions; the bound makes that
    // explicit.
    for _ in 0..insns.len() {
        let Some(&i) = insns.get(pc) else {
            return 0;
        };
        pc += 1;
        let k = i.k;
        match i.code {
            LD_W_ABS | LD_H_ABS | LD_B_ABS => match load(packet, k, i.code) {
                Some(v) => a = v,
                None => return 0,
            },
            LD_W_IND | LD_H_IND | LD_B_IND => match load(packet, x.wrapping_add(k), i.code) {
                Some(v) => a = v,
                None => return 0,
            },
            LD_IMM => a = k,
            LDX_IMM => x = k,
            LD_LEN => a = wire_len,
            LDX_LEN => x = wire_len,
            LD_MEM | LDX_MEM => {
                let Some(&v) = mem.get(k as usize) else {
                    return 0;
                };
                if i.code == LD_MEM {
                    a = v;
                } else {
                    x = v;
                }
            }
            ST | STX => {
                let Some(slot) = mem.get_mut(k as usize) else {
                    return 0;
                };
                *slot = if i.code == ST { a } else { x };
            }
            LDX_MSH => match load(packet, k, LD_B_ABS) {
                Some(v) => x = (v & 0xf) << 2,
                None => return 0,
            },
            code if code & 0xff07 == CLASS_ALU => {
                let src = if code & SRC_X != 0 { x } else { k };
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => match a.checked_div(src) {
                        Some(v) => v,
                        None => return 0,
                    },
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.wrapping_shl(src),
                    0x70 => a.wrapping_shr(src),
                    0x80 if code & SRC_X == 0 => a.wrapping_neg(),
                    0x90 => match a.checked_rem(src) {
                        Some(v) => v,
                        None => return 0,
                    },
                    0xa0 => a ^ src,
                    _ => return 0,
                };
            }
            code if code & 0xff07 == CLASS_JMP => {
                let src = if code & SRC_X != 0 { x } else { k };
                let taken = match code & 0xf8 {
                    // ja: k is the offset, never X.
                    0x00 => {
                        pc = pc.saturating_add(k as usize);
                        continue;
                    }
                    0x10 | 0x18 => a == src,
                    0x20 | 0x28 => a > src,
                    0x30 | 0x38 => a >= src,
                    0x40 | 0x48 => a & src != 0,
                    _ => return 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET_K => return k,
            RET_A => return a,
            TAX => x = a,
            TXA => a = x,
            _ => return 0,
        }
    }
    0
}

/// A big-endian load of the size in `code` at `offset`; None when outside
/// the packet or at a negative (ancillary, metadata) offset.
fn load(packet: &[u8], offset: u32, code: u16) -> Option<u32> {
    if offset > i32::MAX as u32 {
        return None;
    }
    let start = offset as usize;
    let bytes = match code & 0x18 {
        0x00 => packet.get(start..start.checked_add(4)?)?,
        0x08 => packet.get(start..start.checked_add(2)?)?,
        _ => packet.get(start..start.checked_add(1)?)?,
    };
    Some(bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
}

#[cfg(test)]
#[path = "pcap_filter_tests.rs"]
mod tests;
