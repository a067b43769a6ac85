//! What the service shows people: `/metrics` (Prometheus) and `/healthz` on
//! `METRICS_LISTEN` (`metrics`, `http`), `lad status` (`status`, from the state
//! collection) and the documents `lad report --config` draws (`report_source`). In: the
//! workers' live state, the state collection and the scored documents; out: text, JSON and
//! report data. Reads only: nothing here changes what is scored.

pub(crate) mod http;
pub(crate) mod metrics;
pub mod report_source;
pub mod status;
