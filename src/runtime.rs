//! Process plumbing shared by the long-running commands (`lad run`, the aggregator):
//! the cron ticker and the SIGINT/SIGTERM future.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Starts a scheduler that bumps the counter in `tx` every time the 6-field cron `expr`
/// fires (UTC). Receivers wake on the change; the counter only says "fired again".
pub async fn cron_ticker(
    expr: &str,
    what: &'static str,
    tx: watch::Sender<u64>,
) -> Result<JobScheduler, JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    let tx = Arc::new(tx);
    let job = Job::new_async(expr, move |_id, _lock| {
        let tx = tx.clone();
        Box::pin(async move {
            tracing::info!("{what} schedule fired");
            tx.send_modify(|n| *n = n.wrapping_add(1));
        })
    })?;
    sched.add(job).await?;
    sched.start().await?;
    Ok(sched)
}

/// A future that completes on SIGINT or SIGTERM (Ctrl-C elsewhere). The handlers are
/// installed when this is called, so call it before any work: an early signal is not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB; 0 where unavailable.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
