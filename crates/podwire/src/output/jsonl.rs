//! One JSON object per line, in the record schema (docs/records.md).
//!
//! Encoded by `podwire_record::json`, a writer specialised for the record
//! types and pinned by its tests to serde's output: the output path costs as
//! much as the analysis when it goes through a general-purpose serialiser.

use podwire_record::Record;

/// Appends `rec` as one line of JSON.
pub fn encode(rec: &Record, out: &mut Vec<u8>) {
    podwire_record::json::write_record(out, rec);
    out.push(b'\n');
}

/// Appends `rec` as one line of JSON through serde's derive: the schema's
/// reference definition, slower; `--format jsonl-serde` (hidden) uses it so
/// that tests can compare the two on whole captures.
pub fn encode_serde(rec: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, rec).is_err() {
        // Plain structs of strings and numbers cannot fail to serialise.
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
    out.push(b'\n');
}
