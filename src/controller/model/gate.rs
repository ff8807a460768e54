//! The replay gate of a Model's rollout, pure parts: what is gated (the key), the Job's name, and
//! the result read back from the Job's pod.
//!
//! Before a candidate takes traffic (not in shadow), one Job with two containers replays the
//! stable and the candidate workload's own flags over the last `rollout.gate.weeks` of stored
//! snapshots (`nflbet model … --replay-gate-weeks N`, `crate::replay::gate`); each writes a
//! [`GateReport`] to its termination message. The reconcile lists the Job's pods while it runs
//! and [`read`] turns them into the `status.replayGate` record; `rollout::decide` lets the
//! candidate start only once the record of the current key passed (or found too little history).
//!
//! **The same key, another template.** The Job's name comes from the key alone, but its pod
//! template also carries how the replays run: the workload image, the egress flags, the storage
//! Secret. When that changes while the gate waits for a result (an operator upgrade, a new
//! Secret), the API server refuses to change the Job in place, and the apply layer deletes it
//! with its pod and creates the new one (`crate::controller::children`); the status stays
//! `Replaying`, the Model gets a `Recreated` Event. Only the new Job's pods are read (by its uid,
//! `crate::controller::apply::job_and_pods`): the old pod is killed by the delete, and its exit
//! says nothing about the candidate. A result the old pod had written before it was deleted
//! is not looked for either: the new Job is the gate the operator now runs, and its pod replays
//! the same key in full. A result read *before* the template changed stands, as any recorded
//! result does: the key is what the gate compares (both sides' version, parameters and the
//! images the spec names, the weeks), and both sides ran under the same template, so the
//! comparison was like for like; only a new key, or an error's retry, runs the gate again.

use crate::controller::names;
use crate::crd::model::{ModelSpec, ReplayGateFigures, ReplayGateKey, ReplayGateResult, ReplayGateStatus};
use crate::workloads::model::gate::GateReport;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;
use std::time::Duration;

/// Names of the Job's two containers, one per side.
pub const STABLE_CONTAINER: &str = "stable";
pub const CANDIDATE_CONTAINER: &str = "candidate";

/// The flag that makes `nflbet model` replay instead of serve.
pub const GATE_FLAG: &str = "--replay-gate-weeks";

/// How often a reconcile looks at the Job's pods while it runs.
pub const POLL: Duration = Duration::from_secs(5);
/// When a gate that ended in an error is tried again with the same key.
pub const RETRY_AFTER: Duration = Duration::from_secs(600);
/// The Job's `activeDeadlineSeconds` and `ttlSecondsAfterFinished`.
pub const ACTIVE_DEADLINE: Duration = Duration::from_secs(900);
pub const TTL_AFTER_FINISHED: Duration = Duration::from_secs(3600);
/// The longest message of a failed container kept in status (its log's tail).
const MESSAGE_MAX: usize = 300;

/// The gate the spec asks for: the key (both sides' version, parameters and the images the spec
/// names, the weeks) and the tolerance; `None` when nothing is gated (see
/// `ModelSpec::replay_gate`). The operator's default workload image is not in it: an upgrade
/// changes both sides alike, so a result stands (module docs).
pub fn key(spec: &ModelSpec) -> Option<(ReplayGateKey, f64)> {
    let gate = spec.replay_gate()?;
    let rollout = spec.rollout.as_ref()?;
    let candidate = spec.candidate_parameters()?;
    Some((
        ReplayGateKey {
            stable_version: spec.version.clone(),
            stable_parameters: spec.stable_parameters().fingerprint(),
            stable_image: spec.workload.as_ref().and_then(|w| w.image.clone()),
            candidate_version: rollout.candidate.version.clone(),
            candidate_parameters: candidate.fingerprint(),
            candidate_image: rollout.candidate.image.clone(),
            weeks: gate.weeks as i32,
        },
        gate.tolerance,
    ))
}

/// The name of the Job that gates `key` for Model `model`: 8 hex digits of the SHA-256 of the
/// key's JSON, so a new key gets a new Job.
pub fn job_name(model: &str, key: &ReplayGateKey) -> String {
    let json = serde_json::to_vec(key).expect("a key serialises");
    let digest = ring::digest::digest(&ring::digest::SHA256, &json);
    let hash: String = digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
    names::model::gate_job_name(model, &hash)
}

/// The Event of a gate's result: its type and reason.
pub fn event(result: ReplayGateResult) -> (EventType, &'static str) {
    match result {
        ReplayGateResult::Passed | ReplayGateResult::InsufficientHistory => {
            (EventType::Normal, "ReplayGatePassed")
        }
        ReplayGateResult::Failed => (EventType::Warning, "ReplayGateFailed"),
        ReplayGateResult::Error => (EventType::Warning, "ReplayGateError"),
    }
}

/// The Event's note: what was gated, over which window, and the result's message (both figures).
pub fn event_note(r: &ReplayGateStatus) -> String {
    let k = &r.key;
    let window = match (&r.from, &r.to) {
        (Some(from), Some(to)) => format!(" ({from} to {to})"),
        _ => String::new(),
    };
    format!(
        "replay gate {} for candidate {} ({}) against stable {} ({}) over {} week(s){window}: {}",
        r.result.as_str(),
        k.candidate_version,
        k.candidate_parameters,
        k.stable_version,
        k.stable_parameters,
        k.weeks,
        r.message
    )
}

/// What the gate compares a side's replay with: the version and parameters it must have run.
struct Side<'a> {
    container: &'static str,
    version: &'a str,
    parameters: &'a str,
}

/// One container's report, or why there is none.
fn report_of(side: &Side<'_>, terminated: &ContainerStateTerminated) -> Result<GateReport, String> {
    let message = terminated.message.as_deref().unwrap_or("").trim();
    if terminated.exit_code != 0 {
        let tail: String =
            message.chars().rev().take(MESSAGE_MAX).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!(
            "the {} replay failed (exit code {}){}",
            side.container,
            terminated.exit_code,
            if tail.is_empty() { String::new() } else { format!(": {tail}") }
        ));
    }
    if message.is_empty() {
        return Err(format!("the {} replay ended without a report", side.container));
    }
    let report = GateReport::parse(message)
        .map_err(|e| format!("the {} replay ended without a readable report: {e}", side.container))?;
    if report.version != side.version || report.parameters.as_deref() != Some(side.parameters) {
        return Err(format!(
            "the {} replay reported version {} with parameters {}, not {} with {}",
            side.container,
            report.version,
            report.parameters.as_deref().unwrap_or("(none)"),
            side.version,
            side.parameters
        ));
    }
    Ok(report)
}

/// One side's report as `status.replayGate` records it.
pub fn figures(r: &GateReport) -> ReplayGateFigures {
    ReplayGateFigures {
        version: r.version.clone(),
        parameters: r.parameters.clone().unwrap_or_default(),
        brier: r.brier,
        log_loss: r.log_loss,
        samples: r.samples as i64,
        bets: Some(r.bets as i64),
        roi: r.roi,
    }
}

fn score(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// Both sides' figures, for the message and the Event.
pub fn both_figures(stable: &ReplayGateFigures, candidate: &ReplayGateFigures) -> String {
    let side = |what: &str, f: &ReplayGateFigures| {
        format!(
            "{what} {} Brier {}, log loss {} over {} samples",
            f.version,
            score(f.brier),
            score(f.log_loss),
            f.samples
        )
    };
    format!("{}; {}", side("stable", stable), side("candidate", candidate))
}

/// The gate's judgement of two reports: too little history (either side has fewer than
/// `min_samples` settled forecasts), worse by more than `tolerance` in Brier score or log loss,
/// or passed. The message names both figures.
pub fn judge(
    stable: &ReplayGateFigures,
    candidate: &ReplayGateFigures,
    min_samples: u64,
    tolerance: f64,
) -> (ReplayGateResult, String) {
    let both = both_figures(stable, candidate);
    let enough = |f: &ReplayGateFigures| {
        (f.samples.max(0) as u64) >= min_samples && f.brier.is_some() && f.log_loss.is_some()
    };
    if !enough(stable) || !enough(candidate) {
        return (
            ReplayGateResult::InsufficientHistory,
            format!(
                "too little history to judge ({min_samples} settled forecasts needed): {both}; the rollout starts and the live calibration judges the candidate"
            ),
        );
    }
    let worse = |what: &str, s: Option<f64>, c: Option<f64>| match (s, c) {
        (Some(s), Some(c)) if c > s + tolerance => Some(format!(
            "candidate {} replayed {what} {c:.4} is worse than stable {}'s {s:.4} by more than the tolerance {tolerance}",
            candidate.version, stable.version
        )),
        _ => None,
    };
    match worse("Brier score", stable.brier, candidate.brier)
        .or_else(|| worse("log loss", stable.log_loss, candidate.log_loss))
    {
        Some(why) => (ReplayGateResult::Failed, format!("{why} ({both})")),
        None => (ReplayGateResult::Passed, format!("candidate within the tolerance {tolerance}: {both}")),
    }
}

/// The result of the Job `job_name` gating `key`, from its pods (and the Job, when it failed
/// without a pod to show for it); `None` while it runs. A pod whose both containers ended gives
/// the result; a pod that ended otherwise, a container that failed or left no readable report,
/// or a failed Job gives `Error` with why.
pub fn read(
    key: &ReplayGateKey,
    job_name: &str,
    job: Option<&Job>,
    pods: &[Pod],
    min_samples: u64,
    tolerance: f64,
    now: Time,
) -> Option<ReplayGateStatus> {
    let record = |result, stable, candidate, from, to, message| ReplayGateStatus {
        key: key.clone(),
        result,
        stable,
        candidate,
        from,
        to,
        message,
        job_name: job_name.into(),
        time: Some(now.clone()),
    };
    let error = |message: String| record(ReplayGateResult::Error, None, None, None, None, message);
    let sides = [
        Side {
            container: STABLE_CONTAINER,
            version: &key.stable_version,
            parameters: &key.stable_parameters,
        },
        Side {
            container: CANDIDATE_CONTAINER,
            version: &key.candidate_version,
            parameters: &key.candidate_parameters,
        },
    ];
    // The newest pod first (backoffLimit 0: there is one, unless someone deleted it).
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by(|a, b| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp));
    if let Some(pod) = pods.first() {
        let status = pod.status.as_ref();
        let terminated = |name: &str| {
            status
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.name == name))
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.clone())
        };
        let ended: Vec<Option<ContainerStateTerminated>> =
            sides.iter().map(|s| terminated(s.container)).collect();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        if ended.iter().all(Option::is_some) {
            let reports: Result<Vec<GateReport>, String> = sides
                .iter()
                .zip(&ended)
                .map(|(side, t)| report_of(side, t.as_ref().expect("ended")))
                .collect();
            return Some(match reports {
                Err(message) => error(message),
                Ok(reports) => {
                    let (stable, candidate) = (figures(&reports[0]), figures(&reports[1]));
                    let (result, message) = judge(&stable, &candidate, min_samples, tolerance);
                    let (from, to) = (reports[1].from.clone(), reports[1].to.clone());
                    record(result, Some(stable), Some(candidate), from, to, message)
                }
            });
        }
        if matches!(phase, "Succeeded" | "Failed") {
            let missing: Vec<&str> =
                sides.iter().zip(&ended).filter(|(_, t)| t.is_none()).map(|(s, _)| s.container).collect();
            let reason = status.and_then(|s| s.reason.clone()).map(|r| format!(" ({r})")).unwrap_or_default();
            return Some(error(format!(
                "pod {} ended {phase}{reason} without a report from the {} container",
                pod.metadata.name.as_deref().unwrap_or("?"),
                missing.join(" and ")
            )));
        }
        return None;
    }
    // No pod: the Job may have failed before it made one (a deadline, a refused pod).
    let failed = job
        .and_then(|j| j.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Failed" && c.status == "True"))?;
    Some(error(format!(
        "Job {job_name} failed without a pod: {}{}",
        failed.reason.as_deref().unwrap_or("Failed"),
        failed.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, PodStatus};
    use k8s_openapi::jiff::Timestamp;

    pub fn key() -> ReplayGateKey {
        ReplayGateKey {
            stable_version: "1.0.0".into(),
            stable_parameters: "aaaaaaaaaa".into(),
            candidate_version: "1.1.0".into(),
            candidate_parameters: "bbbbbbbbbb".into(),
            weeks: 4,
            ..ReplayGateKey::default()
        }
    }

    pub fn report(version: &str, parameters: &str, brier: f64, log_loss: f64, samples: u64) -> String {
        serde_json::to_string(&GateReport {
            version: version.into(),
            parameters: Some(parameters.into()),
            brier: Some(brier),
            log_loss: Some(log_loss),
            samples,
            bets: 12,
            roi: Some(0.01),
            from: Some("2024-09-01T00:00:00Z".into()),
            to: Some("2024-09-29T17:00:00Z".into()),
        })
        .unwrap()
    }

    /// A pod of the gate Job, each container terminated with (exit code, message) or running.
    pub fn pod(phase: &str, stable: Option<(i32, &str)>, candidate: Option<(i32, &str)>) -> Pod {
        let status = |name: &str, t: Option<(i32, &str)>| ContainerStatus {
            name: name.into(),
            state: Some(match t {
                Some((exit_code, message)) => ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code,
                        message: Some(message.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                None => ContainerState { running: Some(Default::default()), ..Default::default() },
            }),
            ..Default::default()
        };
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("gate-pod".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(vec![
                    status(STABLE_CONTAINER, stable),
                    status(CANDIDATE_CONTAINER, candidate),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn read_pods(pods: &[Pod]) -> Option<ReplayGateStatus> {
        read(&key(), "job", None, pods, 50, 0.01, Time(Timestamp::now()))
    }

    #[test]
    fn a_worse_candidate_fails_with_both_figures() {
        let (s, c) = (
            report("1.0.0", "aaaaaaaaaa", 0.2100, 0.61, 120),
            report("1.1.0", "bbbbbbbbbb", 0.2450, 0.68, 118),
        );
        let r = read_pods(&[pod("Succeeded", Some((0, &s)), Some((0, &c)))]).unwrap();
        assert_eq!(r.result, ReplayGateResult::Failed);
        assert!(
            r.message.contains("Brier score 0.2450 is worse than stable 1.0.0's 0.2100"),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("stable 1.0.0 Brier 0.2100, log loss 0.6100 over 120 samples"),
            "{}",
            r.message
        );
        assert_eq!((r.stable.unwrap().samples, r.candidate.unwrap().brier), (120, Some(0.245)));
        assert_eq!((r.from.as_deref(), r.job_name.as_str()), (Some("2024-09-01T00:00:00Z"), "job"));
    }

    #[test]
    fn within_the_tolerance_passes_and_log_loss_counts_too() {
        let s = report("1.0.0", "aaaaaaaaaa", 0.2100, 0.61, 120);
        let ok = report("1.1.0", "bbbbbbbbbb", 0.2190, 0.615, 120);
        let r = read_pods(&[pod("Succeeded", Some((0, &s)), Some((0, &ok)))]).unwrap();
        assert_eq!(r.result, ReplayGateResult::Passed, "{}", r.message);
        let lossy = report("1.1.0", "bbbbbbbbbb", 0.2100, 0.65, 120);
        let r = read_pods(&[pod("Succeeded", Some((0, &s)), Some((0, &lossy)))]).unwrap();
        assert_eq!(r.result, ReplayGateResult::Failed);
        assert!(r.message.contains("log loss 0.6500"), "{}", r.message);
    }

    #[test]
    fn too_few_samples_on_either_side_is_insufficient_history() {
        let s = report("1.0.0", "aaaaaaaaaa", 0.2100, 0.61, 49);
        let c = report("1.1.0", "bbbbbbbbbb", 0.3000, 0.90, 200);
        let r = read_pods(&[pod("Succeeded", Some((0, &s)), Some((0, &c)))]).unwrap();
        assert_eq!(r.result, ReplayGateResult::InsufficientHistory);
        assert!(r.message.contains("50 settled forecasts needed"), "{}", r.message);
        assert!(r.result.lets_through());
    }

    #[test]
    fn a_running_pod_has_no_result_yet() {
        let s = report("1.0.0", "aaaaaaaaaa", 0.21, 0.61, 120);
        assert_eq!(read_pods(&[pod("Running", Some((0, &s)), None)]), None);
        assert_eq!(read_pods(&[]), None, "no pod and no failed Job: still starting");
    }

    #[test]
    fn garbage_a_failed_container_or_another_side_s_report_is_an_error_saying_why() {
        let s = report("1.0.0", "aaaaaaaaaa", 0.21, 0.61, 120);
        let error = |pods: &[Pod]| {
            let r = read_pods(pods).unwrap();
            assert_eq!(r.result, ReplayGateResult::Error);
            assert!(r.stable.is_none() && r.candidate.is_none());
            r.message
        };
        let m = error(&[pod("Succeeded", Some((0, &s)), Some((0, "Segmentation fault")))]);
        assert!(m.starts_with("the candidate replay ended without a readable report: "), "{m}");
        let m = error(&[pod("Failed", Some((0, &s)), Some((1, "error: snapshot store: access denied")))]);
        assert_eq!(m, "the candidate replay failed (exit code 1): error: snapshot store: access denied");
        let m = error(&[pod("Succeeded", Some((0, "")), Some((0, &s)))]);
        assert_eq!(m, "the stable replay ended without a report");
        // The stable report where the candidate's belongs: not a comparison of the two.
        let m = error(&[pod("Succeeded", Some((0, &s)), Some((0, &s)))]);
        assert!(m.contains("the candidate replay reported version 1.0.0 with parameters aaaaaaaaaa, not 1.1.0 with bbbbbbbbbb"), "{m}");
        // Marked Succeeded with no container state (a kubelet that never ran it).
        let mut bare = pod("Succeeded", None, None);
        bare.status.as_mut().unwrap().container_statuses = None;
        let m = error(&[bare]);
        assert_eq!(
            m,
            "pod gate-pod ended Succeeded without a report from the stable and candidate container"
        );
    }

    #[test]
    fn a_job_that_failed_without_a_pod_is_an_error() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "job"},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}
        }))
        .unwrap();
        let r = read(&key(), "job", Some(&job), &[], 50, 0.01, Time(Timestamp::now())).unwrap();
        assert_eq!(r.result, ReplayGateResult::Error);
        assert_eq!(
            r.message,
            "Job job failed without a pod: DeadlineExceeded: Job was active longer than specified deadline"
        );
    }

    #[test]
    fn a_new_key_is_a_new_job_name_within_63_characters() {
        let mut other = key();
        other.weeks = 5;
        let (a, b) = (job_name("elo", &key()), job_name("elo", &other));
        assert!(
            a.starts_with("nflbet-model-elo-gate-") && a.len() == "nflbet-model-elo-gate-".len() + 8,
            "{a}"
        );
        assert_ne!(a, b);
        let long = job_name(&"m".repeat(253), &key());
        assert!(names::is_dns_label(&long) && long.ends_with(&a["nflbet-model-elo".len()..]), "{long}");
    }
}
