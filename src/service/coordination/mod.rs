//! How `lad run` processes share hosts and remember where they stopped, all in
//! `STATE_COLLECTION`: per-worker resume points and counters, leases with fencing tokens
//! and process heartbeats (`state`), one lease as its process sees it (`lease`), and the
//! change streams that wake workers when their collection gets documents (`wake`).
//! In: the server's state documents and change events; out: lease tokens, resume points,
//! wake-ups. Depends on nothing else in the service but its errors and backoff.

pub(crate) mod lease;
pub mod state;
pub(crate) mod wake;
