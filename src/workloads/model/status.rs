//! The status report: this workload's calibration (and, for the stable role, a bounded pricing
//! summary) in its Model's status.
//!
//! Written with server-side apply on the status subresource under the field manager
//! `nflbet-model-stable` or `nflbet-model-candidate`, with a body holding only
//! `status.calibration.<role>` (plus `status.summary` for the stable role). The operator
//! (`nflbet-operator`) owns conditions and rollout fields and the other role owns its own
//! entry; SSA keeps them apart. Without samples the calibration entry is left out, and because
//! the manager then no longer applies it, SSA removes an entry it wrote earlier: calibration is
//! absent, never invented. Writes happen in their own task at most once per
//! `--status-interval`, always with the latest report; failures are logged and counted
//! (`{p}_model_status_report_failures_total`), never fatal.

use super::config::Role;
use super::metrics::Metrics;
use crate::crd::model::{CalibrationScore, EdgeSummary, Model, PricingSummary};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Most top edges a summary carries (the CRD's bound).
pub const MAX_TOP_EDGES: usize = 10;

/// The field manager of a role's writes.
pub fn field_manager(role: Role) -> &'static str {
    match role {
        Role::Stable => "nflbet-model-stable",
        Role::Candidate => "nflbet-model-candidate",
    }
}

/// What one role reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusReport {
    /// None without samples.
    pub calibration: Option<CalibrationScore>,
    /// Only for the stable role.
    pub summary: Option<PricingSummary>,
}

/// The apply body: identity plus this role's fields, nothing else.
pub fn apply_body(name: &str, role: Role, report: &StatusReport) -> serde_json::Value {
    let mut status = serde_json::Map::new();
    if let Some(c) = &report.calibration {
        status.insert("calibration".into(), serde_json::json!({ role.as_str(): c }));
    }
    if role == Role::Stable
        && let Some(s) = &report.summary
    {
        let mut s = s.clone();
        s.top_edges.truncate(MAX_TOP_EDGES);
        status.insert("summary".into(), serde_json::to_value(s).unwrap_or(serde_json::Value::Null));
    }
    serde_json::json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1",
        "kind": "Model",
        "metadata": { "name": name },
        "status": status,
    })
}

/// Builds summary entries from priced quotes.
pub fn edge_summary(q: &super::staking::PricedQuote) -> EdgeSummary {
    EdgeSummary {
        event: q.event.clone(),
        market: q.market.as_str().to_owned(),
        selection: q.selection_label.clone(),
        book: q.book.clone(),
        american: q.american,
        expected_value: q.expected_value,
        stake: q.stake,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot write the model status: {0}")]
    Api(String),
    #[error("model status write timed out")]
    Timeout,
}

/// Writes one Model's status entry for one role.
#[derive(Clone)]
pub struct StatusReporter {
    api: Api<Model>,
    name: String,
    role: Role,
}

impl StatusReporter {
    /// Connect with in-cluster credentials or KUBECONFIG.
    pub async fn connect(namespace: &str, name: &str, role: Role) -> Result<Self, kube::Error> {
        let client = Client::try_default().await?;
        Ok(Self::with_client(client, namespace, name, role))
    }

    pub fn with_client(client: Client, namespace: &str, name: &str, role: Role) -> Self {
        StatusReporter { api: Api::namespaced(client, namespace), name: name.to_owned(), role }
    }

    /// One write, bounded in time.
    pub async fn write(&self, report: &StatusReport) -> Result<(), StatusError> {
        let params = PatchParams::apply(field_manager(self.role)).force();
        let body = apply_body(&self.name, self.role, report);
        match tokio::time::timeout(
            Duration::from_secs(10),
            self.api.patch_status(&self.name, &params, &Patch::Apply(&body)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StatusError::Api(e.to_string())),
            Err(_) => Err(StatusError::Timeout),
        }
    }
}

/// Write once; log and count a failure.
pub async fn write_logged(reporter: &StatusReporter, report: &StatusReport, metrics: &Metrics) {
    match reporter.write(report).await {
        Ok(()) => tracing::debug!("model status written"),
        Err(e) => {
            metrics.status_failed();
            tracing::warn!(error = %e, "model status report failed");
        }
    }
}

/// Write the latest report whenever it changes, at most once per `interval`, until cancelled;
/// then one last write of any unwritten report.
pub async fn run(
    reporter: StatusReporter,
    mut rx: watch::Receiver<Option<StatusReport>>,
    interval: Duration,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { break },
            _ = cancel.cancelled() => break,
        }
        let report = rx.borrow_and_update().clone();
        if let Some(report) = report {
            write_logged(&reporter, &report, &metrics).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = cancel.cancelled() => break,
        }
    }
    let last = if rx.has_changed().unwrap_or(false) { rx.borrow_and_update().clone() } else { None };
    if let Some(report) = last {
        write_logged(&reporter, &report, &metrics).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_body_holds_only_its_calibration() {
        let report = StatusReport {
            calibration: Some(CalibrationScore {
                version: "1.1.0".into(),
                parameters: Some("0a1b2c3d4e".into()),
                brier: 0.2,
                log_loss: 0.6,
                samples: 50,
            }),
            summary: Some(PricingSummary::default()),
        };
        let b = apply_body("m", Role::Candidate, &report);
        assert_eq!(b["status"].as_object().map(|o| o.len()), Some(1));
        assert_eq!(b["status"]["calibration"]["candidate"]["samples"], 50);
        assert_eq!(b["status"]["calibration"]["candidate"]["parameters"], "0a1b2c3d4e");
        assert!(b["status"]["calibration"].get("stable").is_none());
        let empty = apply_body("m", Role::Stable, &StatusReport::default());
        assert_eq!(empty["status"].as_object().map(|o| o.len()), Some(0));
    }

    #[test]
    fn summary_is_bounded() {
        let report = StatusReport {
            calibration: None,
            summary: Some(PricingSummary {
                top_edges: vec![EdgeSummary::default(); 25],
                ..Default::default()
            }),
        };
        let b = apply_body("m", Role::Stable, &report);
        assert_eq!(b["status"]["summary"]["topEdges"].as_array().map(Vec::len), Some(MAX_TOP_EDGES));
    }
}
