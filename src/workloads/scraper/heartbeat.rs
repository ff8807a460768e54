//! The heartbeat: the scraper's own view of its health, in `Sportsbook.status.ingestion`.
//!
//! Written with server-side apply on the status subresource under field manager
//! `nflbet-scraper`, with a body that holds only `status.ingestion`; the operator (manager
//! `nflbet-operator`) owns the conditions, and SSA keeps the two from overwriting each other.
//! Writes happen in their own task at most once per `--heartbeat-interval`, always with the
//! latest state, so a slow or unreachable API server never delays a poll. Failures are logged
//! and counted (`{p}_ingestion_heartbeat_failures_total`), never fatal.

use super::metrics::Metrics;
use crate::crd::sportsbook::{IngestionStatus, Sportsbook};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Field manager of every heartbeat write.
pub const FIELD_MANAGER: &str = "nflbet-scraper";

/// The apply body: identity plus `status.ingestion`, nothing else.
pub fn apply_body(name: &str, ingestion: &IngestionStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1",
        "kind": "Sportsbook",
        "metadata": { "name": name },
        "status": { "ingestion": ingestion },
    })
}

/// Writes one Sportsbook's heartbeat.
#[derive(Clone)]
pub struct Heartbeat {
    api: Api<Sportsbook>,
    name: String,
}

impl Heartbeat {
    /// Connect with in-cluster credentials or KUBECONFIG.
    pub async fn connect(namespace: &str, name: &str) -> Result<Heartbeat, kube::Error> {
        let client = Client::try_default().await?;
        Ok(Heartbeat::with_client(client, namespace, name))
    }

    pub fn with_client(client: Client, namespace: &str, name: &str) -> Heartbeat {
        Heartbeat { api: Api::namespaced(client, namespace), name: name.to_owned() }
    }

    /// One write, bounded in time.
    pub async fn write(&self, ingestion: &IngestionStatus) -> Result<(), HeartbeatError> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let body = apply_body(&self.name, ingestion);
        match tokio::time::timeout(
            Duration::from_secs(10),
            self.api.patch_status(&self.name, &params, &Patch::Apply(&body)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(HeartbeatError::Api(e.to_string())),
            Err(_) => Err(HeartbeatError::Timeout),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("cannot write the heartbeat: {0}")]
    Api(String),
    #[error("heartbeat write timed out")]
    Timeout,
}

/// Write the latest state whenever it changes, at most once per `interval`, until cancelled;
/// then one last write of any unwritten state.
pub async fn run(
    hb: Heartbeat,
    mut rx: watch::Receiver<IngestionStatus>,
    interval: Duration,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { break },
            _ = cancel.cancelled() => break,
        }
        let state = rx.borrow_and_update().clone();
        write_logged(&hb, &state, &metrics).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = cancel.cancelled() => break,
        }
    }
    if rx.has_changed().unwrap_or(false) {
        let state = rx.borrow_and_update().clone();
        write_logged(&hb, &state, &metrics).await;
    }
}

/// Write once; log and count a failure.
pub async fn write_logged(hb: &Heartbeat, state: &IngestionStatus, metrics: &Metrics) {
    match hb.write(state).await {
        Ok(()) => tracing::debug!("heartbeat written"),
        Err(e) => {
            metrics.heartbeat_failed();
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_holds_only_ingestion() {
        let b = apply_body("fd", &IngestionStatus { quotes: Some(3), ..Default::default() });
        assert_eq!(b["status"].as_object().map(|o| o.len()), Some(1));
        assert_eq!(b["status"]["ingestion"]["quotes"], 3);
        assert!(b["status"].get("conditions").is_none());
        assert!(b.get("spec").is_none());
    }
}
