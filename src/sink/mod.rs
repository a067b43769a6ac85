//! Sinks: where scored messages go (NDJSON files, terminal tables; MongoDB in service mode).

pub mod ndjson;
pub mod table;
