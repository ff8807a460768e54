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

use crate::crd::model::{CalibrationScore, ModelSpec, ModelStatus, RollbackRecord};

/// Whether `score` was earned by `version` with the parameters of fingerprint `parameters`. A
/// score without a fingerprint (a workload built before parameter rollouts) counts by version.
pub fn scored_by(score: &CalibrationScore, version: &str, parameters: &str) -> bool {
    score.version == version && score.parameters.as_deref().is_none_or(|p| p == parameters)
}

/// Rollout phase as written to `status.rolloutPhase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Stable,
    Progressing,
    Shadow,
    Paused,
    RolledBack,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stable => "Stable",
            Phase::Progressing => "Progressing",
            Phase::Shadow => "Shadow",
            Phase::Paused => "Paused",
            Phase::RolledBack => "RolledBack",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub phase: Phase,
    /// Run the candidate Deployment.
    pub run_candidate: bool,
    /// The rollback in force (new or held from an earlier reconcile).
    pub rollback: Option<RollbackRecord>,
    /// True when `rollback` was decided just now (publish an Event, notify).
    pub newly_rolled_back: bool,
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

pub fn decide(spec: &ModelSpec, status: &ModelStatus) -> Decision {
    let Some(rollout) = &spec.rollout else {
        return Decision {
            phase: Phase::Stable,
            run_candidate: false,
            rollback: None,
            newly_rolled_back: false,
        };
    };
    let version = &rollout.candidate.version;
    let parameters = spec.candidate_parameters().map(|p| p.fingerprint()).unwrap_or_default();
    // A rollback recorded before parameter rollouts names no parameters: it holds by version.
    if let Some(rb) = status.rollback.as_ref().filter(|rb| {
        &rb.candidate_version == version && rb.candidate_parameters.as_ref().is_none_or(|p| p == &parameters)
    }) {
        return Decision {
            phase: Phase::RolledBack,
            run_candidate: false,
            rollback: Some(rb.clone()),
            newly_rolled_back: false,
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
            run_candidate: false,
            rollback: Some(RollbackRecord {
                candidate_version: version.clone(),
                candidate_parameters: Some(parameters),
                reason,
                time: None,
            }),
            newly_rolled_back: true,
        };
    }
    let phase = if rollout.paused {
        Phase::Paused
    } else if rollout.candidate.shadow.unwrap_or(false) {
        Phase::Shadow
    } else {
        Phase::Progressing
    };
    Decision { phase, run_candidate: true, rollback: None, newly_rolled_back: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::model::CalibrationReport;

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
        let d = decide(&spec(""), &ModelStatus::default());
        assert_eq!((d.phase, d.run_candidate), (Phase::Stable, false));
    }

    #[test]
    fn candidate_runs_until_it_has_enough_samples() {
        let s = spec("rollout: {candidate: {version: 1.1.0, trafficShare: 0.2}}");
        let d = decide(&s, &status(None, Some(score("1.1.0", 0.30, 0.80, 49))));
        assert_eq!((d.phase, d.run_candidate), (Phase::Progressing, true));
    }

    #[test]
    fn worse_candidate_is_rolled_back_against_the_stable_version() {
        let s = spec("rollout: {candidate: {version: 1.1.0}}");
        let st = status(Some(score("1.0.0", 0.200, 0.60, 80)), Some(score("1.1.0", 0.215, 0.60, 60)));
        let d = decide(&s, &st);
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
        assert_eq!(decide(&s, &ok).phase, Phase::Progressing);
        let bad = status(Some(score("1.0.0", 0.10, 0.5, 5)), Some(score("1.1.0", 0.221, 0.65, 60)));
        let d = decide(&s, &bad);
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
        let d = decide(&s, &st);
        assert_eq!((d.phase, d.run_candidate, d.newly_rolled_back), (Phase::RolledBack, false, false));
        let rearmed = spec("rollout: {candidate: {version: 1.1.1}}");
        assert_eq!(decide(&rearmed, &st).phase, Phase::Progressing);
    }

    #[test]
    fn calibration_of_another_candidate_version_is_ignored_and_manual_mode_never_rolls_back() {
        let s = spec("rollout: {candidate: {version: 1.2.0}}");
        let st = status(None, Some(score("1.1.0", 0.40, 0.9, 500)));
        assert_eq!(decide(&s, &st).phase, Phase::Progressing);
        let manual =
            spec("rollout: {candidate: {version: 1.1.0}, paused: true}\nrollback: {automatic: false}");
        assert_eq!(decide(&manual, &st).phase, Phase::Paused);
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
        assert_eq!(decide(&s, &stale).phase, Phase::Progressing);
        // Its own: rolled back, against stable's own score; the record names the parameters.
        let own = status(
            Some(labelled(score("1.0.0", 0.200, 0.60, 80), &stable)),
            Some(labelled(score("1.1.0", 0.215, 0.60, 60), &candidate)),
        );
        let d = decide(&s, &own);
        let rb = d.rollback.unwrap();
        assert_eq!(rb.candidate_parameters.as_deref(), Some(candidate.as_str()));
        assert!(rb.reason.contains("worse than stable 1.0.0 (0.2000)"), "{}", rb.reason);
        // Stable's score of other parameters is no reference: the baseline (0.22) is, and
        // 0.215 is within it.
        let other_stable = status(
            Some(labelled(score("1.0.0", 0.200, 0.60, 80), "0000000000")),
            Some(labelled(score("1.1.0", 0.215, 0.60, 60), &candidate)),
        );
        assert_eq!(decide(&s, &other_stable).phase, Phase::Progressing);
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
        let d = decide(&s, &st);
        assert_eq!((d.phase, d.run_candidate, d.newly_rolled_back), (Phase::RolledBack, false, false));
        let retuned = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 24}}}}");
        let d = decide(&retuned, &st);
        assert_eq!((d.phase, d.run_candidate, d.rollback), (Phase::Progressing, true, None));
    }
}
