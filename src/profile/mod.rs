//! Input profiles: what part of a record is the message, and how it is tokenized.
//!
//! A profile is the one place that knows the shape of an input. Syslog-style lines are the
//! first profile; structured inputs (Wazuh alerts, osquery results, JSON security logs) plug
//! in here later by producing the same [`Tokenizer`] input: one message string per record.

pub mod tokenize;

pub use tokenize::{Tokenizer, MAX_TOKENS};
