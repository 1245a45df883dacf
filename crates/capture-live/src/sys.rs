//! Checked wrappers over the few libc calls shared by the ring and the link
//! monitor, so each `unsafe` block that talks to the kernel exists once.

use std::io;
use std::mem::size_of;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Turns a libc `-1` return into the thread's `errno`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `socket(2)`, owning the result so every error path closes it.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    proto: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a fresh
    // descriptor that nothing else owns, so OwnedFd may take it over.
    let fd = cvt(unsafe { libc::socket(domain, ty, proto) })?;
    // SAFETY: see above, `fd` is a new, valid, unowned descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(2)` with a value passed by reference.
pub(crate) fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is a live reference readable for `size_of::<T>()`
    // bytes; the kernel only reads `len` bytes from it during the call.
    cvt(unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) })?;
    Ok(())
}

/// Types that are valid for any bit pattern the kernel may write.
pub(crate) trait Plain: Copy {}
impl Plain for libc::c_int {}
impl Plain for libc::tpacket_stats_v3 {}

/// `getsockopt(2)` into a plain value; returns how many bytes the kernel wrote.
pub(crate) fn getsockopt<T: Plain>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is writable for `len` bytes, the kernel writes at most
    // `len` bytes and `T: Plain` accepts any bytes it writes.
    cvt(unsafe { libc::getsockopt(fd, level, name, (value as *mut T).cast(), &mut len) })?;
    Ok(len as usize)
}
