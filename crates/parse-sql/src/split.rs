//! Cuts a multi-statement string at its top-level semicolons.
//!
//! A PostgreSQL simple Query (and a MySQL COM_QUERY with multi-statements
//! on) may carry several statements, each answered with its own result. A
//! semicolon inside a string, quoted identifier, dollar quote or comment
//! does not end a statement. Statements holding nothing but whitespace and
//! comments are skipped, as the server skips them. Known limit: the
//! semicolons inside a PostgreSQL `BEGIN ATOMIC ... END` function body (a
//! SQL-standard body, PostgreSQL 14+) are taken as statement ends, where
//! psql tracks the block.

use crate::lex::{Kind, Lexer};
use crate::Dialect;

/// The statements of `sql` read with PostgreSQL's rules, each without its
/// `;` and without leading or trailing whitespace and comments.
pub fn split_statements(sql: &str) -> Statements<'_> {
    split_statements_in(sql, Dialect::Postgres)
}

/// [`split_statements`] with `dialect`'s lexical rules.
pub fn split_statements_in(sql: &str, dialect: Dialect) -> Statements<'_> {
    Statements {
        sql,
        lexer: Lexer::new(sql, dialect),
    }
}

/// Iterator over the statements of a text; see [`split_statements`].
#[derive(Clone, Debug)]
pub struct Statements<'a> {
    sql: &'a str,
    lexer: Lexer<'a>,
}

impl<'a> Iterator for Statements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let mut span: Option<(usize, usize)> = None;
        for t in self.lexer.by_ref() {
            match t.kind {
                Kind::Space => {}
                Kind::Punct if self.sql.get(t.start..t.end) == Some(";") => {
                    if span.is_some() {
                        break;
                    }
                }
                _ => {
                    let start = span.map_or(t.start, |(s, _)| s);
                    span = Some((start, t.end));
                }
            }
        }
        let (start, end) = span?;
        self.sql.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(sql: &str) -> Vec<&str> {
        split_statements(sql).collect()
    }

    #[test]
    fn top_level_semicolons_split() {
        assert_eq!(split("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(split("SELECT 1"), ["SELECT 1"]);
    }

    #[test]
    fn quoted_semicolons_do_not() {
        assert_eq!(
            split("SELECT ';', \";\" -- ;\n; DO $$ a; b $$ /* ; */;x"),
            ["SELECT ';', \";\"", "DO $$ a; b $$", "x"]
        );
    }

    #[test]
    fn empty_statements_are_skipped() {
        assert_eq!(split(";; /* c */ ; SELECT 1 ;  "), ["SELECT 1"]);
        assert!(split("").is_empty());
        assert!(split("  -- nothing").is_empty());
    }

    #[test]
    fn mysql_rules_apply_when_asked() {
        let v: Vec<_> =
            split_statements_in("SELECT 'a\\';b'; # ;\nSELECT 2", Dialect::Mysql).collect();
        assert_eq!(v, ["SELECT 'a\\';b'", "SELECT 2"]);
    }
}
