//! The sweep: every `SWEEP_INTERVAL`, each worker looks behind its resume point, inside the
//! training window, for documents that were never handled — late arrivals (timestamps
//! older than the resume point when they reached the database), documents with the resume
//! point's timestamp and a smaller `_id` (an ObjectId minted by another writer), and
//! documents whose scoring failed and is to be retried. It reads through the sweep index
//! (`crate::source::mongo`), at most `BATCH_SIZE` documents per query, so one sweep costs one
//! indexed query when there is nothing to do. The resume point does not move; the
//! write-back is the same write-once command as the follow loop's.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::model::HostModel;
use crate::service::doc::SweepKind;
use crate::service::error::StoreError;
use crate::service::pipeline::context::WorkerCtx;
use crate::source::mongo::Resume;

/// One sweep query and its write-back; the number of documents found.
pub(crate) async fn sweep_once(
    ctx: &WorkerCtx,
    resume: &Resume,
    model: &Arc<HostModel>,
) -> Result<usize, StoreError> {
    let cfg = &ctx.config;
    let t0 = Instant::now();
    let docs = ctx
        .logs
        .sweep_batch(cfg.window_start(Utc::now()), resume, cfg.batch_size)
        .await?;
    ctx.stats_mut(|s| s.sweeps += 1);
    let n = docs.len();
    if n == 0 {
        return Ok(0);
    }
    let prepared = ctx.prepare_all(docs);
    let v = ctx
        .verdicts(model, prepared, |p| {
            Some(if p.failures > 0 {
                SweepKind::Retry
            } else if p.resume_dt == Some(resume.dt) {
                SweepKind::IdTie
            } else {
                SweepKind::Late
            })
        })
        .await;
    let batch = ctx.commit(model, v, resume, 0).await?;
    tracing::info!(
        source = %ctx.key,
        docs = n,
        late = batch.late_scored,
        id_ties = batch.tie_scored,
        retried = batch.retry_scored,
        failures = batch.scoring_failures,
        ms = t0.elapsed().as_millis() as u64,
        "swept behind the resume point"
    );
    Ok(n)
}
