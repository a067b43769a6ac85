//! Input profiles: what part of a record is the message, and how it is tokenized.
//!
//! A profile is the one place that knows the shape of an input. Syslog-style lines are the
//! first profile; structured inputs (Wazuh alerts, osquery results, JSON security logs) plug
//! in here later by producing the same [`Tokenizer`] input: one message string per record.

mod audit;
pub mod event;
mod json;
pub mod kind;
mod osquery;
pub mod tokenize;
pub mod value;
mod wazuh;

pub use event::{Event, Field, FieldValue, ProfileStats, Skip};
pub use kind::{
    events_from_value, parse_bytes, parse_path, FieldAliases, Profile, ProfileError, ProfileKind,
    ProfileOptions,
};
pub use tokenize::{Tokenizer, MAX_TOKENS};
