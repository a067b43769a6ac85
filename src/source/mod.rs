//! Sources: where records come from. Log files ([`file`]) for file mode; MongoDB log
//! documents ([`mongo`]) for service mode, read with the helpers of [`bson_fields`].

pub mod bson_fields;
pub mod file;
pub mod mongo;

pub use file::{read_records, FileFormat, Record, Skipped, SourceError};
