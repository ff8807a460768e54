//! The replay gate of a Model's rollout, for real.
//!
//! - `nflbet model … --replay-gate-weeks N`, the built binary, with the flags the operator puts in
//!   the gate Job's two containers (`controller::model::build::gate_args`, only the store and the
//!   games file rewritten to the test's), over snapshots stored through the real
//!   `SnapshotStore` from the closing moneylines of 2023 weeks 1–2 (`replay_snapshots`), settled
//!   with the nflverse games file: a deliberately bad Elo candidate scores a worse Brier than
//!   stable, and a store with nothing settled reports no samples (InsufficientHistory), not a
//!   crash.
//! - On the real control plane: the operator creates the gate Job for a traffic candidate; the
//!   test plays the kubelet (kwok runs no containers): it runs each container's args with the
//!   real binary against the stored snapshots and writes the reports as the containers'
//!   termination messages through the pod's status subresource. A worse candidate is refused
//!   (GateFailed, both figures in status and in the Event, no candidate Deployment); a better
//!   one (the bad override removed) is a new key, a new Job, passes, and its Deployment appears.
//! - An operator upgraded while the gate runs (another `--workload-image`): the same key, so the
//!   same Job name, but another pod template, which the API server refuses to change in place.
//!   The Job is replaced (a new uid, the new image, the old pod deleted with it), the Model stays
//!   `Gating`/`Replaying` with a `Recreated` Event and no error, and the result is the new Job's.

use super::notifications;
use super::replay_snapshots::{slate, write_closing_snapshots};
use crate::support;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::model::build::gate_args;
use nflbet::controller::model::gate;
use nflbet::crd::model::{Model, ReplayGateResult};
use nflbet::domain::games::load_games;
use nflbet::workloads::model::Role;
use nflbet::workloads::model::gate::GateReport;
use nflbet::workloads::model::spec::Deployed;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The bad candidate: Elo that overreacts to every result and believes in a huge home field.
const BAD_OVERRIDES: &str = r#"{"elo": {"kFactor": 100.0, "homeFieldAdvantage": 200.0}}"#;

/// An Elo Model pricing the book "sharp" (moneylines), minSamples 10, with a traffic candidate
/// carrying `overrides`.
fn model_json(name: &str, overrides: Option<Value>) -> Value {
    let mut candidate = json!({"version": "1.1.0", "trafficShare": 0.2});
    if let Some(o) = overrides {
        candidate["overrides"] = o;
    }
    json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": name, "namespace": "betting"},
        "spec": {
            "algorithm": "elo",
            "version": "1.0.0",
            "sportsbooks": {"names": ["sharp"]},
            "markets": ["moneyline"],
            "staking": {"bankroll": 10000.0, "kellyFraction": 0.25},
            "calibration": {"tolerance": 0.01, "minSamples": 10},
            "games": "/var/lib/nflbet/games.csv",
            "storage": {"url": "s3://odds/snapshots"},
            "rollout": {"candidate": candidate, "gate": {"weeks": 4}}
        }
    })
}

/// `args` with the values of `--store` and `--games` replaced by the test's own: the only
/// difference between the pod and this machine.
pub(crate) fn local(args: &[String], store: &str, games: &Path) -> Vec<String> {
    let mut out = args.to_vec();
    for i in 0..out.len().saturating_sub(1) {
        match out[i].as_str() {
            "--store" => out[i + 1] = store.into(),
            "--games" => out[i + 1] = games.display().to_string(),
            _ => {}
        }
    }
    out
}

/// Run `nflbet` with `args` (starting with `model`): its stdout, the report.
fn run_gate(args: &[String]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet")).args(args).output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Stored snapshots of 2023 weeks 1–2 in a fresh file store: (dir, URL).
fn stored_snapshots() -> (tempfile::TempDir, String) {
    let games = load_games(&support::games_file()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(write_closing_snapshots(&url, &slate(&games)));
    (dir, url)
}

fn side_args(m: &Model, role: Role) -> Vec<String> {
    let candidate = m.spec.candidate_parameters().unwrap();
    let (version, parameters) = match role {
        Role::Stable => (m.spec.version.as_str(), m.spec.stable_parameters()),
        Role::Candidate => (m.spec.rollout.as_ref().unwrap().candidate.version.as_str(), &candidate),
    };
    let books = ["sharp".to_string()];
    gate_args(
        m,
        &books,
        Deployed { role, version, traffic_share: 1.0, parameters },
        4,
        &OperatorConfig::default(),
    )
}

#[test]
fn the_gate_command_scores_a_bad_candidate_worse_and_an_empty_window_as_no_history() {
    let (_dir, url) = stored_snapshots();
    let games = support::games_file();
    let m: Model =
        serde_json::from_value(model_json("elo", Some(serde_json::from_str(BAD_OVERRIDES).unwrap())))
            .unwrap();

    let mut reports = Vec::new();
    for role in [Role::Stable, Role::Candidate] {
        let (stdout, stderr, ok) = run_gate(&local(&side_args(&m, role), &url, &games));
        assert!(ok, "{role:?}: {stdout}\n{stderr}");
        let report = GateReport::parse(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        reports.push(report);
    }
    let (stable, candidate) = (&reports[0], &reports[1]);
    assert_eq!((stable.version.as_str(), candidate.version.as_str()), ("1.0.0", "1.1.0"));
    assert_eq!(stable.parameters.as_deref(), Some(m.spec.stable_parameters().fingerprint().as_str()));
    assert_eq!(
        candidate.parameters.as_deref(),
        Some(m.spec.candidate_parameters().unwrap().fingerprint().as_str())
    );
    assert!(stable.samples >= 30, "two weeks of games settled: {stable:?}");
    assert_eq!(stable.samples, candidate.samples, "the same games");
    let (sb, cb) = (stable.brier.unwrap(), candidate.brier.unwrap());
    assert!(
        cb > sb + 0.01,
        "the bad candidate is worse beyond the tolerance: stable {sb:.4}, candidate {cb:.4}"
    );
    // The window ends at the newest snapshot (week 2) and starts 4 weeks before, at midnight.
    assert!(stable.to.as_deref().unwrap().starts_with("2023-09-1"), "{stable:?}");
    assert!(stable.from.as_deref().unwrap().ends_with("T00:00:00Z"), "{stable:?}");

    // The operator's judgement of the two reports.
    let figures = gate::figures;
    let (result, message) = gate::judge(&figures(stable), &figures(candidate), 10, 0.01);
    assert_eq!(result, ReplayGateResult::Failed, "{message}");

    // Nothing stored: no samples, no window, a clean exit; judged as too little history.
    let empty = tempfile::tempdir().unwrap();
    let empty_url = format!("file://{}", empty.path().display());
    let (stdout, stderr, ok) = run_gate(&local(&side_args(&m, Role::Stable), &empty_url, &games));
    assert!(ok, "{stdout}\n{stderr}");
    let report = GateReport::parse(&stdout).unwrap();
    assert_eq!((report.samples, report.brier, report.from.as_deref()), (0, None, None), "{stdout}");
    let (result, _) = gate::judge(&figures(&report), &figures(&report), 10, 0.01);
    assert_eq!(result, ReplayGateResult::InsufficientHistory);
}

/// Play the kubelet for the gate Job `job`: run each container's args with the real binary
/// against the local store and games file, and write the reports as the containers'
/// termination messages (the pod's status subresource), the pod Succeeded.
async fn run_gate_pod(client: &kube::Client, ns: &str, job: &str, store: &str) {
    let pod = gate_pod(client, ns, job).await;
    let name = pod.metadata.name.clone().unwrap();
    let games = support::games_file();
    let mut statuses = Vec::new();
    for c in &pod.spec.as_ref().unwrap().containers {
        let args = local(c.args.as_ref().unwrap(), store, &games);
        let (stdout, stderr, ok) = tokio::task::spawn_blocking(move || run_gate(&args)).await.unwrap();
        assert!(ok, "{}: {stdout}\n{stderr}", c.name);
        statuses.push(json!({
            "name": c.name, "image": c.image, "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": stdout.trim(),
                "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}}
        }));
    }
    let status = json!({"status": {"phase": "Succeeded", "containerStatuses": statuses}});
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

/// The pod of the Job `job` as it is now (by the Job's uid: a Job made again under the same name
/// leaves the old one's pod behind for a moment).
async fn gate_pod(client: &kube::Client, ns: &str, job: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let selector = format!("batch.kubernetes.io/job-name={job}");
    support::wait_for(&format!("the pod of Job {job}"), Duration::from_secs(60), || {
        let (pods, jobs, selector) = (pods.clone(), jobs.clone(), selector.clone());
        async move {
            let uid = jobs.get(job).await.map_err(|e| e.to_string())?.metadata.uid;
            let list =
                pods.list(&ListParams::default().labels(&selector)).await.map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .find(|p| p.metadata.owner_references.iter().flatten().any(|o| Some(&o.uid) == uid.as_ref()))
                .ok_or_else(|| "no pod yet".to_string())
        }
    })
    .await
}

async fn model_status(models: &Api<Model>, phase: &str) -> Model {
    support::wait_for(&format!("rollout phase {phase}"), Duration::from_secs(60), || {
        let models = models.clone();
        async move {
            let m = models.get("elo").await.map_err(|e| e.to_string())?;
            let got = m.status.as_ref().and_then(|s| s.rollout_phase.clone());
            if got.as_deref() == Some(phase) { Ok(m) } else { Err(format!("phase {got:?}")) }
        }
    })
    .await
}

#[tokio::test]
async fn on_the_control_plane_a_worse_candidate_never_starts_and_a_better_one_does() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "replay-gate").await;
    let (_dir, store) = tokio::task::spawn_blocking(stored_snapshots).await.unwrap();
    // A refused rollout is also sent to the AlertRoutes taking operator notices.
    let (base, inbox) = notifications::receiver().await;
    notifications::secret(&client, &ns, "slack-webhook", "url", &format!("{base}/slack")).await;
    notifications::route(
        &client,
        &ns,
        "desk",
        json!({"slack": {"apiURL": {"name": "slack-webhook", "key": "url"}}}),
    )
    .await;
    let _op = support::start_operator(&client, &ns).await;
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    let job_name = create_gating_model(&models, &ns).await;
    let job = jobs.get(&job_name).await.expect("the gate Job");
    let containers = job.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["stable", "candidate"]);
    assert!(deployments.get_opt("nflbet-model-elo-candidate").await.unwrap().is_none());

    run_gate_pod(&client, &ns, &job_name, &store).await;
    let failed = model_status(&models, "GateFailed").await;
    let record = failed.status.unwrap().replay_gate.unwrap();
    assert_eq!(record.result, ReplayGateResult::Failed, "{}", record.message);
    let (stable, candidate) = (record.stable.unwrap(), record.candidate.unwrap());
    assert!(candidate.brier.unwrap() > stable.brier.unwrap() + 0.01, "{}", record.message);
    assert!(stable.samples >= 30 && candidate.samples == stable.samples);
    let event = event_with_reason(&client, &ns, "ReplayGateFailed").await;
    let note = event.message.unwrap_or_default();
    let shown = |v: Option<f64>| format!("{:.4}", v.unwrap());
    assert!(
        note.contains(&shown(stable.brier)) && note.contains(&shown(candidate.brier)),
        "both figures in the Event: {note}"
    );
    let slack =
        support::wait_for("the ModelReplayGateFailed notice on Slack", Duration::from_secs(30), || {
            let got = inbox.0.lock().unwrap().clone();
            async move {
                got.into_iter()
                    .map(|(_, body)| body.to_string())
                    .find(|text| text.contains("ModelReplayGateFailed"))
                    .ok_or_else(|| "no notice yet".to_string())
            }
        })
        .await;
    assert!(slack.contains(&shown(candidate.brier)), "the candidate's figure in the notice: {slack}");
    support::wait_for("the recorded gate's Job deleted", Duration::from_secs(30), || {
        let jobs = jobs.clone();
        let name = job_name.clone();
        async move {
            match jobs.get_opt(&name).await.map_err(|e| e.to_string())? {
                Some(j) if j.metadata.deletion_timestamp.is_none() => Err("still there".to_string()),
                _ => Ok(()),
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(deployments.get_opt("nflbet-model-elo-candidate").await.unwrap().is_none(), "held");

    // The bad override removed: a new key, a new Job; the candidate is stable's equal and passes.
    let patch = json!({"spec": {"rollout": {"candidate": {"overrides": null}}}});
    models.patch("elo", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let regating = model_status(&models, "Gating").await;
    let (new_key, _) = gate::key(&regating.spec).unwrap();
    let new_job = gate::job_name("elo", &new_key);
    assert_ne!(new_job, job_name);
    support::wait_for("the new gate Job", Duration::from_secs(30), || {
        let jobs = jobs.clone();
        let name = new_job.clone();
        async move { jobs.get_opt(&name).await.map_err(|e| e.to_string())?.ok_or_else(|| "none".to_string()) }
    })
    .await;
    run_gate_pod(&client, &ns, &new_job, &store).await;
    let passed = model_status(&models, "Progressing").await;
    assert_eq!(passed.status.unwrap().replay_gate.unwrap().result, ReplayGateResult::Passed);
    support::wait_for("the candidate Deployment", Duration::from_secs(30), || {
        let deployments = deployments.clone();
        async move {
            deployments
                .get_opt("nflbet-model-elo-candidate")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "none".to_string())
        }
    })
    .await;
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn on_the_control_plane_a_gate_job_whose_template_changed_under_the_same_key_is_replaced() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "gate-recreate").await;
    let (_dir, store) = tokio::task::spawn_blocking(stored_snapshots).await.unwrap();
    let op = support::start_operator(&client, &ns).await;
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);

    let job_name = create_gating_model(&models, &ns).await;
    // The gate runs: its Job's pod exists.
    let old_pod = gate_pod(&client, &ns, &job_name).await;
    let old_uid = jobs.get(&job_name).await.unwrap().metadata.uid.unwrap();

    // The operator is upgraded mid-gate: another workload image, the same key.
    op.stop().await.unwrap();
    let image = "example.invalid/nflbet:upgraded";
    let _op = support::start_operator_with(&client, &ns, |a| a.workload_image = Some(image.into())).await;
    let job =
        support::wait_for("the gate Job made again with the new image", Duration::from_secs(60), || {
            let jobs = jobs.clone();
            let (name, old_uid) = (job_name.clone(), old_uid.clone());
            async move {
                let job = jobs.get_opt(&name).await.map_err(|e| e.to_string())?.ok_or("no Job")?;
                let images: Vec<String> = job
                    .spec
                    .as_ref()
                    .unwrap()
                    .template
                    .spec
                    .as_ref()
                    .unwrap()
                    .containers
                    .iter()
                    .map(|c| c.image.clone().unwrap_or_default())
                    .collect();
                match job.metadata.uid.as_deref() {
                    Some(uid) if uid != old_uid && images.iter().all(|i| i == image) => Ok(job),
                    uid => Err(format!("uid {uid:?}, images {images:?}")),
                }
            }
        })
        .await;
    assert_eq!(job.metadata.name.as_deref(), Some(job_name.as_str()), "the same key, the same name");
    // The old pod went with its Job.
    support::wait_for("the old Job's pod deleted", Duration::from_secs(60), || {
        let pods = pods.clone();
        let name = old_pod.metadata.name.clone().unwrap();
        async move {
            match pods.get_opt(&name).await.map_err(|e| e.to_string())? {
                Some(p) if p.metadata.deletion_timestamp.is_none() => Err("still there".to_string()),
                _ => Ok(()),
            }
        }
    })
    .await;
    // The Model is still gating, not stuck in an error, and says what happened.
    let model = support::wait_condition(&models, "elo", "ReplayGate", "Unknown", Some("Replaying")).await;
    assert_eq!(model.status.as_ref().unwrap().rollout_phase.as_deref(), Some("Gating"));
    let ready =
        model.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap();
    assert_ne!(ready.reason, "ReconcileFailed", "{}", ready.message);
    assert!(model.status.unwrap().replay_gate.is_none(), "no result from the old pod");
    let event = event_with_reason(&client, &ns, "Recreated").await;
    let note = event.message.unwrap_or_default();
    assert!(note.contains(&job_name) && note.contains("spec.template"), "{note}");

    // The new Job's pod reports: the gate's result is its.
    run_gate_pod(&client, &ns, &job_name, &store).await;
    let failed = model_status(&models, "GateFailed").await;
    let record = failed.status.unwrap().replay_gate.unwrap();
    assert_eq!((record.result, record.job_name.as_str()), (ReplayGateResult::Failed, job_name.as_str()));
    support::delete_namespace(&client, &ns).await;
}

/// The first Event in `ns` with `reason`, waited for up to 30 s.
async fn event_with_reason(client: &kube::Client, ns: &str, reason: &'static str) -> Event {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    support::wait_for(&format!("the {reason} Event"), Duration::from_secs(30), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
                .ok_or_else(|| "no Event yet".to_string())
        }
    })
    .await
}

/// Model `elo` with the bad candidate overrides, created in `ns` and gating: its gate Job's name.
async fn create_gating_model(models: &Api<Model>, ns: &str) -> String {
    let mut manifest = model_json("elo", Some(serde_json::from_str(BAD_OVERRIDES).unwrap()));
    manifest["metadata"]["namespace"] = json!(ns);
    let m: Model = serde_json::from_value(manifest).unwrap();
    models.create(&PostParams::default(), &m).await.unwrap();
    let gating = model_status(models, "Gating").await;
    let (key, _) = gate::key(&gating.spec).unwrap();
    gate::job_name("elo", &key)
}
