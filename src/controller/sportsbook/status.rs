//! Status step: what the children really look like, turned into conditions. Pure.

use crate::controller::conditions::{self, Desired};
use crate::controller::workload_objects::{Rollout, WorkloadState, rollout};
use crate::crd::sportsbook::Sportsbook;
use crate::monitoring::Capabilities;

/// What the reconcile observed and did, as input for the conditions.
#[derive(Debug, Default)]
pub struct Observed<'a> {
    pub deployment: Option<&'a WorkloadState>,
    pub caps: Capabilities,
    /// Set when the spec could not be built into children: the reason and the message.
    pub invalid: Option<(&'static str, String)>,
    /// Set when applying children failed.
    pub apply_error: Option<String>,
    /// Set when the API server refused a monitoring object (the workload was applied).
    pub monitoring_refused: Option<conditions::Refusal>,
}

/// Desired conditions of a Sportsbook.
pub fn conditions(sb: &Sportsbook, obs: &Observed<'_>) -> Vec<Desired> {
    use conditions::{MONITORING, READY, Status};
    let spec = &sb.spec;
    let mut out = Vec::with_capacity(4);

    out.extend(conditions::lifecycle(spec.disabled, spec.suspend, "scraper scaled to 0, alerts removed"));

    let mut missing = Vec::new();
    if spec.feature_alerts() && !obs.caps.prometheus_rules {
        missing.push("prometheusrules.monitoring.coreos.com");
    }
    if spec.feature_service_monitor() && !obs.caps.service_monitors {
        missing.push("servicemonitors.monitoring.coreos.com");
    }
    out.push(if let Some(refused) = &obs.monitoring_refused {
        refused.condition()
    } else if missing.is_empty() {
        Desired::new(MONITORING, Status::True, "Succeeded", "monitoring objects reconciled")
    } else {
        Desired::new(
            MONITORING,
            Status::False,
            "MonitoringCRDsMissing",
            format!(
                "not created because their CRDs are not installed: {}; the scraper runs without them",
                missing.join(", ")
            ),
        )
    });

    let ready = if let Some((reason, err)) = &obs.invalid {
        Desired::new(READY, Status::False, reason, err.clone())
    } else if let Some(err) = &obs.apply_error {
        Desired::new(READY, Status::False, "ReconcileFailed", err.clone())
    } else {
        match obs.deployment.map(|d| rollout(d, "scraper")).unwrap_or(Rollout::Missing) {
            Rollout::Missing if spec.suspend => {
                Desired::new(READY, Status::False, "Suspended", "suspended before the scraper was created")
            }
            Rollout::Missing => Desired::new(READY, Status::Unknown, "Progressing", "creating the scraper"),
            Rollout::Progressing(m) => Desired::new(READY, Status::False, "Progressing", m),
            Rollout::Failed(m) => Desired::new(READY, Status::False, "Failed", m),
            Rollout::Complete { ready } => {
                Desired::new(READY, Status::True, "Succeeded", format!("scraper running ({ready} ready)"))
            }
            Rollout::Stopped => {
                Desired::new(READY, Status::True, "Stopped", "scraper stopped (0 replicas) by spec.disabled")
            }
        }
    };
    out.push(ready);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::workload_objects::{WatchedDeployment, WatchedDeploymentSpec};
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deployment(
        want: i32,
        generation: i64,
        observed: i64,
        total: i32,
        updated: i32,
        available: i32,
    ) -> WorkloadState {
        WorkloadState::of(&WatchedDeployment {
            metadata: ObjectMeta { generation: Some(generation), ..Default::default() },
            spec: Some(WatchedDeploymentSpec { replicas: Some(want) }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                replicas: Some(total),
                updated_replicas: Some(updated),
                ready_replicas: Some(available),
                available_replicas: Some(available),
                ..Default::default()
            }),
        })
    }

    fn rollout_of(d: &WorkloadState) -> Rollout {
        rollout(d, "scraper")
    }

    #[test]
    fn refused_monitoring_is_reported_but_the_running_scraper_is_ready() {
        let sb = crate::controller::sportsbook::build::fixtures::book("fanduel").build();
        let d = deployment(1, 2, 2, 1, 1, 1);
        let refused =
            conditions::Refusal { reason: "Invalid", message: "PrometheusRule x was refused".into() };
        let obs = Observed {
            deployment: Some(&d),
            caps: Capabilities::ALL,
            monitoring_refused: Some(refused),
            ..Default::default()
        };
        let out = conditions(&sb, &obs);
        let find = |t: &str| out.iter().find(|c| c.type_ == t).unwrap();
        let m = find(conditions::MONITORING);
        assert_eq!(
            (m.status, m.reason, m.message.as_str()),
            (conditions::Status::False, "Invalid", "PrometheusRule x was refused")
        );
        assert_eq!(find(conditions::READY).status, conditions::Status::True);
    }

    #[test]
    fn rollout_reads_generation_and_replicas() {
        assert!(matches!(rollout_of(&deployment(1, 2, 1, 1, 1, 1)), Rollout::Progressing(_)));
        assert!(matches!(rollout_of(&deployment(1, 2, 2, 1, 0, 0)), Rollout::Progressing(_)));
        assert!(matches!(rollout_of(&deployment(1, 2, 2, 2, 1, 1)), Rollout::Progressing(_)));
        assert_eq!(rollout_of(&deployment(1, 2, 2, 1, 1, 1)), Rollout::Complete { ready: 1 });
        assert!(matches!(rollout_of(&deployment(0, 3, 3, 1, 0, 1)), Rollout::Progressing(_)));
        assert_eq!(rollout_of(&deployment(0, 3, 3, 0, 0, 0)), Rollout::Stopped);
    }
}
