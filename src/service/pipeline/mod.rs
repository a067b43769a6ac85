//! The per-host pipeline: documents in, verdicts out, exactly once.
//!
//! In: a [`context::WorkerCtx`] (the host's source, sink, state store, lease and layers) and
//! the host's documents as the follow loop and the sweep read them. Out: write-once update
//! statements (`is_anomaly`, `anomaly_score`, `lad_model_version`, `lad_reason`, threat and
//! session fields), the resume point fenced by the lease's token, and the counters.
//!
//! * `worker` — the follow loop of one host: train or load, follow, sweep, retrain;
//! * `training` — get a model (saved and fresh, or trained on the window);
//! * `baselines` — fit the threat engine and the session model on the same window;
//! * `sweep` — look behind the resume point (late documents, id ties, retries);
//! * `verdict` — prepared documents → scores → statements (pure, no I/O);
//! * `session_pass` — score closed sessions after each sweep;
//! * `context` — what a worker's steps share, and the commit of one batch;
//! * `stats`, `worker_state` — the counters and the live state `/metrics` reads.

pub(crate) mod baselines;
pub(crate) mod context;
pub(crate) mod session_pass;
pub mod stats;
pub(crate) mod sweep;
pub(crate) mod training;
pub(crate) mod verdict;
pub(crate) mod worker;
pub(crate) mod worker_state;
