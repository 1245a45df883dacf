//! Inline commands: a client's command written as a line of words, the way
//! `telnet` users and health checks (`PING\r\n`) talk to Redis.
//!
//! Words split as Redis' own `sdssplitargs` splits them: on spaces and tabs,
//! with `"..."` (backslash escapes, `\xHH`) and `'...'` (only `\'`) quoting.
//! A quote left open, or a closing quote followed by anything but a space,
//! is a protocol error to Redis (which closes the connection), so here too.

/// The words of a line: `(start, kept, len)` of each in the arena.
#[derive(Debug, Default)]
pub(crate) struct Words {
    pub spans: Vec<(usize, usize, u64)>,
    /// A word was longer than what is kept of it.
    pub cut: bool,
}

/// Splits `line` into words, keeping at most `keep` bytes of each in `arena`.
/// `None` when the quoting is unbalanced.
pub(crate) fn split(line: &[u8], arena: &mut Vec<u8>, keep: usize) -> Option<Words> {
    let mut words = Words::default();
    let mut i = 0;
    // Each turn consumes at least one byte or ends.
    loop {
        while line.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= line.len() {
            return Some(words);
        }
        let start = arena.len();
        let mut len = 0u64;
        let mut push = |arena: &mut Vec<u8>, b: u8| {
            if len < keep as u64 {
                arena.push(b);
            }
            len += 1;
        };
        match line.get(i) {
            Some(b'"') => {
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'\\' => {
                            let (b, used) = escape(line.get(i + 1..)?)?;
                            push(arena, b);
                            i += 1 + used;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b => {
                            push(arena, b);
                            i += 1;
                        }
                    }
                }
                closing_ok(line, i)?;
            }
            Some(b'\'') => {
                i += 1;
                loop {
                    match (*line.get(i)?, line.get(i + 1)) {
                        (b'\\', Some(b'\'')) => {
                            push(arena, b'\'');
                            i += 2;
                        }
                        (b'\'', _) => {
                            i += 1;
                            break;
                        }
                        (b, _) => {
                            push(arena, b);
                            i += 1;
                        }
                    }
                }
                closing_ok(line, i)?;
            }
            _ => {
                while let Some(&b) = line.get(i).filter(|b| !b.is_ascii_whitespace()) {
                    push(arena, b);
                    i += 1;
                }
            }
        }
        let kept = arena.len() - start;
        words.cut |= (kept as u64) < len;
        words.spans.push((start, kept, len));
    }
}

/// After a closing quote: the end of the line or a space.
fn closing_ok(line: &[u8], i: usize) -> Option<()> {
    match line.get(i) {
        None => Some(()),
        Some(b) if b.is_ascii_whitespace() => Some(()),
        Some(_) => None,
    }
}

/// The byte a backslash escape in `"..."` stands for, and the bytes it used
/// after the backslash.
fn escape(rest: &[u8]) -> Option<(u8, usize)> {
    let &c = rest.first()?;
    Some(match c {
        b'x' => {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                rest.get(1).and_then(|&b| hex(b)),
                rest.get(2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => ((h * 16 + l) as u8, 3),
                _ => (b'x', 1),
            }
        }
        b'n' => (b'\n', 1),
        b'r' => (b'\r', 1),
        b't' => (b'\t', 1),
        b'b' => (8, 1),
        b'a' => (7, 1),
        other => (other, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Option<Vec<String>> {
        let mut arena = Vec::new();
        let w = split(line.as_bytes(), &mut arena, 64)?;
        Some(
            w.spans
                .iter()
                .map(|&(s, k, _)| String::from_utf8_lossy(&arena[s..s + k]).into_owned())
                .collect(),
        )
    }

    #[test]
    fn splits_like_sdssplitargs() {
        assert_eq!(
            words("SET  k \"a b\\x41\\n\"").unwrap(),
            ["SET", "k", "a bA\n"]
        );
        assert_eq!(words("ECHO 'it\\'s'").unwrap(), ["ECHO", "it's"]);
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("GET \"open"), None);
        assert_eq!(words("GET \"a\"b"), None);
    }

    #[test]
    fn long_words_are_cut_but_measured() {
        let mut arena = Vec::new();
        let w = split(b"SET k 0123456789", &mut arena, 4).unwrap();
        assert!(w.cut);
        assert_eq!(w.spans[2], (4, 4, 10));
    }
}
