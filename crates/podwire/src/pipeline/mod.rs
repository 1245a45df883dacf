//! The parts of the pipeline that files and live capture share inside the
//! binary: dealing packets to tracker shards.

pub mod parsers;
pub mod shard;
