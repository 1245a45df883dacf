//! Statement text with its data taken out, for records.
//!
//! OpenTelemetry's `db.query.text` guidance is to replace literals with `?`
//! unless told otherwise; that is what records carry by default. Rules:
//!
//! - String literals become `?`: `'...'` (with `''` doubling, and backslash
//!   escapes in MySQL), `E'...'`, `X'...'`, `B'...'`, `N'...'`, `U&'...'`,
//!   dollar quotes `$$...$$` / `$tag$...$tag$` (PostgreSQL), and `"..."` in
//!   MySQL only, where it is a string by default. In PostgreSQL `"..."` is an
//!   identifier and is kept, as are MySQL's `` `...` `` identifiers.
//! - Numeric literals become `?`: integers, decimals, exponents, `0x..`,
//!   `0b..`, `0o..`; digits inside identifiers (`t1`), parameters (`$1`) are
//!   kept. A sign is an operator and stays (`-5` becomes `-?`).
//! - `TRUE`, `FALSE` and `NULL` are keywords, not data, and stay.
//! - Comments are dropped whole (hints and tags may carry data), and every
//!   run of whitespace and comments becomes one space; leading and trailing
//!   ones go. MySQL's executable comments (`/*!40100 SET ... */`, MariaDB's
//!   `/*M! ... */`) are SQL the server runs: their markers go, their
//!   content is masked like the rest (`SHOW /*!50002 GLOBAL */ STATUS` reads
//!   `SHOW GLOBAL STATUS`).
//! - With [`MaskOptions::collapse_in_lists`], a list after `IN` holding only
//!   literals and placeholders becomes `(?)`, so a query run with 3 or 300
//!   ids reads the same.
//! - The result is cut at `max_len` characters, on a char boundary, with no
//!   marker appended; [`Masked::truncated`] says whether it was cut.
//!
//! An unterminated literal or comment runs to the end of the text, so a
//! statement cut mid-literal still leaks nothing of it.

use crate::lex::{Kind, Lexer};
use crate::Dialect;

/// How to mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskOptions {
    /// Lexical rules of the statement's server.
    pub dialect: Dialect,
    /// Most characters (not bytes) of masked text kept.
    pub max_len: usize,
    /// Write `IN (?, ?, ?)` as `IN (?)`. Default true.
    pub collapse_in_lists: bool,
}

impl MaskOptions {
    /// PostgreSQL rules, lists collapsed, cut at `max_len` characters.
    pub fn new(max_len: usize) -> Self {
        MaskOptions {
            dialect: Dialect::Postgres,
            max_len,
            collapse_in_lists: true,
        }
    }
}

/// A masked statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Masked {
    /// The masked text, at most `max_len` characters.
    pub text: String,
    /// The masked text was longer than `max_len` and was cut.
    pub truncated: bool,
}

/// Masks `sql` with PostgreSQL's lexical rules, collapsing `IN` lists, and
/// cuts the result at `max_len` characters. See the module docs for the rules.
pub fn mask(sql: &str, max_len: usize) -> Masked {
    mask_with(sql, &MaskOptions::new(max_len))
}

/// Masks `sql` as `options` say.
pub fn mask_with(sql: &str, options: &MaskOptions) -> Masked {
    let max_len = options.max_len;
    // Output only grows (but for list collapses), and a char is at most 4
    // bytes: past this many bytes the text will be cut anyway.
    let stop_at = max_len.saturating_mul(4).saturating_add(4);
    let mut out = String::with_capacity(sql.len().min(stop_at).min(4096));
    let mut space = false;
    let mut list = List::Idle;
    let mut cut_early = false;
    for tok in Lexer::new(sql, options.dialect) {
        let text = sql.get(tok.start..tok.end).unwrap_or("");
        if tok.kind == Kind::Space {
            space = !out.is_empty();
            continue;
        }
        // In MySQL `-- ` starts a comment where `--/**/` did not: the
        // space written for a comment must not make one.
        let makes_comment = options.dialect == Dialect::Mysql && out.ends_with("--");
        if std::mem::take(&mut space) && !makes_comment {
            out.push(' ');
        }
        let masked = matches!(tok.kind, Kind::Str | Kind::Number);
        out.push_str(if masked { "?" } else { text });
        if options.collapse_in_lists {
            list = list.step(tok.kind, text, &mut out);
        }
        if out.len() > stop_at && !matches!(list, List::Open { .. }) {
            cut_early = true;
            break;
        }
    }
    let truncated = cut_early || out.len() > max_len && out.chars().count() > max_len;
    if truncated {
        let at = out
            .char_indices()
            .nth(max_len)
            .map_or(out.len(), |(i, _)| i);
        out.truncate(at);
    }
    Masked {
        text: out,
        truncated,
    }
}

/// Where an `IN (...)` list collapse stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Idle,
    /// Just wrote `IN`.
    AfterIn,
    /// Inside `IN (`, which ends at byte `from` of the output; `items` says
    /// whether a literal or placeholder was seen.
    Open {
        from: usize,
        items: bool,
    },
}

impl List {
    /// The state after writing the token `text` of `kind` to `out`.
    fn step(self, kind: Kind, text: &str, out: &mut String) -> List {
        match (self, kind, text) {
            (List::AfterIn, Kind::Punct, "(") => List::Open {
                from: out.len(),
                items: false,
            },
            (List::Open { from, .. }, Kind::Str | Kind::Number | Kind::Param, _)
            | (List::Open { from, .. }, Kind::Punct, "?") => List::Open { from, items: true },
            (List::Open { from, items }, Kind::Punct, "," | "-" | "+") => {
                List::Open { from, items }
            }
            (List::Open { from, items: true }, Kind::Punct, ")") => {
                out.truncate(from);
                out.push_str("?)");
                List::Idle
            }
            (_, Kind::Word, w) if w.eq_ignore_ascii_case("in") => List::AfterIn,
            _ => List::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(sql: &str) -> String {
        mask(sql, 1000).text
    }

    fn my(sql: &str) -> String {
        let options = MaskOptions {
            dialect: Dialect::Mysql,
            ..MaskOptions::new(1000)
        };
        mask_with(sql, &options).text
    }

    #[test]
    fn string_literals_become_placeholders() {
        assert_eq!(
            m("SELECT * FROM t WHERE a = 'x' AND b = 'it''s'"),
            "SELECT * FROM t WHERE a = ? AND b = ?"
        );
        assert_eq!(m(r"SELECT E'a\'b', 'c\'"), "SELECT ?, ?");
        assert_eq!(
            m("SELECT X'1F', B'01', N'x', U&'d\\0061'"),
            "SELECT ?, ?, ?, ?"
        );
    }

    #[test]
    fn dollar_quotes_are_strings() {
        assert_eq!(m("DO $$ BEGIN PERFORM 'x'; END $$"), "DO ?");
        assert_eq!(m("SELECT $f$ a $$ b $f$, $1"), "SELECT ?, $1");
    }

    #[test]
    fn numbers_become_placeholders_but_not_inside_names() {
        assert_eq!(
            m("SELECT t1.c2, 42, -3.5, 1e10, .5, 0xFF, 1_000 FROM t1 LIMIT $1"),
            "SELECT t1.c2, ?, -?, ?, ?, ?, ? FROM t1 LIMIT $1"
        );
    }

    #[test]
    fn keywords_and_identifiers_stay() {
        assert_eq!(
            m("UPDATE \"Users 2\" SET ok = TRUE, x = NULL WHERE id = ?"),
            "UPDATE \"Users 2\" SET ok = TRUE, x = NULL WHERE id = ?"
        );
    }

    #[test]
    fn comments_are_dropped_and_space_collapsed() {
        assert_eq!(
            m("  /* user=ann */ SELECT\n\t1 -- secret\n  FROM/**/t  "),
            "SELECT ? FROM t"
        );
    }

    #[test]
    fn in_lists_collapse() {
        assert_eq!(
            m("SELECT 1 WHERE a IN (1, 2, 3)"),
            "SELECT ? WHERE a IN (?)"
        );
        assert_eq!(
            m("x in ('a','b') and y IN ($1, $2)"),
            "x in (?) and y IN (?)"
        );
        // A subquery is not a list.
        assert_eq!(m("a IN (SELECT b FROM c)"), "a IN (SELECT b FROM c)");
        let keep = MaskOptions {
            collapse_in_lists: false,
            ..MaskOptions::new(100)
        };
        assert_eq!(mask_with("a IN (1, 2)", &keep).text, "a IN (?, ?)");
    }

    #[test]
    fn mysql_rules() {
        assert_eq!(
            my(r#"SELECT "a\"b", 'c''d', `col 1` FROM 1t # x"#),
            "SELECT ?, ?, `col 1` FROM 1t"
        );
        assert_eq!(my("SELECT _utf8mb4'x', 0x1F, b'01'"), "SELECT ?, ?, ?");
        assert_eq!(my("SELECT 1--1"), "SELECT ?--?");
    }

    #[test]
    fn unterminated_literals_leak_nothing() {
        assert_eq!(m("SELECT 'secret"), "SELECT ?");
        assert_eq!(m("SELECT $x$ secret"), "SELECT ?");
        assert_eq!(m("SELECT 1 /* secret"), "SELECT ?");
    }

    #[test]
    fn cut_on_a_char_boundary() {
        let r = mask("SELECT ééé FROM t", 9);
        assert_eq!(r.text, "SELECT éé");
        assert!(r.truncated);
        let r = mask("SELECT 1", 8);
        assert_eq!(r.text, "SELECT ?");
        assert!(!r.truncated);
        let r = mask("SELECT 'long literal'", 8);
        assert_eq!((r.text.as_str(), r.truncated), ("SELECT ?", false));
        assert_eq!(
            mask("x", 0),
            Masked {
                text: String::new(),
                truncated: true
            }
        );
    }

    #[test]
    fn long_input_stops_early() {
        let sql = format!("SELECT {}", "abc, ".repeat(100_000));
        let r = mask(&sql, 20);
        assert!(r.truncated);
        assert_eq!(r.text.chars().count(), 20);
    }

    #[test]
    fn mysql_executable_comments_are_kept_as_sql_and_masked() {
        let my = |sql: &str| {
            let o = MaskOptions {
                dialect: Dialect::Mysql,
                ..MaskOptions::new(100)
            };
            mask_with(sql, &o).text
        };
        assert_eq!(my("show /*!50002 GLOBAL */ status"), "show GLOBAL status");
        assert_eq!(my("/*!40100 SET @@SQL_MODE='' */"), "SET @@SQL_MODE=?");
        assert_eq!(
            my("/*M!100100 SET @@MAX_STATEMENT_TIME=0.000000 */"),
            "SET @@MAX_STATEMENT_TIME=?"
        );
        assert_eq!(
            my("LOCK TABLES `items` READ /*!32311 LOCAL */"),
            "LOCK TABLES `items` READ LOCAL"
        );
        assert_eq!(my("SELECT /*+ NO_ICP(t 'x') */ 1"), "SELECT ?");
        assert_eq!(mask("/*!40100 SET x='s' */", 100).text, "");
    }
}
