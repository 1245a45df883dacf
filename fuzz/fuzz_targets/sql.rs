//! Fuzzes podwire-sql: masking, the verb and statement splitting over
//! arbitrary text in both dialects.
//!
//! Input layout: byte 0 picks the dialect, list collapsing and the length
//! limit; the rest, read as UTF-8 (lossily), is the SQL text. The checks are
//! the promises the database parsers rely on: the masked text is within its
//! limit and masks to itself (no literal is left in it), the verb is one
//! of `VERBS`, and the statements are in-order, non-overlapping slices of
//! the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_sql::{mask_with, split_statements_in, verb_in, Dialect, MaskOptions, VERBS};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, text)) = data.split_first() else {
        return;
    };
    let sql = String::from_utf8_lossy(text);
    let dialect = if seed & 1 == 0 {
        Dialect::Postgres
    } else {
        Dialect::Mysql
    };
    let options = MaskOptions {
        dialect,
        max_len: if seed & 2 == 0 {
            usize::from(seed >> 2)
        } else {
            4096
        },
        collapse_in_lists: seed & 0x80 == 0,
    };

    let masked = mask_with(&sql, &options);
    assert!(masked.text.chars().count() <= options.max_len);
    if !masked.truncated {
        // Masking is idempotent: a masked text has no literals left.
        let again = mask_with(
            &masked.text,
            &MaskOptions {
                max_len: usize::MAX,
                ..options
            },
        );
        assert_eq!(again.text, masked.text);
    }

    assert!(VERBS.contains(&verb_in(&sql, dialect)));

    let base = sql.as_ptr() as usize;
    let mut last_end = 0;
    for stmt in split_statements_in(&sql, dialect).take(10_000) {
        let start = stmt.as_ptr() as usize - base;
        assert!(start >= last_end && start + stmt.len() <= sql.len());
        assert!(!stmt.is_empty());
        last_end = start + stmt.len();
    }
});
