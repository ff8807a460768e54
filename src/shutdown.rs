//! Graceful shutdown for every long-running subcommand.

use tokio_util::sync::CancellationToken;

/// Cancel `cancel` on SIGTERM (what Kubernetes sends) or ctrl-c. Each process then finishes or
/// abandons its current unit of work cleanly (a poll, a pricing run, in-flight reconciles).
pub async fn on_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                let _ = ctrl_c.await;
                cancel.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    cancel.cancel();
}
