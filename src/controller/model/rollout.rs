//! Rollout decisions for a Model: which versions run, and whether a candidate is rolled back.
//! Pure: spec + reported calibration in, decision out.
//!
//! A candidate is judged only on the calibration of its own version and parameters (the
//! fingerprint its workload labels the score with) with at least `minSamples` settled bets. It
//! is compared with the stable version when the stable version, with the spec's parameters, has
//! enough samples itself, otherwise with the baselines in the spec. Worse by more than
//! `tolerance` in Brier score or log loss means rollback. The rollback holds (the candidate
//! stays stopped) until a person changes `rollout.candidate.version` or its overrides, or
//! removes the rollout.
//!
//! Before a candidate takes traffic it passes the replay gate (`super::gate`): until
//! `status.replayGate` holds a result for the current key (both sides' version and parameters,
//! the weeks) the phase is `Gating`, the candidate does not run and the gate Job is wanted. A
//! `Failed` result holds the candidate stopped (`GateFailed`) until the key changes; an `Error`
//! holds it until the key changes or 10 minutes have passed, then the gate runs again.

use super::gate;
use crate::crd::model::{
    CalibrationScore, ModelSpec, ModelStatus, ReplayGateKey, ReplayGateResult, ReplayGateStatus,
    RollbackRecord,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// Whether `score` was earned by `version` with the parameters of fingerprint `parameters`. A
/// score without a fingerprint (a workload built before parameter rollouts) counts by version.
pub fn scored_by(score: &CalibrationScore, version: &str, parameters: &str) -> bool {
    score.version == version && score.parameters.as_deref().is_none_or(|p| p == parameters)
}

/// Rollout phase as written to `status.rolloutPhase`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Stable,
    /// The replay gate runs (or waits to run again after an error); the candidate does not.
    Gating,
    Progressing,
    Shadow,
    Paused,
    /// The replay gate found the candidate worse; it does not start until its key changes.
    GateFailed,
    RolledBack,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stable => "Stable",
            Phase::Gating => "Gating",
            Phase::Progressing => "Progressing",
            Phase::Shadow => "Shadow",
            Phase::Paused => "Paused",
            Phase::GateFailed => "GateFailed",
            Phase::RolledBack => "RolledBack",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub phase: Phase,
    /// Run the candidate Deployment.
    pub run_candidate: bool,
    /// The rollback in force (new or held from an earlier reconcile).
    pub rollback: Option<RollbackRecord>,
    /// True when `rollback` was decided just now (publish an Event, notify).
    pub newly_rolled_back: bool,
    /// `status.replayGate`: the last gate's record (of the current key or, while a new key is
    /// gated, of the previous one).
    pub gate: Option<ReplayGateStatus>,
    /// The gate Job must run for this key (no result for it yet, or an error due for a retry).
    pub gate_job: Option<ReplayGateKey>,
    /// True when `gate` was read from the Job just now (publish an Event).
    pub newly_gated: bool,
    /// Reconcile again this soon (the gate Job's pods are polled; an error is retried).
    pub requeue: Option<Duration>,
}

/// Why a candidate is worse, or `None` when it is not (or cannot be judged yet).
pub fn worse_than_reference(
    spec: &ModelSpec,
    status: &ModelStatus,
    candidate: &CalibrationScore,
) -> Option<String> {
    let cal = spec.calibration();
    if (candidate.samples.max(0) as u64) < cal.min_samples {
        return None;
    }
    let fingerprint = spec.stable_parameters().fingerprint();
    let stable = status.calibration.as_ref().and_then(|c| c.stable.as_ref()).filter(|s| {
        scored_by(s, &spec.version, &fingerprint) && (s.samples.max(0) as u64) >= cal.min_samples
    });
    let (what, brier, log_loss) = match stable {
        Some(s) => (format!("stable {}", s.version), Some(s.brier), Some(s.log_loss)),
        None => ("the baseline".to_string(), cal.baseline_brier, cal.baseline_log_loss),
    };
    let t = cal.tolerance;
    if let Some(b) = brier
        && candidate.brier > b + t
    {
        return Some(format!(
            "candidate {} Brier score {:.4} is worse than {what} ({b:.4}) by more than the tolerance {t} over {} samples",
            candidate.version, candidate.brier, candidate.samples
        ));
    }
    if let Some(l) = log_loss
        && candidate.log_loss > l + t
    {
        return Some(format!(
            "candidate {} log loss {:.4} is worse than {what} ({l:.4}) by more than the tolerance {t} over {} samples",
            candidate.version, candidate.log_loss, candidate.samples
        ));
    }
    None
}

/// The rollout decision for `spec` given what `status` reports, at `now` (when an errored gate
/// is due again).
pub fn decide(spec: &ModelSpec, status: &ModelStatus, now: Timestamp) -> Decision {
    let Some(rollout) = &spec.rollout else {
        return Decision::default();
    };
    let held_gate = status.replay_gate.clone();
    let version = &rollout.candidate.version;
    let parameters = spec.candidate_parameters().map(|p| p.fingerprint()).unwrap_or_default();
    // A rollback recorded before parameter rollouts names no parameters: it holds by version.
    if let Some(rb) = status.rollback.as_ref().filter(|rb| {
        &rb.candidate_version == version && rb.candidate_parameters.as_ref().is_none_or(|p| p == &parameters)
    }) {
        return Decision {
            phase: Phase::RolledBack,
            rollback: Some(rb.clone()),
            gate: held_gate,
            ..Decision::default()
        };
    }
    if spec.automatic_rollback()
        && let Some(candidate) = status
            .calibration
            .as_ref()
            .and_then(|c| c.candidate.as_ref())
            .filter(|c| scored_by(c, version, &parameters))
        && let Some(reason) = worse_than_reference(spec, status, candidate)
    {
        return Decision {
            phase: Phase::RolledBack,
            rollback: Some(RollbackRecord {
                candidate_version: version.clone(),
                candidate_parameters: Some(parameters),
                reason,
                time: None,
            }),
            newly_rolled_back: true,
            gate: held_gate,
            ..Decision::default()
        };
    }
    let gating = Decision { phase: Phase::Gating, gate: held_gate.clone(), ..Decision::default() };
    let mut passed = None;
    if let Some((key, _)) = gate::key(spec) {
        let record = held_gate.as_ref().filter(|r| r.key == key);
        match record.map(|r| (r.result, r.time.as_ref())) {
            None => return Decision { gate_job: Some(key), requeue: Some(gate::POLL), ..gating },
            Some((ReplayGateResult::Failed, _)) => {
                return Decision { phase: Phase::GateFailed, ..gating };
            }
            Some((ReplayGateResult::Error, time)) => {
                let since = time.map_or(SignedDuration::MAX, |t| now.duration_since(t.0));
                let wait = SignedDuration::try_from(gate::RETRY_AFTER).unwrap_or(SignedDuration::MAX) - since;
                return match Duration::try_from(wait) {
                    Ok(left) if !left.is_zero() => Decision { requeue: Some(left), ..gating },
                    _ => Decision { gate_job: Some(key), requeue: Some(gate::POLL), ..gating },
                };
            }
            Some((ReplayGateResult::Passed | ReplayGateResult::InsufficientHistory, _)) => {
                passed = record.cloned()
            }
        }
    }
    let phase = if rollout.paused {
        Phase::Paused
    } else if rollout.candidate.shadow.unwrap_or(false) {
        Phase::Shadow
    } else {
        Phase::Progressing
    };
    // A shadow candidate (or an ungated one) keeps the last gate's record for the record.
    Decision { phase, run_candidate: true, gate: passed.or(held_gate), ..Decision::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::model::CalibrationReport;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// The decision once the replay gate of `s`'s current key passed: the tests of the rollback
    /// by live calibration.
    fn passed(s: &ModelSpec, st: &ModelStatus) -> Decision {
        let mut st = st.clone();
        st.replay_gate = gate::key(s).map(|(key, _)| record(key, ReplayGateResult::Passed, None));
        decide(s, &st, Timestamp::now())
    }

    fn record(key: ReplayGateKey, result: ReplayGateResult, time: Option<Timestamp>) -> ReplayGateStatus {
        ReplayGateStatus {
            key,
            result,
            stable: None,
            candidate: None,
            from: None,
            to: None,
            message: format!("{result:?}"),
            job_name: "nflbet-model-elo-gate-01234567".into(),
            time: time.map(Time),
        }
    }

    fn spec(extra: &str) -> ModelSpec {
        serde_saphyr::from_str(&format!(
            "algorithm: elo\nversion: 1.0.0\nsportsbooks: {{names: [fanduel]}}\nstaking: {{bankroll: 1000, kellyFraction: 0.25}}\ncalibration: {{baselineBrier: 0.22, baselineLogLoss: 0.63, tolerance: 0.01, minSamples: 50}}\n{extra}"
        ))
        .unwrap()
    }

    fn score(version: &str, brier: f64, log_loss: f64, samples: i64) -> CalibrationScore {
        CalibrationScore { version: version.into(), parameters: None, brier, log_loss, samples }
    }

    fn status(stable: Option<CalibrationScore>, candidate: Option<CalibrationScore>) -> ModelStatus {
        ModelStatus { calibration: Some(CalibrationReport { stable, candidate }), ..ModelStatus::default() }
    }

    #[test]
    fn no_rollout_is_stable() {
        let d = passed(&spec(""), &ModelStatus::default());
        assert_eq!((d.phase, d.run_candidate), (Phase::Stable, false));
    }

    #[test]
    fn candidate_runs_until_it_has_enough_samples() {
        let s = spec("rollout: {candidate: {version: 1.1.0, trafficShare: 0.2}}");
        let d = passed(&s, &status(None, Some(score("1.1.0", 0.30, 0.80, 49))));
        assert_eq!((d.phase, d.run_candidate), (Phase::Progressing, true));
    }

    #[test]
    fn worse_candidate_is_rolled_back_against_the_stable_version() {
        let s = spec("rollout: {candidate: {version: 1.1.0}}");
        let st = status(Some(score("1.0.0", 0.200, 0.60, 80)), Some(score("1.1.0", 0.215, 0.60, 60)));
        let d = passed(&s, &st);
        assert_eq!(d.phase, Phase::RolledBack);
        assert!(!d.run_candidate && d.newly_rolled_back);
        let reason = d.rollback.unwrap().reason;
        assert!(reason.contains("Brier score 0.2150 is worse than stable 1.0.0 (0.2000)"), "{reason}");
    }

    #[test]
    fn without_a_judged_stable_version_the_baseline_is_the_reference() {
        let s = spec("rollout: {candidate: {version: 1.1.0}}");
        // Stable has too few samples: compare with baseline 0.22 (+0.01).
        let ok = status(Some(score("1.0.0", 0.10, 0.5, 5)), Some(score("1.1.0", 0.225, 0.62, 60)));
        assert_eq!(passed(&s, &ok).phase, Phase::Progressing);
        let bad = status(Some(score("1.0.0", 0.10, 0.5, 5)), Some(score("1.1.0", 0.221, 0.65, 60)));
        let d = passed(&s, &bad);
        assert!(d.rollback.unwrap().reason.contains("log loss 0.6500 is worse than the baseline (0.6300)"));
    }

    #[test]
    fn rollback_holds_until_the_candidate_version_changes() {
        let s = spec("rollout: {candidate: {version: 1.1.0}}");
        let mut st = status(None, None);
        st.rollback = Some(RollbackRecord {
            candidate_version: "1.1.0".into(),
            reason: "r".into(),
            ..Default::default()
        });
        let d = passed(&s, &st);
        assert_eq!((d.phase, d.run_candidate, d.newly_rolled_back), (Phase::RolledBack, false, false));
        // A rollback comes before the gate: no gate Job for a rolled-back candidate.
        let d = decide(&s, &st, Timestamp::now());
        assert_eq!((d.phase, d.gate_job), (Phase::RolledBack, None));
        let rearmed = spec("rollout: {candidate: {version: 1.1.1}}");
        assert_eq!(passed(&rearmed, &st).phase, Phase::Progressing);
    }

    #[test]
    fn calibration_of_another_candidate_version_is_ignored_and_manual_mode_never_rolls_back() {
        let s = spec("rollout: {candidate: {version: 1.2.0}}");
        let st = status(None, Some(score("1.1.0", 0.40, 0.9, 500)));
        assert_eq!(passed(&s, &st).phase, Phase::Progressing);
        let manual =
            spec("rollout: {candidate: {version: 1.1.0}, paused: true}\nrollback: {automatic: false}");
        assert_eq!(passed(&manual, &st).phase, Phase::Paused);
    }

    fn labelled(mut score: CalibrationScore, parameters: &str) -> CalibrationScore {
        score.parameters = Some(parameters.into());
        score
    }

    #[test]
    fn only_scores_of_the_running_parameters_are_compared() {
        let s = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 32}}}}");
        let (stable, candidate) =
            (s.stable_parameters().fingerprint(), s.candidate_parameters().unwrap().fingerprint());
        // The candidate's score was earned by other parameters (say kFactor 40): not judged.
        let stale = status(None, Some(labelled(score("1.1.0", 0.40, 0.9, 500), "0000000000")));
        assert_eq!(passed(&s, &stale).phase, Phase::Progressing);
        // Its own: rolled back, against stable's own score; the record names the parameters.
        let own = status(
            Some(labelled(score("1.0.0", 0.200, 0.60, 80), &stable)),
            Some(labelled(score("1.1.0", 0.215, 0.60, 60), &candidate)),
        );
        let d = passed(&s, &own);
        let rb = d.rollback.unwrap();
        assert_eq!(rb.candidate_parameters.as_deref(), Some(candidate.as_str()));
        assert!(rb.reason.contains("worse than stable 1.0.0 (0.2000)"), "{}", rb.reason);
        // Stable's score of other parameters is no reference: the baseline (0.22) is, and
        // 0.215 is within it.
        let other_stable = status(
            Some(labelled(score("1.0.0", 0.200, 0.60, 80), "0000000000")),
            Some(labelled(score("1.1.0", 0.215, 0.60, 60), &candidate)),
        );
        assert_eq!(passed(&s, &other_stable).phase, Phase::Progressing);
    }

    #[test]
    fn a_rollback_holds_until_the_candidate_s_parameters_change() {
        let s = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 32}}}}");
        let mut st = status(None, None);
        st.rollback = Some(RollbackRecord {
            candidate_version: "1.1.0".into(),
            candidate_parameters: Some(s.candidate_parameters().unwrap().fingerprint()),
            reason: "r".into(),
            time: None,
        });
        let d = passed(&s, &st);
        assert_eq!((d.phase, d.run_candidate, d.newly_rolled_back), (Phase::RolledBack, false, false));
        let retuned = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 24}}}}");
        let d = passed(&retuned, &st);
        assert_eq!((d.phase, d.run_candidate, d.rollback), (Phase::Progressing, true, None));
    }

    fn at(s: &ModelSpec, st: &ModelStatus, now: Timestamp) -> Decision {
        decide(s, st, now)
    }

    #[test]
    fn a_traffic_candidate_waits_for_the_gate_and_a_shadow_or_ungated_one_does_not() {
        let s = spec("rollout: {candidate: {version: 1.1.0, trafficShare: 0.2}}");
        let d = at(&s, &ModelStatus::default(), Timestamp::now());
        assert_eq!((d.phase, d.run_candidate), (Phase::Gating, false));
        let (key, tolerance) = gate::key(&s).unwrap();
        assert_eq!(d.gate_job.as_ref(), Some(&key));
        assert_eq!((key.weeks, tolerance), (4, 0.01), "the defaults: 4 weeks, the calibration tolerance");
        assert_eq!(d.requeue, Some(gate::POLL));
        for ungated in [
            "rollout: {candidate: {version: 1.1.0, shadow: true}}",
            "rollout: {candidate: {version: 1.1.0, trafficShare: 0.2}, gate: {enabled: false}}",
        ] {
            let d = at(&spec(ungated), &ModelStatus::default(), Timestamp::now());
            assert!(d.run_candidate && d.gate_job.is_none() && d.requeue.is_none(), "{ungated}: {d:?}");
        }
    }

    #[test]
    fn passed_or_insufficient_history_starts_the_rollout() {
        let s = spec(
            "rollout: {candidate: {version: 1.1.0, trafficShare: 0.2}, gate: {weeks: 6, tolerance: 0.02}}",
        );
        let (key, tolerance) = gate::key(&s).unwrap();
        assert_eq!((key.weeks, tolerance), (6, 0.02));
        for result in [ReplayGateResult::Passed, ReplayGateResult::InsufficientHistory] {
            let st =
                ModelStatus { replay_gate: Some(record(key.clone(), result, None)), ..Default::default() };
            let d = at(&s, &st, Timestamp::now());
            assert_eq!(
                (d.phase, d.run_candidate, d.gate_job),
                (Phase::Progressing, true, None),
                "{result:?}"
            );
            assert_eq!(d.gate.unwrap().result, result, "the record stays in status");
        }
    }

    #[test]
    fn a_failed_gate_holds_until_the_key_changes() {
        let s = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 90}}}}");
        let (key, _) = gate::key(&s).unwrap();
        let st = ModelStatus {
            replay_gate: Some(record(key, ReplayGateResult::Failed, Some(Timestamp::UNIX_EPOCH))),
            ..Default::default()
        };
        let d = at(&s, &st, Timestamp::now());
        assert_eq!((d.phase, d.run_candidate, d.gate_job.is_none()), (Phase::GateFailed, false, true));
        assert_eq!(d.requeue, None, "however long ago: a failure waits for a change");
        // New candidate parameters, a new candidate version or image, or other weeks: a new key,
        // gated again.
        for changed in [
            "rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 24}}}}",
            "rollout: {candidate: {version: 1.1.1, overrides: {elo: {kFactor: 90}}}}",
            "rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 90}}}, gate: {weeks: 8}}",
            "rollout: {candidate: {version: 1.1.0, image: 'registry.example/nflbet:1.1.0-rc2', overrides: {elo: {kFactor: 90}}}}",
        ] {
            let d = at(&spec(changed), &st, Timestamp::now());
            assert_eq!(d.phase, Phase::Gating, "{changed}");
            assert!(d.gate_job.is_some() && !d.run_candidate);
            assert_eq!(
                d.gate.unwrap().result,
                ReplayGateResult::Failed,
                "the old record stays until the new one"
            );
        }
        let mut other_stable = s.clone();
        other_stable.version = "1.0.1".into();
        assert_eq!(at(&other_stable, &st, Timestamp::now()).phase, Phase::Gating);
        // The stable side's own image is the code it replays with, too.
        let mut stable_image = s.clone();
        stable_image.workload.get_or_insert_default().image = Some("registry.example/nflbet:1.0.0-p1".into());
        assert_eq!(at(&stable_image, &st, Timestamp::now()).phase, Phase::Gating);
    }

    #[test]
    fn an_error_holds_for_ten_minutes_then_runs_the_gate_again() {
        let s = spec("rollout: {candidate: {version: 1.1.0}}");
        let (key, _) = gate::key(&s).unwrap();
        let then = Timestamp::now();
        let st = ModelStatus {
            replay_gate: Some(record(key.clone(), ReplayGateResult::Error, Some(then))),
            ..Default::default()
        };
        let minutes = |m: i64| then + SignedDuration::from_mins(m);
        let d = at(&s, &st, minutes(3));
        assert_eq!((d.phase, d.run_candidate, d.gate_job.is_none()), (Phase::Gating, false, true));
        assert_eq!(d.requeue, Some(Duration::from_secs(7 * 60)), "woken when it is due");
        let d = at(&s, &st, minutes(10));
        assert_eq!((d.phase, d.gate_job), (Phase::Gating, Some(key)));
        assert_eq!(d.requeue, Some(gate::POLL));
        // A changed key does not wait.
        let d = at(&spec("rollout: {candidate: {version: 1.1.1}}"), &st, minutes(1));
        assert!(d.gate_job.is_some());
    }
}
