//! Pure build step: Model (+ resolved Sportsbook names, rollout decision, operator settings,
//! capabilities) → desired children.

use super::alerts;
use super::gate;
use super::rollout::{Decision, Phase};
use crate::controller::config::{MANAGED_BY, OperatorConfig};
use crate::controller::driver::SpecError;
use crate::controller::names;
pub use crate::controller::names::model::{candidate_name, child_name};
use crate::controller::pod_policy::{NamedAccount, PodRequest};
use crate::controller::workload_objects::{self, PodParams, WorkloadChildren, plain_env};
use crate::crd::common::WorkloadSettings;
use crate::crd::model::{Model, ModelParameters};
use crate::domain::duration::format_duration;
use crate::monitoring::{Capabilities, PrometheusRule, PrometheusRuleSpec};
use crate::workloads::model::spec::{self, Deployed};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// The validate step: whether the operator's pod policy allows what `m` asks for in its pods
/// (the stable and the candidate's image). `account` is the ServiceAccount the spec names, as the
/// reconcile read it.
pub fn check_policy(m: &Model, cfg: &OperatorConfig, account: NamedAccount<'_>) -> Result<(), SpecError> {
    let settings = m.spec.workload.clone().unwrap_or_default();
    let candidate = m.spec.rollout.as_ref().and_then(|r| r.candidate.image.as_deref());
    let req = PodRequest {
        settings: &settings,
        extra_images: candidate.map(|i| ("spec.rollout.candidate.image", i)).into_iter().collect(),
        account,
    };
    Ok(cfg.pod_policy.check(&cfg.workload_image, &req)?)
}

/// The role of a model Deployment: the workload's own `--role`.
pub use crate::workloads::model::Role as WorkloadRole;

/// Everything the operator wants to exist for one Model.
#[derive(Clone, Debug)]
pub struct Children {
    pub shared: WorkloadChildren,
    pub stable: Deployment,
    /// `None`: the candidate must not run (no rollout, gating, or rolled back).
    pub candidate: Option<Deployment>,
    /// The replay gate's Job, while the gate of the current key runs.
    pub gate_job: Option<Job>,
}

/// Pods of both roles; what the Service selects.
pub fn instance_labels(model: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "nflbet-model".into()),
        ("app.kubernetes.io/instance".into(), names::label_value(model)),
    ])
}

/// Pods of one role; what each Deployment selects (distinct, so the two never share pods).
pub fn selector_labels(model: &str, role: WorkloadRole) -> BTreeMap<String, String> {
    let mut l = instance_labels(model);
    l.insert("betting.nflbet.dev/role".into(), role.as_str().into());
    l
}

fn labels(model: &str) -> BTreeMap<String, String> {
    let mut l = instance_labels(model);
    l.insert("app.kubernetes.io/component".into(), "model".into());
    l.insert("app.kubernetes.io/part-of".into(), "nflbet".into());
    l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    l.insert("betting.nflbet.dev/model".into(), names::label_value(model));
    l
}

fn meta(m: &Model, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: m.namespace(),
        labels: Some(labels(&m.name_any())),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

pub fn build(
    m: &Model,
    books: &[String],
    decision: &Decision,
    cfg: &OperatorConfig,
    caps: Capabilities,
) -> Result<Children, SpecError> {
    let ns = m.namespace().ok_or(SpecError::InvalidObject("namespace"))?;
    let owner = m.controller_owner_ref(&()).ok_or(SpecError::InvalidObject("uid"))?;
    let model = m.name_any();
    let spec = &m.spec;
    check_egress(spec, &cfg.egress)?;
    let name = child_name(&model);
    let settings = spec.workload.clone().unwrap_or_default();
    let sa_name = settings.service_account_name.clone().unwrap_or_else(|| name.clone());
    let service_account = settings.service_account_name.is_none().then(|| ServiceAccount {
        metadata: meta(m, name.clone(), &owner),
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    });

    let candidate_share = spec
        .rollout
        .as_ref()
        .filter(|_| decision.phase == Phase::Progressing)
        .map(|r| r.candidate.traffic_share.unwrap_or(0.1))
        .unwrap_or(0.0);

    // The candidate's parameters are the spec's with its overrides: held to the spec's rules
    // across fields (the API server's rules hold each override on its own).
    let candidate_parameters = spec.candidate_parameters();
    if let Some(p) = &candidate_parameters {
        p.check(spec.algorithm, "spec.rollout.candidate.overrides").map_err(SpecError::InvalidSpec)?;
    }

    // What every pod of the Model shares: the workload's settings, ServiceAccount, storage
    // volume and environment (S3 credentials as Secret references).
    let pod = |meta: ObjectMeta, role: WorkloadRole, args: Vec<String>, settings: &WorkloadSettings| {
        let mut pod_labels = labels(&model);
        pod_labels.retain(|k, _| k != "app.kubernetes.io/managed-by");
        pod_labels.extend(selector_labels(&model, role));
        PodParams {
            meta,
            selector: selector_labels(&model, role),
            pod_labels,
            replicas: if spec.disabled { 0 } else { 1 },
            container: "model",
            image: cfg.workload_image.clone(),
            pull_policy: cfg.image_pull_policy.clone(),
            pull_secrets: &cfg.image_pull_secrets,
            args,
            env: [plain_env("NFLBET_LOG_FORMAT", "json"), plain_env("RUST_LOG", "info")]
                .into_iter()
                .chain(workload_objects::storage_env(spec.storage.as_ref()))
                .collect(),
            settings: settings.clone(),
            service_account: sa_name.clone(),
            api_access: true,
            data_claim: spec.storage.as_ref().and_then(|s| s.persistent_volume_claim.clone()),
        }
    };
    let deployment = |w: Deployed<'_>, shadow: bool, image: Option<String>| {
        let role = w.role;
        let mut settings = settings.clone();
        if image.is_some() {
            settings.image = image;
        }
        let deployment_name = match role {
            WorkloadRole::Stable => name.clone(),
            WorkloadRole::Candidate => candidate_name(&model),
        };
        let args = model_args(m, books, w, shadow, cfg);
        workload_objects::deployment(pod(meta(m, deployment_name, &owner), role, args, &settings))
    };

    let stable = deployment(
        Deployed {
            role: WorkloadRole::Stable,
            version: &spec.version,
            traffic_share: 1.0 - candidate_share,
            parameters: spec.stable_parameters(),
        },
        false,
        None,
    );
    let candidate =
        spec.rollout.as_ref().zip(candidate_parameters.as_ref()).filter(|_| decision.run_candidate).map(
            |(r, parameters)| {
                let deployed = Deployed {
                    role: WorkloadRole::Candidate,
                    version: &r.candidate.version,
                    traffic_share: candidate_share,
                    parameters,
                };
                deployment(deployed, decision.phase != Phase::Progressing, r.candidate.image.clone())
            },
        );

    // The replay gate: one pod, the stable and the candidate replayed side by side, each by its
    // own image and flags.
    let gate_job = match (&decision.gate_job, &spec.rollout, &candidate_parameters) {
        (Some(key), Some(r), Some(candidate)) if !spec.disabled => {
            let weeks = key.weeks.max(1) as u32;
            let stable_image = settings.image.clone().unwrap_or_else(|| cfg.workload_image.clone());
            let candidate_image = r.candidate.image.clone().unwrap_or_else(|| stable_image.clone());
            let side = |role: WorkloadRole, version: &str, parameters: &ModelParameters| {
                gate_args(m, books, Deployed { role, version, traffic_share: 1.0, parameters }, weeks, cfg)
            };
            let containers = vec![
                (
                    gate::STABLE_CONTAINER.to_string(),
                    stable_image,
                    side(WorkloadRole::Stable, &spec.version, spec.stable_parameters()),
                ),
                (
                    gate::CANDIDATE_CONTAINER.to_string(),
                    candidate_image,
                    side(WorkloadRole::Candidate, &r.candidate.version, candidate),
                ),
            ];
            let mut params = pod(
                meta(m, gate::job_name(&model, key), &owner),
                WorkloadRole::Stable,
                Vec::new(),
                &settings,
            );
            // Not a serving pod: the Service selects `nflbet-model` pods, and the gate needs no API token.
            params.pod_labels.insert("app.kubernetes.io/name".into(), "nflbet-model-gate".into());
            params.pod_labels.insert("betting.nflbet.dev/role".into(), "gate".into());
            params.api_access = false;
            let limits = workload_objects::JobLimits {
                active_deadline: gate::ACTIVE_DEADLINE,
                ttl_after_finished: gate::TTL_AFTER_FINISHED,
            };
            Some(workload_objects::job(params, containers, limits))
        }
        _ => None,
    };

    let prometheus_rule = (caps.prometheus_rules && !spec.disabled).then(|| PrometheusRule {
        metadata: workload_objects::with_extra_labels(meta(m, name.clone(), &owner), &cfg.rule_labels),
        spec: PrometheusRuleSpec { groups: vec![alerts::rule_group(m, &ns, cfg)] },
    });

    Ok(Children {
        shared: WorkloadChildren {
            service_account,
            role: workload_objects::status_role(meta(m, name.clone(), &owner), "models", &model),
            role_binding: workload_objects::role_binding(meta(m, name.clone(), &owner), &name, &sa_name),
            service: workload_objects::metrics_service(
                meta(m, name.clone(), &owner),
                instance_labels(&model),
            ),
            service_monitor: caps.service_monitors.then(|| {
                workload_objects::service_monitor(
                    meta(m, name.clone(), &owner),
                    instance_labels(&model),
                    &cfg.monitor_labels,
                    settings.scrape_interval(),
                )
            }),
            prometheus_rule,
        },
        stable,
        candidate,
        gate_job,
    })
}

/// Where the spec would connect, under the operator's policy: S3 credentials only to an allowed
/// endpoint, no refused address written in the store or games URL. The workload checks again.
pub fn check_egress(
    spec: &crate::crd::model::ModelSpec,
    egress: &crate::egress::Egress,
) -> Result<(), SpecError> {
    workload_objects::storage_egress(spec.storage.as_ref(), egress)
        .map_err(|source| SpecError::EgressRefused { field: "spec.storage.s3.endpoint", source })?;
    match spec.games.as_deref().map(|g| url::Url::parse(g.trim())) {
        Some(Ok(url)) if url.scheme().starts_with("http") => egress
            .check_destination(&url)
            .map_err(|source| SpecError::EgressRefused { field: "spec.games", source }),
        _ => Ok(()),
    }
}

/// The model workload's command line (`src/workloads/model/args.rs`) for one workload of `m`:
/// the Model's pricing and staking ([`spec::flags`], the translation `nflbet replay --model` uses
/// too), then where the pod runs.
pub fn model_args(
    m: &Model,
    books: &[String],
    w: Deployed<'_>,
    shadow: bool,
    cfg: &OperatorConfig,
) -> Vec<String> {
    let mut args = spec::flags(m, books, w);
    let spec = &m.spec;
    let mut flag = |k: &str, v: String| {
        args.push(format!("--{k}"));
        args.push(v);
    };
    flag("store", workload_objects::store_url(spec.storage.as_ref()));
    flag("retention", format_duration(spec.record_retention()));
    if let Some(games) = &spec.games {
        flag("games", games.clone());
    }
    flag("listen", format!("0.0.0.0:{}", workload_objects::METRICS_PORT));
    flag("metrics-namespace", cfg.metrics_namespace.clone());
    if shadow {
        args.push("--shadow".into());
    }
    args.push("--report-status".into());
    args.extend(cfg.egress.to_args());
    args
}

/// The command line of one side of the replay gate: the workload's own flags ([`spec::flags`])
/// with where it reads (store, games file) and the egress policy, then the gate flag. Nothing of
/// serving (listen address, status reports, retention): it replays and exits.
pub fn gate_args(
    m: &Model,
    books: &[String],
    w: Deployed<'_>,
    weeks: u32,
    cfg: &OperatorConfig,
) -> Vec<String> {
    let mut args = spec::flags(m, books, w);
    let spec = &m.spec;
    args.extend(["--store".into(), workload_objects::store_url(spec.storage.as_ref())]);
    if let Some(games) = &spec.games {
        args.extend(["--games".into(), games.clone()]);
    }
    args.extend(cfg.egress.to_args());
    args.extend([gate::GATE_FLAG.into(), weeks.to_string()]);
    args
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controller::model::rollout::{Decision, decide};
    use crate::crd::model::{ModelSpec, ModelStatus};

    /// The decision for `spec` once its replay gate (if any) passed: what runs in a rollout.
    pub fn gate_passed(spec: &ModelSpec) -> Decision {
        decide(spec, &passed_status(spec), k8s_openapi::jiff::Timestamp::now())
    }

    /// A status whose replay gate passed for `spec`'s current key.
    pub fn passed_status(spec: &ModelSpec) -> ModelStatus {
        let replay_gate = gate::key(spec).map(|(key, _)| crate::crd::model::ReplayGateStatus {
            key,
            result: crate::crd::model::ReplayGateResult::Passed,
            stable: None,
            candidate: None,
            from: None,
            to: None,
            message: "passed".into(),
            job_name: "nflbet-model-elo-gate-00000000".into(),
            time: None,
        });
        ModelStatus { replay_gate, ..ModelStatus::default() }
    }
    use crate::workloads::model::ModelArgs;
    use clap::Parser;

    pub fn model(extra: &str) -> Model {
        let mut m: Model = serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {{name: elo, namespace: betting, uid: u-1, generation: 2}}\nspec:\n  algorithm: elo\n  version: 1.0.0\n  sportsbooks: {{names: [fanduel]}}\n  staking: {{bankroll: 10000, kellyFraction: 0.25, exposureCaps: {{team: 0.1}}}}\n  calibration: {{baselineBrier: 0.22, baselineLogLoss: 0.63}}\n{extra}"
        ))
        .unwrap();
        m.metadata.uid = Some("u-1".into());
        m
    }

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        cmd: Sub,
    }
    #[derive(clap::Subcommand)]
    enum Sub {
        Model(ModelArgs),
    }

    fn parse(args: Vec<String>) -> ModelArgs {
        let Sub::Model(a) = Wrapper::try_parse_from(std::iter::once("nflbet".to_string()).chain(args))
            .expect("clap accepts")
            .cmd;
        a
    }

    #[test]
    fn stable_only_without_rollout() {
        let m = model("");
        let c = build(
            &m,
            &["fanduel".into()],
            &gate_passed(&m.spec),
            &OperatorConfig::default(),
            Capabilities::ALL,
        )
        .unwrap();
        assert!(c.candidate.is_none());
        let args = c.stable.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
        let a = parse(args);
        assert_eq!((a.role.as_str(), a.version.as_str(), a.traffic_share), ("stable", "1.0.0", 1.0));
        assert_eq!(a.sportsbooks, ["fanduel"]);
        assert_eq!(a.cap_team, Some(0.1));
        assert!(a.report_status && !a.shadow);
    }

    #[test]
    fn workload_image_pull_secrets_reach_stable_and_candidate_pods() {
        let m = model("  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25}}\n");
        let cfg = OperatorConfig { image_pull_secrets: vec!["ghcr".into()], ..OperatorConfig::default() };
        let c = build(&m, &[], &gate_passed(&m.spec), &cfg, Capabilities::ALL).unwrap();
        for d in [c.stable, c.candidate.expect("a candidate")] {
            let secrets = d.spec.unwrap().template.spec.unwrap().image_pull_secrets.unwrap();
            assert_eq!(secrets.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["ghcr"]);
        }
    }

    #[test]
    fn rollout_splits_the_bankroll_and_shadow_stakes_nothing() {
        let m = model("  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25}}\n");
        let c = build(&m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL).unwrap();
        let args = |d: &Deployment| {
            parse(d.spec.clone().unwrap().template.spec.unwrap().containers[0].args.clone().unwrap())
        };
        assert_eq!(args(&c.stable).traffic_share, 0.75);
        // Each pod prices and stakes by the one translation of the spec (the one replay uses).
        let argv = |d: &Deployment| d.spec.clone().unwrap().template.spec.unwrap().containers[0].args.clone();
        let candidate_parameters = m.spec.candidate_parameters().unwrap();
        for (d, role, version, traffic_share, parameters) in [
            (&c.stable, WorkloadRole::Stable, "1.0.0", 0.75, m.spec.stable_parameters()),
            (c.candidate.as_ref().unwrap(), WorkloadRole::Candidate, "1.1.0", 0.25, &candidate_parameters),
        ] {
            let shared = spec::flags(&m, &[], Deployed { role, version, traffic_share, parameters });
            assert_eq!(argv(d).unwrap()[..shared.len()], shared[..]);
        }
        let cand = args(c.candidate.as_ref().unwrap());
        assert_eq!(
            (cand.role.as_str(), cand.version.as_str(), cand.traffic_share, cand.shadow),
            ("candidate", "1.1.0", 0.25, false)
        );

        let shadow = model("  rollout: {candidate: {version: 1.1.0, shadow: true}}\n");
        let c =
            build(&shadow, &[], &gate_passed(&shadow.spec), &OperatorConfig::default(), Capabilities::ALL)
                .unwrap();
        assert_eq!(args(&c.stable).traffic_share, 1.0);
        assert!(args(c.candidate.as_ref().unwrap()).shadow);
    }

    /// `args` as flag → value (a bare flag maps to "").
    fn flags(args: &[String]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut it = args.iter().skip(1).peekable();
        while let Some(k) = it.next() {
            let v = match it.peek() {
                Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            out.insert(k.clone(), v);
        }
        out
    }

    /// The flags whose values differ between `a` and `b`, with both values.
    pub(crate) fn differences(a: &[String], b: &[String]) -> Vec<(String, Option<String>, Option<String>)> {
        let (a, b) = (flags(a), flags(b));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
            .collect()
    }

    /// `m` built for its first reconcile with the default operator settings.
    fn built(m: &Model) -> Result<Children, SpecError> {
        build(m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL)
    }

    fn container_args(d: &Deployment) -> Vec<String> {
        d.spec.clone().unwrap().template.spec.unwrap().containers[0].args.clone().unwrap()
    }

    #[test]
    fn a_candidate_s_override_reaches_only_its_own_args() {
        let m = model(
            "  elo: {kFactor: 20}\n  rollout: {candidate: {version: 1.1.0, trafficShare: 0.25, overrides: {elo: {kFactor: 32}}}}\n",
        );
        let c = built(&m).unwrap();
        let (stable, candidate) = (container_args(&c.stable), container_args(c.candidate.as_ref().unwrap()));
        let stable_fp = m.spec.stable_parameters().fingerprint();
        let candidate_fp = m.spec.candidate_parameters().unwrap().fingerprint();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            differences(&stable, &candidate),
            [
                ("--elo-k-factor".into(), s("20"), s("32")),
                ("--parameters".into(), Some(stable_fp), Some(candidate_fp)),
                ("--role".into(), s("stable"), s("candidate")),
                ("--traffic-share".into(), s("0.75"), s("0.25")),
                ("--version".into(), s("1.0.0"), s("1.1.0")),
            ]
        );
        // The workload takes them.
        assert_eq!(parse(candidate).elo_k_factor, 32.0);
        assert_eq!(parse(stable).elo_k_factor, 20.0);
    }

    #[test]
    fn a_merged_set_the_spec_s_rules_refuse_is_an_invalid_spec() {
        // 0.05 per bet is a valid override on its own, but above the spec's 0.04 per event.
        let mut m =
            model("  rollout: {candidate: {version: 1.1.0, overrides: {staking: {maxStakePerBet: 0.05}}}}\n");
        m.spec.parameters.staking.limits.max_event_exposure = Some(0.04);
        let err = built(&m).unwrap_err();
        assert_eq!(err.reason(), "InvalidSpec");
        assert!(err.to_string().starts_with("spec.rollout.candidate.overrides.staking: "), "{err}");
    }

    #[test]
    fn operator_labels_reach_the_service_monitor_and_the_rule() {
        let m = model("");
        let cfg = OperatorConfig {
            monitor_labels: BTreeMap::from([("release".into(), "kube-prometheus-stack".into())]),
            rule_labels: BTreeMap::from([("release".into(), "rules".into())]),
            ..OperatorConfig::default()
        };
        let c = build(&m, &[], &gate_passed(&m.spec), &cfg, Capabilities::ALL).unwrap();
        let monitor = c.shared.service_monitor.unwrap().metadata.labels.unwrap();
        assert_eq!(monitor["release"], "kube-prometheus-stack");
        assert_eq!(monitor["app.kubernetes.io/component"], "model");
        assert_eq!(c.shared.prometheus_rule.unwrap().metadata.labels.unwrap()["release"], "rules");
    }

    #[test]
    fn the_workloads_scrape_interval_reaches_the_service_monitor() {
        let children = |m: &Model| {
            build(m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL).unwrap()
        };
        let endpoint = |m: &Model| children(m).shared.service_monitor.unwrap().spec.endpoints.remove(0);
        let e = endpoint(&model("  workload: {scrapeInterval: 1m}\n"));
        assert_eq!((e.interval.as_deref(), e.scrape_timeout.as_deref()), (Some("1m"), Some("10s")));
        let e = endpoint(&model(""));
        assert_eq!((e.interval.as_deref(), e.scrape_timeout.as_deref()), (Some("30s"), None));
    }

    #[test]
    fn the_pod_policy_checks_the_candidates_image_too() {
        let cfg = OperatorConfig::default();
        assert_eq!(check_policy(&model(""), &cfg, NamedAccount::NotNamed), Ok(()));
        let same =
            format!("  rollout: {{candidate: {{version: 1.1.0, image: \"{}\"}}}}\n", cfg.workload_image);
        assert_eq!(check_policy(&model(&same), &cfg, NamedAccount::NotNamed), Ok(()));
        let m = model("  rollout: {candidate: {version: 1.1.0, image: evil.example/model:1}}\n");
        let err = check_policy(&m, &cfg, NamedAccount::NotNamed).unwrap_err();
        assert_eq!(err.reason(), "PolicyViolation");
        assert!(
            err.to_string().starts_with("spec.rollout.candidate.image: image \"evil.example/model:1\""),
            "{err}"
        );
        let allowed = OperatorConfig {
            pod_policy: crate::controller::pod_policy::PodPolicy {
                images: vec![crate::controller::pod_policy::Pattern::parse("evil.example/*").unwrap()],
                ..Default::default()
            },
            ..OperatorConfig::default()
        };
        assert_eq!(check_policy(&m, &allowed, NamedAccount::NotNamed), Ok(()));
    }

    #[test]
    fn roles_have_distinct_selectors_and_disabled_scales_both_to_zero() {
        let m = model("  disabled: true\n  rollout: {candidate: {version: 1.1.0}}\n");
        let c = build(&m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL).unwrap();
        let sel = |d: &Deployment| d.spec.clone().unwrap().selector.match_labels.unwrap();
        assert_ne!(sel(&c.stable), sel(c.candidate.as_ref().unwrap()));
        assert_eq!(c.stable.spec.unwrap().replicas, Some(0));
        assert!(c.shared.prometheus_rule.is_none());
    }

    #[test]
    fn records_are_kept_for_calibration_and_the_volume_is_bounded() {
        let retention = |m: &Model| {
            let c =
                build(m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL).unwrap();
            let pod = c.stable.spec.unwrap().template.spec.unwrap();
            let size = pod.volumes.as_ref().unwrap()[0].empty_dir.as_ref().and_then(|e| e.size_limit.clone());
            (parse(pod.containers[0].args.clone().unwrap()).retention, size.map(|q| q.0))
        };
        // Default on the emptyDir: 24h, raised to the calibration window (672h) plus 14 days.
        assert_eq!(retention(&model("")), (Some("1008h".into()), Some("1Gi".into())));
        let mut wide = model("  storage: {url: 's3://b/p', retention: 720h}\n");
        wide.spec.calibration.as_mut().unwrap().window = Some("2000h".into());
        assert_eq!(retention(&wide).0.as_deref(), Some("2336h"), "never below window + 14 days");
        let s3 = model("  storage: {url: 's3://b/p'}\n");
        assert_eq!(retention(&s3).0.as_deref(), Some("4392h"));
        assert_eq!(
            crate::crd::model::CALIBRATION_LEAD,
            crate::workloads::model::settle::LEAD.to_std().unwrap(),
            "the CRD's lead is calibration's"
        );
    }

    #[test]
    fn the_gate_job_runs_each_side_s_own_flags_in_the_model_s_pod() {
        let m = model(
            "  games: https://games.example/games.csv\n  storage: {url: 's3://odds/snapshots', s3: {endpoint: 'https://s3.example', accessKeyId: {name: s3, key: id}, secretAccessKey: {name: s3, key: secret}}}\n  workload: {serviceAccountName: pricing, resources: {limits: {memory: 512Mi}}}\n  rollout: {candidate: {version: 1.1.0, image: 'ghcr.io/nflbet/nflbet:cand', overrides: {elo: {kFactor: 90}}}, gate: {weeks: 6}}\n",
        );
        let cfg =
            OperatorConfig { egress: crate::egress::Egress::unrestricted(), ..OperatorConfig::default() };
        let d = decide(&m.spec, &ModelStatus::default(), k8s_openapi::jiff::Timestamp::now());
        let books = ["fanduel".to_string()];
        let c = build(&m, &books, &d, &cfg, Capabilities::ALL).unwrap();
        assert!(c.candidate.is_none(), "gating: no candidate Deployment");
        let job = c.gate_job.expect("the gate Job");
        let (key, _) = gate::key(&m.spec).unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some(gate::job_name("elo", &key).as_str()));
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("Model", "elo", Some(true))
        );
        let spec = job.spec.unwrap();
        assert_eq!(
            (spec.backoff_limit, spec.active_deadline_seconds, spec.ttl_seconds_after_finished),
            (Some(0), Some(900), Some(3600))
        );
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false), "the replay needs no API token");

        // Each side: the one translation of its role, where it reads, the egress policy, the flag.
        let expected = |role, version: &str, parameters: &crate::crd::model::ModelParameters| {
            let mut a = spec::flags(&m, &books, Deployed { role, version, traffic_share: 1.0, parameters });
            a.extend([
                "--store".into(),
                "s3://odds/snapshots".into(),
                "--games".into(),
                "https://games.example/games.csv".into(),
            ]);
            a.extend(cfg.egress.to_args());
            a.extend(["--replay-gate-weeks".into(), "6".into()]);
            a
        };
        let candidate_parameters = m.spec.candidate_parameters().unwrap();
        let want = [
            (
                "stable",
                cfg.workload_image.as_str(),
                expected(WorkloadRole::Stable, "1.0.0", m.spec.stable_parameters()),
            ),
            (
                "candidate",
                "ghcr.io/nflbet/nflbet:cand",
                expected(WorkloadRole::Candidate, "1.1.0", &candidate_parameters),
            ),
        ];
        assert_eq!(pod.containers.len(), 2);
        for (container, (name, image, args)) in pod.containers.iter().zip(want) {
            assert_eq!(container.name, name);
            assert_eq!(container.image.as_deref(), Some(image), "{name}");
            assert_eq!(container.args.as_ref(), Some(&args), "{name}");
            let parsed = parse(args[..].to_vec());
            assert_eq!(parsed.replay_gate_weeks, Some(6));
            assert_eq!(container.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
            assert!(container.ports.is_none() && container.readiness_probe.is_none());
        }

        // The same pod as the model's Deployment: account, security, storage volume and env, limits.
        let stable = c.stable.spec.unwrap().template.spec.unwrap();
        let model_container = &stable.containers[0];
        // The root filesystem is read-only, so the replays' scratch records get an emptyDir at
        // /tmp (without it, the real node refused the first write: "Read-only file system").
        let mut mounts = model_container.volume_mounts.clone().unwrap();
        use k8s_openapi::api::core::v1::VolumeMount;
        mounts.push(VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..VolumeMount::default() });
        for container in &pod.containers {
            assert_eq!(container.env, model_container.env, "storage env and S3 credentials by reference");
            assert_eq!(container.volume_mounts.as_ref(), Some(&mounts));
            assert_eq!(container.security_context, model_container.security_context);
            assert_eq!(
                container.security_context.as_ref().and_then(|s| s.read_only_root_filesystem),
                Some(true)
            );
            assert_eq!(container.resources, model_container.resources);
        }
        let volumes = pod.volumes.as_ref().unwrap();
        assert_eq!(&volumes[..volumes.len() - 1], &stable.volumes.as_ref().unwrap()[..]);
        let tmp = volumes.last().unwrap();
        assert_eq!(tmp.name, "tmp");
        assert_eq!(
            tmp.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()).map(|q| q.0.as_str()),
            Some(workload_objects::SCRATCH_VOLUME_SIZE_LIMIT)
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("pricing"));
        assert_eq!(pod.security_context, stable.security_context);
        let env = serde_json::to_string(&model_container.env).unwrap();
        assert!(env.contains("AWS_SECRET_ACCESS_KEY") && env.contains("secretKeyRef"), "{env}");
        // Its pods are not the Service's.
        let labels = job_labels(&m, &books, &d, &cfg);
        assert_eq!(labels.get("app.kubernetes.io/name").map(String::as_str), Some("nflbet-model-gate"));
    }

    fn job_labels(
        m: &Model,
        books: &[String],
        d: &Decision,
        cfg: &OperatorConfig,
    ) -> BTreeMap<String, String> {
        let job = build(m, books, d, cfg, Capabilities::ALL).unwrap().gate_job.unwrap();
        job.spec.unwrap().template.metadata.unwrap().labels.unwrap()
    }

    #[test]
    fn no_gate_job_once_the_gate_passed_or_for_a_shadow_candidate() {
        let m = model("  rollout: {candidate: {version: 1.1.0}}\n");
        let c = build(&m, &[], &gate_passed(&m.spec), &OperatorConfig::default(), Capabilities::ALL).unwrap();
        assert!(c.gate_job.is_none() && c.candidate.is_some());
        let shadow = model("  rollout: {candidate: {version: 1.1.0, shadow: true}}\n");
        let d = decide(&shadow.spec, &ModelStatus::default(), k8s_openapi::jiff::Timestamp::now());
        let c = build(&shadow, &[], &d, &OperatorConfig::default(), Capabilities::ALL).unwrap();
        assert!(c.gate_job.is_none() && c.candidate.is_some());
    }
}
