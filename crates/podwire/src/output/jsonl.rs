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
