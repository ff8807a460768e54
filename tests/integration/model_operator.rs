//! The Model controller on the real control plane (issue 6): workloads and rules, a gradual
//! rollout, automatic rollback of a drifting candidate, and admission of invalid Models.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use nflbet::crd::Model;
use nflbet::monitoring::PrometheusRule;
use serde_json::{Value, json};
use std::time::Duration;

async fn setup(test: &str) -> (Client, String, Api<Model>) {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, test).await;
    let models = Api::namespaced(client.clone(), &ns);
    (client, ns, models)
}

fn model(name: &str, extra: Value) -> Model {
    serde_json::from_value(model_json(name, extra)).unwrap()
}

/// A valid Model named `name`, with the spec fields of `extra` set over its own.
pub(crate) fn model_json(name: &str, extra: Value) -> Value {
    let mut spec = json!({
        "algorithm": "elo",
        "version": "1.0.0",
        "sportsbooks": {"names": ["fanduel"]},
        "staking": {"bankroll": 10000.0, "kellyFraction": 0.25, "exposureCaps": {"team": 0.1}},
        "calibration": {"baselineBrier": 0.22, "baselineLogLoss": 0.63, "tolerance": 0.01, "minSamples": 50}
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": name}, "spec": spec
    })
}

/// Report calibration the way the model workload does: server-side apply of only
/// `status.calibration.<role>` with the workload's own field manager.
async fn report(
    models: &Api<Model>,
    name: &str,
    role: &str,
    version: &str,
    brier: f64,
    log_loss: f64,
    samples: i64,
) {
    let body = json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "status": {"calibration": {role: {"version": version, "brier": brier, "logLoss": log_loss, "samples": samples}}}
    });
    models
        .patch_status(name, &PatchParams::apply(&format!("nflbet-model-{role}")).force(), &Patch::Apply(body))
        .await
        .expect("workload-style status report");
}

fn args(d: &Deployment) -> Vec<String> {
    d.spec.clone().unwrap().template.spec.unwrap().containers[0].args.clone().unwrap()
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

#[tokio::test]
async fn model_becomes_workload_and_rules_and_is_ready() {
    let (client, ns, models) = setup("model-apply").await;
    let _op = support::start_operator(&client, &ns).await;
    models.create(&PostParams::default(), &model("elo", json!({}))).await.unwrap();

    let m = support::wait_condition(&models, "elo", "Ready", "True", Some("Succeeded")).await;
    let st = m.status.unwrap();
    assert_eq!(st.current_version.as_deref(), Some("1.0.0"));
    assert_eq!(st.rollout_phase.as_deref(), Some("Stable"));
    assert!(st.candidate_version.is_none());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let stable = deployments.get("nflbet-model-elo").await.unwrap();
    let a = args(&stable);
    assert_eq!(a[0], "model");
    assert_eq!(flag(&a, "--role").as_deref(), Some("stable"));
    assert_eq!(flag(&a, "--sportsbooks").as_deref(), Some("fanduel"));
    assert!(deployments.get_opt("nflbet-model-elo-candidate").await.unwrap().is_none());

    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), &ns);
    let rule = rules.get("nflbet-model-elo").await.unwrap();
    let names: Vec<&str> = rule.spec.groups[0].rules.iter().map(|r| r.alert.as_str()).collect();
    for alert in [
        "NflbetModelBrierDrift",
        "NflbetModelLogLossDrift",
        "NflbetModelExposureAboveCap",
        "NflbetModelKellyStakeAboveCap",
        "NflbetModelDown",
    ] {
        assert!(names.contains(&alert), "{alert} missing from {names:?}");
    }

    // Drift condition follows what the stable workload reports.
    report(&models, "elo", "stable", "1.0.0", 0.245, 0.66, 120).await;
    let m =
        support::wait_condition(&models, "elo", "CalibrationDrift", "True", Some("BrierAboveBaseline")).await;
    assert!(
        m.status.unwrap().calibration.unwrap().stable.is_some(),
        "the operator keeps the workload's calibration"
    );
}

#[tokio::test]
async fn drifting_candidate_is_rolled_back_and_rearmed_by_a_new_version() {
    let (client, ns, models) = setup("model-rollback").await;
    let _op = support::start_operator(&client, &ns).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    models
        .create(
            &PostParams::default(),
            // About the rollback by live calibration: the replay gate is off (tests/integration/replay_gate.rs).
            &model("elo", json!({"rollout": {"candidate": {"version": "1.1.0", "trafficShare": 0.2}, "gate": {"enabled": false}}})),
        )
        .await
        .unwrap();

    support::wait_condition(&models, "elo", "Ready", "True", Some("Succeeded")).await;
    let m = models.get("elo").await.unwrap();
    assert_eq!(m.status.as_ref().unwrap().rollout_phase.as_deref(), Some("Progressing"));
    assert_eq!(m.status.as_ref().unwrap().candidate_version.as_deref(), Some("1.1.0"));
    let candidate = deployments.get("nflbet-model-elo-candidate").await.unwrap();
    assert_eq!(flag(&args(&candidate), "--traffic-share").as_deref(), Some("0.2"));
    assert_eq!(
        flag(&args(&deployments.get("nflbet-model-elo").await.unwrap()), "--traffic-share").as_deref(),
        Some("0.8")
    );

    // Both workloads report; the candidate is clearly worse than the stable version.
    report(&models, "elo", "stable", "1.0.0", 0.205, 0.60, 200).await;
    report(&models, "elo", "candidate", "1.1.0", 0.240, 0.67, 150).await;

    let m = support::wait_condition(&models, "elo", "RolledBack", "True", Some("CalibrationWorse")).await;
    let st = m.status.clone().unwrap();
    assert_eq!(st.rollout_phase.as_deref(), Some("RolledBack"));
    let rb = st.rollback.expect("rollback recorded");
    assert_eq!(rb.candidate_version, "1.1.0");
    assert!(rb.reason.contains("Brier score 0.2400 is worse than stable 1.0.0 (0.2050)"), "{}", rb.reason);
    assert!(rb.time.is_some());
    support::wait_for("candidate Deployment removed", Duration::from_secs(60), || async {
        match deployments.get_opt("nflbet-model-elo-candidate").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    let stable = deployments.get("nflbet-model-elo").await.unwrap();
    assert_eq!(stable.spec.as_ref().unwrap().replicas, Some(1), "stable keeps serving");
    assert_eq!(
        flag(&args(&stable), "--traffic-share").as_deref(),
        Some("1"),
        "stable takes the whole bankroll back"
    );

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    support::wait_for("RolledBack event", Duration::from_secs(30), || async {
        let l = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        l.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RolledBack"))
            .then_some(())
            .ok_or_else(|| "no event".to_string())
    })
    .await;

    // The rollback holds across reconciles until a person changes the candidate version: another
    // spec change is reconciled (status observes its generation) and the candidate stays away.
    let before = models.get("elo").await.unwrap().metadata.generation;
    models
        .patch(
            "elo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"staking": {"bankroll": 12345.0}}})),
        )
        .await
        .unwrap();
    let m = support::wait_condition(&models, "elo", "RolledBack", "True", None).await;
    assert!(m.metadata.generation > before, "the spec change made a new generation");
    assert_eq!(m.status.as_ref().and_then(|s| s.observed_generation), m.metadata.generation);
    assert!(deployments.get_opt("nflbet-model-elo-candidate").await.unwrap().is_none());

    models
        .patch(
            "elo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rollout": {"candidate": {"version": "1.1.1"}}}})),
        )
        .await
        .unwrap();
    let m = support::wait_condition(&models, "elo", "RolledBack", "False", Some("NoRollback")).await;
    assert_eq!(m.status.as_ref().unwrap().rollout_phase.as_deref(), Some("Progressing"));
    assert!(m.status.unwrap().rollback.is_none(), "a new candidate version re-arms the rollout");
    let candidate = deployments.get("nflbet-model-elo-candidate").await.unwrap();
    assert_eq!(flag(&args(&candidate), "--version").as_deref(), Some("1.1.1"));
}

/// Issue 15: a candidate that changes a parameter runs it, stable does not; after a rollback
/// the stable Deployment runs the spec's parameters, and a new parameter set re-arms the rollout.
#[tokio::test]
async fn a_candidate_s_parameter_overrides_run_beside_stable_s_and_roll_back() {
    let (client, ns, models) = setup("model-overrides").await;
    let _op = support::start_operator(&client, &ns).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // About parameter rollouts: the replay gate is off (tests/integration/replay_gate.rs).
    let rollout = json!({"candidate": {"version": "1.1.0", "trafficShare": 0.2, "overrides": {"elo": {"kFactor": 32.0}}}, "gate": {"enabled": false}});
    models
        .create(&PostParams::default(), &model("elo", json!({"elo": {"kFactor": 20.0}, "rollout": rollout})))
        .await
        .unwrap();
    support::wait_condition(&models, "elo", "Ready", "True", Some("Succeeded")).await;
    let st = models.get("elo").await.unwrap().status.unwrap();
    let (stable_fp, candidate_fp) = (st.current_parameters.unwrap(), st.candidate_parameters.unwrap());
    assert_ne!(stable_fp, candidate_fp);
    let stable = args(&deployments.get("nflbet-model-elo").await.unwrap());
    let candidate = args(&deployments.get("nflbet-model-elo-candidate").await.unwrap());
    assert_eq!(flag(&stable, "--elo-k-factor").as_deref(), Some("20"));
    assert_eq!(flag(&candidate, "--elo-k-factor").as_deref(), Some("32"));
    assert_eq!(flag(&candidate, "--parameters"), Some(candidate_fp.clone()));
    assert_eq!(flag(&stable, "--parameters"), Some(stable_fp.clone()));

    // The candidate's parameters score worse than stable's: rolled back.
    let score = |parameters: &str, brier: f64| json!({"version": "", "parameters": parameters, "brier": brier, "logLoss": 0.6, "samples": 200});
    for (role, version, s) in
        [("stable", "1.0.0", score(&stable_fp, 0.205)), ("candidate", "1.1.0", score(&candidate_fp, 0.240))]
    {
        let mut s = s;
        s["version"] = json!(version);
        let body = json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model", "status": {"calibration": {role: s}}});
        models
            .patch_status(
                "elo",
                &PatchParams::apply(&format!("nflbet-model-{role}")).force(),
                &Patch::Apply(body),
            )
            .await
            .unwrap();
    }
    let m = support::wait_condition(&models, "elo", "RolledBack", "True", Some("CalibrationWorse")).await;
    let rb = m.status.unwrap().rollback.unwrap();
    assert_eq!(rb.candidate_parameters, Some(candidate_fp.clone()));
    support::wait_for("candidate Deployment removed", Duration::from_secs(60), || async {
        match deployments.get_opt("nflbet-model-elo-candidate").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    let after = args(&deployments.get("nflbet-model-elo").await.unwrap());
    assert_eq!(flag(&after, "--elo-k-factor").as_deref(), Some("20"), "stable runs the spec's parameters");
    assert_eq!(flag(&after, "--parameters"), Some(stable_fp));

    // Same version, another K factor: a new parameter set, so the rollout runs again.
    models
        .patch(
            "elo",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"rollout": {"candidate": {"overrides": {"elo": {"kFactor": 24.0}}}}}}),
            ),
        )
        .await
        .unwrap();
    support::wait_condition(&models, "elo", "RolledBack", "False", Some("NoRollback")).await;
    support::wait_for("the new candidate runs and is reported", Duration::from_secs(60), || async {
        let d = deployments.get_opt("nflbet-model-elo-candidate").await.map_err(|e| e.to_string())?;
        let k = d.as_ref().and_then(|d| flag(&args(d), "--elo-k-factor"));
        let st = models.get("elo").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        match (k.as_deref(), st.candidate_parameters) {
            (Some("24"), Some(p))
                if p != candidate_fp && st.rollout_phase.as_deref() == Some("Progressing") =>
            {
                Ok(())
            }
            (k, p) => Err(format!("k {k:?}, parameters {p:?}, phase {:?}", st.rollout_phase)),
        }
    })
    .await;
}

#[tokio::test]
async fn invalid_models_are_refused_with_clear_messages() {
    let (client, ns, _) = setup("model-admission").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &kube::core::ApiResource::erase::<Model>(&()));
    let obj = |name: &str, extra: Value| -> DynamicObject {
        serde_json::from_value(model_json(name, extra)).unwrap()
    };
    api.create(&PostParams::default(), &obj("valid", json!({}))).await.expect("base Model is valid");
    api.create(
        &PostParams::default(),
        &obj("kept", json!({"storage": {"url": "s3://b/p", "retention": "1008h"}})),
    )
    .await
    .expect("a retention of the calibration window plus 14 days is valid");
    api.create(&PostParams::default(), &obj("severities", valid_severities()))
        .await
        .expect("severities keyed by the Model's alert names are valid");

    let cases = admission_cases();
    let mut failures = Vec::new();
    for (i, (extra, expected)) in cases.into_iter().enumerate() {
        match api.create(&PostParams::default(), &obj(&format!("case-{i}"), extra.clone())).await {
            Ok(_) => failures.push(format!("{extra}: accepted")),
            Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(expected) => {}
            Err(e) => failures.push(format!("{extra}: expected 422 mentioning {expected:?}, got {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `alerts.severities` naming alerts of a Model, each with a severity.
pub(crate) fn valid_severities() -> Value {
    json!({"alerts": {"severities": {"NflbetModelExposureAboveCap": "critical", "NflbetModelEventExposureAboveCap": "info"}}})
}

/// Each case: spec fields changed from [`model_json`]'s valid Model and a part of the API
/// server's message refusing it. The same cases go through `nflbet validate-config --strict` in
/// `validate_config_agrees`.
pub(crate) fn admission_cases() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"staking": {"bankroll": 1000.0, "kellyFraction": 1.5}}),
            "staking.kellyFraction must be in (0, 1]",
        ),
        (json!({"staking": {"bankroll": -5.0, "kellyFraction": 0.5}}), "staking.bankroll must be positive"),
        (
            json!({"staking": {"bankroll": 1000.0, "kellyFraction": 0.5, "exposureCaps": {"team": 0.0}}}),
            "exposureCaps.team must be in (0, 1]",
        ),
        (
            json!({"staking": {"bankroll": 1000.0, "kellyFraction": 0.5, "maxStakePerBet": 0.2, "maxEventExposure": 0.1}}),
            "staking.maxStakePerBet cannot exceed staking.maxEventExposure",
        ),
        (json!({"calibration": {"baselineBrier": 0.3}}), "calibration.baselineBrier must be in (0, 0.25)"),
        (json!({"calibration": {"minSamples": 3}}), "spec.calibration.minSamples"),
        (
            json!({"rollout": {"candidate": {"version": "1.0.0"}}}),
            "rollout.candidate.version must differ from spec.version",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0", "shadow": true, "trafficShare": 0.5}}}),
            "a shadow candidate takes no traffic",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0", "overrides": {"elo": {"kFactor": 150.0}}}}}),
            "elo.kFactor must be in (0, 100]",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0", "overrides": {"staking": {"kellyFraction": 0.0}}}}}),
            "staking.kellyFraction must be in (0, 1]",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0", "overrides": {"consensus": {"marginMethod": "power"}}}}}),
            "rollout.candidate.overrides.consensus only applies to algorithm marketConsensus",
        ),
        (
            json!({
                "staking": {"bankroll": 1000.0, "kellyFraction": 0.5, "maxEventExposure": 0.04},
                "rollout": {"candidate": {"version": "1.1.0", "overrides": {"staking": {"maxStakePerBet": 0.05}}}}
            }),
            "the candidate's staking.maxStakePerBet (its override, else the spec's) cannot exceed its staking.maxEventExposure",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0", "trafficShare": 0.2}}}),
            "the rollout's replay gate settles the candidate's and stable's replays with spec.games",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0"}, "gate": {"weeks": 53}}}),
            "spec.rollout.gate.weeks",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0"}, "gate": {"weeks": 0}}}),
            "spec.rollout.gate.weeks",
        ),
        (
            json!({"rollout": {"candidate": {"version": "1.1.0"}, "gate": {"tolerance": 0.0}}}),
            "rollout.gate.tolerance must be in (0, 0.5]",
        ),
        (json!({"sportsbooks": {}}), "spec.sportsbooks needs names or a selector"),
        (json!({"algorithm": "magic"}), r#"Unsupported value: "magic""#),
        (json!({"version": "latest"}), "spec.version"),
        (json!({"interval": "25h"}), "spec.interval: Invalid value: \"25h\": interval must be at most 24h"),
        (
            json!({"calibration": {"window": "28d"}}),
            crate::sportsbook_admission::duration_refused("spec.calibration.window", "28d"),
        ),
        (
            json!({"calibration": {"window": "9000h"}}),
            "spec.calibration.window: Invalid value: \"9000h\": calibration.window must be at most 8784h (a year)",
        ),
        (
            json!({"storage": {"url": "s3://b/p", "retention": "720h"}}),
            "storage.retention must be at least calibration.window (default 672h) plus 336h",
        ),
        (
            json!({"calibration": {"window": "2000h"}, "storage": {"retention": "2000h"}}),
            "storage.retention must be at least calibration.window",
        ),
        (
            json!({"alerts": {"severities": {"ExposureAboveCap": "warning"}}}),
            "alerts.severities keys must be alert names of a Model: NflbetModelBrierDrift, NflbetModelLogLossDrift, NflbetModelExposureAboveCap, NflbetModelEventExposureAboveCap, NflbetModelKellyStakeAboveCap, NflbetModelDown",
        ),
        (json!({"alerts": {"severities": {"NflbetModelDown": "page"}}}), r#"Unsupported value: "page""#),
    ]
}

/// A generic-feed Sportsbook with `metadata` and the `extra` spec fields.
async fn create_book(books: &Api<nflbet::crd::Sportsbook>, metadata: Value, extra: Value) {
    let mut spec = json!({"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let sb: nflbet::crd::Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": metadata, "spec": spec
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
}

#[tokio::test]
async fn sportsbooks_selected_by_label_are_priced() {
    let (client, ns, models) = setup("model-selector").await;
    let _op = support::start_operator(&client, &ns).await;
    let books: Api<nflbet::crd::Sportsbook> = Api::namespaced(client.clone(), &ns);
    for (name, tier) in [("fanduel", "sharp"), ("draftkings", "sharp"), ("local", "retail")] {
        create_book(&books, json!({"name": name, "labels": {"tier": tier}}), json!({"disabled": true})).await;
    }
    models
        .create(&PostParams::default(), &model("consensus", json!({"algorithm": "marketConsensus", "sportsbooks": {"selector": {"matchLabels": {"tier": "sharp"}}}})))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    support::wait_for("model prices the selected books", Duration::from_secs(60), || async {
        let d = deployments
            .get_opt("nflbet-model-consensus")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no deployment")?;
        let books = flag(&args(&d), "--sportsbooks");
        if books.as_deref() == Some("draftkings,fanduel") { Ok(()) } else { Err(format!("{books:?}")) }
    })
    .await;
    // A new matching book is picked up through the Sportsbook watch.
    books
        .patch(
            "local",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "sharp"}}})),
        )
        .await
        .unwrap();
    support::wait_for("relabelled book priced too", Duration::from_secs(60), || async {
        let d = deployments.get("nflbet-model-consensus").await.map_err(|e| e.to_string())?;
        let books = flag(&args(&d), "--sportsbooks");
        if books.as_deref() == Some("draftkings,fanduel,local") { Ok(()) } else { Err(format!("{books:?}")) }
    })
    .await;
    let m = models.get("consensus").await.unwrap();
    assert_eq!(m.name_any(), "consensus");
}

/// Issue 10: a Model whose books write their snapshots elsewhere than it reads them prices
/// nothing from those books; the operator says so in `StorageShared` and `Ready`, and notices
/// when the book is fixed (through the Sportsbook watch).
#[tokio::test]
async fn books_writing_elsewhere_than_the_model_reads_are_reported() {
    let (client, ns, models) = setup("model-stores").await;
    let _op = support::start_operator(&client, &ns).await;
    let books: Api<nflbet::crd::Sportsbook> = Api::namespaced(client.clone(), &ns);
    create_book(&books, json!({"name": "fanduel"}), json!({"storage": {"url": "s3://snaps/nfl"}})).await;
    create_book(&books, json!({"name": "inhouse"}), json!({})).await;
    let consensus = model(
        "consensus",
        json!({
            "algorithm": "marketConsensus",
            "sportsbooks": {"names": ["fanduel", "inhouse"]},
            "consensus": {"referenceBooks": ["inhouse"]},
            "storage": {"url": "s3://snaps/nfl"}
        }),
    );
    models.create(&PostParams::default(), &consensus).await.unwrap();

    let m =
        support::wait_condition(&models, "consensus", "StorageShared", "False", Some("BookStoreMismatch"))
            .await;
    let conditions = m.status.unwrap().conditions;
    let message = |type_: &str| conditions.iter().find(|c| c.type_ == type_).unwrap().message.clone();
    let shared = message("StorageShared");
    assert!(
        shared.contains(
            "Sportsbook \"inhouse\" writes its snapshots to file:///var/lib/nflbet/snapshots on the pod's own \
             emptyDir (no persistentVolumeClaim), but the model reads s3://snaps/nfl"
        ),
        "{shared}"
    );
    assert!(!shared.contains("\"fanduel\""), "fanduel writes where the model reads: {shared}");
    let m = support::wait_condition(&models, "consensus", "Ready", "False", Some("BookStoreMismatch")).await;
    let ready = m.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.message, shared);

    books
        .patch(
            "inhouse",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"storage": {"url": "s3://snaps/nfl/"}}})),
        )
        .await
        .unwrap();
    support::wait_condition(&models, "consensus", "StorageShared", "True", Some("SameStore")).await;
    support::wait_condition(&models, "consensus", "Ready", "True", Some("Succeeded")).await;
}
