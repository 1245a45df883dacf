//! The parts of the pipeline that files and live capture share inside the
//! binary: the parsers' options from the user's switches, and what the
//! process uses. (Dealing packets to tracker shards is
//! `podwire_track::shard`.)

pub mod parsers;

/// Resident set size of this process (0 where /proc cannot tell).
pub fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}
