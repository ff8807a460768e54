//! The Model's steps of the reconcile pipeline (`super::driver`).
//!
//! - read: the Sportsbooks it prices (from the Sportsbook controller's cache) and where each
//!   writes, the ServiceAccount the spec names; then the rollout decision (`rollout`, pure, from
//!   the calibration the workloads reported);
//! - validate and build (`build`, pure): the pod policy, then RBAC, the stable and candidate
//!   Deployments, Service, ServiceMonitor and PrometheusRule (`alerts`);
//! - status (`status`, pure): rollout, calibration drift, storage, as conditions; an Event and a
//!   notification when a candidate is rolled back or refused by its replay gate.

pub mod alerts;
pub mod build;
pub mod gate;
pub mod rollout;
pub mod status;
pub mod storage;

use super::apply::{self, ApplyError};
use super::children::{ChildKind, ChildSet};
use super::conditions::{MONITORING, READY, STOPPED, SUSPENDED};
use super::config::OperatorConfig;
use super::context::Context;
use super::driver::{Observed, Outcome, Reconciled, SpecError, StatusUpdate};
use super::pod_policy;
use super::snapshot_store::StoreLocation;
use crate::crd::Sportsbook;
use crate::crd::condition::Condition;
use crate::crd::model::{Model, ReplayGateResult, ReplayGateStatus, RollbackRecord};
use crate::monitoring::Capabilities;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use serde::Serialize;
use std::collections::BTreeMap;

pub const CONTROLLER: &str = "model";

/// The children the Model controller makes and watches: a workload's, and the replay gate's Job.
pub const CHILDREN: &[ChildKind] = &[
    ChildKind::Deployment,
    ChildKind::Service,
    ChildKind::ServiceAccount,
    ChildKind::Role,
    ChildKind::RoleBinding,
    ChildKind::PrometheusRule,
    ChildKind::ServiceMonitor,
    ChildKind::Job,
];

/// What the read step found.
pub struct Inputs {
    /// The books priced, by name, sorted.
    books: Vec<String>,
    storage: storage::StorageCheck,
    decision: rollout::Decision,
    /// The ServiceAccount the spec names, when it names one and it exists.
    account: Option<ServiceAccount>,
}

/// Status fields the operator owns besides `observedGeneration` and `conditions` (calibration
/// and summary belong to the workloads).
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_parameters: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_parameters: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout_phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback: Option<RollbackRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_gate: Option<ReplayGateStatus>,
}

/// The Sportsbooks `m` prices (the listed names plus those matching the selector, sorted), with
/// where each writes its snapshots, from the Sportsbook controller's cache. A listed book that
/// does not exist (yet) is priced as soon as it does; until then where it writes is unknown, as
/// it is for a book that cannot be read.
pub fn resolve_books(
    m: &Model,
    sportsbooks: &[std::sync::Arc<DeserializeGuard<Sportsbook>>],
) -> Vec<storage::BookStore> {
    let ns = m.namespace();
    let selector = m.spec.sportsbooks.selector.as_ref().map(|s| &s.match_labels);
    let mut books: BTreeMap<String, Option<StoreLocation>> = BTreeMap::new();
    for guard in sportsbooks {
        let (name, namespace, labels) = match &guard.0 {
            Ok(sb) => (sb.name_any(), sb.namespace(), sb.labels().clone()),
            Err(invalid) => (
                invalid.metadata.name.clone().unwrap_or_default(),
                invalid.metadata.namespace.clone(),
                invalid.metadata.labels.clone().unwrap_or_default(),
            ),
        };
        if namespace != ns {
            continue;
        }
        let selected = selector.is_some_and(|want| want.iter().all(|(k, v)| labels.get(k) == Some(v)));
        if selected || m.spec.sportsbooks.names.contains(&name) {
            let writes = guard.0.as_ref().ok().map(|sb| StoreLocation::of(sb.spec.storage.as_deref()));
            books.insert(name, writes);
        }
    }
    for name in &m.spec.sportsbooks.names {
        books.entry(name.clone()).or_insert(None);
    }
    books.into_iter().map(|(name, writes)| storage::BookStore { name, writes }).collect()
}

impl Reconciled for Model {
    const CONTROLLER: &'static str = CONTROLLER;
    const CONDITIONS: &'static [&'static str] = &[
        READY,
        STOPPED,
        SUSPENDED,
        MONITORING,
        status::ROLLED_BACK,
        status::CALIBRATION_DRIFT,
        status::STORAGE_SHARED,
        status::REPLAY_GATE,
    ];
    type Inputs = Inputs;
    type Fields = Fields;

    async fn read(&self, ctx: &Context) -> Result<Inputs, ApplyError> {
        let caches = ctx.caches();
        // Before the Sportsbook cache has listed, every book would look missing.
        caches.sportsbooks_listed().await;
        let books = resolve_books(self, &caches.sportsbooks.state());
        let storage = storage::check(self.spec.storage.as_ref(), &books);
        let mut status = self.status.clone().unwrap_or_default();
        let now = Timestamp::now();
        let mut decision = rollout::decide(&self.spec, &status, now);
        // The replay gate runs: read its pods; a result decides again.
        if let Some(key) = decision.gate_job.clone()
            && let Some((_, tolerance)) = gate::key(&self.spec)
        {
            let ns = self.namespace().unwrap_or_default();
            let job_name = gate::job_name(&self.name_any(), &key);
            if let Some((job, pods)) = apply::job_and_pods(&ctx.client, &ns, &job_name).await?
                && let Some(record) = gate::read(
                    &key,
                    &job_name,
                    Some(&job),
                    &pods,
                    self.spec.calibration().min_samples,
                    tolerance,
                    Time(now),
                )
            {
                status.replay_gate = Some(record);
                decision = rollout::decide(&self.spec, &status, now);
                decision.newly_gated = true;
            }
        }
        if self.spec.suspend {
            // While suspended the previous rollout state is reported as it is, not re-decided.
            decision.newly_rolled_back = false;
            decision.newly_gated = false;
        }
        if self.spec.suspend || self.spec.disabled {
            // No gate Job is made for a stopped or suspended Model: nothing to poll.
            decision.gate_job = None;
            decision.requeue = None;
        }
        let named = self.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
        let account =
            apply::named_service_account(&ctx.client, &self.namespace().unwrap_or_default(), named).await?;
        Ok(Inputs { books: books.into_iter().map(|b| b.name).collect(), storage, decision, account })
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }

    fn build(
        &self,
        inputs: &Inputs,
        cfg: &OperatorConfig,
        caps: Capabilities,
    ) -> Result<ChildSet, SpecError> {
        let named = self.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
        build::check_policy(self, cfg, pod_policy::named_account(named, inputs.account.as_ref()))?;
        let c = build::build(self, &inputs.books, &inputs.decision, cfg, caps)?;
        let ns = self.namespace().unwrap_or_default();
        let model = self.name_any();
        let name = build::child_name(&model);
        let mut set = c.shared.into_set(&ns, &name, &name, caps);
        set.put(ChildKind::Deployment, &c.stable).ensure(
            ChildKind::Deployment,
            true,
            &ns,
            &build::candidate_name(&model),
            c.candidate.as_ref(),
        );
        match (&c.gate_job, &inputs.decision.gate) {
            (Some(job), _) => {
                set.put(ChildKind::Job, job);
            }
            // The result is recorded: its Job goes (with its pod).
            (None, Some(record)) => {
                set.remove(ChildKind::Job, &ns, &record.job_name);
            }
            (None, None) => {}
        }
        Ok(set)
    }

    fn status(&self, inputs: &Inputs, observed: &Observed<'_>) -> StatusUpdate<Fields> {
        let ns = self.namespace().unwrap_or_default();
        let model = self.name_any();
        let stable = observed.children.workload(&ns, &build::child_name(&model));
        let candidate = observed.children.workload(&ns, &build::candidate_name(&model));
        let mut obs = status::Observed {
            stable: stable.as_ref(),
            candidate: candidate.as_ref(),
            caps: observed.caps,
            storage: Some(&inputs.storage),
            ..Default::default()
        };
        match observed.outcome {
            Outcome::Invalid(e) => obs.invalid = Some((e.reason(), e.to_string())),
            Outcome::ApplyFailed(e) => obs.apply_error = Some(e.to_string()),
            Outcome::Applied { refused, .. } => obs.monitoring_refused = refused.clone(),
            Outcome::Suspended => {}
        }
        let decision = &inputs.decision;
        let previous = self.status.as_ref();
        let rollback = decision.rollback.clone().map(|rb| RollbackRecord {
            // Keep the first time; stamp a new rollback now.
            time: rb
                .time
                .or_else(|| previous.and_then(|p| p.rollback.as_ref()).and_then(|p| p.time.clone()))
                .or(Some(Time(Timestamp::now()))),
            ..rb
        });
        let candidate_version = candidate
            .as_ref()
            .and(self.spec.rollout.as_ref())
            .filter(|_| decision.run_candidate)
            .map(|r| r.candidate.version.clone());
        let candidate_parameters =
            candidate_version.as_ref().and(self.spec.candidate_parameters()).map(|p| p.fingerprint());
        StatusUpdate {
            conditions: status::conditions(self, decision, &obs),
            fields: Fields {
                current_version: Some(self.spec.version.clone()),
                current_parameters: Some(self.spec.stable_parameters().fingerprint()),
                candidate_version,
                candidate_parameters,
                rollout_phase: Some(decision.phase.as_str().to_string()),
                rollback,
                replay_gate: decision.gate.clone(),
            },
        }
    }

    fn requeue(&self, inputs: &Inputs) -> Option<std::time::Duration> {
        inputs.decision.requeue
    }

    fn current_status(&self) -> (Option<i64>, &[Condition], Fields) {
        let s = self.status.as_ref();
        (
            s.and_then(|s| s.observed_generation),
            s.map(|s| s.conditions.as_slice()).unwrap_or_default(),
            Fields {
                current_version: s.and_then(|s| s.current_version.clone()),
                current_parameters: s.and_then(|s| s.current_parameters.clone()),
                candidate_version: s.and_then(|s| s.candidate_version.clone()),
                candidate_parameters: s.and_then(|s| s.candidate_parameters.clone()),
                rollout_phase: s.and_then(|s| s.rollout_phase.clone()),
                rollback: s.and_then(|s| s.rollback.clone()),
                replay_gate: s.and_then(|s| s.replay_gate.clone()),
            },
        )
    }

    /// A Warning Event and a notification when a candidate is rolled back; an Event for each
    /// replay gate result, and a notification when it refuses the candidate.
    async fn announce(&self, ctx: &Context, inputs: &Inputs, _: &[Condition], _: &[Condition]) {
        let decision = &inputs.decision;
        if decision.newly_rolled_back
            && let Some(rb) = &decision.rollback
            && ctx.first_time(format!(
                "{}/rollback/{}/{}",
                self.uid().unwrap_or_default(),
                rb.candidate_version,
                rb.candidate_parameters.as_deref().unwrap_or_default()
            ))
        {
            let note = format!("candidate {} rolled back: {}", rb.candidate_version, rb.reason);
            ctx.publish(self, EventType::Warning, "RolledBack", "Rollback", note.clone()).await;
            ctx.notifier.notify_model(self, "ModelRolledBack", &note).await;
        }
        if decision.newly_gated
            && let Some(record) = &decision.gate
            && ctx.first_time(format!(
                "{}/gate/{}/{:?}",
                self.uid().unwrap_or_default(),
                record.job_name,
                record.time.as_ref().map(|t| t.0)
            ))
        {
            let (kind, reason) = gate::event(record.result);
            let note = gate::event_note(record);
            ctx.publish(self, kind, reason, "ReplayGate", note.clone()).await;
            // A refused rollout waits for a person; an error is retried on its own.
            if record.result == ReplayGateResult::Failed {
                ctx.notifier.notify_model(self, "ModelReplayGateFailed", &note).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline for Models against the fake API server (`super::super::fixtures`).
    use super::*;
    use crate::controller::context::Caches;
    use crate::controller::driver;
    use crate::controller::fixtures::*;
    use http::Method;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::watcher::Event;
    use std::sync::Arc;

    const MODEL: &str = "/apis/betting.nflbet.dev/v1alpha1/namespaces/betting/models/elo";
    const STABLE: &str = "/apis/apps/v1/namespaces/betting/deployments/nflbet-model-elo";
    const CANDIDATE: &str = "/apis/apps/v1/namespaces/betting/deployments/nflbet-model-elo-candidate";

    fn model(extra: &str) -> Model {
        serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {{name: elo, namespace: betting, uid: u-1, generation: 2}}\nspec:\n  algorithm: elo\n  version: 1.0.0\n  sportsbooks: {{names: [fanduel, caesars]}}\n  staking: {{bankroll: 10000, kellyFraction: 0.25}}\n{extra}"
        ))
        .unwrap()
    }

    /// The fake API server holding `m`; the Sportsbook cache holds `fanduel` in the Model's
    /// namespace and `caesars` in another.
    fn server(m: &Model) -> (FakeApiServer, Arc<Context>) {
        let api = FakeApiServer::default();
        api.insert(MODEL, serde_json::to_value(m).unwrap());
        let ctx = api.context(Capabilities::ALL);
        let (sportsbooks, mut writer) = kube::runtime::reflector::store();
        for (name, ns) in [("fanduel", "betting"), ("caesars", "elsewhere")] {
            let mut sb = crate::controller::sportsbook::build::fixtures::book(name).build();
            sb.metadata.namespace = Some(ns.into());
            writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(sb))));
        }
        writer.apply_watcher_event(&Event::InitDone);
        ctx.set_caches(Caches { sportsbooks, ..Caches::default() });
        (api, ctx)
    }

    async fn reconcile(
        m: &Model,
        ctx: &Arc<Context>,
    ) -> Result<kube::runtime::controller::Action, driver::Error> {
        driver::reconcile(Arc::new(DeserializeGuard(Ok(m.clone()))), ctx.clone()).await
    }

    fn held(api: &FakeApiServer) -> Model {
        serde_json::from_value(api.object(MODEL).unwrap()).unwrap()
    }

    fn args(api: &FakeApiServer, path: &str) -> Vec<String> {
        let d = api.object(path).unwrap();
        serde_json::from_value(d["spec"]["template"]["spec"]["containers"][0]["args"].clone()).unwrap()
    }

    fn assert_candidate_deleted(seen: &[Seen]) {
        let delete = (Method::DELETE, "deployments".into(), "nflbet-model-elo-candidate".into());
        assert!(child_writes(seen).contains(&delete), "{seen:?}");
    }

    #[tokio::test]
    async fn books_come_from_the_cache_and_an_unchanged_model_costs_nothing() {
        let m = model("");
        let (api, ctx) = server(&m);
        reconcile(&m, &ctx).await.unwrap();
        let seen = api.take();
        assert!(
            seen.iter().all(|s| s.method != Method::GET),
            "nothing is read from the API server: {seen:?}"
        );
        let a = args(&api, STABLE);
        assert!(a.windows(2).any(|w| w == ["--sportsbooks", "caesars,fanduel"]), "{a:?}");
        let status = status_writes(&seen);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].body["status"]["currentVersion"], "1.0.0");
        assert_eq!(status[0].body["status"]["rolloutPhase"], "Stable");
        // fanduel is in the cache (it writes to its own emptyDir); caesars is in another namespace.
        let storage = condition(status[0], status::STORAGE_SHARED).unwrap();
        assert_eq!(storage.1, "BookNotFound", "caesars is not in this namespace");
        assert!(api.object(CANDIDATE).is_none());

        reconcile(&held(&api), &ctx).await.unwrap();
        let again = api.take();
        assert!(again.is_empty(), "{again:?}");
    }

    #[tokio::test]
    async fn a_candidate_runs_during_a_rollout_and_is_removed_with_it() {
        // About the candidate's Deployment: the replay gate is off (its own tests below).
        let m =
            model("  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25}, gate: {enabled: false}}\n");
        let (api, ctx) = server(&m);
        reconcile(&m, &ctx).await.unwrap();
        let seen = api.take();
        assert!(api.object(CANDIDATE).is_some(), "the candidate runs");
        let status = status_writes(&seen);
        assert_eq!(status[0].body["status"]["rolloutPhase"], "Progressing");
        assert_eq!(status[0].body["status"]["candidateVersion"], "1.1.0");

        let mut done = held(&api);
        done.spec.rollout = None;
        done.metadata.generation = Some(3);
        api.insert(MODEL, serde_json::to_value(&done).unwrap());
        reconcile(&done, &ctx).await.unwrap();
        let seen = api.take();
        assert_candidate_deleted(&seen);
        assert!(api.object(CANDIDATE).is_none());
        let status = status_writes(&seen);
        assert!(status[0].body["status"].get("candidateVersion").is_none(), "given up, so removed");
        assert_eq!(status[0].body["status"]["rolloutPhase"], "Stable");
    }

    #[tokio::test]
    async fn a_candidate_runs_its_overrides_and_a_rollback_leaves_stable_s_parameters_running() {
        let mut m = model(
            "  elo: {kFactor: 20}\n  calibration: {baselineBrier: 0.22, baselineLogLoss: 0.63, minSamples: 50}\n  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25, overrides: {elo: {kFactor: 32}}}, gate: {enabled: false}}\n",
        );
        m.metadata.uid = Some("u-1".into());
        let (api, ctx) = server(&m);
        reconcile(&m, &ctx).await.unwrap();
        let seen = api.take();
        let (stable, candidate) = (args(&api, STABLE), args(&api, CANDIDATE));
        let (stable_fp, candidate_fp) =
            (m.spec.stable_parameters().fingerprint(), m.spec.candidate_parameters().unwrap().fingerprint());
        let changed: Vec<String> =
            build::tests::differences(&stable, &candidate).into_iter().map(|(flag, ..)| flag).collect();
        assert_eq!(changed, ["--elo-k-factor", "--parameters", "--role", "--traffic-share", "--version"]);
        assert!(candidate.windows(2).any(|w| w == ["--elo-k-factor", "32"]), "{candidate:?}");
        assert!(candidate.windows(2).any(|w| w == ["--parameters", candidate_fp.as_str()]), "{candidate:?}");
        let status = &status_writes(&seen)[0].body["status"];
        assert_eq!(status["currentParameters"], stable_fp.as_str());
        assert_eq!(status["candidateParameters"], candidate_fp.as_str());

        // The candidate reports a worse score for its own parameters: rolled back, and what
        // runs is stable with the spec's parameters and the whole bankroll.
        let mut reported = held(&api);
        reported.status.as_mut().unwrap().calibration = Some(crate::crd::model::CalibrationReport {
            stable: None,
            candidate: Some(crate::crd::model::CalibrationScore {
                version: "1.1.0".into(),
                parameters: Some(candidate_fp.clone()),
                brier: 0.26,
                log_loss: 0.70,
                samples: 80,
            }),
        });
        api.insert(MODEL, serde_json::to_value(&reported).unwrap());
        reconcile(&reported, &ctx).await.unwrap();
        let seen = api.take();
        assert_candidate_deleted(&seen);
        let after = args(&api, STABLE);
        let changed = build::tests::differences(&stable, &after);
        assert_eq!(changed, [("--traffic-share".to_string(), Some("0.75".into()), Some("1".into()))]);
        let status = &status_writes(&seen)[0].body["status"];
        assert_eq!(status["rolloutPhase"], "RolledBack");
        assert_eq!(status["rollback"]["candidateParameters"], candidate_fp.as_str());
        assert!(status.get("candidateParameters").is_none(), "{status}");
    }

    const PODS: &str = "/api/v1/namespaces/betting/pods";

    fn job_path(m: &Model) -> String {
        let (key, _) = gate::key(&m.spec).unwrap();
        format!("/apis/batch/v1/namespaces/betting/jobs/{}", gate::job_name("elo", &key))
    }

    /// `pod` as the Job controller makes it for the Job held at `job`: owned by it, by uid.
    fn owned(api: &FakeApiServer, job: &str, mut pod: Pod) -> Pod {
        let job = api.object(job).expect("the Job");
        pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: job["metadata"]["name"].as_str().unwrap().into(),
            uid: job["metadata"]["uid"].as_str().expect("a uid").into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        pod
    }

    /// The pods the API server lists.
    fn pods(api: &FakeApiServer, pods: &[Pod]) {
        api.insert(
            PODS,
            serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}),
        );
    }

    /// The gate Job's pod, terminated with both sides' reports of `m`'s current key.
    fn reports(api: &FakeApiServer, m: &Model, stable: (f64, f64), candidate: (f64, f64), samples: u64) {
        let (key, _) = gate::key(&m.spec).unwrap();
        let s = gate::tests::report(&key.stable_version, &key.stable_parameters, stable.0, stable.1, samples);
        let c = gate::tests::report(
            &key.candidate_version,
            &key.candidate_parameters,
            candidate.0,
            candidate.1,
            samples,
        );
        let pod = gate::tests::pod("Succeeded", Some((0, &s)), Some((0, &c)));
        pods(api, &[owned(api, &job_path(m), pod)]);
    }

    #[tokio::test]
    async fn a_traffic_candidate_is_gated_a_worse_one_never_starts_and_a_better_one_does() {
        let m = model(
            "  calibration: {minSamples: 50}\n  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25, overrides: {elo: {kFactor: 90}}}}\n",
        );
        let (api, ctx) = server(&m);
        let action = reconcile(&m, &ctx).await.unwrap();
        assert_eq!(
            action,
            kube::runtime::controller::Action::requeue(gate::POLL),
            "the gate's pods are polled"
        );
        let seen = api.take();
        let job = api.object(&job_path(&m)).expect("the gate Job");
        let containers = &job["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            (containers[0]["name"].as_str(), containers[1]["name"].as_str()),
            (Some("stable"), Some("candidate"))
        );
        assert!(api.object(CANDIDATE).is_none(), "the candidate takes no traffic before the gate");
        let status = &status_writes(&seen)[0];
        assert_eq!(status.body["status"]["rolloutPhase"], "Gating");
        assert_eq!(condition(status, status::REPLAY_GATE).unwrap().1, "Replaying");
        // The stable workload stakes the whole bankroll meanwhile.
        assert!(args(&api, STABLE).windows(2).any(|w| w == ["--traffic-share", "1"]));

        // Still running: nothing changes, polled again.
        pods(&api, &[owned(&api, &job_path(&m), gate::tests::pod("Running", None, None))]);
        let running = held(&api);
        reconcile(&running, &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty() && status_writes(&seen).is_empty(), "{seen:?}");
        assert!(seen.iter().any(|s| s.method == Method::GET && s.path == PODS), "{seen:?}");

        // Both reports: the candidate is worse beyond the tolerance.
        reports(&api, &m, (0.2100, 0.610), (0.2450, 0.690), 120);
        reconcile(&held(&api), &ctx).await.unwrap();
        let seen = api.take();
        let job_name = job_path(&m).rsplit('/').next().unwrap().to_string();
        assert!(child_writes(&seen).contains(&(Method::DELETE, "jobs".into(), job_name.clone())), "{seen:?}");
        assert!(api.object(CANDIDATE).is_none());
        let status = &status_writes(&seen)[0].body["status"];
        assert_eq!(status["rolloutPhase"], "GateFailed");
        let gate = &status["replayGate"];
        assert_eq!(
            (gate["result"].as_str(), gate["jobName"].as_str()),
            (Some("Failed"), Some(job_name.as_str()))
        );
        assert_eq!(
            (gate["stable"]["brier"].as_f64(), gate["candidate"]["brier"].as_f64()),
            (Some(0.21), Some(0.245))
        );
        assert_eq!(gate["candidate"]["samples"], 120);
        assert_eq!(gate["key"]["candidateVersion"], "1.1.0");
        assert_eq!(event_reasons(&seen), ["ReplayGateFailed"]);
        let event = seen.iter().find(|s| s.path.contains("/events")).unwrap();
        let note = event.body["note"].as_str().unwrap();
        assert!(
            note.contains("stable 1.0.0 Brier 0.2100") && note.contains("candidate 1.1.0 Brier 0.2450"),
            "{note}"
        );

        // Held: the failed key never starts, and nothing is polled.
        reconcile(&held(&api), &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty() && seen.iter().all(|s| s.method != Method::GET), "{seen:?}");

        // A better candidate (the bad override removed): a new key, a new Job; it passes and runs.
        let mut better = held(&api);
        better.spec.rollout.as_mut().unwrap().candidate.overrides = None;
        better.metadata.generation = Some(3);
        api.insert(MODEL, serde_json::to_value(&better).unwrap());
        reconcile(&better, &ctx).await.unwrap();
        api.take();
        assert!(api.object(&job_path(&better)).is_some(), "a new Job for the new key");
        assert_ne!(job_path(&better), job_path(&m));
        reports(&api, &better, (0.2100, 0.610), (0.2080, 0.605), 120);
        reconcile(&held(&api), &ctx).await.unwrap();
        let seen = api.take();
        assert!(api.object(CANDIDATE).is_some(), "the candidate runs once the gate passed");
        assert!(args(&api, STABLE).windows(2).any(|w| w == ["--traffic-share", "0.75"]));
        let write = status_writes(&seen)[0];
        assert_eq!(write.body["status"]["rolloutPhase"], "Progressing");
        assert_eq!(write.body["status"]["replayGate"]["result"], "Passed");
        assert_eq!(condition(write, status::REPLAY_GATE).unwrap(), ("True".into(), "Passed".into()));
        assert_eq!(event_reasons(&seen), ["ReplayGatePassed"]);
    }

    /// The same model run by another operator process (its child store empty) with `config`,
    /// reading the same Sportsbook cache: an upgrade.
    fn restarted(api: &FakeApiServer, ctx: &Context, config: OperatorConfig) -> Arc<Context> {
        let upgraded = api.context_with(Capabilities::ALL, config);
        upgraded.set_caches(Caches { sportsbooks: ctx.caches().sportsbooks.clone(), ..Caches::default() });
        upgraded
    }

    /// The held Model's condition `type_` as (status, reason, message).
    fn held_condition(api: &FakeApiServer, type_: &str) -> (String, String, String) {
        let c = held(api).status.unwrap().conditions.into_iter().find(|c| c.type_ == type_).unwrap();
        (c.status.to_string(), c.reason.to_string(), c.message)
    }

    #[tokio::test]
    async fn a_gate_job_whose_template_changed_is_replaced_and_only_the_new_job_s_pod_is_read() {
        let m = model(
            "  calibration: {minSamples: 50}\n  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25}}\n",
        );
        let (api, ctx) = server(&m);
        reconcile(&m, &ctx).await.unwrap();
        api.take();
        let path = job_path(&m);
        let job_name = path.rsplit('/').next().unwrap().to_string();
        let old_uid = api.object(&path).unwrap()["metadata"]["uid"].clone();
        pods(&api, &[owned(&api, &path, gate::tests::pod("Running", None, None))]);
        let old_pod = owned(&api, &path, gate::tests::pod("Running", None, None));

        // The operator is upgraded while the gate runs: another workload image. The key, so the
        // Job's name, is the same; its template is not, and the API server refuses to change it
        // in place (422, field is immutable).
        let image = "registry.example/nflbet:0.2.0";
        let ctx = restarted(
            &api,
            &ctx,
            OperatorConfig { workload_image: image.into(), ..OperatorConfig::default() },
        );
        let action = reconcile(&held(&api), &ctx).await.expect("not an error");
        assert_eq!(action, kube::runtime::controller::Action::requeue(gate::POLL), "the new Job is polled");
        let seen = api.take();
        let job = |method: Method| (method, "jobs".to_string(), job_name.clone());
        let jobs: Vec<_> =
            child_writes(&seen).into_iter().filter(|(_, plural, _)| plural == "jobs").collect();
        assert_eq!(jobs, [job(Method::PATCH), job(Method::DELETE), job(Method::PATCH)], "{seen:?}");
        let delete = seen.iter().find(|s| s.method == Method::DELETE).unwrap();
        assert_eq!(delete.body["propagationPolicy"], "Background");
        let new = api.object(&path).expect("the Job made again");
        assert_ne!(new["metadata"]["uid"], old_uid);
        let images: Vec<&str> = new["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        assert_eq!(images, [image, image]);
        assert_eq!(event_reasons(&seen), ["Recreated"]);
        let note = seen.iter().find(|s| s.path.contains("/events")).unwrap().body["note"].as_str().unwrap();
        assert!(note.contains(&job_name) && note.contains("spec.template cannot change in place"), "{note}");
        // The status says the gate runs, as before the upgrade; no error in Ready.
        let model = held(&api).status.unwrap();
        assert_eq!((model.rollout_phase.as_deref(), model.replay_gate.as_ref()), (Some("Gating"), None));
        assert_eq!(held_condition(&api, status::REPLAY_GATE).1, "Replaying");
        assert_ne!(held_condition(&api, READY).1, "ReconcileFailed");
        assert!(api.object(CANDIDATE).is_none());

        // The old pod, killed by the delete, is still listed (same job-name label) until the
        // garbage collector removes it: its exit is no result of the new Job.
        let mut killed = old_pod;
        let status = killed.status.as_mut().unwrap();
        status.phase = Some("Failed".into());
        for c in status.container_statuses.iter_mut().flatten() {
            c.state = Some(k8s_openapi::api::core::v1::ContainerState {
                terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
                    exit_code: 143,
                    reason: Some("Error".into()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        pods(&api, &[killed.clone()]);
        reconcile(&held(&api), &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty() && status_writes(&seen).is_empty(), "{seen:?}");
        assert!(held(&api).status.unwrap().replay_gate.is_none(), "no Error from the killed pod");

        // The new Job's pod reports: its result is the gate's.
        let (key, _) = gate::key(&m.spec).unwrap();
        let s = gate::tests::report(&key.stable_version, &key.stable_parameters, 0.2100, 0.610, 120);
        let c = gate::tests::report(&key.candidate_version, &key.candidate_parameters, 0.2080, 0.605, 120);
        let done = owned(&api, &path, gate::tests::pod("Succeeded", Some((0, &s)), Some((0, &c))));
        pods(&api, &[killed, done]);
        let before = held(&api);
        reconcile(&before, &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).contains(&job(Method::DELETE)), "the recorded gate's Job goes");
        let model = held(&api).status.unwrap();
        assert_eq!(model.rollout_phase.as_deref(), Some("Progressing"));
        assert_eq!(model.replay_gate.unwrap().result, ReplayGateResult::Passed);
        assert!(api.object(CANDIDATE).is_some());

        // The Job's deletion wakes the controller before the watch brought the status write back:
        // the cached Model still says Gating with no result. Deciding on it would write that back
        // and make the Job again; the reconcile waits for the cache instead.
        let action = reconcile(&before, &ctx).await.unwrap();
        assert_eq!(action, kube::runtime::controller::Action::requeue(driver::STALE_RETRY));
        assert!(api.take().is_empty(), "nothing read or written");
        assert_eq!(held(&api).status.unwrap().replay_gate.unwrap().result, ReplayGateResult::Passed);
        assert!(api.object(&path).is_none(), "no Job made again");
        reconcile(&held(&api), &ctx).await.unwrap();
        assert!(child_writes(&api.take()).is_empty());
    }
}
