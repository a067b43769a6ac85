//! What the service adds on top of each document's line score, one file per layer. Each
//! holds its own state and talks to MongoDB itself; none knows the worker loop.
//!
//! * `threat_feed` — the threat engine fed every scored document in event order (in: the
//!   prepared document and its line score; out: a threat finding for triage);
//! * `sessions` — session keys on documents and the session model (in: prepared documents;
//!   out: `lad_session_key`, closed sessions and their statements);
//! * `feedback_harvest` — users' `lad_feedback` marks (in: marked documents and the
//!   feedback collection; out: verdicts applied to the host's models);
//! * `fleet_events` — new kinds reported across hosts (in: anomalies of a kind new to the
//!   host; out: one fleet event per kind on `FLEET_MIN_HOSTS` hosts, tagged documents).

pub mod feedback_harvest;
pub(crate) mod fleet_events;
pub(crate) mod sessions;
pub(crate) mod threat_feed;
