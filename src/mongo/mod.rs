//! MongoDB plumbing shared by service mode and the aggregator crate.
//!
//! * [`connection`]: [`MongoSettings`] → [`mongodb::Client`], TLS/SCRAM/timeouts, URI redaction.

pub mod connection;

pub use connection::{redact_uri, MongoError, MongoSettings, Secret};
