//! Cuts SQL text into tokens, for masking, naming and splitting alike.
//!
//! The lexer only needs to know where literals, identifiers, comments and
//! punctuation begin and end, not what they mean, so it is a loop over bytes
//! with one byte of lookahead (a few more for prefixes and dollar tags).
//! Every token boundary falls on an ASCII byte or the end of the text, so
//! slicing the `&str` at token boundaries is always on a char boundary. An
//! unterminated quote or comment ends at the end of the text.
//!
//! MySQL and MariaDB run what is inside an executable comment as SQL:
//! `/*! ... */`, `/*!50002 ... */` (when the server's version is at least
//! 5.0.2) and MariaDB's `/*M! ... */`, `/*M!100100 ... */`. mysqldump and
//! mysqladmin send them (`/*!40100 SET @@SQL_MODE='' */`, `SHOW /*!50002
//! GLOBAL */ STATUS`). In the MySQL dialect their markers are whitespace and
//! what is between them is lexed as SQL, as the server reads it (a server
//! older than the version skips it, but no server that old is about).

use crate::Dialect;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Whitespace and comments: a run of them is one token.
    Space,
    /// A keyword or identifier (non-ASCII bytes count as letters).
    Word,
    /// A quoted identifier: `"..."` in PostgreSQL, `` `...` `` in MySQL.
    QuotedIdent,
    /// A string literal, with any prefix (`E'..'`, `X'..'`, `$tag$..$tag$`).
    Str,
    /// A numeric literal: integer, decimal, exponent, `0x..`.
    Number,
    /// A numbered parameter, `$1`.
    Param,
    /// Any other single byte: operators, `(`, `,`, `;`, `?`.
    Punct,
}

/// One token: its kind and byte range in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Tokens of a text, in order.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
    dialect: Dialect,
    /// Inside a MySQL executable comment: its `*/` is whitespace.
    exec: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(sql: &'a str, dialect: Dialect) -> Self {
        Lexer {
            b: sql.as_bytes(),
            pos: 0,
            dialect,
            exec: false,
        }
    }

    /// The end of a MySQL executable comment's opening marker at `i`
    /// (`/*!`, `/*M!`, with the version digits after it), if one is there.
    fn exec_open(&self, i: usize) -> Option<usize> {
        if self.dialect != Dialect::Mysql || self.exec {
            return None;
        }
        let rest = self.b.get(i..)?;
        let mut j = if rest.starts_with(b"/*!") {
            i + 3
        } else if rest.starts_with(b"/*M!") {
            i + 4
        } else {
            return None;
        };
        let digits_end = (j..j + 6)
            .take_while(|&k| self.at(k).is_ascii_digit())
            .count();
        j += digits_end;
        Some(j)
    }

    /// Whether an executable comment's closing `*/` is at `i`.
    fn exec_close(&self, i: usize) -> bool {
        self.exec && self.at(i) == b'*' && self.at(i + 1) == b'/'
    }

    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// Whether a comment starts at `i`.
    fn comment_at(&self, i: usize) -> bool {
        match (self.at(i), self.at(i + 1)) {
            (b'/', b'*') => self.exec_open(i).is_none(),
            (b'-', b'-') => match self.dialect {
                Dialect::Postgres => true,
                // MySQL wants whitespace or a control byte after the dashes
                // (`1--1` is one minus minus one).
                Dialect::Mysql => match self.b.get(i + 2) {
                    Some(&c) => c <= b' ' || c == 0x7f,
                    None => false,
                },
            },
            (b'#', _) => self.dialect == Dialect::Mysql,
            _ => false,
        }
    }

    /// Skips a run of whitespace and comments from `i` (and the markers of
    /// executable comments, entered and left on the way); returns its end.
    fn space(&mut self, mut i: usize) -> usize {
        while i < self.b.len() {
            let c = self.at(i);
            if is_space(c) {
                i += 1;
            } else if let Some(end) = self.exec_open(i) {
                self.exec = true;
                i = end;
            } else if self.exec_close(i) {
                self.exec = false;
                i += 2;
            } else if !self.comment_at(i) {
                break;
            } else if c == b'/' {
                i = self.block_comment(i);
            } else {
                // `--` or `#` to the end of the line.
                i = match self.b[i..].iter().position(|&c| c == b'\n') {
                    Some(n) => i + n + 1,
                    None => self.b.len(),
                };
            }
        }
        i
    }

    /// A `/* */` comment from `i`; PostgreSQL's nest, MySQL's do not.
    fn block_comment(&self, start: usize) -> usize {
        let nests = self.dialect == Dialect::Postgres;
        let mut depth = 0usize;
        let mut i = start;
        while i < self.b.len() {
            match (self.at(i), self.at(i + 1)) {
                (b'/', b'*') if depth == 0 || nests => {
                    depth += 1;
                    i += 2;
                }
                (b'*', b'/') => {
                    depth = depth.saturating_sub(1);
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => i += 1,
            }
        }
        self.b.len()
    }

    /// A quoted run from the quote at `i`: doubled quotes stay inside, and
    /// so does a quote after a backslash when `backslash` escapes.
    fn quoted(&self, i: usize, backslash: bool) -> usize {
        let q = self.at(i);
        let mut i = i + 1;
        while i < self.b.len() {
            let c = self.at(i);
            if c == b'\\' && backslash {
                i += 2;
            } else if c == q {
                if self.at(i + 1) == q {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                i += 1;
            }
        }
        self.b.len()
    }

    /// The end of a dollar-quote opening tag (`$$`, `$tag$`) at `i`, if one
    /// starts there.
    fn dollar_tag(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if self.at(j) == b'$' {
            return Some(j + 1);
        }
        if !is_word_start(self.at(j)) {
            return None;
        }
        while is_word_start(self.at(j)) || self.at(j).is_ascii_digit() {
            j += 1;
        }
        (self.at(j) == b'$').then_some(j + 1)
    }

    /// A dollar-quoted string whose opening tag is `start..body`.
    fn dollar_quoted(&self, start: usize, body: usize) -> usize {
        let tag = &self.b[start..body];
        let mut i = body;
        while let Some(n) = self
            .b
            .get(i..)
            .and_then(|r| r.iter().position(|&c| c == b'$'))
        {
            i += n;
            if self.b[i..].starts_with(tag) {
                return i + tag.len();
            }
            i += 1;
        }
        self.b.len()
    }

    /// A number from `i` (a digit, or a dot before a digit).
    fn number(&self, start: usize) -> (Kind, usize) {
        let mut i = start;
        let radix_digit: Option<fn(u8) -> bool> = match (self.at(i), self.at(i + 1)) {
            (b'0', b'x' | b'X') => Some(|c: u8| c.is_ascii_hexdigit()),
            (b'0', b'b' | b'B') => Some(|c: u8| c == b'0' || c == b'1'),
            (b'0', b'o' | b'O') => Some(|c: u8| (b'0'..=b'7').contains(&c)),
            _ => None,
        };
        match radix_digit {
            Some(digit) if digit(self.at(i + 2)) => {
                i += 2;
                while digit(self.at(i)) || self.at(i) == b'_' {
                    i += 1;
                }
            }
            _ => {
                i = self.digits(i);
                if self.at(i) == b'.' && self.at(i + 1) != b'.' {
                    i = self.digits(i + 1);
                }
                let sign = matches!(self.at(i + 1), b'+' | b'-') as usize;
                if matches!(self.at(i), b'e' | b'E') && self.at(i + 1 + sign).is_ascii_digit() {
                    i = self.digits(i + 1 + sign);
                }
            }
        }
        if self.dialect == Dialect::Mysql && is_word_byte(self.at(i)) {
            // `1st_table`: a MySQL identifier may begin with digits.
            return (Kind::Word, self.word(i));
        }
        (Kind::Number, i)
    }

    fn digits(&self, mut i: usize) -> usize {
        // `1_000` (PostgreSQL 16): an underscore between digits.
        while self.at(i).is_ascii_digit() || (self.at(i) == b'_' && self.at(i + 1).is_ascii_digit())
        {
            i += 1;
        }
        i
    }

    fn word(&self, mut i: usize) -> usize {
        while is_word_byte(self.at(i)) {
            i += 1;
        }
        i
    }

    /// A word from `start`, or a string whose prefix it is (`E'..'`).
    fn word_or_prefixed(&self, start: usize) -> (Kind, usize) {
        let end = self.word(start);
        let word = &self.b[start..end];
        let mysql = self.dialect == Dialect::Mysql;
        match (word, self.at(end)) {
            ([b'e' | b'E'], b'\'') if !mysql => (Kind::Str, self.quoted(end, true)),
            ([b'x' | b'X' | b'b' | b'B' | b'n' | b'N'], b'\'') => {
                (Kind::Str, self.quoted(end, mysql))
            }
            // A MySQL character set introducer: `_utf8mb4'...'`.
            ([b'_', ..], b'\'') if mysql => (Kind::Str, self.quoted(end, true)),
            ([b'u' | b'U'], b'&') if !mysql && self.at(end + 1) == b'\'' => {
                (Kind::Str, self.quoted(end + 1, false))
            }
            _ => (Kind::Word, end),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let c = *self.b.get(start)?;
        let mysql = self.dialect == Dialect::Mysql;
        let marker = self.exec_open(start).is_some() || self.exec_close(start);
        let (kind, end) = if is_space(c) || marker || self.comment_at(start) {
            (Kind::Space, self.space(start))
        } else {
            match c {
                b'\'' => (Kind::Str, self.quoted(start, mysql)),
                b'"' if mysql => (Kind::Str, self.quoted(start, true)),
                b'"' => (Kind::QuotedIdent, self.quoted(start, false)),
                b'`' if mysql => (Kind::QuotedIdent, self.quoted(start, false)),
                b'$' if self.at(start + 1).is_ascii_digit() => {
                    let mut i = start + 1;
                    while self.at(i).is_ascii_digit() {
                        i += 1;
                    }
                    (Kind::Param, i)
                }
                b'$' if !mysql => match self.dollar_tag(start) {
                    Some(body) => (Kind::Str, self.dollar_quoted(start, body)),
                    None => (Kind::Punct, start + 1),
                },
                b'0'..=b'9' => self.number(start),
                b'.' if self.at(start + 1).is_ascii_digit() => self.number(start),
                c if is_word_start(c) => self.word_or_prefixed(start),
                _ => (Kind::Punct, start + 1),
            }
        };
        // Every branch moves forward; the clamp keeps a slip from looping
        // or slicing past the end.
        let end = end.clamp(start + 1, self.b.len());
        self.pos = end;
        Some(Token { kind, start, end })
    }
}

/// Whitespace, and control bytes with it: they are never SQL outside a
/// literal, and MySQL ends `-- ` comments' dashes with either.
fn is_space(c: u8) -> bool {
    c <= b' ' || c == 0x7f
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_word_byte(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit() || c == b'$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str, dialect: Dialect) -> Vec<(Kind, &str)> {
        Lexer::new(sql, dialect)
            .map(|t| (t.kind, &sql[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tokens_cover_the_text_in_order() {
        let sql = "SELECT a.b, 'x''y', $1, 1.5e-3 FROM \"T\" -- c\n/* d */;";
        let toks = kinds(sql, Dialect::Postgres);
        let joined: String = toks.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, sql);
        assert!(toks.contains(&(Kind::Str, "'x''y'")));
        assert!(toks.contains(&(Kind::Param, "$1")));
        assert!(toks.contains(&(Kind::Number, "1.5e-3")));
        assert!(toks.contains(&(Kind::QuotedIdent, "\"T\"")));
        assert!(toks.contains(&(Kind::Space, " -- c\n/* d */")));
    }

    #[test]
    fn postgres_backslash_is_plain_but_e_strings_escape() {
        assert_eq!(
            kinds(r"'a\' 'b'", Dialect::Postgres)[0],
            (Kind::Str, r"'a\'")
        );
        assert_eq!(
            kinds(r"E'a\'b' x", Dialect::Postgres)[0],
            (Kind::Str, r"E'a\'b'")
        );
    }

    #[test]
    fn mysql_backslash_escapes_and_double_quotes_are_strings() {
        assert_eq!(
            kinds(r"'a\'b' x", Dialect::Mysql)[0],
            (Kind::Str, r"'a\'b'")
        );
        assert_eq!(kinds("\"a\" x", Dialect::Mysql)[0], (Kind::Str, "\"a\""));
        assert_eq!(
            kinds("`a b` x", Dialect::Mysql)[0],
            (Kind::QuotedIdent, "`a b`")
        );
        assert_eq!(kinds("1st x", Dialect::Mysql)[0], (Kind::Word, "1st"));
    }

    #[test]
    fn dollar_quotes_end_at_their_own_tag() {
        let toks = kinds("$a$ x $b$ $ $a$ y", Dialect::Postgres);
        assert_eq!(toks[0], (Kind::Str, "$a$ x $b$ $ $a$"));
        let toks = kinds("a$b$ c", Dialect::Postgres);
        assert_eq!(toks[0], (Kind::Word, "a$b$"));
    }

    #[test]
    fn comments_nest_in_postgres_only() {
        let pg = kinds("/* a /* b */ c */x", Dialect::Postgres);
        assert_eq!(pg.last(), Some(&(Kind::Word, "x")));
        let my = kinds("/* a /* b */ c */x", Dialect::Mysql);
        assert!(my.contains(&(Kind::Word, "c")));
    }

    #[test]
    fn mysql_dash_dash_needs_a_space() {
        assert!(kinds("1--1", Dialect::Mysql).contains(&(Kind::Punct, "-")));
        assert_eq!(kinds("1--1", Dialect::Postgres).len(), 2);
        assert_eq!(kinds("# x\ny", Dialect::Mysql)[0], (Kind::Space, "# x\n"));
    }

    #[test]
    fn mysql_executable_comments_are_sql_between_whitespace_markers() {
        let my = kinds("SHOW /*!50002 GLOBAL */ STATUS", Dialect::Mysql);
        assert_eq!(
            my,
            [
                (Kind::Word, "SHOW"),
                (Kind::Space, " /*!50002 "),
                (Kind::Word, "GLOBAL"),
                (Kind::Space, " */ "),
                (Kind::Word, "STATUS"),
            ]
        );
        let maria = kinds("/*M!100100 SET x='*/'*/", Dialect::Mysql);
        assert_eq!(maria[0], (Kind::Space, "/*M!100100 "));
        assert_eq!(maria.last(), Some(&(Kind::Space, "*/")));
        assert!(maria.contains(&(Kind::Str, "'*/'")));
        // Not in PostgreSQL, and not an optimizer hint.
        assert_eq!(kinds("/*!1 x */", Dialect::Postgres).len(), 1);
        assert_eq!(kinds("/*+ BKA(t) */", Dialect::Mysql).len(), 1);
        // Unterminated: the rest is SQL.
        assert_eq!(
            kinds("/*!SELECT", Dialect::Mysql)[1],
            (Kind::Word, "SELECT")
        );
    }

    #[test]
    fn unterminated_runs_to_the_end() {
        for sql in ["'abc", "E'a\\", "$q$ abc $q", "/* a", "\"x", "$$"] {
            let toks = kinds(sql, Dialect::Postgres);
            assert_eq!(toks.len(), 1, "{sql}");
            assert_eq!(toks[0].1, sql);
        }
    }
}
