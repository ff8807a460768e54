//! Pure build step: a Sportsbook (plus operator settings and cluster capabilities) in, the
//! complete desired children out. No I/O, so every rule about what the operator generates is
//! covered by unit tests without a cluster.

use super::alerts;
use crate::controller::config::{MANAGED_BY, OperatorConfig};
use crate::controller::driver::SpecError;
use crate::controller::names;
pub use crate::controller::names::sportsbook::{child_name, rule_name};
use crate::controller::pod_policy::{NamedAccount, PodRequest};
use crate::controller::workload_objects::{self, PodParams, WorkloadChildren, plain_env, secret_env};
use crate::crd::sportsbook::{Provider, Sportsbook, SportsbookSpec, StorageSettings};
use crate::domain::duration::format_duration;
use crate::egress::Egress;
use crate::monitoring::{Capabilities, PrometheusRule, PrometheusRuleSpec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

pub use crate::controller::workload_objects::{DATA_DIR, METRICS_PORT};

/// Everything the operator wants to exist for one Sportsbook.
#[derive(Clone, Debug)]
pub struct Children {
    pub shared: WorkloadChildren,
    pub deployment: Deployment,
}

/// Labels that select the scraper's pods; stable for the life of the Sportsbook, because a
/// Deployment's selector is immutable.
pub fn selector_labels(book: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "nflbet-scraper".into()),
        ("app.kubernetes.io/instance".into(), names::label_value(book)),
    ])
}

fn labels(book: &str) -> BTreeMap<String, String> {
    let mut l = selector_labels(book);
    l.insert("app.kubernetes.io/component".into(), "scraper".into());
    l.insert("app.kubernetes.io/part-of".into(), "nflbet".into());
    l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    l.insert("betting.nflbet.dev/sportsbook".into(), names::label_value(book));
    l
}

fn owner_reference(sb: &Sportsbook) -> Result<OwnerReference, SpecError> {
    sb.controller_owner_ref(&()).ok_or(SpecError::InvalidObject("uid"))
}

fn meta(sb: &Sportsbook, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: sb.namespace(),
        labels: Some(labels(&sb.name_any())),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The validate step: whether the operator's pod policy allows what `sb` asks for in its pod.
/// `account` is the ServiceAccount the spec names, as the reconcile read it.
pub fn check_policy(
    sb: &Sportsbook,
    cfg: &OperatorConfig,
    account: NamedAccount<'_>,
) -> Result<(), SpecError> {
    let settings = sb.spec.workload.as_deref().cloned().unwrap_or_default();
    let req = PodRequest { settings: &settings, extra_images: vec![], account };
    Ok(cfg.pod_policy.check(&cfg.workload_image, &req)?)
}

/// Build the desired children of `sb`.
pub fn build(sb: &Sportsbook, cfg: &OperatorConfig, caps: Capabilities) -> Result<Children, SpecError> {
    let ns = sb.namespace().ok_or(SpecError::InvalidObject("namespace"))?;
    let book = sb.name_any();
    let owner = owner_reference(sb)?;
    let spec = &sb.spec;
    if spec.enabled_markets().is_empty() {
        return Err(SpecError::InvalidSpec("no market is enabled".into()));
    }
    check_egress(spec, &cfg.egress)?;
    let name = child_name(&book);
    let settings = spec.workload.as_deref().cloned().unwrap_or_default();

    let service_account = match settings.service_account_name {
        Some(_) => None,
        None => Some(ServiceAccount {
            metadata: meta(sb, name.clone(), &owner),
            // Only the heartbeat needs API credentials.
            automount_service_account_token: Some(spec.feature_heartbeat()),
            ..ServiceAccount::default()
        }),
    };
    let sa_name = settings.service_account_name.clone().unwrap_or_else(|| name.clone());

    // The scraper may patch only its own Sportsbook's status: one resource name, one verb.
    let role = workload_objects::status_role(meta(sb, name.clone(), &owner), "sportsbooks", &book);
    let role_binding = workload_objects::role_binding(meta(sb, name.clone(), &owner), &name, &sa_name);
    let deployment = build_deployment(sb, cfg, &name, &sa_name, &owner)?;
    let service = workload_objects::metrics_service(meta(sb, name.clone(), &owner), selector_labels(&book));
    let service_monitor = (caps.service_monitors && spec.feature_service_monitor()).then(|| {
        workload_objects::service_monitor(
            meta(sb, name.clone(), &owner),
            selector_labels(&book),
            &cfg.monitor_labels,
            settings.scrape_interval(),
        )
    });

    let prometheus_rule =
        (caps.prometheus_rules && spec.feature_alerts() && !spec.disabled).then(|| PrometheusRule {
            metadata: workload_objects::with_extra_labels(
                meta(sb, rule_name(&book), &owner),
                &cfg.rule_labels,
            ),
            spec: PrometheusRuleSpec { groups: vec![alerts::rule_group(sb, &ns, cfg)] },
        });

    Ok(Children {
        shared: WorkloadChildren {
            service_account,
            role,
            role_binding,
            service,
            service_monitor,
            prometheus_rule,
        },
        deployment,
    })
}

/// Where the spec would send its credentials and connect, under the operator's policy: the API
/// key only to an allowed host (over https unless allowed), S3 credentials only to an allowed
/// endpoint, no refused address written in a URL. The scraper checks all of it again.
pub fn check_egress(spec: &SportsbookSpec, egress: &Egress) -> Result<(), SpecError> {
    let endpoint = match (&spec.endpoint, spec.provider) {
        (Some(e), _) => Some(e.as_str()),
        (None, Provider::TheOddsApi) => Some(crate::feed::the_odds_api::DEFAULT_ENDPOINT),
        (None, Provider::GenericJson) => None,
    };
    if let Some(endpoint) = endpoint {
        let url = url::Url::parse(endpoint.trim())
            .map_err(|_| SpecError::InvalidSpec("spec.endpoint is not a valid URL".into()))?;
        if spec.credentials.is_some() {
            egress
                .check_feed_credentials(&url)
                .map_err(|source| SpecError::EgressRefused { field: "spec.credentials", source })?;
        }
        egress
            .check_destination(&url)
            .map_err(|source| SpecError::EgressRefused { field: "spec.endpoint", source })?;
    }
    workload_objects::storage_egress(spec.storage.as_deref(), egress)
        .map_err(|source| SpecError::EgressRefused { field: "spec.storage.s3.endpoint", source })
}

/// The scraper's command line, rendered from the spec. Kept in one place so that the flags
/// stay in step with `nflbet scrape` (`src/workloads/scraper/args.rs`); a test parses them back with clap.
pub fn scraper_args(sb: &Sportsbook, cfg: &OperatorConfig) -> Result<Vec<String>, SpecError> {
    let spec = &sb.spec;
    let p = spec.polling();
    let mut args: Vec<String> = vec!["scrape".into()];
    let mut flag = |k: &str, v: String| {
        args.push(format!("--{k}"));
        args.push(v);
    };
    flag("sportsbook", sb.name_any());
    flag("namespace", sb.namespace().unwrap_or_default());
    flag("provider", spec.provider.as_str().into());
    match spec.provider {
        Provider::TheOddsApi => {
            let s = spec.the_odds_api.as_ref().ok_or_else(|| {
                SpecError::InvalidSpec("provider theOddsApi needs spec.theOddsApi.bookmaker".into())
            })?;
            flag("bookmaker", s.bookmaker.clone());
            if let Some(sport) = &s.sport {
                flag("sport", sport.clone());
            }
            if !s.regions.is_empty() {
                flag("regions", s.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","));
            }
        }
        Provider::GenericJson => {
            if spec.endpoint.is_none() {
                return Err(SpecError::InvalidSpec("provider genericJson needs spec.endpoint".into()));
            }
        }
    }
    if let Some(endpoint) = &spec.endpoint {
        flag("endpoint", endpoint.clone());
    }
    let markets: Vec<&str> = spec.enabled_markets().iter().map(|m| m.as_str()).collect();
    flag("markets", markets.join(","));
    flag("poll-interval", format_duration(p.interval));
    flag("jitter", format_duration(p.jitter));
    flag("timeout", format_duration(p.timeout));
    flag("max-retries", p.max_retries.to_string());
    flag("backoff-base", format_duration(p.backoff_base));
    flag("backoff-max", format_duration(p.backoff_max));
    if let Some(rpm) = p.max_requests_per_minute {
        flag("max-requests-per-minute", rpm.to_string());
    }
    flag("max-response-bytes", p.max_response_bytes.to_string());
    flag("max-quote-age", format_duration(p.max_quote_age));
    flag("store", workload_objects::store_url(spec.storage.as_deref()));
    flag("retention", format_duration(StorageSettings::retention(spec.storage.as_deref())));
    flag("listen", format!("0.0.0.0:{METRICS_PORT}"));
    flag("metrics-namespace", cfg.metrics_namespace.clone());
    if spec.feature_heartbeat() {
        args.push("--heartbeat".into());
    }
    args.extend(cfg.egress.to_args());
    Ok(args)
}

fn build_deployment(
    sb: &Sportsbook,
    cfg: &OperatorConfig,
    name: &str,
    sa_name: &str,
    owner: &OwnerReference,
) -> Result<Deployment, SpecError> {
    let spec = &sb.spec;
    let book = sb.name_any();
    let settings = spec.workload.as_deref().cloned().unwrap_or_default();

    let mut env = vec![plain_env("NFLBET_LOG_FORMAT", "json"), plain_env("RUST_LOG", "info")];
    if let Some(creds) = &spec.credentials {
        env.push(secret_env("NFLBET_API_KEY", creds));
    }
    env.extend(workload_objects::storage_env(spec.storage.as_deref()));
    let mut pod_labels = labels(&book);
    pod_labels.retain(|k, _| k != "app.kubernetes.io/managed-by");
    Ok(workload_objects::deployment(PodParams {
        meta: meta(sb, name.into(), owner),
        selector: selector_labels(&book),
        pod_labels,
        replicas: if spec.disabled { 0 } else { 1 },
        container: "scraper",
        image: cfg.workload_image.clone(),
        pull_policy: cfg.image_pull_policy.clone(),
        pull_secrets: &cfg.image_pull_secrets,
        args: scraper_args(sb, cfg)?,
        env,
        settings: settings.clone(),
        service_account: sa_name.into(),
        api_access: spec.feature_heartbeat(),
        data_claim: spec.storage.as_ref().and_then(|s| s.persistent_volume_claim.clone()),
    }))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Builder-style fixtures: `book("fanduel").disabled().build()`.
    use crate::crd::sportsbook::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    pub struct BookBuilder(Sportsbook);

    pub fn book(name: &str) -> BookBuilder {
        let spec: SportsbookSpec = serde_json::from_value(serde_json::json!({
            "provider": "theOddsApi",
            "theOddsApi": {"bookmaker": "fanduel", "regions": ["us"]},
            "credentials": {"name": "odds-api", "key": "apiKey"},
            "markets": [{"name": "moneyline"}, {"name": "spread"}, {"name": "total", "enabled": false}],
        }))
        .expect("fixture spec");
        let mut sb = Sportsbook::new(name, spec);
        sb.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some("betting".into()),
            uid: Some("0b7c2d5e-0000-4000-8000-000000000001".into()),
            generation: Some(3),
            ..ObjectMeta::default()
        };
        BookBuilder(sb)
    }

    impl BookBuilder {
        pub fn disabled(mut self) -> Self {
            self.0.spec.disabled = true;
            self
        }
        pub fn generic(mut self, endpoint: &str) -> Self {
            self.0.spec.provider = Provider::GenericJson;
            self.0.spec.the_odds_api = None;
            self.0.spec.credentials = None;
            self.0.spec.endpoint = Some(endpoint.into());
            self
        }
        pub fn spec(mut self, f: impl FnOnce(&mut SportsbookSpec)) -> Self {
            f(&mut self.0.spec);
            self
        }
        pub fn build(self) -> Sportsbook {
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::book;
    use super::*;
    use crate::workloads::scraper::ScrapeArgs;
    use clap::Parser;

    fn children(sb: &Sportsbook) -> Children {
        build(sb, &OperatorConfig::default(), Capabilities::ALL).expect("builds")
    }

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        cmd: Sub,
    }
    #[derive(clap::Subcommand)]
    enum Sub {
        Scrape(ScrapeArgs),
    }

    /// Every child named `child_name(book)`: all but the PrometheusRule.
    fn named_like_the_book(c: &Children) -> Vec<&ObjectMeta> {
        vec![
            &c.shared.service_account.as_ref().unwrap().metadata,
            &c.shared.role.metadata,
            &c.shared.role_binding.metadata,
            &c.deployment.metadata,
            &c.shared.service.metadata,
            &c.shared.service_monitor.as_ref().unwrap().metadata,
        ]
    }

    #[test]
    fn every_child_is_owned_by_the_book_and_labelled() {
        let c = children(&book("fanduel").build());
        let mut metas = named_like_the_book(&c);
        metas.push(&c.shared.prometheus_rule.as_ref().unwrap().metadata);
        for m in metas {
            let owner = &m.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.controller),
                ("Sportsbook", "fanduel", Some(true))
            );
            assert_eq!(m.namespace.as_deref(), Some("betting"));
            assert_eq!(m.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"], "nflbet-operator");
        }
    }

    #[test]
    fn workload_image_pull_secrets_reach_the_scraper_pod() {
        let pod = |c: &Children| c.deployment.spec.clone().unwrap().template.spec.unwrap();
        assert_eq!(pod(&children(&book("fanduel").build())).image_pull_secrets, None, "none by default");
        let cfg = OperatorConfig {
            image_pull_secrets: vec!["ghcr".into(), "mirror".into()],
            ..OperatorConfig::default()
        };
        let c = build(&book("fanduel").build(), &cfg, Capabilities::ALL).expect("builds");
        let names: Vec<String> = pod(&c).image_pull_secrets.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["ghcr", "mirror"]);
    }

    #[test]
    fn rendered_args_parse_back_into_the_scraper_cli() {
        let sb = book("fanduel").spec(|s| {
            s.polling =
                Some(serde_json::from_value(serde_json::json!({"interval": "45s", "timeout": "5s"})).unwrap())
        });
        let sb = sb.build();
        let args = scraper_args(&sb, &OperatorConfig::default()).unwrap();
        let parsed = Wrapper::try_parse_from(std::iter::once("nflbet".to_string()).chain(args))
            .expect("clap accepts the operator's flags");
        let Sub::Scrape(a) = parsed.cmd;
        assert_eq!(a.sportsbook, "fanduel");
        assert_eq!(a.namespace, "betting");
        assert_eq!(a.provider, "theOddsApi");
        assert_eq!(a.bookmaker.as_deref(), Some("fanduel"));
        assert_eq!(a.markets, ["moneyline", "spread"], "disabled market is not scraped");
        assert_eq!(a.poll_interval, "45s");
        assert_eq!(a.timeout, "5s");
        assert_eq!(a.jitter, "4500ms", "default jitter is 10% of the interval");
        assert!(a.heartbeat);
        assert_eq!(a.store, "file:///var/lib/nflbet/snapshots");
    }

    #[test]
    fn credentials_reach_the_pod_only_as_a_secret_reference() {
        let c = children(&book("fanduel").build());
        let pod = c.deployment.spec.unwrap().template.spec.unwrap();
        let container = &pod.containers[0];
        let key = container.env.as_ref().unwrap().iter().find(|e| e.name == "NFLBET_API_KEY").unwrap();
        assert!(key.value.is_none(), "no literal secret in the Deployment");
        let sel = key.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
        assert_eq!((sel.name.as_str(), sel.key.as_str()), ("odds-api", "apiKey"));
        let sc = container.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_ref().unwrap(), &["ALL"]);
        assert_eq!(pod.security_context.unwrap().seccomp_profile.unwrap().type_, "RuntimeDefault");
        assert_eq!(pod.service_account_name.as_deref(), Some("nflbet-scraper-fanduel"));
    }

    #[test]
    fn disabling_scales_to_zero_and_drops_only_the_alerts() {
        let c = children(&book("fanduel").disabled().build());
        assert_eq!(c.deployment.spec.unwrap().replicas, Some(0));
        assert!(c.shared.prometheus_rule.is_none(), "alerts removed");
        assert!(c.shared.service_monitor.is_some(), "objects are kept");
        assert!(c.shared.service_account.is_some());
        let on = children(&book("fanduel").build());
        assert_eq!(on.deployment.spec.unwrap().replicas, Some(1));
    }

    #[test]
    fn missing_monitoring_crds_leave_the_workload_intact() {
        let sb = book("fanduel").build();
        let c = build(&sb, &OperatorConfig::default(), Capabilities::default()).unwrap();
        assert!(c.shared.prometheus_rule.is_none() && c.shared.service_monitor.is_none());
        assert_eq!(c.deployment.spec.unwrap().replicas, Some(1));
    }

    #[test]
    fn heartbeat_permission_is_one_verb_on_one_status() {
        let c = children(&book("fanduel").build());
        let rules = c.shared.role.rules.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].resources.as_ref().unwrap(), &["sportsbooks/status"]);
        assert_eq!(rules[0].resource_names.as_ref().unwrap(), &["fanduel"]);
        assert_eq!(rules[0].verbs, ["get", "patch"]);
        let subject = &c.shared.role_binding.subjects.unwrap()[0];
        assert_eq!(subject.name, "nflbet-scraper-fanduel");
    }

    #[test]
    fn user_service_account_replaces_the_generated_one() {
        let sb = book("fanduel").spec(|s| {
            s.workload = Some(Box::new(crate::crd::common::WorkloadSettings {
                service_account_name: Some("odds-team".into()),
                ..Default::default()
            }))
        });
        let c = children(&sb.build());
        assert!(c.shared.service_account.is_none());
        assert_eq!(c.shared.role_binding.subjects.unwrap()[0].name, "odds-team");
        assert_eq!(
            c.deployment.spec.unwrap().template.spec.unwrap().service_account_name.as_deref(),
            Some("odds-team")
        );
    }

    #[test]
    fn rule_labels_from_the_operator_reach_the_prometheus_rule() {
        let cfg = OperatorConfig {
            rule_labels: BTreeMap::from([("release".into(), "kube-prometheus-stack".into())]),
            ..OperatorConfig::default()
        };
        let c = build(&book("fanduel").build(), &cfg, Capabilities::ALL).unwrap();
        assert_eq!(
            c.shared.prometheus_rule.unwrap().metadata.labels.unwrap()["release"],
            "kube-prometheus-stack"
        );
    }

    #[test]
    fn monitor_labels_from_the_operator_reach_the_service_monitor_but_never_replace_its_own() {
        let cfg = OperatorConfig {
            monitor_labels: BTreeMap::from([
                ("release".into(), "kube-prometheus-stack".into()),
                ("app.kubernetes.io/managed-by".into(), "someone-else".into()),
            ]),
            ..OperatorConfig::default()
        };
        let c = build(&book("fanduel").build(), &cfg, Capabilities::ALL).unwrap();
        let labels = c.shared.service_monitor.unwrap().metadata.labels.unwrap();
        assert_eq!(labels["release"], "kube-prometheus-stack");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "nflbet-operator", "the watch selects on it");
        let rule = c.shared.prometheus_rule.unwrap().metadata.labels.unwrap();
        assert!(!rule.contains_key("release"), "monitor labels are not rule labels");
    }

    #[test]
    fn the_pod_policy_refuses_a_foreign_image_before_anything_is_built() {
        let cfg = OperatorConfig::default();
        let ok = book("fanduel").build();
        assert_eq!(check_policy(&ok, &cfg, NamedAccount::NotNamed), Ok(()));
        let foreign = book("fanduel")
            .spec(|s| {
                s.workload = Some(Box::new(crate::crd::common::WorkloadSettings {
                    image: Some("evil.example/miner:1".into()),
                    ..Default::default()
                }))
            })
            .build();
        let err = check_policy(&foreign, &cfg, NamedAccount::NotNamed).unwrap_err();
        assert_eq!(err.reason(), "PolicyViolation");
        assert!(err.to_string().starts_with("spec.workload.image: image \"evil.example/miner:1\""), "{err}");
    }

    #[test]
    fn a_name_too_long_for_its_children_gets_valid_names_and_labels_everywhere() {
        use crate::controller::names::{is_dns_label, is_label_value};
        let long = format!("{}.{}", "odds".repeat(15), "x".repeat(40));
        let c = children(&book(&long).build());
        let child = child_name(&long);
        assert!(is_dns_label(&child) && child.len() == 63, "{child}");
        let metas = named_like_the_book(&c);
        for m in metas {
            assert_eq!(m.name.as_deref(), Some(child.as_str()));
            assert!(m.labels.as_ref().unwrap().values().all(|v| is_label_value(v)), "{:?}", m.labels);
        }
        let selector = c.deployment.spec.as_ref().unwrap().selector.match_labels.clone().unwrap();
        assert_eq!(selector, selector_labels(&long));
        assert!(selector.values().all(|v| is_label_value(v)));
        assert_eq!(c.shared.service.spec.unwrap().selector.unwrap(), selector, "the Service finds the pods");
        // The workload still reports into, and is allowed to patch, the book by its full name.
        assert_eq!(
            c.shared.role.rules.unwrap()[0].resource_names.as_ref().unwrap(),
            std::slice::from_ref(&long)
        );
        let args = c.deployment.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
        assert!(args.windows(2).any(|w| w[0] == "--sportsbook" && w[1] == long));
    }

    #[test]
    fn generic_feed_without_endpoint_is_a_build_error() {
        let mut sb = book("inhouse").generic("http://127.0.0.1:1/feed").build();
        sb.spec.endpoint = None;
        assert_eq!(
            build(&sb, &OperatorConfig::default(), Capabilities::ALL).unwrap_err(),
            SpecError::InvalidSpec("provider genericJson needs spec.endpoint".into())
        );
        let ok = book("inhouse").generic("http://127.0.0.1:1/feed").build();
        let args = scraper_args(&ok, &OperatorConfig::default()).unwrap();
        assert!(args.windows(2).any(|w| w == ["--endpoint", "http://127.0.0.1:1/feed"]));
        assert!(!args.contains(&"--bookmaker".to_string()));
    }

    #[test]
    fn every_alert_carries_the_routing_labels() {
        let c = children(
            &book("fanduel")
                .spec(|s| {
                    s.alerts = Some(Box::new(crate::crd::sportsbook::AlertSettings {
                        extra_labels: BTreeMap::from([("team".into(), "trading".into())]),
                        ..Default::default()
                    }))
                })
                .build(),
        );
        let group = &c.shared.prometheus_rule.unwrap().spec.groups[0];
        assert_eq!(group.rules.len(), 3);
        for r in &group.rules {
            assert_eq!(r.labels["sportsbook"], "fanduel");
            assert_eq!(r.labels["namespace"], "betting");
            assert!(["critical", "warning"].contains(&r.labels["severity"].as_str()));
            assert_eq!(r.labels["team"], "trading");
            assert!(r.annotations["runbook_url"].starts_with("https://"));
        }
    }

    #[test]
    fn the_data_volume_and_the_container_have_bounded_disk() {
        let c = children(&book("fanduel").build());
        let pod = c.deployment.spec.unwrap().template.spec.unwrap();
        let data = &pod.volumes.as_ref().unwrap()[0];
        let empty_dir = data.empty_dir.as_ref().expect("default data volume is an emptyDir");
        assert_eq!(empty_dir.size_limit.as_ref().map(|q| q.0.as_str()), Some("1Gi"));
        let res = pod.containers[0].resources.clone().unwrap();
        assert_eq!(res.requests.unwrap()["ephemeral-storage"].0, "64Mi");
        assert_eq!(res.limits.as_ref().unwrap()["ephemeral-storage"].0, "2Gi");
        assert_eq!(res.limits.unwrap()["memory"].0, "256Mi");

        // A claim replaces the emptyDir (its size is the claim's).
        let claimed = book("fanduel").spec(|s| {
            s.storage = Some(Box::new(crate::crd::sportsbook::StorageSettings {
                persistent_volume_claim: Some("snapshots".into()),
                ..Default::default()
            }))
        });
        let pod = children(&claimed.build()).deployment.spec.unwrap().template.spec.unwrap();
        let data = &pod.volumes.unwrap()[0];
        assert!(data.empty_dir.is_none());
        assert_eq!(data.persistent_volume_claim.as_ref().unwrap().claim_name, "snapshots");
    }

    #[test]
    fn retention_reaches_the_scraper_with_the_default_of_its_store() {
        let retention = |sb: Sportsbook| {
            let args = scraper_args(&sb, &OperatorConfig::default()).unwrap();
            let Sub::Scrape(a) = Wrapper::try_parse_from(std::iter::once("nflbet".to_string()).chain(args))
                .expect("clap accepts the operator's flags")
                .cmd;
            a.retention
        };
        assert_eq!(retention(book("fanduel").build()).as_deref(), Some("24h"), "the pod's own emptyDir");
        let s3 = |r: Option<&str>| {
            book("fanduel").spec(|s| {
                s.storage = Some(Box::new(crate::crd::sportsbook::StorageSettings {
                    url: Some("s3://odds/prod".into()),
                    retention: r.map(Into::into),
                    ..Default::default()
                }))
            })
        };
        assert_eq!(retention(s3(None).build()).as_deref(), Some("4392h"), "a season on a shared store");
        assert_eq!(retention(s3(Some("720h")).build()).as_deref(), Some("720h"));
    }
}
