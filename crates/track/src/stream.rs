//! One direction of a TCP connection: sequence bookkeeping and reassembly.
//!
//! Every data segment goes through here, whether or not a parser wants the
//! bytes: the same bookkeeping tells retransmissions apart. Bytes are copied
//! only when a segment arrives ahead of a hole and a parser wants them; an
//! in-order segment is handed to the parser straight from the packet.
//! Out-of-order data is bounded per connection and globally ([`Budget`]);
//! when a bound is hit, or the peer acknowledges past a hole, the hole is
//! given up and reported to the parser as a gap.

/// A piece of the reassembled stream.
pub(crate) enum Chunk<'a> {
    Data(&'a [u8]),
    /// Bytes that will never be seen.
    Gap(u64),
}

/// A TCP segment's payload: `len` bytes at `seq`, of which `data` were captured.
#[derive(Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub seq: u32,
    pub len: u32,
    pub data: &'a [u8],
}

/// Global reassembly memory, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub used: usize,
    pub max: usize,
    /// Times a limit forced podwire to give up a hole in a stream.
    pub limit_hits: u64,
}

struct Pending {
    seq: u32,
    len: u32,
    /// Empty when the parser does not want the bytes (bookkeeping only) or
    /// the capture cut them.
    data: Vec<u8>,
}

/// Segments ahead of a hole kept at once, per direction.
const MAX_PENDING: usize = 64;

#[derive(Default)]
pub(crate) struct Stream {
    init: bool,
    /// Everything before this sequence number has been delivered or given up.
    next: u32,
    pending: Vec<Pending>,
    buffered: usize,
}

/// Signed distance from `b` to `a` in sequence space.
fn diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

impl Stream {
    /// Starts the stream at `isn + 1` (the SYN takes one sequence number).
    pub fn syn(&mut self, isn: u32) {
        if !self.init {
            self.init = true;
            self.next = isn.wrapping_add(1);
        }
    }

    /// A segment. `keep`: whether to buffer bytes that arrive ahead of a
    /// hole (up to `per_conn_max`). Returns true when the whole segment was
    /// seen before (a retransmission).
    pub fn segment(
        &mut self,
        seg: Segment<'_>,
        keep: bool,
        per_conn_max: usize,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) -> bool {
        let Segment { seq, len, data } = seg;
        if len == 0 {
            return false;
        }
        if !self.init {
            self.init = true;
            self.next = seq;
        }
        let off = diff(seq, self.next);
        if off + len as i64 <= 0 {
            return true;
        }
        if off > 0 {
            let end = seq.wrapping_add(len);
            if self
                .pending
                .iter()
                .any(|p| diff(p.seq, seq) <= 0 && diff(p.seq.wrapping_add(p.len), end) >= 0)
            {
                return true;
            }
            let fits = self.pending.len() < MAX_PENDING
                && (!keep
                    || (self.buffered + data.len() <= per_conn_max
                        && budget.used + data.len() <= budget.max));
            if fits {
                let data = if keep { data.to_vec() } else { Vec::new() };
                self.buffered += data.len();
                budget.used += data.len();
                let at = self
                    .pending
                    .partition_point(|p| diff(p.seq, self.next) <= off);
                self.pending.insert(at, Pending { seq, len, data });
                return false;
            }
            // Out of room: give up the holes before this segment, delivering
            // what was buffered between them.
            budget.limit_hits += 1;
            while let Some(first) = self.pending.first().map(|p| p.seq) {
                if diff(first, seq) >= 0 {
                    break;
                }
                self.skip_to(first, sink);
                self.drain(budget, sink);
            }
            self.skip_to(seq, sink);
        }
        let retransmit = diff(seq, self.next) < 0;
        self.deliver(seq, len, data, sink);
        self.drain(budget, sink);
        retransmit
    }

    /// The peer acknowledged up to `ack`: a hole below it will never be filled
    /// by the capture, so hand what is buffered beyond it to the parser.
    pub fn acked(&mut self, ack: u32, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        if self.init && !self.pending.is_empty() && diff(ack, self.next) > 0 {
            let first = self.pending[0].seq;
            let to = if diff(ack, first) < 0 { ack } else { first };
            self.skip_to(to, sink);
            self.drain(budget, sink);
        }
    }

    /// The connection is over: deliver everything buffered, with its holes.
    pub fn finish(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(first) = self.pending.first().map(|p| p.seq) {
            self.skip_to(first, sink);
            self.drain(budget, sink);
        }
    }

    /// Releases the buffered bytes without delivering them.
    pub fn clear(&mut self, budget: &mut Budget) {
        budget.used -= self.buffered;
        self.buffered = 0;
        self.pending.clear();
    }

    fn skip_to(&mut self, seq: u32, sink: &mut dyn FnMut(Chunk<'_>)) {
        let gap = diff(seq, self.next);
        if gap > 0 {
            sink(Chunk::Gap(gap as u64));
            self.next = seq;
        }
    }

    /// Delivers the part of a segment at or after `next`.
    fn deliver(&mut self, seq: u32, len: u32, data: &[u8], sink: &mut dyn FnMut(Chunk<'_>)) {
        let skip = (-diff(seq, self.next)).max(0) as usize;
        if skip < data.len() {
            sink(Chunk::Data(&data[skip..]));
        }
        let captured_end = skip.max(data.len());
        if (len as usize) > captured_end {
            // Cut by the snap length (or not kept): the rest is a gap.
            sink(Chunk::Gap((len as usize - captured_end) as u64));
        }
        self.next = seq.wrapping_add(len);
    }

    fn drain(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(p) = self.pending.first() {
            if diff(p.seq, self.next) > 0 {
                break;
            }
            let p = self.pending.remove(0);
            self.buffered -= p.data.len();
            budget.used -= p.data.len();
            if diff(p.seq.wrapping_add(p.len), self.next) > 0 {
                self.deliver(p.seq, p.len, &p.data, sink);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        stream: &mut Stream,
        budget: &mut Budget,
        seq: u32,
        data: &[u8],
        out: &mut Vec<String>,
    ) -> bool {
        stream.segment(
            Segment {
                seq,
                len: data.len() as u32,
                data,
            },
            true,
            1 << 20,
            budget,
            &mut |c| match c {
                Chunk::Data(d) => out.push(String::from_utf8_lossy(d).into_owned()),
                Chunk::Gap(n) => out.push(format!("<gap {n}>")),
            },
        )
    }

    fn budget() -> Budget {
        Budget {
            max: 1 << 20,
            ..Default::default()
        }
    }

    #[test]
    fn out_of_order_segments_come_out_in_order() {
        let (mut s, mut b, mut out) = (Stream::default(), budget(), vec![]);
        s.syn(99);
        run(&mut s, &mut b, 105, b"world", &mut out);
        assert!(out.is_empty());
        run(&mut s, &mut b, 100, b"hello", &mut out);
        assert_eq!(out, ["hello", "world"]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn retransmission_is_flagged_and_not_delivered_twice() {
        let (mut s, mut b, mut out) = (Stream::default(), budget(), vec![]);
        s.syn(0);
        assert!(!run(&mut s, &mut b, 1, b"abc", &mut out));
        assert!(run(&mut s, &mut b, 1, b"abc", &mut out));
        assert_eq!(out, ["abc"]);
    }

    #[test]
    fn overlapping_segment_delivers_only_new_bytes() {
        let (mut s, mut b, mut out) = (Stream::default(), budget(), vec![]);
        s.syn(0);
        run(&mut s, &mut b, 1, b"abcd", &mut out);
        run(&mut s, &mut b, 3, b"cdef", &mut out);
        assert_eq!(out, ["abcd", "ef"]);
    }

    #[test]
    fn ack_past_a_hole_gives_it_up() {
        let (mut s, mut b, mut out) = (Stream::default(), budget(), vec![]);
        s.syn(0);
        run(&mut s, &mut b, 1, b"ab", &mut out);
        run(&mut s, &mut b, 6, b"fg", &mut out);
        s.acked(8, &mut b, &mut |c| match c {
            Chunk::Data(d) => out.push(String::from_utf8_lossy(d).into_owned()),
            Chunk::Gap(n) => out.push(format!("<gap {n}>")),
        });
        assert_eq!(out, ["ab", "<gap 3>", "fg"]);
    }

    #[test]
    fn budget_exhaustion_turns_holes_into_gaps() {
        let (mut s, mut out) = (Stream::default(), vec![]);
        let mut b = Budget {
            max: 4,
            ..Default::default()
        };
        s.syn(0);
        run(&mut s, &mut b, 11, b"xyz", &mut out);
        run(&mut s, &mut b, 21, b"12345", &mut out);
        assert_eq!(out, ["<gap 10>", "xyz", "<gap 7>", "12345"]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn sequence_wraparound() {
        let (mut s, mut b, mut out) = (Stream::default(), budget(), vec![]);
        s.syn(u32::MAX - 2);
        run(&mut s, &mut b, u32::MAX - 1, b"ab", &mut out);
        run(&mut s, &mut b, 0, b"cd", &mut out);
        assert_eq!(out, ["ab", "cd"]);
    }
}
