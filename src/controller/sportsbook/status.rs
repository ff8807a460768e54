//! Status step: what the children really look like, turned into conditions. Pure; the caller
//! reads the Deployment and writes the result.

use crate::controller::conditions::{self, Desired};
use crate::crd::sportsbook::Sportsbook;
use crate::monitoring::Capabilities;
use k8s_openapi::api::apps::v1::Deployment;

/// What the reconcile observed and did, as input for the conditions.
#[derive(Debug, Default)]
pub struct Observed<'a> {
    pub deployment: Option<&'a Deployment>,
    pub caps: Capabilities,
    /// Set when the spec could not be built into children.
    pub invalid: Option<String>,
    /// Set when applying children failed.
    pub apply_error: Option<String>,
}

/// Rollout state of the scraper Deployment, read the way `kubectl rollout status` does.
#[derive(Debug, PartialEq)]
pub enum Rollout {
    Missing,
    Progressing(String),
    Failed(String),
    Complete { ready: i32 },
    Stopped,
}

pub fn rollout(d: &Deployment) -> Rollout {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(st) = d.status.as_ref() else {
        return Rollout::Progressing("Deployment has no status yet".into());
    };
    let generation = d.metadata.generation.unwrap_or(0);
    if st.observed_generation.unwrap_or(0) < generation {
        return Rollout::Progressing("Deployment controller has not observed the latest spec yet".into());
    }
    if let Some(c) = st.conditions.iter().flatten().find(|c| c.type_ == "Progressing")
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Rollout::Failed(format!(
            "scraper rollout exceeded its progress deadline: {}",
            c.message.clone().unwrap_or_default()
        ));
    }
    let (total, updated, ready, available) = (
        st.replicas.unwrap_or(0),
        st.updated_replicas.unwrap_or(0),
        st.ready_replicas.unwrap_or(0),
        st.available_replicas.unwrap_or(0),
    );
    if want == 0 {
        return if total == 0 {
            Rollout::Stopped
        } else {
            Rollout::Progressing(format!("scaling the scraper down: {total} pod(s) left"))
        };
    }
    if updated < want {
        return Rollout::Progressing(format!("{updated}/{want} scraper pods updated"));
    }
    if total > updated {
        return Rollout::Progressing(format!("{} old scraper pod(s) terminating", total - updated));
    }
    if available < want || ready < want {
        return Rollout::Progressing(format!("{available}/{want} scraper pods available"));
    }
    Rollout::Complete { ready }
}

/// Desired conditions of a Sportsbook.
pub fn conditions(sb: &Sportsbook, obs: &Observed<'_>) -> Vec<Desired> {
    use conditions::{MONITORING, READY, STOPPED, SUSPENDED, Status};
    let spec = &sb.spec;
    let mut out = Vec::with_capacity(4);

    out.push(if spec.suspend {
        Desired::new(SUSPENDED, Status::True, "Suspended", "reconciliation paused by spec.suspend: children are not written")
    } else {
        Desired::new(SUSPENDED, Status::False, "Active", "reconciling")
    });

    out.push(if spec.suspend {
        // Paused wins: whether the book is stopped is not being enforced right now.
        Desired::new(STOPPED, Status::Unknown, "Suspended", "reconciliation is suspended")
    } else if spec.disabled {
        Desired::new(STOPPED, Status::True, "Disabled", "stopped by spec.disabled: scraper scaled to 0, alerts removed")
    } else {
        Desired::new(STOPPED, Status::False, "Running", "scraper enabled")
    });

    let mut missing = Vec::new();
    if spec.feature_alerts() && !obs.caps.prometheus_rules {
        missing.push("prometheusrules.monitoring.coreos.com");
    }
    if spec.feature_service_monitor() && !obs.caps.service_monitors {
        missing.push("servicemonitors.monitoring.coreos.com");
    }
    out.push(if missing.is_empty() {
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

    let ready = if let Some(err) = &obs.invalid {
        Desired::new(READY, Status::False, "InvalidSpec", err.clone())
    } else if let Some(err) = &obs.apply_error {
        Desired::new(READY, Status::False, "ReconcileFailed", err.clone())
    } else {
        match obs.deployment.map(rollout).unwrap_or(Rollout::Missing) {
            Rollout::Missing if spec.suspend => {
                Desired::new(READY, Status::False, "Suspended", "suspended before the scraper was created")
            }
            Rollout::Missing => Desired::new(READY, Status::Unknown, "Progressing", "creating the scraper"),
            Rollout::Progressing(m) => Desired::new(READY, Status::False, "Progressing", m),
            Rollout::Failed(m) => Desired::new(READY, Status::False, "Failed", m),
            Rollout::Complete { ready } => {
                Desired::new(READY, Status::True, "Succeeded", format!("scraper running ({ready} ready)"))
            }
            Rollout::Stopped => Desired::new(READY, Status::True, "Stopped", "scraper stopped (0 replicas) by spec.disabled"),
        }
    };
    out.push(ready);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deployment(want: i32, generation: i64, observed: i64, total: i32, updated: i32, available: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta { generation: Some(generation), ..Default::default() },
            spec: Some(DeploymentSpec { replicas: Some(want), ..Default::default() }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                replicas: Some(total),
                updated_replicas: Some(updated),
                ready_replicas: Some(available),
                available_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn rollout_reads_generation_and_replicas() {
        assert!(matches!(rollout(&deployment(1, 2, 1, 1, 1, 1)), Rollout::Progressing(_)));
        assert!(matches!(rollout(&deployment(1, 2, 2, 1, 0, 0)), Rollout::Progressing(_)));
        assert!(matches!(rollout(&deployment(1, 2, 2, 2, 1, 1)), Rollout::Progressing(_)));
        assert_eq!(rollout(&deployment(1, 2, 2, 1, 1, 1)), Rollout::Complete { ready: 1 });
        assert!(matches!(rollout(&deployment(0, 3, 3, 1, 0, 1)), Rollout::Progressing(_)));
        assert_eq!(rollout(&deployment(0, 3, 3, 0, 0, 0)), Rollout::Stopped);
    }
}
