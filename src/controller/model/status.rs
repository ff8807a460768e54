//! Status step of a Model: conditions from the observed Deployments, the rollout decision and
//! the calibration the workloads report. Pure.

use super::rollout::{Decision, Phase};
use crate::controller::conditions::{self, Desired, MONITORING, READY, Status};
use crate::controller::workload::{Rollout, rollout};
use crate::crd::model::Model;
use crate::monitoring::Capabilities;
use k8s_openapi::api::apps::v1::Deployment;

pub const CALIBRATION_DRIFT: &str = "CalibrationDrift";
pub const ROLLED_BACK: &str = "RolledBack";

#[derive(Debug, Default)]
pub struct Observed<'a> {
    pub stable: Option<&'a Deployment>,
    pub candidate: Option<&'a Deployment>,
    pub caps: Capabilities,
    pub apply_error: Option<String>,
}

pub fn conditions(m: &Model, decision: &Decision, obs: &Observed<'_>) -> Vec<Desired> {
    let spec = &m.spec;
    let mut out =
        conditions::lifecycle(spec.disabled, spec.suspend, "model scaled to 0, alerts removed").to_vec();

    out.push(if obs.caps.prometheus_rules {
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

    let ready = if let Some(err) = &obs.apply_error {
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
    out.push(ready);
    out
}
