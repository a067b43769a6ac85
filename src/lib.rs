//! lad — log anomaly detection.
//!
//! The library is laid out along the data flow every driver shares:
//!
//! ```text
//! source → profile → embed → detect → sink
//! ```
//!
//! * [`source`] reads records (log files today, MongoDB documents in service mode);
//! * [`profile`] turns a record into the text to model and splits it into masked tokens;
//! * [`embed`] trains word vectors and turns token lists into message vectors;
//! * [`detect`] holds the detectors (LOF, autoencoder, token rarity, severity) and the ensemble;
//! * [`model`] ties them into one value you `fit`, `save`, `load` and `score`;
//! * [`sink`] writes results (NDJSON, tables);
//! * [`report`] renders scored messages as a self-contained HTML report with plots.
//!
//! File mode (`lad detect`, `lad eval`) and service mode (`lad run`) both drive [`model::Model`].

pub mod aggregate;
pub mod config;
pub mod detect;
pub mod embed;
pub mod eval;
pub mod model;
pub mod mongo;
pub mod profile;
pub mod report;
pub mod rng;
pub mod runtime;
pub mod service;
pub mod sink;
pub mod source;
