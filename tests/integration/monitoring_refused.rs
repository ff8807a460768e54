//! Monitoring never blocks the workload (issue 11): while the API server refuses every
//! PrometheusRule and ServiceMonitor in the namespace (a ValidatingAdmissionPolicy, as
//! prometheus-operator's webhook would when it is down), a new Sportsbook and a new Model still
//! get their Deployments and RBAC, report `MonitoringAvailable=False` with the API server's
//! reason and message and a Warning Event, can still be disabled, and heal once the policy goes.

use crate::support;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use nflbet::crd::{AlertRoute, Model, Sportsbook};
use nflbet::monitoring::{PrometheusRule, PrometheusRuleSpec};
use serde_json::json;
use std::time::Duration;

const REFUSAL: &str = "monitoring objects are refused in this namespace (test policy)";

/// Make the API server refuse PrometheusRules and ServiceMonitors in `ns` only, and wait until it
/// does (a new policy takes a moment to load).
async fn refuse_monitoring(client: &Client, ns: &str) -> String {
    let name = format!("refuse-monitoring-{ns}");
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["monitoring.coreos.com"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["prometheusrules", "servicemonitors", "alertmanagerconfigs"]
            }]},
            "validations": [{"expression": "false", "message": REFUSAL}]
        }
    }))
    .unwrap();
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        }
    }))
    .unwrap();
    let pp = PostParams::default();
    Api::<ValidatingAdmissionPolicy>::all(client.clone()).create(&pp, &policy).await.expect("policy");
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .create(&pp, &binding)
        .await
        .expect("binding");

    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), ns);
    let probe = PrometheusRule {
        metadata: kube::api::ObjectMeta { name: Some("probe".into()), ..Default::default() },
        spec: PrometheusRuleSpec { groups: vec![] },
    };
    let dry = PostParams { dry_run: true, ..Default::default() };
    support::wait_for("the API server to refuse PrometheusRules", Duration::from_secs(30), || async {
        match rules.create(&dry, &probe).await {
            Err(kube::Error::Api(s)) if s.message.contains(REFUSAL) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    name
}

async fn allow_monitoring(client: &Client, name: &str) {
    let dp = DeleteParams::default();
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone()).delete(name, &dp).await.expect("unbind");
    Api::<ValidatingAdmissionPolicy>::all(client.clone()).delete(name, &dp).await.expect("delete policy");
}

/// Wait for `MonitoringAvailable` to be `status`; returns its reason and message.
async fn monitoring<K>(api: &Api<K>, name: &str, status: &str, timeout: Duration) -> (String, String)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    support::wait_for(&format!("{name}: MonitoringAvailable={status}"), timeout, || async {
        let v = serde_json::to_value(api.get(name).await.map_err(|e| e.to_string())?).unwrap();
        let conditions = v["status"]["conditions"].as_array().cloned().unwrap_or_default();
        match conditions.iter().find(|c| c["type"] == "MonitoringAvailable") {
            Some(c) if c["status"] == status => {
                Ok((c["reason"].as_str().unwrap().to_string(), c["message"].as_str().unwrap().to_string()))
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test]
async fn refused_monitoring_leaves_the_workloads_running_and_heals() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "monitoring-refused").await;
    let policy = refuse_monitoring(&client, &ns).await;
    let _op = support::start_operator(&client, &ns).await;

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let book: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": "fanduel"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &book).await.unwrap();
    let model: Model = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "elo"},
        "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["not-created-yet"]},
                 "staking": {"bankroll": 10000.0, "kellyFraction": 0.25}}
    }))
    .unwrap();
    models.create(&PostParams::default(), &model).await.unwrap();
    let routes: Api<AlertRoute> = Api::namespaced(client.clone(), &ns);
    let route: AlertRoute = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute",
        "metadata": {"name": "trading"},
        "spec": {"pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}}}
    }))
    .unwrap();
    routes.create(&PostParams::default(), &route).await.unwrap();

    // The workloads run: Ready comes from the Deployments, whatever happens to monitoring.
    support::wait_condition(&books, "fanduel", "Ready", "True", Some("Succeeded")).await;
    support::wait_condition(&models, "elo", "Ready", "True", Some("Succeeded")).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    for name in ["nflbet-scraper-fanduel", "nflbet-model-elo"] {
        deployments.get(name).await.expect("Deployment applied");
        bindings.get(name).await.expect("RoleBinding applied");
    }

    // ... and say why there are no alerts, in the API server's words.
    let (reason, message) = monitoring(&books, "fanduel", "False", Duration::from_secs(60)).await;
    assert_eq!(reason, "Invalid", "{message}");
    assert!(message.contains("PrometheusRule nflbet-sportsbook-fanduel was refused"), "{message}");
    assert!(message.contains("ServiceMonitor nflbet-scraper-fanduel was refused"), "{message}");
    assert!(message.contains(REFUSAL), "{message}");
    let (reason, message) = monitoring(&models, "elo", "False", Duration::from_secs(60)).await;
    assert_eq!(reason, "Invalid", "{message}");
    assert!(message.contains("PrometheusRule nflbet-model-elo was refused") && message.contains(REFUSAL));
    // An AlertRoute's only child is its AlertmanagerConfig: refused, the route is not Ready.
    let (reason, message) = monitoring(&routes, "trading", "False", Duration::from_secs(60)).await;
    assert_eq!(reason, "Invalid", "{message}");
    assert!(message.contains("AlertmanagerConfig nflbet-trading was refused") && message.contains(REFUSAL));
    support::wait_condition(&routes, "trading", "Ready", "False", Some("Invalid")).await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    support::wait_for("Warning MonitoringFailed events", Duration::from_secs(30), || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let about = |kind: &str| {
            list.items.iter().any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("MonitoringFailed")
                    && e.involved_object.kind.as_deref() == Some(kind)
                    && e.message.as_deref().is_some_and(|n| n.contains(REFUSAL))
            })
        };
        if about("Sportsbook") && about("Model") {
            Ok(())
        } else {
            Err(format!("{} events", list.items.len()))
        }
    })
    .await;

    // Disabling still works while monitoring is refused.
    support::set_disabled(&books, "fanduel", true).await;
    support::wait_condition(&books, "fanduel", "Stopped", "True", Some("Disabled")).await;
    let scraper = deployments.get("nflbet-scraper-fanduel").await.unwrap();
    assert_eq!(scraper.spec.unwrap().replicas, Some(0));
    support::set_disabled(&books, "fanduel", false).await;

    // Once the API server accepts them again, the retries (with backoff) put them in.
    allow_monitoring(&client, &policy).await;
    let allowed = std::time::Instant::now();
    let healed = Duration::from_secs(150);
    assert_eq!(monitoring(&books, "fanduel", "True", healed).await.0, "Succeeded");
    assert_eq!(monitoring(&models, "elo", "True", healed).await.0, "Succeeded");
    support::wait_for("trading: Ready=True", healed, || async {
        let ready = routes.get("trading").await.map_err(|e| e.to_string())?.status.and_then(|s| {
            s.conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Succeeded")
        });
        ready.map(drop).ok_or_else(|| "not yet".to_string())
    })
    .await;
    eprintln!("monitoring healed {:?} after the refusal ended", allowed.elapsed());
    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), &ns);
    for name in ["nflbet-sportsbook-fanduel", "nflbet-model-elo"] {
        assert!(rules.get(name).await.is_ok_and(|r| r.name_any() == name));
    }
    support::delete_namespace(&client, &ns).await;
}
