//! Incremental RESP reader: one direction's bytes in, one summarised message
//! at a time out.
//!
//! A message is never held whole. Lines (type byte, length or scalar, CRLF)
//! are read in place when a segment holds them, else carried over in a small
//! bounded buffer; bulk payloads are counted and skipped as they stream by,
//! only a prefix of each top-level argument kept (the command's name, key and
//! shown arguments). Nested aggregates are tracked by a stack of element
//! counts, so a reply of a million elements costs a counter, not memory.
//!
//! What a message yields is a [`Msg`]: its top-level type, wire size,
//! element count, errors among its elements, and the first few top-level
//! scalars ([`Item`]s: a command's arguments, a pub/sub delivery's kind and
//! channel, an error's text). Client and server streams differ only where
//! Redis' own reader does: a client's top-level line that is not `*` is an
//! inline command, and a client's array may only hold bulk strings.

use std::mem;

use memchr::memchr;
use podwire_record::Timestamp;

use crate::inline;

/// Longest line a client may send, as Redis' own `PROTO_INLINE_MAX_SIZE`.
const MAX_CLIENT_LINE: u64 = 64 * 1024;
/// Most arguments in a command, as Redis' own multibulk limit.
const MAX_CLIENT_ARGS: i64 = 1024 * 1024;

/// The type of a RESP value, by its first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `+`
    #[default]
    Simple,
    /// `-`
    Error,
    /// `:`
    Integer,
    /// `$` (also a streamed `$?` string)
    Bulk,
    /// `_`, and RESP2's `$-1` and `*-1`
    Null,
    /// `*`
    Array,
    /// `%`
    Map,
    /// `~`
    Set,
    /// `,`
    Double,
    /// `#`
    Boolean,
    /// `=`
    Verbatim,
    /// `(`
    BigNumber,
    /// `>`
    Push,
    /// `!`
    BlobError,
    /// A client's command written as a line of words.
    Inline,
}

impl Kind {
    fn of(byte: u8) -> Option<Kind> {
        Some(match byte {
            b'+' => Kind::Simple,
            b'-' => Kind::Error,
            b':' => Kind::Integer,
            b'$' => Kind::Bulk,
            b'_' => Kind::Null,
            b'*' => Kind::Array,
            b'%' => Kind::Map,
            b'~' => Kind::Set,
            b',' => Kind::Double,
            b'#' => Kind::Boolean,
            b'=' => Kind::Verbatim,
            b'(' => Kind::BigNumber,
            b'>' => Kind::Push,
            b'!' => Kind::BlobError,
            _ => return None,
        })
    }

    /// Error replies, simple or blob.
    pub(crate) fn is_error(self) -> bool {
        matches!(self, Kind::Error | Kind::BlobError)
    }
}

/// One top-level scalar (or the head of a top-level aggregate) of a message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Item {
    pub kind: Kind,
    /// Where its kept bytes are in [`Msg::arena`].
    start: usize,
    kept: usize,
    /// Its full length: bytes of a string, elements of an aggregate.
    pub len: u64,
    /// The value of an integer.
    pub int: Option<i64>,
}

/// What was read of one message; reused from message to message.
#[derive(Debug, Default)]
pub(crate) struct Msg {
    /// Capture time of the packet that carried its first byte.
    pub ts: Timestamp,
    /// Its top-level type (after any attribute).
    pub kind: Kind,
    /// Bytes on the wire.
    pub bytes: u64,
    /// Elements of a top-level aggregate (pairs of a map).
    pub elements: u64,
    /// Error values among the top-level aggregate's elements.
    pub errors: u64,
    /// The top-level scalar (one item), or the first elements of a
    /// top-level aggregate; see [`Reader::new`] for how many.
    pub items: Vec<Item>,
    /// Top-level elements beyond the items kept.
    pub items_dropped: u64,
    /// Some kept content was cut at a limit.
    pub cut: bool,
    arena: Vec<u8>,
    started: bool,
}

impl Msg {
    /// The kept bytes of `item` (a prefix when it was cut).
    pub(crate) fn text(&self, item: &Item) -> &[u8] {
        self.arena
            .get(item.start..item.start.saturating_add(item.kept))
            .unwrap_or(&[])
    }

    /// The kept bytes of item `i`, if there is one.
    pub(crate) fn text_at(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|item| self.text(item))
    }

    /// Whether `item` was kept whole.
    pub(crate) fn whole(&self, item: &Item) -> bool {
        item.kept as u64 == item.len
    }

    fn reset(&mut self, ts: Timestamp) {
        self.ts = ts;
        self.kind = Kind::Simple;
        self.bytes = 0;
        self.elements = 0;
        self.errors = 0;
        self.items.clear();
        self.items_dropped = 0;
        self.cut = false;
        self.arena.clear();
        self.started = true;
    }
}

/// Which stream a reader reads: the grammar differs slightly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// What a reader keeps of a message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Bytes kept of one item.
    pub item_bytes: usize,
    /// Bytes kept of one message (all items, and a carried-over line).
    pub message_bytes: usize,
    /// Top-level elements kept as items.
    pub items: usize,
    /// Deepest nesting of aggregates.
    pub depth: usize,
}

/// What [`Reader::advance`] stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A message is complete: read it from [`Reader::msg`].
    Message,
    /// The input is used up.
    More,
    /// The bytes are not RESP where RESP was due; the reader is resyncing.
    Malformed,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// At or inside a line.
    Line,
    /// Inside a bulk payload: `left` bytes to go, `keep` of them to keep
    /// (into the last item) when `capture`.
    Payload {
        left: u64,
        keep: usize,
        capture: bool,
    },
    /// After a payload: `seen` bytes of its CRLF read.
    Crlf { seen: u8 },
    /// Lost: looking for a message start; `boundary` when the next byte
    /// starts a line or a segment.
    Resync { boundary: bool },
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    /// Elements to go; unused when `streamed`.
    left: u64,
    /// Elements seen of a streamed aggregate.
    seen: u64,
    streamed: bool,
    attr: bool,
    map: bool,
}

/// One direction's RESP reader; see the module docs.
#[derive(Debug)]
pub(crate) struct Reader {
    role: Role,
    limits: Limits,
    state: State,
    /// A line begun in an earlier segment (its first bytes, bounded).
    line: Vec<u8>,
    /// Full length of that line so far.
    line_len: u64,
    stack: Vec<Agg>,
    /// Open attributes in `stack`: their contents are no one's items.
    attrs: usize,
    /// Inside a streamed string (`$?`): lines are `;N` chunks.
    chunks: bool,
    /// That string is an item: its chunks add to the item's length.
    chunk_item: bool,
    /// Bytes skipped while resyncing, for the caller's counters.
    pub skipped: u64,
    pub msg: Msg,
}

impl Reader {
    /// A reader at the start of a stream (`synced`) or lost in one.
    pub(crate) fn new(role: Role, limits: Limits, synced: bool) -> Self {
        Reader {
            role,
            limits,
            state: if synced {
                State::Line
            } else {
                State::Resync { boundary: true }
            },
            line: Vec::new(),
            line_len: 0,
            stack: Vec::new(),
            attrs: 0,
            chunks: false,
            chunk_item: false,
            skipped: 0,
            msg: Msg::default(),
        }
    }

    /// Between messages, with nothing half-read.
    pub(crate) fn idle(&self) -> bool {
        matches!(self.state, State::Line) && !self.msg.started
    }

    /// Lost track of message boundaries: look for the next message start.
    pub(crate) fn lose_sync(&mut self) {
        self.clear();
        self.state = State::Resync { boundary: false };
    }

    /// A new segment begins: when resyncing, its first byte may start a message.
    pub(crate) fn segment_start(&mut self) {
        if let State::Resync { .. } = self.state {
            self.state = State::Resync { boundary: true };
        }
    }

    /// `len` bytes are missing. Inside a payload long enough to hold them
    /// the reader stays in sync (the kept prefix is cut); returns whether it did.
    pub(crate) fn gap(&mut self, len: u64) -> bool {
        match self.state {
            State::Payload { left, .. } if left >= len => {
                self.state = State::Payload {
                    left: left - len,
                    keep: 0,
                    capture: false,
                };
                self.msg.bytes = self.msg.bytes.saturating_add(len);
                self.msg.cut = true;
                if left == len {
                    self.state = State::Crlf { seen: 0 };
                }
                true
            }
            State::Resync { .. } => {
                self.state = State::Resync { boundary: false };
                false
            }
            _ => {
                self.lose_sync();
                false
            }
        }
    }

    fn clear(&mut self) {
        self.line.clear();
        self.line_len = 0;
        self.stack.clear();
        self.attrs = 0;
        self.chunks = false;
        self.msg.started = false;
    }

    /// Reads from `input[*pos..]` until a message is complete, the input is
    /// used up, or the bytes are not RESP. `ts` is the input's capture time.
    pub(crate) fn advance(&mut self, input: &[u8], pos: &mut usize, ts: Timestamp) -> Step {
        // Each turn consumes at least one byte or returns.
        while let Some(rest) = input.get(*pos..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Resync { boundary } => self.resync(rest, pos, boundary),
                State::Line => {
                    if !self.msg.started {
                        self.msg.reset(ts);
                    }
                    let Some(nl) = memchr(b'\n', rest) else {
                        *pos = input.len();
                        self.msg.bytes = self.msg.bytes.saturating_add(rest.len() as u64);
                        self.carry(rest);
                        if self.role == Role::Client && self.line_len > MAX_CLIENT_LINE {
                            return self.malformed();
                        }
                        return Step::More;
                    };
                    let (head, _) = rest.split_at(nl);
                    *pos = pos.saturating_add(nl + 1);
                    self.msg.bytes = self.msg.bytes.saturating_add(nl as u64 + 1);
                    let step = if self.line_len == 0 {
                        self.line_done(head, false)
                    } else {
                        self.carry(head);
                        let line = mem::take(&mut self.line);
                        let cut = self.line_len > line.len() as u64;
                        let step = self.line_done(&line, cut);
                        self.line = line;
                        self.line.clear();
                        step
                    };
                    self.line_len = 0;
                    match step {
                        Some(Step::More) | None => {}
                        Some(step) => return step,
                    }
                }
                State::Payload {
                    left,
                    keep,
                    capture,
                } => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let (taken, _) = rest.split_at(n);
                    let kept = keep.min(n);
                    if capture && kept > 0 {
                        self.keep_bytes(taken.get(..kept).unwrap_or(&[]));
                    }
                    *pos = pos.saturating_add(n);
                    self.msg.bytes = self.msg.bytes.saturating_add(n as u64);
                    let left = left.saturating_sub(n as u64);
                    // The CRLF nearly always follows in the same segment:
                    // taken here, as the `Crlf` state would, in one step
                    // rather than three turns of the loop.
                    if left == 0 && rest.get(n..n.saturating_add(2)) == Some(b"\r\n") {
                        *pos = pos.saturating_add(2);
                        self.msg.bytes = self.msg.bytes.saturating_add(2);
                        self.state = State::Line;
                        if !self.chunks && self.value_done(false) {
                            return self.message();
                        }
                        continue;
                    }
                    self.state = if left == 0 {
                        State::Crlf { seen: 0 }
                    } else {
                        State::Payload {
                            left,
                            keep: keep - kept,
                            capture,
                        }
                    };
                }
                State::Crlf { seen } => {
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if rest.first() != Some(&want) {
                        return self.malformed();
                    }
                    *pos = pos.saturating_add(1);
                    self.msg.bytes = self.msg.bytes.saturating_add(1);
                    if seen == 0 {
                        self.state = State::Crlf { seen: 1 };
                    } else {
                        self.state = State::Line;
                        // The chunk of a streamed string ends; the string does not.
                        if !self.chunks && self.value_done(false) {
                            return self.message();
                        }
                    }
                }
            }
        }
        Step::More
    }

    fn malformed(&mut self) -> Step {
        self.lose_sync();
        Step::Malformed
    }

    fn message(&mut self) -> Step {
        self.msg.started = false;
        Step::Message
    }

    /// Keeps the first bytes of a line that spans segments.
    fn carry(&mut self, bytes: &[u8]) {
        let room = self.limits.message_bytes.saturating_sub(self.line.len());
        self.line
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
        self.line_len = self.line_len.saturating_add(bytes.len() as u64);
    }

    /// Appends to the last item's kept bytes.
    fn keep_bytes(&mut self, bytes: &[u8]) {
        if let Some(item) = self.msg.items.last_mut() {
            self.msg.arena.extend_from_slice(bytes);
            item.kept = item.kept.saturating_add(bytes.len());
        }
    }

    /// Skips to a plausible message start; see [`crate::detect`].
    fn resync(&mut self, rest: &[u8], pos: &mut usize, boundary: bool) {
        if boundary {
            let plausible = match self.role {
                Role::Client => crate::detect::command_start(rest),
                Role::Server => crate::detect::reply_start(rest),
            };
            if plausible {
                self.clear();
                self.state = State::Line;
                return;
            }
        }
        let skip = memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        *pos = pos.saturating_add(skip);
        self.skipped = self.skipped.saturating_add(skip as u64);
        self.state = State::Resync {
            boundary: skip < rest.len() || rest.last() == Some(&b'\n'),
        };
    }

    /// A whole line (without its `\n`); `cut` when only its start was kept.
    /// `Some(step)` ends this `advance`; `None` reads on.
    fn line_done(&mut self, line: &[u8], cut: bool) -> Option<Step> {
        if self.role == Role::Client && self.stack.is_empty() && !self.chunks {
            // Inline commands may end in a bare `\n`.
            return self.client_top(line.strip_suffix(b"\r").unwrap_or(line), cut);
        }
        let line = line.strip_suffix(b"\r");
        // RESP lines end in CRLF, and a cut one is not a header.
        let Some(line) = line.filter(|_| !cut) else {
            return Some(self.malformed());
        };
        let (&tag, rest) = line.split_first()?;
        if self.chunks {
            return self.chunk(tag, rest);
        }
        if tag == b'.' && rest.is_empty() {
            return self.end_streamed();
        }
        if tag == b'|' && self.role == Role::Server {
            return self.aggregate(tag, Kind::Map, rest);
        }
        let Some(kind) = Kind::of(tag).filter(|&k| self.role == Role::Server || k == Kind::Bulk)
        else {
            return Some(self.malformed());
        };
        match tag {
            b'+' | b'-' | b'(' => self.scalar(kind, rest, None),
            b':' => match parse_int(rest) {
                Some(n) => self.scalar(kind, rest, Some(n)),
                None => Some(self.malformed()),
            },
            b',' if !rest.is_empty() => self.scalar(kind, rest, None),
            b'#' if rest == b"t" || rest == b"f" => self.scalar(kind, rest, None),
            b'_' if rest.is_empty() => self.scalar(kind, rest, None),
            b'$' | b'=' | b'!' => self.string(kind, rest),
            b'*' | b'%' | b'~' | b'>' | b'|' => self.aggregate(tag, kind, rest),
            _ => Some(self.malformed()),
        }
    }

    /// A client's top-level line: a command array's header or an inline command.
    fn client_top(&mut self, line: &[u8], cut: bool) -> Option<Step> {
        match line.split_first() {
            // Redis skips empty lines between commands.
            None => {
                self.msg.started = false;
                None
            }
            Some((b'*', count)) if !cut => match parse_int(count) {
                // `*0` and `*-1` are skipped too.
                Some(n) if n <= 0 => {
                    self.msg.started = false;
                    None
                }
                Some(n) if n <= MAX_CLIENT_ARGS => self.open(Kind::Array, n as u64, false, false),
                _ => Some(self.malformed()),
            },
            Some(_) => {
                let kept = self.limits.message_bytes.min(line.len());
                let words = inline::split(
                    line.get(..kept).unwrap_or_default(),
                    &mut self.msg.arena,
                    self.limits.item_bytes,
                );
                let Some(words) = words else {
                    return Some(self.malformed());
                };
                self.msg.kind = Kind::Inline;
                self.msg.cut |= cut || kept < line.len() || words.cut;
                self.msg.elements = words.spans.len() as u64;
                for (start, kept, len) in words.spans.into_iter().take(self.limits.items) {
                    self.msg.items.push(Item {
                        kind: Kind::Bulk,
                        start,
                        kept,
                        len,
                        int: None,
                    });
                }
                if self.msg.elements == 0 {
                    self.msg.started = false;
                    return None;
                }
                Some(self.message())
            }
        }
    }

    /// A value begins at the current depth: note it in the message.
    /// Returns whether it is a top-level item to keep bytes of.
    fn begin(&mut self, kind: Kind, len: u64, int: Option<i64>, aggregate: bool) -> bool {
        if self.attrs > 0 {
            return false;
        }
        match self.stack.len() {
            0 => {
                self.msg.kind = kind;
                // A top-level aggregate's items are its elements.
                !aggregate && self.item(kind, len, int)
            }
            1 => {
                if kind.is_error() {
                    self.msg.errors += 1;
                }
                self.item(kind, len, int)
            }
            _ => false,
        }
    }

    fn item(&mut self, kind: Kind, len: u64, int: Option<i64>) -> bool {
        if self.msg.items.len() >= self.limits.items {
            self.msg.items_dropped += 1;
            return false;
        }
        self.msg.items.push(Item {
            kind,
            start: self.msg.arena.len(),
            kept: 0,
            len,
            int,
        });
        true
    }

    /// How many bytes of a string of `len` to keep as an item.
    fn keep_len(&mut self, len: u64) -> usize {
        let room = self
            .limits
            .message_bytes
            .saturating_sub(self.msg.arena.len())
            .min(self.limits.item_bytes);
        let keep = usize::try_from(len).unwrap_or(usize::MAX).min(room);
        if (keep as u64) < len {
            self.msg.cut = true;
        }
        keep
    }

    fn scalar(&mut self, kind: Kind, text: &[u8], int: Option<i64>) -> Option<Step> {
        if self.begin(kind, text.len() as u64, int, false) {
            let keep = self.keep_len(text.len() as u64);
            self.keep_bytes(text.get(..keep).unwrap_or_default());
        }
        self.value_done(false).then(|| self.message())
    }

    /// `$`, `=` or `!` with its length line.
    fn string(&mut self, kind: Kind, len: &[u8]) -> Option<Step> {
        if kind == Kind::Bulk && len == b"?" && self.role == Role::Server {
            self.chunks = true;
            self.chunk_item = self.begin(kind, 0, None, false);
            return None;
        }
        match parse_int(len) {
            Some(-1) if kind == Kind::Bulk && self.role == Role::Server => {
                self.scalar(Kind::Null, b"", None)
            }
            Some(n) if n >= 0 => {
                let n = n as u64;
                let capture = self.begin(kind, n, None, false);
                let keep = if capture { self.keep_len(n) } else { 0 };
                self.state = if n == 0 {
                    State::Crlf { seen: 0 }
                } else {
                    State::Payload {
                        left: n,
                        keep,
                        capture,
                    }
                };
                None
            }
            _ => Some(self.malformed()),
        }
    }

    /// A `;N` chunk line of a streamed string.
    fn chunk(&mut self, tag: u8, len: &[u8]) -> Option<Step> {
        match (tag, parse_int(len)) {
            (b';', Some(0)) => {
                self.chunks = false;
                self.value_done(false).then(|| self.message())
            }
            (b';', Some(n)) if n > 0 => {
                if let Some(item) = self.msg.items.last_mut().filter(|_| self.chunk_item) {
                    item.len = item.len.saturating_add(n as u64);
                }
                self.state = State::Payload {
                    left: n as u64,
                    keep: 0,
                    capture: false,
                };
                None
            }
            _ => Some(self.malformed()),
        }
    }

    /// `*`, `%`, `~`, `>` or `|` with its count line.
    fn aggregate(&mut self, tag: u8, kind: Kind, count: &[u8]) -> Option<Step> {
        let (map, attr) = (tag == b'%', tag == b'|');
        if count == b"?" && !attr {
            return self.open(kind, 0, map, true);
        }
        match parse_int(count) {
            Some(-1) if tag == b'*' => self.scalar(Kind::Null, b"", None),
            Some(n) if n >= 0 => {
                let n = n as u64;
                let elements = if map || attr { n.saturating_mul(2) } else { n };
                if attr {
                    // An empty attribute says nothing and holds no place.
                    if elements == 0 {
                        return None;
                    }
                    if self.stack.len() >= self.limits.depth {
                        return Some(self.malformed());
                    }
                    self.attrs += 1;
                    self.stack.push(Agg {
                        left: elements,
                        seen: 0,
                        streamed: false,
                        attr: true,
                        map: false,
                    });
                    return None;
                }
                self.open(kind, elements, map, false)
            }
            _ => Some(self.malformed()),
        }
    }

    /// Opens an aggregate of `elements` (or a streamed one).
    fn open(&mut self, kind: Kind, elements: u64, map: bool, streamed: bool) -> Option<Step> {
        if self.stack.len() >= self.limits.depth {
            return Some(self.malformed());
        }
        let count = if map { elements / 2 } else { elements };
        self.begin(kind, count, None, true);
        if self.stack.is_empty() && self.attrs == 0 {
            self.msg.elements = count;
        }
        if elements == 0 && !streamed {
            return self.value_done(false).then(|| self.message());
        }
        self.stack.push(Agg {
            left: elements,
            seen: 0,
            streamed,
            attr: false,
            map,
        });
        None
    }

    /// The `.` that ends a streamed aggregate.
    fn end_streamed(&mut self) -> Option<Step> {
        match self.stack.last() {
            Some(agg) if agg.streamed => {
                let agg = *agg;
                self.stack.pop();
                let count = if agg.map { agg.seen / 2 } else { agg.seen };
                if self.stack.is_empty() && self.attrs == 0 {
                    self.msg.elements = count;
                }
                self.value_done(false).then(|| self.message())
            }
            _ => Some(self.malformed()),
        }
    }

    /// A value ended (`attr`: it was an attribute, which is no element of
    /// its parent). Closes the aggregates it completes; true when the whole
    /// message is complete.
    fn value_done(&mut self, mut attr: bool) -> bool {
        // Each turn pops one aggregate: bounded by the depth.
        loop {
            let Some(agg) = self.stack.last_mut() else {
                return !attr;
            };
            if attr {
                return false;
            }
            if agg.streamed {
                agg.seen = agg.seen.saturating_add(1);
                return false;
            }
            agg.left = agg.left.saturating_sub(1);
            if agg.left > 0 {
                return false;
            }
            attr = agg.attr;
            if attr {
                self.attrs = self.attrs.saturating_sub(1);
            }
            self.stack.pop();
        }
    }
}

/// A RESP integer: optional `-`/`+`, then at most 19 digits.
pub(crate) fn parse_int(text: &[u8]) -> Option<i64> {
    let (neg, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}
