//! What a command is: its bounded operation label, its key, the text a
//! record shows of it, and what it changes about the connection.
//!
//! The list of known commands (`table`) is generated from Redis' own
//! `COMMAND` reply, so the operation label is bounded by it: an unknown name
//! is `OTHER`, an unknown container subcommand the container alone.
//!
//! Secrets never leave this module: by default only the command's name(s),
//! its key (as the server's key specs place it) and pub/sub channels are
//! shown, every other argument is `?`. `show_secrets` shows the arguments,
//! but credentials stay `?` whatever the flag: every argument of `AUTH`,
//! `HELLO ... AUTH user pass`, `MIGRATE ... AUTH pass | AUTH2 user pass`,
//! password rules of `ACL SETUSER` (`>pass`, `<pass`, `#hash`, `!hash`), and
//! the value after a credential setting's name (`CONFIG SET requirepass`,
//! `masterauth`, `SENTINEL SET ... auth-pass`, ...).

mod table;

use podwire_record::Redis;

use crate::resp::Msg;
use crate::RedisConfig;

/// Where a command's first key is, from the server's key specs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    /// No key (or only channels, which are not keys).
    None,
    /// At this argument (the command's name is argument 0).
    At(u8),
    /// This argument counts the keys; the first follows it.
    NumKeys(u8),
    /// After this keyword, searched from this argument on.
    After(&'static [u8], i8),
}

/// A subscription family: channels, patterns, shard channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubKind {
    Channel,
    Pattern,
    Shard,
}

/// `CLIENT REPLY` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    On,
    Off,
    Skip,
}

/// What a command changes about the connection or its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    None,
    /// `HELLO [protover]`.
    Hello(Option<i64>),
    Multi,
    Exec,
    Discard,
    ClientReply(ReplyMode),
    Monitor,
    /// Answered by one confirmation per channel.
    Subscribe(SubKind, u64),
    /// One confirmation per channel named; with none, one per subscription.
    Unsubscribe(SubKind, u64),
    Reset,
}

/// A command read from the client: its record so far and what it does.
#[derive(Debug)]
pub(crate) struct Command {
    pub record: Redis,
    pub special: Special,
    /// The name is one Redis knows.
    pub known: bool,
}

/// Setting names whose value is a credential.
const SECRET_SETTINGS: [&[u8]; 7] = [
    b"requirepass",
    b"masterauth",
    b"masteruser",
    b"auth-pass",
    b"sentinel-pass",
    b"tls-key-file-pass",
    b"tls-client-key-file-pass",
];

/// What a command text is cut with.
pub(crate) const CUT: &str = "...";

/// Looks a command up: `(operation, key, words in the operation)`.
fn lookup(name: &[u8], sub: Option<&[u8]>) -> Option<(&'static str, Key, usize)> {
    let &(op, key, container) = find(name)?;
    if !container {
        return Some((op, key, 1));
    }
    let sub = sub.and_then(|sub| {
        let len = name.len().checked_add(1)?.checked_add(sub.len())?;
        let mut two = [0u8; 64];
        two.get_mut(..name.len())?.copy_from_slice(name);
        *two.get_mut(name.len())? = b' ';
        two.get_mut(name.len() + 1..len)?.copy_from_slice(sub);
        find(two.get(..len)?)
    });
    Some(match sub {
        Some(&(op, key, _)) => (op, key, 2),
        None => (op, Key::None, 1),
    })
}

/// Slots of the hash index over [`table::COMMANDS`]: a power of two, about
/// three times the commands, so that probe sequences stay short.
const SLOTS: usize = 1024;
/// An empty slot.
const EMPTY: u16 = u16::MAX;

/// FNV-1a of the upper-case bytes, folded to a slot.
const fn slot_of(hash: u32) -> usize {
    ((hash ^ (hash >> 16)) as usize) & (SLOTS - 1)
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Open-addressing index (linear probing) from a name's hash to its entry
/// in [`table::COMMANDS`], built at compile time. Every command is one
/// upper-casing pass, one hash and (almost always) one comparison, where a
/// binary search over 366 names costs nine comparisons.
static INDEX: [u16; SLOTS] = {
    let mut index = [EMPTY; SLOTS];
    let mut i = 0;
    while i < table::COMMANDS.len() {
        let name = table::COMMANDS[i].0.as_bytes();
        let mut h = FNV_OFFSET;
        let mut j = 0;
        while j < name.len() {
            h = (h ^ name[j] as u32).wrapping_mul(FNV_PRIME);
            j += 1;
        }
        let mut slot = slot_of(h);
        while index[slot] != EMPTY {
            slot = (slot + 1) & (SLOTS - 1);
        }
        index[slot] = i as u16;
        i += 1;
    }
    index
};

/// The table entry named `name` (any case), if Redis knows it.
fn find(name: &[u8]) -> Option<&'static (&'static str, Key, bool)> {
    let mut buf = [0u8; 64];
    let upper = buf.get_mut(..name.len())?;
    let mut h = FNV_OFFSET;
    for (o, &b) in upper.iter_mut().zip(name) {
        let u = b.to_ascii_uppercase();
        *o = u;
        h = (h ^ u32::from(u)).wrapping_mul(FNV_PRIME);
    }
    let upper = &*upper;
    let mut slot = slot_of(h);
    loop {
        let i = *INDEX.get(slot)?;
        if i == EMPTY {
            return None;
        }
        let entry = table::COMMANDS.get(usize::from(i))?;
        if entry.0.as_bytes() == upper {
            return Some(entry);
        }
        slot = (slot + 1) & (SLOTS - 1);
    }
}

/// Whether `name` is a command Redis knows (case-insensitive).
pub(crate) fn is_known(name: &[u8]) -> bool {
    lookup(name, None).is_some()
}

/// Where `MIGRATE host port "" db timeout [COPY] [REPLACE] [AUTH pass |
/// AUTH2 user pass] KEYS key...` has its first key, read as Redis'
/// `migrateGetKeys` does: its key is `""` when the keys follow `KEYS`, and
/// the words after `AUTH`/`AUTH2` are credentials, never a keyword.
fn migrate_keys(msg: &Msg, kept: usize) -> Option<usize> {
    let mut j = 6;
    while j < kept {
        let word = msg.text_at(j).unwrap_or_default();
        if eq_ci(word, b"AUTH") {
            j += 2;
        } else if eq_ci(word, b"AUTH2") {
            j += 3;
        } else if eq_ci(word, b"KEYS") {
            return Some(j + 1).filter(|&k| k < kept);
        } else {
            j += 1;
        }
    }
    None
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Reads the command in `msg` (a client message) into a record.
pub(crate) fn describe(msg: &Msg, config: &RedisConfig) -> Command {
    let arg = |i: usize| msg.text_at(i).unwrap_or_default();
    let name = arg(0);
    let found = lookup(name, msg.text_at(1));
    let (op, key, words) = found.unwrap_or(("OTHER", Key::None, 1));
    let special = special(op, msg);
    let kept = msg.items.len();

    let key_at = match key {
        Key::None => None,
        Key::At(i) => Some(usize::from(i)),
        Key::NumKeys(i) => {
            let n = crate::resp::parse_int(arg(usize::from(i)));
            n.filter(|&n| n > 0).map(|_| usize::from(i) + 1)
        }
        Key::After(word, from) => {
            let from = usize::try_from(from).unwrap_or(1).max(1);
            (from..kept).find(|&i| eq_ci(arg(i), word)).map(|i| i + 1)
        }
    }
    .filter(|&i| i < kept);
    let key_at = match key_at {
        Some(i) if op == "MIGRATE" && arg(i).is_empty() => migrate_keys(msg, kept),
        other => other,
    };
    let channels = matches!(special, Special::Subscribe(..) | Special::Unsubscribe(..))
        || matches!(op, "PUBLISH" | "SPUBLISH");
    let secret = secrets(op, msg);

    let mut record = Redis {
        operation: op.into(),
        args: msg.elements,
        command_bytes: msg.bytes,
        ..Redis::default()
    };
    let mut cut = false;
    if let Some(i) = key_at {
        record.key = Some(lossy(msg, i, config.max_arg_len, &mut cut));
    }
    if channels && kept > 1 {
        record.channel = Some(lossy(msg, 1, config.max_arg_len, &mut cut));
    }

    let max = config.max_command_len;
    let mut text = String::with_capacity(max.min(64));
    if found.is_some() {
        text.push_str(op);
    } else {
        cut |= push_arg(&mut text, msg, 0, config.max_arg_len);
    }
    let known = found.is_some();
    let mut stopped = (kept as u64) < msg.elements;
    let mut shown_cut = false;
    for i in words..kept {
        let before = text.len();
        text.push(' ');
        let shown = !secret.contains(i)
            && (config.show_secrets
                || Some(i) == key_at
                || channels && (i == 1 || !matches!(op, "PUBLISH" | "SPUBLISH"))
                || op == "HELLO" && (i == 1 || is_hello_word(arg(i))));
        let arg_cut = if shown {
            push_arg(&mut text, msg, i, config.max_arg_len)
        } else {
            text.push('?');
            false
        };
        if text.len() > max {
            // Whole arguments or none.
            text.truncate(before);
            stopped = true;
            break;
        }
        shown_cut |= arg_cut;
    }
    if text.len() > max {
        // A name longer than the whole text may be.
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        stopped = true;
    }
    if stopped {
        text.push(' ');
        text.push_str(CUT);
    }
    cut |= stopped || shown_cut;
    record.command = Some(text);
    record.truncated = cut;
    Command {
        record,
        special,
        known,
    }
}

fn is_hello_word(word: &[u8]) -> bool {
    eq_ci(word, b"AUTH") || eq_ci(word, b"SETNAME")
}

/// What connection state the command `op` changes.
fn special(op: &str, msg: &Msg) -> Special {
    let arg = |i: usize| msg.text_at(i).unwrap_or_default();
    let channels = msg.elements.saturating_sub(1);
    match op {
        "HELLO" => Special::Hello(crate::resp::parse_int(arg(1))),
        "MULTI" => Special::Multi,
        "EXEC" => Special::Exec,
        "DISCARD" => Special::Discard,
        "MONITOR" => Special::Monitor,
        "RESET" => Special::Reset,
        "CLIENT REPLY" => match arg(2) {
            a if eq_ci(a, b"ON") => Special::ClientReply(ReplyMode::On),
            a if eq_ci(a, b"OFF") => Special::ClientReply(ReplyMode::Off),
            a if eq_ci(a, b"SKIP") => Special::ClientReply(ReplyMode::Skip),
            _ => Special::None,
        },
        "SUBSCRIBE" => Special::Subscribe(SubKind::Channel, channels),
        "PSUBSCRIBE" => Special::Subscribe(SubKind::Pattern, channels),
        "SSUBSCRIBE" => Special::Subscribe(SubKind::Shard, channels),
        "UNSUBSCRIBE" => Special::Unsubscribe(SubKind::Channel, channels),
        "PUNSUBSCRIBE" => Special::Unsubscribe(SubKind::Pattern, channels),
        "SUNSUBSCRIBE" => Special::Unsubscribe(SubKind::Shard, channels),
        _ => Special::None,
    }
}

/// Argument positions never shown.
#[derive(Debug, Default)]
struct Secrets {
    /// Every argument after the name.
    all: bool,
    /// Positions as a bit set (the first 128 arguments; later ones are
    /// never shown either, see `describe`'s cut).
    bits: u128,
}

impl Secrets {
    fn add(&mut self, i: usize) {
        if let Some(bit) = u32::try_from(i).ok().and_then(|i| 1u128.checked_shl(i)) {
            self.bits |= bit;
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.all
            || u32::try_from(i)
                .ok()
                .and_then(|i| 1u128.checked_shl(i))
                .is_none_or(|bit| self.bits & bit != 0)
    }
}

/// The arguments of the command `op` that are credentials.
fn secrets(op: &str, msg: &Msg) -> Secrets {
    let arg = |i: usize| msg.text_at(i).unwrap_or_default();
    let kept = msg.items.len();
    let mut s = Secrets::default();
    match op {
        "AUTH" => s.all = true,
        // Also when the name is not known (a misspelt or renamed AUTH).
        "OTHER" => s.all = true,
        "ACL SETUSER" => {
            for i in 3..kept {
                if matches!(arg(i).first(), Some(b'>' | b'<' | b'#' | b'!')) {
                    s.add(i);
                }
            }
        }
        _ => {}
    }
    // `AUTH user pass` inside HELLO, `AUTH pass` / `AUTH2 user pass` in MIGRATE.
    for i in 1..kept {
        let word = arg(i);
        let n = match op {
            "HELLO" if eq_ci(word, b"AUTH") => 2,
            "MIGRATE" if eq_ci(word, b"AUTH") => 1,
            "MIGRATE" if eq_ci(word, b"AUTH2") => 2,
            _ if SECRET_SETTINGS.iter().any(|w| eq_ci(word, w)) => 1,
            _ => 0,
        };
        for j in 1..=n {
            s.add(i + j);
        }
    }
    s
}

/// Argument `i` as record text: lossy UTF-8, cut at `max` bytes.
fn lossy(msg: &Msg, i: usize, max: usize, cut: &mut bool) -> String {
    let Some(item) = msg.items.get(i) else {
        return String::new();
    };
    let bytes = msg.text(item);
    let short = bytes.get(..max).unwrap_or(bytes);
    let more = short.len() < bytes.len() || !msg.whole(item);
    let mut s = text_of(short, if more { CUT.len() } else { 0 });
    if more {
        s.push_str(CUT);
        *cut = true;
    }
    s
}

/// `bytes` as lossy UTF-8 with room for `extra` more bytes. Valid text
/// (nearly every key and channel) is checked by `from_utf8`, several times
/// faster than the lossy decoder's chunk walk, and copied once.
pub(crate) fn text_of(bytes: &[u8], extra: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut t = String::with_capacity(s.len() + extra);
            t.push_str(s);
            t
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Bytes an argument may hold and be shown unquoted: printable ASCII but
/// quotes and backslash. A table, since every shown argument of every
/// command is checked byte by byte.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\';
        b += 1;
    }
    t
};

/// Appends argument `i`, quoted as `redis-cli` quotes when it is empty or
/// holds spaces, quotes or bytes that are not printable ASCII. Returns
/// whether it was cut.
fn push_arg(text: &mut String, msg: &Msg, i: usize, max: usize) -> bool {
    let Some(item) = msg.items.get(i) else {
        return false;
    };
    let bytes = msg.text(item);
    let short = bytes.get(..max).unwrap_or(bytes);
    let plain = !short.is_empty() && short.iter().all(|&b| PLAIN[usize::from(b)]);
    if plain {
        // Printable ASCII, so valid UTF-8: copied whole.
        text.push_str(std::str::from_utf8(short).unwrap_or_default());
    } else {
        text.push('"');
        for &b in short {
            match b {
                b'\\' => text.push_str("\\\\"),
                b'"' => text.push_str("\\\""),
                b'\n' => text.push_str("\\n"),
                b'\r' => text.push_str("\\r"),
                b'\t' => text.push_str("\\t"),
                b' '..=b'~' => text.push(b as char),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    text.push_str("\\x");
                    text.push(HEX[usize::from(b >> 4)] as char);
                    text.push(HEX[usize::from(b & 15)] as char);
                }
            }
        }
        text.push('"');
    }
    let cut = short.len() < bytes.len() || !msg.whole(item);
    if cut {
        text.push_str(CUT);
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_every_command_in_any_case_and_nothing_else() {
        for (i, entry) in table::COMMANDS.iter().enumerate() {
            let name = entry.0;
            for variant in [name.to_string(), name.to_ascii_lowercase()] {
                let found = find(variant.as_bytes()).map(|e| e.0);
                assert_eq!(found, Some(name), "entry {i}: {variant}");
            }
        }
        for unknown in [
            "",
            "GETT",
            "GE",
            "SET ",
            "CLIENT",
            "CLIENT  LIST",
            "X".repeat(80).as_str(),
        ] {
            let found = find(unknown.as_bytes()).map(|e| e.0);
            // "CLIENT" is a container, and so in the table.
            if unknown == "CLIENT" {
                assert_eq!(found, Some("CLIENT"));
            } else {
                assert_eq!(found, None, "{unknown:?}");
            }
        }
    }

    #[test]
    fn plain_bytes_are_printable_ascii_but_quotes_and_backslash() {
        let plain: Vec<u8> = (0..=255u8).filter(|&b| PLAIN[usize::from(b)]).collect();
        let want: Vec<u8> = (b'!'..=b'~').filter(|b| !b"\"'\\".contains(b)).collect();
        assert_eq!(plain, want);
    }

    #[test]
    fn lookup_names_container_subcommands() {
        assert_eq!(
            lookup(b"client", Some(b"list")).map(|l| l.0),
            Some("CLIENT LIST")
        );
        assert_eq!(
            lookup(b"CLIENT", Some(b"nosuch")).map(|l| (l.0, l.2)),
            Some(("CLIENT", 1))
        );
        assert_eq!(
            lookup(b"get", Some(b"k")).map(|l| (l.0, l.2)),
            Some(("GET", 1))
        );
        assert!(lookup(b"nosuch", None).is_none());
    }
}
