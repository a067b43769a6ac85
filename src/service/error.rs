//! The service's error types: [`ServiceError`] stops `lad run`; [`StoreError`] is one failed
//! database step, which workers retry (or, for a lost lease, stop on).

use crate::mongo::MongoError;
use crate::sink::mongo::SinkError;

/// Why the service could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Connecting failed in a way retrying will not fix (bad URI, CA file, credentials).
    #[error(transparent)]
    Mongo(#[from] MongoError),
    /// The retrain scheduler could not be set up.
    #[error("RETRAIN_SCHEDULE: cannot schedule retraining: {0}")]
    Scheduler(String),
    /// The metrics endpoint could not listen on `METRICS_LISTEN` / `LAD_LISTEN`.
    #[error("METRICS_LISTEN: cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why (address in use, permission denied, ...).
        source: std::io::Error,
    },
}

/// A failed database step of a worker.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The driver reported an error (network, server selection, command failure).
    #[error("{0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The write was applied but not acknowledged by the requested write concern.
    #[error("write concern error: {0}")]
    WriteConcern(String),
    /// Another `lad run` process holds the worker's lease now (this one paused, or was cut
    /// off from the database, for longer than `LEASE_TIME`). The worker stops; nothing it
    /// had not written yet is written.
    #[error("lease on {key} lost to another lad process; this worker stops (nothing is lost: the new owner resumes from the saved point)")]
    LeaseLost {
        /// The worker (`collection/hostname`).
        key: String,
    },
    /// The lease was not renewed in time (database unreachable?): the worker does not write
    /// until it is renewed or known lost.
    #[error("lease on {key} not renewed within LEASE_TIME (is the database reachable?); not writing until it is")]
    LeaseExpired {
        /// The worker (`collection/hostname`).
        key: String,
    },
}

impl From<SinkError> for StoreError {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Mongo(e) => Self::Mongo(e),
            SinkError::WriteConcern(m) => Self::WriteConcern(m),
        }
    }
}

impl StoreError {
    /// Authentication / authorization failures will not fix themselves by retrying quickly.
    pub fn is_auth(&self) -> bool {
        match self {
            Self::Mongo(e) => crate::mongo::connection::is_auth_error(e),
            _ => false,
        }
    }
}
