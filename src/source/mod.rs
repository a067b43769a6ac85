//! Sources: where records come from. Files here; MongoDB documents in [`crate::mongo`].

pub mod file;

pub use file::{read_records, FileFormat, Record, Skipped, SourceError};
