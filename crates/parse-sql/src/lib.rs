//! SQL text helpers shared by the PostgreSQL and MySQL wire parsers.
//!
//! Database records carry the statement a client sent, and a statement's
//! literals are where data lives (`WHERE email = 'ann@example.com'`), so
//! records carry it masked: [`mask`] replaces string and numeric literals with
//! `?`, as OpenTelemetry recommends for `db.query.text`, drops comments
//! (which may carry data too), collapses whitespace and, optionally,
//! `IN (?, ?, ?)` lists, and cuts the result at a length. [`verb`] gives the
//! statement's first keyword from a fixed list, a label of bounded
//! cardinality for metrics. [`split_statements`] cuts a multi-statement
//! string (a PostgreSQL simple Query may carry several) at its top-level
//! semicolons.
//!
//! All three run on one hand-written lexer (`lex`) that knows where quotes,
//! comments and dollar quotes begin and end in each [`Dialect`]: no regex, one
//! pass over the bytes, no allocation except the masked text, and no panic
//! on any input (unterminated quotes and comments run to the end of the
//! text, which keeps whatever they hold masked).
//!
//! Modules: `lex` cuts text into tokens, `mask` writes the masked text,
//! `verb` names the statement, `split` cuts at semicolons.

mod lex;
mod mask;
mod split;
mod verb;

pub use mask::{mask, mask_with, MaskOptions, Masked};
pub use split::{split_statements, split_statements_in, Statements};
pub use verb::{verb, verb_in, VERBS};

/// Which SQL lexical rules apply: where strings, identifiers and comments
/// begin and end differs between servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (and standard SQL): `'...'` strings with `''` doubling and
    /// no backslash escapes (`standard_conforming_strings`, the default
    /// since 9.1); `E'...'` strings with backslash escapes; `$$...$$` and
    /// `$tag$...$tag$` dollar quotes; `"..."` is an identifier, kept; `--`
    /// and nested `/* */` comments; `$1` parameters.
    #[default]
    Postgres,
    /// MySQL and MariaDB with their default `sql_mode`: `'...'` and `"..."`
    /// are both strings (`ANSI_QUOTES` off) with backslash escapes and
    /// doubling; `` `...` `` is an identifier, kept; `#`, `-- ` (dash dash
    /// and a space) and `/* */` comments; an identifier may begin with
    /// digits (`1st_table`).
    Mysql,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random text made of the bytes SQL lexing turns on: the fuzz target's
    /// promises, checked on every `cargo test`.
    #[test]
    fn random_text_keeps_the_promises() {
        const ALPHABET: &[&str] = &[
            "'", "\"", "`", "$", "$a$", "\\", "-", "--", "/", "*", "/*", "*/", "#", "\n", " ", ";",
            "(", ")", ",", "?", "1", "0x", ".", "e", "E", "x", "in", "IN", "é", "_", "&", "U",
            "select", "with", "$1", "+", "\0", "\u{1}", "/*!", "/*M!", "!", "50002",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut sql = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                sql.push_str(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
            }
            for dialect in [Dialect::Postgres, Dialect::Mysql] {
                let options = MaskOptions {
                    dialect,
                    max_len: 10_000,
                    collapse_in_lists: state & 1 == 0,
                };
                let once = mask_with(&sql, &options);
                let twice = mask_with(&once.text, &options);
                assert_eq!(once.text, twice.text, "{sql:?} {dialect:?}");
                assert!(VERBS.contains(&verb_in(&sql, dialect)));
                let n: usize = split_statements_in(&sql, dialect).map(str::len).sum();
                assert!(n <= sql.len());
            }
        }
    }
}
