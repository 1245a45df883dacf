//! The parts of the pipeline that files and live capture share inside the
//! binary: the parsers' options from the user's switches. (Dealing packets
//! to tracker shards is `podwire_track::shard`.)

pub mod parsers;
