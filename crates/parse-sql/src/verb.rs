//! The statement's verb: a metric label of bounded cardinality.
//!
//! The verb is the first keyword after leading whitespace, comments and
//! opening parentheses, upper-cased, if it is one of [`VERBS`]; anything
//! else is `"OTHER"`. A few synonyms are folded so one action has one label:
//! `START TRANSACTION` is `BEGIN`, `END` is `COMMIT`, `ABORT` is
//! `ROLLBACK`, `DESC` is `DESCRIBE`, `ANALYSE` is `ANALYZE`. A `WITH` query
//! is named after its main statement (`WITH x AS (...) DELETE ...` is
//! `DELETE`), found as the first `SELECT`, `INSERT`, `UPDATE`, `DELETE` or
//! `MERGE` outside parentheses, and is `WITH` when there is none.

use crate::lex::{Kind, Lexer, Token};
use crate::Dialect;

/// Every label [`verb`] returns, `"OTHER"` included.
pub const VERBS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "REPLACE",
    "VALUES",
    "TABLE",
    "WITH",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DECLARE",
    "FETCH",
    "MOVE",
    "CLOSE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "RENAME",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SET",
    "RESET",
    "SHOW",
    "DESCRIBE",
    "EXPLAIN",
    "ANALYZE",
    "VACUUM",
    "CLUSTER",
    "REINDEX",
    "REFRESH",
    "CHECKPOINT",
    "COPY",
    "LOAD",
    "CALL",
    "DO",
    "LISTEN",
    "NOTIFY",
    "UNLISTEN",
    "DISCARD",
    "LOCK",
    "UNLOCK",
    "USE",
    "HANDLER",
    "FLUSH",
    "KILL",
    "OPTIMIZE",
    "REPAIR",
    "CHECK",
    "XA",
    "OTHER",
];

/// The verb of `sql` read with PostgreSQL's lexical rules; see the module
/// docs.
pub fn verb(sql: &str) -> &'static str {
    verb_in(sql, Dialect::Postgres)
}

/// The verb of `sql` read with `dialect`'s lexical rules (which comments
/// exist).
pub fn verb_in(sql: &str, dialect: Dialect) -> &'static str {
    let mut toks = Lexer::new(sql, dialect)
        .filter(|t| t.kind != Kind::Space)
        .skip_while(|t| t.kind == Kind::Punct && sql.get(t.start..t.end) == Some("("));
    let Some(first) = toks.next() else {
        return "OTHER";
    };
    match keyword(sql, first) {
        Some("START") => match toks.next().and_then(|t| keyword(sql, t)) {
            Some("TRANSACTION") => "BEGIN",
            _ => "OTHER",
        },
        Some("WITH") => main_verb(sql, toks),
        Some("TRANSACTION") | None => "OTHER",
        Some(word) => word,
    }
}

/// The first `SELECT`/`INSERT`/`UPDATE`/`DELETE`/`MERGE` outside
/// parentheses, after `WITH`.
fn main_verb(sql: &str, toks: impl Iterator<Item = Token>) -> &'static str {
    let mut depth = 0usize;
    for t in toks {
        match (t.kind, sql.get(t.start..t.end)) {
            (Kind::Punct, Some("(")) => depth += 1,
            (Kind::Punct, Some(")")) => depth = depth.saturating_sub(1),
            (Kind::Punct, Some(";")) => break,
            (Kind::Word, _) if depth == 0 => {
                if let Some(v @ ("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE")) =
                    keyword(sql, t)
                {
                    return v;
                }
            }
            _ => {}
        }
    }
    "WITH"
}

/// The label of the word `t`, if it is a verb (or `START`, `TRANSACTION`).
fn keyword(sql: &str, t: Token) -> Option<&'static str> {
    if t.kind != Kind::Word {
        return None;
    }
    let word = sql.as_bytes().get(t.start..t.end)?;
    let mut buf = [0u8; 12];
    let upper = buf.get_mut(..word.len())?;
    upper.copy_from_slice(word);
    upper.make_ascii_uppercase();
    Some(match &*upper {
        b"SELECT" => "SELECT",
        b"INSERT" => "INSERT",
        b"UPDATE" => "UPDATE",
        b"DELETE" => "DELETE",
        b"MERGE" => "MERGE",
        b"REPLACE" => "REPLACE",
        b"VALUES" => "VALUES",
        b"TABLE" => "TABLE",
        b"WITH" => "WITH",
        b"BEGIN" => "BEGIN",
        b"START" => "START",
        b"TRANSACTION" => "TRANSACTION",
        b"COMMIT" | b"END" => "COMMIT",
        b"ROLLBACK" | b"ABORT" => "ROLLBACK",
        b"SAVEPOINT" => "SAVEPOINT",
        b"RELEASE" => "RELEASE",
        b"PREPARE" => "PREPARE",
        b"EXECUTE" => "EXECUTE",
        b"DEALLOCATE" => "DEALLOCATE",
        b"DECLARE" => "DECLARE",
        b"FETCH" => "FETCH",
        b"MOVE" => "MOVE",
        b"CLOSE" => "CLOSE",
        b"CREATE" => "CREATE",
        b"ALTER" => "ALTER",
        b"DROP" => "DROP",
        b"TRUNCATE" => "TRUNCATE",
        b"RENAME" => "RENAME",
        b"COMMENT" => "COMMENT",
        b"GRANT" => "GRANT",
        b"REVOKE" => "REVOKE",
        b"SET" => "SET",
        b"RESET" => "RESET",
        b"SHOW" => "SHOW",
        b"DESCRIBE" | b"DESC" => "DESCRIBE",
        b"EXPLAIN" => "EXPLAIN",
        b"ANALYZE" | b"ANALYSE" => "ANALYZE",
        b"VACUUM" => "VACUUM",
        b"CLUSTER" => "CLUSTER",
        b"REINDEX" => "REINDEX",
        b"REFRESH" => "REFRESH",
        b"CHECKPOINT" => "CHECKPOINT",
        b"COPY" => "COPY",
        b"LOAD" => "LOAD",
        b"CALL" => "CALL",
        b"DO" => "DO",
        b"LISTEN" => "LISTEN",
        b"NOTIFY" => "NOTIFY",
        b"UNLISTEN" => "UNLISTEN",
        b"DISCARD" => "DISCARD",
        b"LOCK" => "LOCK",
        b"UNLOCK" => "UNLOCK",
        b"USE" => "USE",
        b"HANDLER" => "HANDLER",
        b"FLUSH" => "FLUSH",
        b"KILL" => "KILL",
        b"OPTIMIZE" => "OPTIMIZE",
        b"REPAIR" => "REPAIR",
        b"CHECK" => "CHECK",
        b"XA" => "XA",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_keyword_upper_cased() {
        assert_eq!(verb("select 1"), "SELECT");
        assert_eq!(
            verb("  /* c */ -- d\n ( (SELECT 1) UNION SELECT 2)"),
            "SELECT"
        );
        assert_eq!(verb("Insert into t values (1)"), "INSERT");
        assert_eq!(verb("vacuum analyze t"), "VACUUM");
    }

    #[test]
    fn synonyms_fold() {
        assert_eq!(
            verb("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            "BEGIN"
        );
        assert_eq!(verb("end"), "COMMIT");
        assert_eq!(verb("abort"), "ROLLBACK");
        assert_eq!(verb_in("desc t", Dialect::Mysql), "DESCRIBE");
        assert_eq!(verb("START"), "OTHER");
    }

    #[test]
    fn with_names_its_main_statement() {
        assert_eq!(
            verb("WITH a AS (SELECT 1), b(x) AS MATERIALIZED (SELECT 2) DELETE FROM t"),
            "DELETE"
        );
        assert_eq!(
            verb("with recursive r as (select 1) select * from r"),
            "SELECT"
        );
        assert_eq!(verb("WITH a AS (SELECT 1)"), "WITH");
    }

    #[test]
    fn anything_else_is_other() {
        for sql in [
            "",
            "   ",
            "-- only",
            "42",
            "'x'",
            "frobnicate",
            "SELECTX 1",
            "TRANSACTION",
        ] {
            assert_eq!(verb(sql), "OTHER", "{sql:?}");
        }
    }

    #[test]
    fn labels_are_the_listed_ones() {
        for sql in [
            "select",
            "end",
            "with x as (select 1) merge",
            "xa",
            "abort",
            "desc",
        ] {
            assert!(VERBS.contains(&verb(sql)), "{sql}");
        }
    }

    #[test]
    fn mysql_executable_comments_hold_the_verb() {
        assert_eq!(
            verb_in("/*!40100 SET @@SQL_MODE='' */", Dialect::Mysql),
            "SET"
        );
        assert_eq!(
            verb_in("/*M!100100 SET WAIT_TIMEOUT=DEFAULT */", Dialect::Mysql),
            "SET"
        );
        assert_eq!(verb_in("/*!40100 SET x=1 */", Dialect::Postgres), "OTHER");
    }

    #[test]
    fn dialect_decides_comments() {
        assert_eq!(verb_in("# note\nSELECT 1", Dialect::Mysql), "SELECT");
        assert_eq!(verb_in("# note\nSELECT 1", Dialect::Postgres), "OTHER");
    }
}
