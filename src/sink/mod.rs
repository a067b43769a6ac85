//! Sinks: where scored messages go. NDJSON files and terminal tables for file mode; the
//! MongoDB log documents themselves ([`mongo`]) for service mode.

pub mod mongo;
pub mod ndjson;
pub mod table;
