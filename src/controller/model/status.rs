//! Status step of a Model: conditions from the observed Deployments, the rollout decision and
//! the calibration the workloads report. Pure.

use super::gate;
use super::rollout::{Decision, Phase};
use super::storage::{self, StorageCheck};
use crate::controller::conditions::{self, Desired, MONITORING, READY, Status};
use crate::controller::workload_objects::{Rollout, WorkloadState, rollout};
use crate::crd::model::{Model, ReplayGateResult};
use crate::monitoring::Capabilities;

pub const CALIBRATION_DRIFT: &str = "CalibrationDrift";
pub const ROLLED_BACK: &str = "RolledBack";
/// Every book the model prices writes its snapshots where the model reads them.
pub const STORAGE_SHARED: &str = "StorageShared";
/// The candidate passed the replay gate of its current key (set only while a gated rollout is on).
pub const REPLAY_GATE: &str = "ReplayGate";

/// `ReplayGate`, while the spec gates a candidate: unknown while the gate runs, true once it
/// passed (or found too little history), false when it failed or ended in an error.
fn gate_condition(m: &Model, decision: &Decision) -> Option<Desired> {
    let (key, _) = gate::key(&m.spec)?;
    let current = decision.gate.as_ref().filter(|r| r.key == key);
    Some(match current {
        Some(r) if r.result.lets_through() => {
            Desired::new(REPLAY_GATE, Status::True, r.result.as_str(), r.message.clone())
        }
        Some(r) if r.result == ReplayGateResult::Error && decision.gate_job.is_none() => Desired::new(
            REPLAY_GATE,
            Status::False,
            r.result.as_str(),
            format!(
                "{}; the gate runs again 10 minutes after it ended, or when the stable or candidate version or parameters change",
                r.message
            ),
        ),
        Some(r) if r.result == ReplayGateResult::Failed => Desired::new(
            REPLAY_GATE,
            Status::False,
            r.result.as_str(),
            format!(
                "{}; the candidate does not start until its version or parameters (or stable's) change",
                r.message
            ),
        ),
        _ => Desired::new(
            REPLAY_GATE,
            Status::Unknown,
            "Replaying",
            format!(
                "replaying stable {} and candidate {} over the last {} week(s) of stored snapshots (Job {})",
                key.stable_version,
                key.candidate_version,
                key.weeks,
                gate::job_name(&m.metadata.name.clone().unwrap_or_default(), &key)
            ),
        ),
    })
}

#[derive(Debug, Default)]
pub struct Observed<'a> {
    pub stable: Option<&'a WorkloadState>,
    pub candidate: Option<&'a WorkloadState>,
    pub caps: Capabilities,
    pub apply_error: Option<String>,
    /// Set when the spec could not be built into children: the reason and the message.
    pub invalid: Option<(&'static str, String)>,
    /// Set when the API server refused a monitoring object (the workloads were applied).
    pub monitoring_refused: Option<conditions::Refusal>,
    /// Whether the books write where the model reads; `None`: not checked (the condition keeps
    /// its previous value).
    pub storage: Option<&'a StorageCheck>,
}

/// `StorageShared`, and the `Ready` override when books write elsewhere.
fn storage_condition(check: &StorageCheck) -> Desired {
    match check {
        StorageCheck::Shared { reads } => Desired::new(
            STORAGE_SHARED,
            Status::True,
            "SameStore",
            format!("every book writes its snapshots where the model reads them: {reads}"),
        ),
        StorageCheck::Mismatch { reads, elsewhere } => {
            let books: Vec<String> =
                elsewhere.iter().map(|(b, w)| storage::book_writes_elsewhere(b, w, reads)).collect();
            Desired::new(
                STORAGE_SHARED,
                Status::False,
                "BookStoreMismatch",
                format!(
                    "the model prices nothing from {}: {}; {}",
                    elsewhere.len(),
                    books.join("; "),
                    storage::FIX
                ),
            )
        }
        StorageCheck::Unknown { reads, unknown } => Desired::new(
            STORAGE_SHARED,
            Status::Unknown,
            "BookNotFound",
            format!(
                "cannot tell where Sportsbook {} writes (not found or unreadable); the model reads {reads}",
                unknown.join(", ")
            ),
        ),
        StorageCheck::NoBooks => {
            Desired::new(STORAGE_SHARED, Status::Unknown, "NoBooks", "the model has no Sportsbook to read")
        }
    }
}

pub fn conditions(m: &Model, decision: &Decision, obs: &Observed<'_>) -> Vec<Desired> {
    let spec = &m.spec;
    let mut out =
        conditions::lifecycle(spec.disabled, spec.suspend, "model scaled to 0, alerts removed").to_vec();

    out.push(if let Some(refused) = &obs.monitoring_refused {
        refused.condition()
    } else if obs.caps.prometheus_rules {
        Desired::new(MONITORING, Status::True, "Succeeded", "monitoring objects reconciled")
    } else {
        Desired::new(
            MONITORING,
            Status::False,
            "MonitoringCRDsMissing",
            "not created because their CRDs are not installed: prometheusrules.monitoring.coreos.com; the model runs without alerts",
        )
    });

    out.push(match &decision.rollback {
        Some(rb) => Desired::new(
            ROLLED_BACK,
            Status::True,
            "CalibrationWorse",
            format!("candidate {} stopped: {}", rb.candidate_version, rb.reason),
        ),
        None => Desired::new(ROLLED_BACK, Status::False, "NoRollback", "no candidate has been rolled back"),
    });

    let cal = spec.calibration();
    let stable = m.status.as_ref().and_then(|s| s.calibration.as_ref()).and_then(|c| c.stable.as_ref());
    out.push(match stable {
        None => Desired::new(
            CALIBRATION_DRIFT,
            Status::Unknown,
            "NoCalibration",
            "the stable workload has not reported calibration yet",
        ),
        Some(s) if (s.samples.max(0) as u64) < cal.min_samples => Desired::new(
            CALIBRATION_DRIFT,
            Status::Unknown,
            "InsufficientSamples",
            format!("{} of {} settled bets needed", s.samples, cal.min_samples),
        ),
        Some(s) => {
            let brier = cal.baseline_brier.filter(|b| s.brier > b + cal.tolerance);
            let log_loss = cal.baseline_log_loss.filter(|l| s.log_loss > l + cal.tolerance);
            match (brier, log_loss) {
                (Some(b), _) => Desired::new(
                    CALIBRATION_DRIFT,
                    Status::True,
                    "BrierAboveBaseline",
                    format!(
                        "Brier {:.4} > baseline {b} + {} over {} samples",
                        s.brier, cal.tolerance, s.samples
                    ),
                ),
                (None, Some(l)) => Desired::new(
                    CALIBRATION_DRIFT,
                    Status::True,
                    "LogLossAboveBaseline",
                    format!(
                        "log loss {:.4} > baseline {l} + {} over {} samples",
                        s.log_loss, cal.tolerance, s.samples
                    ),
                ),
                (None, None) => Desired::new(
                    CALIBRATION_DRIFT,
                    Status::False,
                    "WithinBaseline",
                    format!("Brier {:.4}, log loss {:.4} over {} samples", s.brier, s.log_loss, s.samples),
                ),
            }
        }
    });

    let storage = obs.storage.map(storage_condition);
    let ready = if let Some((reason, err)) = &obs.invalid {
        Desired::new(READY, Status::False, reason, err.clone())
    } else if let Some(err) = &obs.apply_error {
        Desired::new(READY, Status::False, "ReconcileFailed", err.clone())
    } else {
        let stable = obs.stable.map(|d| rollout(d, "model")).unwrap_or(Rollout::Missing);
        let candidate = match (decision.run_candidate, obs.candidate) {
            (false, _) => None,
            (true, d) => Some(d.map(|d| rollout(d, "candidate")).unwrap_or(Rollout::Missing)),
        };
        match (stable, candidate) {
            (Rollout::Missing, _) if spec.suspend => {
                Desired::new(READY, Status::False, "Suspended", "suspended before the model was created")
            }
            (Rollout::Missing, _) => {
                Desired::new(READY, Status::Unknown, "Progressing", "creating the model workload")
            }
            (Rollout::Failed(m), _) | (_, Some(Rollout::Failed(m))) => {
                Desired::new(READY, Status::False, "Failed", m)
            }
            (Rollout::Progressing(m), _) | (_, Some(Rollout::Progressing(m))) => {
                Desired::new(READY, Status::False, "Progressing", m)
            }
            (_, Some(Rollout::Missing)) => {
                Desired::new(READY, Status::False, "Progressing", "creating the candidate workload")
            }
            (Rollout::Stopped, _) => {
                Desired::new(READY, Status::True, "Stopped", "model stopped (0 replicas) by spec.disabled")
            }
            (Rollout::Complete { .. }, _) => {
                let msg = match decision.phase {
                    Phase::Stable => format!("serving {}", spec.version),
                    Phase::RolledBack => format!("serving {}; candidate rolled back", spec.version),
                    phase => format!(
                        "serving {} with candidate {} ({})",
                        spec.version,
                        spec.rollout.as_ref().map(|r| r.candidate.version.as_str()).unwrap_or("?"),
                        phase.as_str()
                    ),
                };
                Desired::new(READY, Status::True, "Succeeded", msg)
            }
        }
    };
    // Running, but blind to some of its books: degraded, so not ready (a stopped model stays
    // Ready=True, Stopped; a rollout in progress says so first).
    let ready = match &storage {
        Some(c)
            if c.status == Status::False && ready.status == Status::True && ready.reason == "Succeeded" =>
        {
            Desired::new(READY, Status::False, c.reason, c.message.clone())
        }
        _ => ready,
    };
    out.push(ready);
    out.extend(storage);
    out.extend(gate_condition(m, decision));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::model::rollout::decide;
    use crate::controller::model::storage::{BookStore, check};
    use crate::controller::snapshot_store::StoreLocation;
    use crate::controller::workload_objects::{WatchedDeployment, WatchedDeploymentSpec};
    use k8s_openapi::api::apps::v1::DeploymentStatus;

    fn model(disabled: bool) -> Model {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "consensus", "namespace": "betting", "generation": 1},
            "spec": {
                "algorithm": "marketConsensus", "version": "1.0.0", "disabled": disabled,
                "sportsbooks": {"names": ["fanduel", "inhouse"]},
                "staking": {"bankroll": 1000.0, "kellyFraction": 0.25},
                "storage": {"url": "s3://snaps"}
            }
        }))
        .unwrap()
    }

    fn running(replicas: i32) -> WorkloadState {
        WorkloadState::of(&WatchedDeployment {
            metadata: Default::default(),
            spec: Some(WatchedDeploymentSpec { replicas: Some(replicas) }),
            status: Some(DeploymentStatus {
                replicas: Some(replicas),
                updated_replicas: Some(replicas),
                ready_replicas: Some(replicas),
                available_replicas: Some(replicas),
                ..Default::default()
            }),
        })
    }

    fn conditions_with(m: &Model, books: &[BookStore], d: &WorkloadState) -> Vec<Desired> {
        let storage = check(m.spec.storage.as_ref(), books);
        let obs = Observed {
            stable: Some(d),
            caps: Capabilities::ALL,
            storage: Some(&storage),
            ..Default::default()
        };
        conditions(m, &decide(&m.spec, &Default::default(), k8s_openapi::jiff::Timestamp::now()), &obs)
    }

    fn find<'a>(c: &'a [Desired], type_: &str) -> &'a Desired {
        c.iter().find(|d| d.type_ == type_).unwrap()
    }

    fn at(url: &str) -> Option<StoreLocation> {
        Some(StoreLocation::of(Some(&serde_json::from_value(serde_json::json!({"url": url})).unwrap())))
    }

    #[test]
    fn a_book_writing_elsewhere_is_reported_and_the_model_is_not_ready() {
        let m = model(false);
        let books = [
            BookStore { name: "fanduel".into(), writes: at("s3://snaps/") },
            BookStore { name: "inhouse".into(), writes: Some(StoreLocation::of(None)) },
        ];
        let c = conditions_with(&m, &books, &running(1));
        let shared = find(&c, STORAGE_SHARED);
        assert_eq!((shared.status, shared.reason), (Status::False, "BookStoreMismatch"));
        assert!(shared.message.contains("\"inhouse\" writes its snapshots to file:///var/lib/nflbet/snapshots on the pod's own emptyDir"), "{}", shared.message);
        assert!(shared.message.contains("the model reads s3://snaps"), "{}", shared.message);
        assert!(!shared.message.contains("\"fanduel\""), "{}", shared.message);
        let ready = find(&c, READY);
        assert_eq!((ready.status, ready.reason), (Status::False, "BookStoreMismatch"));
        assert_eq!(ready.message, shared.message);

        // Fixed: both Ready and StorageShared say so.
        let books = [
            BookStore { name: "fanduel".into(), writes: at("s3://snaps") },
            BookStore { name: "inhouse".into(), writes: at("s3://snaps") },
        ];
        let c = conditions_with(&m, &books, &running(1));
        assert_eq!(
            (find(&c, STORAGE_SHARED).status, find(&c, STORAGE_SHARED).reason),
            (Status::True, "SameStore")
        );
        assert_eq!((find(&c, READY).status, find(&c, READY).reason), (Status::True, "Succeeded"));
    }

    #[test]
    fn a_stopped_model_stays_ready_and_unknown_books_do_not_degrade() {
        let books = [BookStore { name: "inhouse".into(), writes: Some(StoreLocation::of(None)) }];
        let c = conditions_with(&model(true), &books, &running(0));
        assert_eq!(find(&c, READY).reason, "Stopped");
        assert_eq!(find(&c, STORAGE_SHARED).status, Status::False);

        let books = [BookStore { name: "caesars".into(), writes: None }];
        let c = conditions_with(&model(false), &books, &running(1));
        assert_eq!(
            (find(&c, STORAGE_SHARED).status, find(&c, STORAGE_SHARED).reason),
            (Status::Unknown, "BookNotFound")
        );
        assert_eq!(find(&c, READY).reason, "Succeeded");
    }
}
