//! A read buffer that hands out borrowed records and refuses absurd lengths.

use std::io::{self, Read};

/// The largest record (pcap packet or pcapng block) the reader accepts.
/// tcpdump's own maximum snapshot length is 256 KiB; pcapng blocks other than
/// packets (name resolution, custom) can be larger, so allow 16 MiB. A larger
/// claimed length means the file is corrupt.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

const CHUNK: usize = 1 << 20;

pub(crate) struct Buffer<R> {
    inner: R,
    data: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    consumed: u64,
    /// Length of the record handed out last; consumed at the next read so
    /// the borrowed frame stays valid until then.
    pending: usize,
}

impl<R: Read> Buffer<R> {
    pub fn new(inner: R) -> Self {
        Buffer {
            inner,
            data: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
            pending: 0,
        }
    }

    /// Bytes buffered and not yet consumed.
    pub fn available(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Makes at least `n` bytes available. Returns `Ok(false)` when the file
    /// ends first (what there is stays available). `n` must not exceed
    /// [`MAX_RECORD_BYTES`] plus a small header; callers check lengths first.
    pub fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            if self.start + n > self.data.len() {
                // Move what is left to the front, growing only when one
                // record is larger than the buffer.
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if n > self.data.len() {
                    self.data.resize(n.next_power_of_two(), 0);
                }
            }
            match self.inner.read(&mut self.data[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    self.end += k;
                    self.consumed += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Marks `n` available bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Consumes the record handed out last (see [`Buffer::hand_out`]).
    pub fn release(&mut self) {
        let n = std::mem::take(&mut self.pending);
        self.consume(n);
        self.shrink();
    }

    /// Returns `range` of the available bytes and consumes `len` bytes at the
    /// next [`Buffer::release`].
    pub fn hand_out(&mut self, len: usize, range: std::ops::Range<usize>) -> &[u8] {
        self.pending = len;
        let avail = &self.data[self.start..self.end];
        avail.get(range).unwrap_or(&[])
    }

    /// Total bytes read from the source.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Shrinks the buffer back after an oversized record, so one large block
    /// does not pin 16 MiB for the rest of the file.
    fn shrink(&mut self) {
        if self.data.len() > CHUNK && self.end - self.start <= CHUNK {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.data.truncate(CHUNK);
            self.data.shrink_to_fit();
        }
    }
}
