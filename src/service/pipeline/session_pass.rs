//! The session pass (`SESSION_KEY`): after each sweep, the host's keyed documents without
//! a session score are read, grouped into sessions, and every closed session is scored and
//! written with one write-once statement (see [`crate::service::layers::sessions`] for the
//! protocol). In: the worker's context, its host model and the time up to which every
//! document was read; out: session fields on the documents and the pass's counts.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::HostModel;
use crate::service::error::StoreError;
use crate::service::layers::sessions::{
    closed_sessions, horizon_ms, statement, PassOutcome, Stmt, PASS_LIMIT, WRITE_CHUNK,
};
use crate::service::pipeline::context::WorkerCtx;

/// Scores the closed sessions among the host's keyed documents (see the module docs).
/// `scored_through`: the follow loop has read every document up to this time.
/// `end_of_input`: every open session counts as closed (`--once`, backlog done).
pub(crate) async fn pass(
    ctx: &WorkerCtx,
    model: &Arc<HostModel>,
    scored_through: DateTime<Utc>,
    end_of_input: bool,
) -> Result<PassOutcome, StoreError> {
    let mut total = PassOutcome::default();
    let Some(smodel) = ctx.sessions.model() else {
        return Ok(total);
    };
    loop {
        let window_start = ctx.config.window_start(Utc::now());
        let rows = ctx.logs.open_session_docs(window_start, PASS_LIMIT).await?;
        let full = rows.len() >= PASS_LIMIT as usize;
        let horizon = horizon_ms(
            &rows,
            full,
            scored_through,
            end_of_input,
            ctx.sessions.timeout_ms(),
        );
        let (model, smodel2, timeout_ms) =
            (model.clone(), smodel.clone(), ctx.sessions.timeout_ms());
        let scored = tokio::task::spawn_blocking(move || {
            let closed = closed_sessions(&rows, &model, timeout_ms, horizon, full);
            closed
                .iter()
                .map(|s| statement(&smodel2, s))
                .collect::<Vec<_>>()
        })
        .await;
        let stmts = match scored {
            Ok(s) => s,
            Err(e) => {
                // Nothing was written: the same documents are read again next pass.
                tracing::error!(source = %ctx.key, "scoring sessions failed: {e}");
                break;
            }
        };
        let outcome = write(ctx, stmts).await?;
        total.sessions += outcome.sessions;
        total.anomalies += outcome.anomalies;
        total.documents += outcome.documents;
        if !full || outcome.sessions == 0 {
            break;
        }
    }
    if total.sessions > 0 {
        ctx.stats_mut(|s| {
            s.sessions_scored += total.sessions;
            s.session_anomalies += total.anomalies;
        });
        tracing::info!(source = %ctx.key, sessions = total.sessions, anomalies = total.anomalies, documents = total.documents, "session scores written");
    }
    Ok(total)
}

/// [`pass`] for the worker loop: a failure is logged and counted, and the same documents
/// are read again after the next sweep (nothing was lost: the state is in the documents).
pub(crate) async fn run_pass(
    ctx: &WorkerCtx,
    model: &Arc<HostModel>,
    scored_through: DateTime<Utc>,
    end_of_input: bool,
) {
    if ctx.sessions.keyer.is_none() {
        return;
    }
    if let Err(e) = pass(ctx, model, scored_through, end_of_input).await {
        if !matches!(
            e,
            StoreError::LeaseExpired { .. } | StoreError::LeaseLost { .. }
        ) {
            ctx.stats_mut(|s| s.db_errors += 1);
        }
        tracing::warn!(source = %ctx.key, "session pass: {}; retried after the next sweep", ctx.config.mongo.scrub(&e.to_string()));
    }
}

/// Writes the statements in chunks, the lease checked before each command.
async fn write(ctx: &WorkerCtx, stmts: Vec<Stmt>) -> Result<PassOutcome, StoreError> {
    let mut out = PassOutcome::default();
    let mut stmts = stmts.into_iter().peekable();
    while stmts.peek().is_some() {
        let chunk: Vec<Stmt> = stmts.by_ref().take(WRITE_CHUNK).collect();
        ctx.lease.check()?;
        out.sessions += chunk.len() as u64;
        out.anomalies += chunk.iter().filter(|s| s.anomaly).count() as u64;
        let sessions = chunk.into_iter().map(|s| (s.ids, s.set)).collect();
        let w = ctx.sink.write_sessions(sessions).await?;
        out.documents += w.matched;
    }
    Ok(out)
}
