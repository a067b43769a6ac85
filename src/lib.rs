//! lad — log anomaly detection.
//!
//! The library is laid out along the data flow every driver shares:
//!
//! ```text
//! source → profile → features/embed → detect → ensemble → sink
//! ```
//!
//! * [`source`] reads records (log files today, MongoDB documents in service mode);
//! * [`profile`] turns a record into the text to model and splits it into masked tokens;
//! * [`features`] mines message kinds (templates with parameter slots) and turns counts into
//!   p-values; [`embed`] trains word vectors and turns token lists into message vectors;
//! * [`detect`] holds the detectors (template and parameter frequency, word rarity, LOF,
//!   Isolation Forest, autoencoder), each a p-value on the host's own training data;
//! * [`ensemble`] combines them with the severity prior and `contamination`;
//! * [`model`] ties them into one value you `fit`, `save`, `load` and `score`;
//! * [`sink`] writes results (NDJSON, tables);
//! * [`report`] renders scored messages as a self-contained HTML report with plots;
//! * [`threat`] detects bursts per entity and applies threat rules: a threat type, a
//!   severity and evidence for every anomaly, and CSV/JSON/PNG reports.
//!
//! File mode (`lad detect`, `lad eval`) and service mode (`lad run`) both drive [`model::Model`].

pub mod aggregate;
pub mod config;
pub mod detect;
pub mod durable;
pub mod embed;
pub mod ensemble;
pub mod eval;
pub mod features;
pub mod model;
pub mod mongo;
pub mod profile;
pub mod report;
pub mod rng;
pub mod runtime;
pub mod service;
pub mod session;
pub mod sink;
pub mod source;
pub mod threat;
