//! Packet captures with tcpdump, and the file-format variants podwire reads.
//!
//! The lab's captures are what podwire and tshark are compared on, so they
//! must be complete: tcpdump is started and known to be listening before any
//! traffic flows, writes packet by packet (`-U`), and is stopped with SIGINT
//! and waited for, so the file is flushed and the kernel's drop counter can
//! be checked. Variants (nanosecond pcap, pcapng, Linux cooked captures from
//! `any`, VLAN-tagged frames) exercise podwire's capture and decode stages on
//! the same kind of traffic.

use crate::process::Proc;
use crate::{cmd, Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// How long tcpdump may take to start listening, or to exit after SIGINT.
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a capture is taken.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    /// Nanosecond timestamps (`--time-stamp-precision=nano`: pcap magic
    /// 0xa1b23c4d).
    pub nano: bool,
    /// Link-layer type to ask for (`-y`), e.g. `LINUX_SLL2` on `any`.
    pub link_type: Option<String>,
    /// A tcpdump filter expression.
    pub filter: Option<String>,
}

/// tcpdump's closing statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets tcpdump wrote.
    pub captured: u64,
    /// Packets the kernel handed to tcpdump's socket.
    pub received_by_filter: u64,
    pub dropped_by_kernel: u64,
}

/// A running tcpdump writing a pcap file.
#[derive(Debug)]
pub struct Capture {
    proc: Proc,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `iface` inside namespace `ns`, writing `file`, and
    /// returns once it is listening.
    pub fn start(ns: &str, iface: &str, file: &Path, opts: &CaptureOptions) -> Result<Capture> {
        let mut c = crate::netns::ns_command(ns, "tcpdump");
        // -Z root: tcpdump would otherwise drop to its own user before
        // opening the output file, which then cannot be created in a
        // root-owned temporary directory.
        // --immediate-mode: libpcap's TPACKET_V3 ring otherwise hands packets
        // over a block at a time (up to a second late), and packets still in
        // the ring when tcpdump gets SIGINT are never written.
        // -B: in immediate mode every ring slot is as large as the snap
        // length (256 KiB), so the default 2 MiB ring holds 8 packets and a
        // burst of GSO super-frames overflows it.
        c.args(["-i", iface, "-n", "-U", "-Z", "root"]);
        c.args(["--immediate-mode", "-B", "131072"]);
        c.arg("-w").arg(file);
        if opts.nano {
            c.arg("--time-stamp-precision=nano");
        }
        if let Some(l) = &opts.link_type {
            c.args(["-y", l]);
        }
        if let Some(f) = &opts.filter {
            c.arg(f);
        }
        let log = file.with_extension("tcpdump.log");
        let mut proc = Proc::spawn("tcpdump", c, &log)?;
        let deadline = Instant::now() + CAPTURE_TIMEOUT;
        while !proc.log().contains("listening on") {
            proc.check_running()?;
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "tcpdump to start listening on {iface} in {ns}: {}",
                        proc.log()
                    ),
                    seconds: CAPTURE_TIMEOUT.as_secs_f64(),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Capture {
            proc,
            file: file.to_path_buf(),
        })
    }

    /// The file being written.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Lets packets in flight arrive, stops tcpdump with SIGINT, waits for
    /// it to flush and exit, and returns its statistics. Fails if packets
    /// were dropped: a capture with holes is no reference.
    pub fn stop(mut self) -> Result<CaptureStats> {
        thread::sleep(Duration::from_millis(300));
        let status = self.proc.stop_with(libc::SIGINT, CAPTURE_TIMEOUT)?;
        let log = self.proc.log();
        if !status.success() {
            return Err(Error::Command {
                command: "tcpdump".into(),
                status: status.to_string(),
                stderr: log,
            });
        }
        let stats = parse_stats(&log)
            .ok_or_else(|| Error::parse("tcpdump", format!("no statistics in {log:?}")))?;
        // Every packet the kernel handed over must be in the file.
        if stats.dropped_by_kernel > 0 || stats.captured != stats.received_by_filter {
            return Err(Error::parse(
                "tcpdump",
                format!("incomplete capture of {}: {stats:?}", self.file.display()),
            ));
        }
        Ok(stats)
    }
}

fn parse_stats(log: &str) -> Option<CaptureStats> {
    let count = |suffix: &str| {
        log.lines()
            .find(|l| l.trim_end().ends_with(suffix))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
    };
    Some(CaptureStats {
        captured: count("packets captured")?,
        received_by_filter: count("packets received by filter")?,
        dropped_by_kernel: count("packets dropped by kernel")?,
    })
}

/// Rewrites a capture as pcapng with `editcap -F pcapng`.
pub fn to_pcapng(src: &Path, dst: &Path) -> Result<()> {
    cmd::run_ok(
        Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(src)
            .arg(dst),
        Duration::from_secs(60),
    )
    .map(|_| ())
}

/// The capture format of a file, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic pcap; `nano` for nanosecond timestamps; the link type.
    Pcap {
        nano: bool,
        link_type: u32,
    },
    Pcapng,
}

/// Reads the format and (for pcap) the link type of a capture file.
pub fn file_format(path: &Path) -> Result<FileFormat> {
    let data = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let head: [u8; 24] = data
        .get(..24)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            Error::parse(
                "capture",
                format!("{} is shorter than a pcap header", path.display()),
            )
        })?;
    let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let link_le = u32::from_le_bytes([head[20], head[21], head[22], head[23]]);
    let link_be = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
    match magic_le {
        0x0a0d0d0a => Ok(FileFormat::Pcapng),
        0xa1b2c3d4 => Ok(FileFormat::Pcap {
            nano: false,
            link_type: link_le,
        }),
        0xa1b23c4d => Ok(FileFormat::Pcap {
            nano: true,
            link_type: link_le,
        }),
        0xd4c3b2a1 => Ok(FileFormat::Pcap {
            nano: false,
            link_type: link_be,
        }),
        0x4d3cb2a1 => Ok(FileFormat::Pcap {
            nano: true,
            link_type: link_be,
        }),
        m => Err(Error::parse(
            "capture",
            format!("{}: unknown magic {m:#010x}", path.display()),
        )),
    }
}

/// 802.1Q (customer) tag protocol id.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (service, outer QinQ) tag protocol id.
pub const TPID_8021AD: u16 = 0x88a8;

/// Copies an Ethernet pcap, inserting VLAN tags `(tpid, vid)` (outermost
/// first) after the MAC addresses of every frame, and growing the captured
/// and original lengths by 4 bytes per tag.
///
/// The lab cannot make tagged frames itself where the kernel lacks the 8021q
/// module and VLAN-aware bridges (as on the project's machines), so tagged
/// fixtures are real captures with the tags added afterwards, exactly where
/// a switch would put them.
pub fn tag_vlan(src: &Path, dst: &Path, tags: &[(u16, u16)]) -> Result<()> {
    let data = fs::read(src).map_err(|e| Error::io("read", src, e))?;
    let FileFormat::Pcap { link_type: 1, .. } = file_format(src)? else {
        return Err(Error::parse(
            "capture",
            format!("{}: not an Ethernet pcap", src.display()),
        ));
    };
    let be = data[0] == 0xa1;
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let wr = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut tag_bytes = Vec::new();
    for &(tpid, vid) in tags {
        tag_bytes.extend_from_slice(&tpid.to_be_bytes());
        tag_bytes.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let grow = tag_bytes.len() as u32;
    let mut out = data[..24].to_vec();
    // Every tagged frame may exceed the snap length by the tags.
    let snap = rd(&data[16..20]).saturating_add(grow);
    out[16..20].copy_from_slice(&wr(snap));
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = rd(&data[off + 8..off + 12]) as usize;
        let orig = rd(&data[off + 12..off + 16]);
        let Some(frame) = data.get(off + 16..off + 16 + incl) else {
            return Err(Error::parse(
                "capture",
                format!("{}: record at {off} runs past the end", src.display()),
            ));
        };
        out.extend_from_slice(&data[off..off + 8]);
        if frame.len() >= 14 {
            out.extend_from_slice(&wr(incl as u32 + grow));
            out.extend_from_slice(&wr(orig + grow));
            out.extend_from_slice(&frame[..12]);
            out.extend_from_slice(&tag_bytes);
            out.extend_from_slice(&frame[12..]);
        } else {
            out.extend_from_slice(&data[off + 8..off + 16]);
            out.extend_from_slice(frame);
        }
        off += 16 + incl;
    }
    fs::write(dst, out).map_err(|e| Error::io("write", dst, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdump_statistics_are_parsed() {
        let log = "tcpdump: listening on br0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n42 packets captured\n42 packets received by filter\n0 packets dropped by kernel\n";
        assert_eq!(
            parse_stats(log),
            Some(CaptureStats {
                captured: 42,
                received_by_filter: 42,
                dropped_by_kernel: 0
            })
        );
    }

    #[test]
    fn pcap_header_gives_precision_and_link_type() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pcap");
        let mut h = vec![0x4d, 0x3c, 0xb2, 0xa1, 0, 2, 0, 4];
        h.extend_from_slice(&[0; 12]);
        h.extend_from_slice(&276u32.to_le_bytes());
        fs::write(&p, &h).unwrap();
        assert_eq!(
            file_format(&p).unwrap(),
            FileFormat::Pcap {
                nano: true,
                link_type: 276
            }
        );
    }

    #[test]
    fn vlan_tags_go_after_the_mac_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&100u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        let frame: Vec<u8> = (0u8..16).collect();
        f.extend_from_slice(&[9; 8]);
        f.extend_from_slice(&16u32.to_le_bytes());
        f.extend_from_slice(&60u32.to_le_bytes());
        f.extend_from_slice(&frame);
        fs::write(&src, &f).unwrap();
        tag_vlan(&src, &dst, &[(TPID_8021AD, 200), (TPID_8021Q, 100)]).unwrap();
        let out = fs::read(&dst).unwrap();
        assert_eq!(&out[16..20], &108u32.to_le_bytes());
        assert_eq!(&out[24..32], &[9; 8]);
        assert_eq!(&out[32..36], &24u32.to_le_bytes());
        assert_eq!(&out[36..40], &68u32.to_le_bytes());
        assert_eq!(&out[40..52], &frame[..12]);
        assert_eq!(&out[52..60], &[0x88, 0xa8, 0, 200, 0x81, 0, 0, 100]);
        assert_eq!(&out[60..], &frame[12..]);
    }
}
