//! The aggregator: groups the anomalies lad flagged into templates, on a schedule.
//!
//! Anomalies (`is_anomaly: 1`) of the last `AGGR_TIME_SPAN` that are not aggregated yet are
//! read from each input collection, clustered, and written as one document per cluster (or
//! per unclustered anomaly) into the paired target collection; every source document gets
//! `aggregated_message_id`. Like the original LAD aggregator, with its bugs fixed (see
//! README.md, "Aggregator").
//!
//! ```text
//! store::read → vectors::vectorize → cluster::dbscan → template + statistics → store (3 phases)
//! ```
//!
//! * [`config`] — `aggregator.yaml` (the original keys, validated key by key);
//! * [`vectors`] — masked tokens → unit message vectors (hashed token vectors or word2vec);
//! * [`cluster`] — DBSCAN (linfa-clustering) on distinct vectors with capped multiplicities;
//! * [`template`] — LCS alignment of the raw messages of a cluster into `*** `-templates;
//! * [`batch`] — the pure pipeline for one batch, with timings;
//! * [`store`] — every MongoDB command, and the crash-safe insert → link → complete protocol;
//! * [`run`] — one pass, the cron schedule, the command-line entry point;
//! * [`bench`](mod@bench) — generated anomalies for `lad-aggregator bench`.
//!
//! The `lad-aggregator` binary (workspace member `aggregator/`) is a thin front for
//! [`run::run_cli`] and [`bench::run`].

pub mod batch;
pub mod bench;
pub mod cluster;
pub mod config;
pub mod run;
pub mod store;
pub mod template;
pub mod vectors;

pub use batch::{aggregate, Aggregate, Anomaly, BatchParams};
pub use config::{load, AggregatorConfig, CollectionPair};
pub use run::{run_cli, run_once, run_with, AggregateError, CrashPoint, RunOptions, RunReport};
