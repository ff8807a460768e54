//! The pod-security policy for specs (issue 11, item 5) on the real control plane: a Sportsbook or
//! Model asking for a pod setting the operator's policy does not allow is refused with
//! `Ready=False`/`PolicyViolation` and a Warning Event, and nothing is applied from that spec; what
//! the administrator allowed works. Each test has its own namespace and in-process operator.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use nflbet::controller::pod_policy::{KeyValuePattern, Pattern};
use nflbet::crd::{Model, Sportsbook};
use serde_json::{Value, json};
use std::time::Duration;

/// The workload image `support::start_operator` configures.
const WORKLOAD_IMAGE: &str = "example.invalid/nflbet:test";

struct Env {
    client: Client,
    ns: String,
}

async fn env(test: &str) -> Env {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, test).await;
    Env { client, ns }
}

impl Env {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A generic-feed Sportsbook with `workload` as its pod settings.
    async fn create_book(&self, name: &str, workload: Value) {
        let sb: Sportsbook = serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
            "metadata": {"name": name},
            "spec": {
                "provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed",
                "markets": [{"name": "moneyline"}], "workload": workload
            }
        }))
        .unwrap();
        self.api::<Sportsbook>().create(&PostParams::default(), &sb).await.expect("create Sportsbook");
    }

    async fn create_account(&self, name: &str, labels: Value) {
        let sa: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        self.api::<ServiceAccount>()
            .create(&PostParams::default(), &sa)
            .await
            .expect("create ServiceAccount");
    }

    /// Wait for `Ready=False`/`PolicyViolation` on the current generation; returns its message.
    async fn refused<K>(&self, name: &str) -> String
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + serde::Serialize,
    {
        let obj =
            support::wait_condition(&self.api::<K>(), name, "Ready", "False", Some("PolicyViolation")).await;
        let v = serde_json::to_value(&obj).unwrap();
        let ready =
            v["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").cloned();
        ready.unwrap()["message"].as_str().unwrap().to_string()
    }

    /// Wait for a Warning Event with reason `PolicyViolation` about `name`; returns its note.
    async fn warning(&self, kind: &str, name: &str) -> String {
        let events: Api<Event> = self.api();
        support::wait_for(
            &format!("a PolicyViolation Event about {kind} {name}"),
            Duration::from_secs(30),
            || async {
                let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
                list.items
                    .iter()
                    .find(|ev| {
                        ev.reason.as_deref() == Some("PolicyViolation")
                            && ev.type_.as_deref() == Some("Warning")
                            && ev.involved_object.kind.as_deref() == Some(kind)
                            && ev.involved_object.name.as_deref() == Some(name)
                    })
                    .map(|ev| ev.message.clone().unwrap_or_default())
                    .ok_or_else(|| format!("{} events, none for {name}", list.items.len()))
            },
        )
        .await
    }

    async fn exists<K>(&self, name: &str) -> bool
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
    {
        self.api::<K>().get_opt(name).await.unwrap().is_some()
    }

    /// The kinds of the children named `name` that exist.
    async fn children(&self, name: &str) -> Vec<&'static str> {
        let found = [
            ("Deployment", self.exists::<Deployment>(name).await),
            ("ServiceAccount", self.exists::<ServiceAccount>(name).await),
            ("Role", self.exists::<Role>(name).await),
            ("RoleBinding", self.exists::<RoleBinding>(name).await),
            ("Service", self.exists::<Service>(name).await),
        ];
        found.into_iter().filter(|(_, there)| *there).map(|(kind, _)| kind).collect()
    }
}

fn pod_spec(d: &Deployment) -> k8s_openapi::api::core::v1::PodSpec {
    d.spec.clone().unwrap().template.spec.unwrap()
}

#[tokio::test]
async fn forbidden_pod_settings_are_refused_with_a_condition_and_an_event_and_nothing_is_created() {
    let e = env("policy-refused").await;
    let op = support::start_operator(&e.client, &e.ns).await;
    e.create_account("odds-team", json!({"team": "trading"})).await;
    e.create_book("foreign-image", json!({"image": "docker.io/library/busybox:1"})).await;
    e.create_book("unlabelled-account", json!({"serviceAccountName": "odds-team"})).await;
    e.create_book(
        "toleration",
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "betting", "effect": "NoSchedule"}]}),
    )
    .await;

    for (book, field, says) in [
        (
            "foreign-image",
            "spec.workload.image",
            format!("\"docker.io/library/busybox:1\" is not allowed; allowed: the operator's workload image \"{WORKLOAD_IMAGE}\""),
        ),
        (
            "unlabelled-account",
            "spec.workload.serviceAccountName",
            "\"odds-team\" is not labelled for nflbet; a ServiceAccount needs the label betting.nflbet.dev/workload-identity=true".into(),
        ),
        (
            "toleration",
            "spec.workload.tolerations[0]",
            "dedicated=betting:NoSchedule is not allowed; allowed: none".into(),
        ),
    ] {
        let message = e.refused::<Sportsbook>(book).await;
        assert!(message.starts_with(field), "{book}: the message names the field: {message}");
        assert!(message.contains(&says), "{book}: {message}");
        let note = e.warning("Sportsbook", book).await;
        assert_eq!(note, message, "{book}: the Event says what the condition says");
        let name = nflbet::controller::sportsbook::build::child_name(book);
        assert_eq!(e.children(&name).await, Vec::<&str>::new(), "{book}: nothing is created from a refused spec");
    }

    // Counted as its own kind of reconcile error.
    let body = reqwest::get(format!("http://{}/metrics", op.listen)).await.unwrap().text().await.unwrap();
    assert!(
        body.contains(
            r#"controller_runtime_reconcile_errors_total{controller="sportsbook",error="PolicyViolation"}"#
        ),
        "{body}"
    );

    // Whoever may edit ServiceAccounts grants the label; the refused book is retried (backoff) and
    // runs as that account.
    e.api::<ServiceAccount>()
        .patch(
            "odds-team",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"betting.nflbet.dev/workload-identity": "true"}}})),
        )
        .await
        .unwrap();
    support::wait_condition(&e.api::<Sportsbook>(), "unlabelled-account", "Ready", "True", Some("Succeeded"))
        .await;
    let d = e.api::<Deployment>().get("nflbet-scraper-unlabelled-account").await.unwrap();
    assert_eq!(pod_spec(&d).service_account_name.as_deref(), Some("odds-team"));
    support::delete_namespace(&e.client, &e.ns).await;
}

#[tokio::test]
async fn settings_the_administrator_allowed_are_applied() {
    let e = env("policy-allowed").await;
    let _op = support::start_operator_with(&e.client, &e.ns, |a| {
        let p = &mut a.pod_policy;
        p.images = vec![Pattern::parse("registry.example.com/nflbet/*").unwrap()];
        p.tolerations = vec![KeyValuePattern::parse("dedicated=betting").unwrap()];
        p.node_selectors = vec![KeyValuePattern::parse("kubernetes.io/os").unwrap()];
        p.pod_annotations = vec![Pattern::parse("prometheus.io/*").unwrap()];
    })
    .await;
    e.create_account("odds-team", json!({"betting.nflbet.dev/workload-identity": "true"})).await;
    e.create_book(
        "allowed",
        json!({
            "image": "registry.example.com/nflbet/scraper:2",
            "serviceAccountName": "odds-team",
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "betting", "effect": "NoSchedule"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "podAnnotations": {"prometheus.io/scrape": "true"}
        }),
    )
    .await;
    // kwok runs the pod, so Ready=True proves the Deployment was applied and became Available.
    support::wait_condition(&e.api::<Sportsbook>(), "allowed", "Ready", "True", Some("Succeeded")).await;
    let d = e.api::<Deployment>().get("nflbet-scraper-allowed").await.unwrap();
    let pod = pod_spec(&d);
    assert_eq!(pod.containers[0].image.as_deref(), Some("registry.example.com/nflbet/scraper:2"));
    assert_eq!(pod.service_account_name.as_deref(), Some("odds-team"));
    assert_eq!(pod.tolerations.unwrap()[0].key.as_deref(), Some("dedicated"));
    assert_eq!(pod.node_selector.unwrap()["kubernetes.io/os"], "linux");
    let annotations = d.spec.unwrap().template.metadata.unwrap().annotations.unwrap();
    assert_eq!(annotations["prometheus.io/scrape"], "true");

    // One entry outside the lists is still refused, naming only that entry.
    e.create_book(
        "one-too-many",
        json!({"podAnnotations": {"prometheus.io/port": "9100", "sidecar.istio.io/inject": "true"}}),
    )
    .await;
    let message = e.refused::<Sportsbook>("one-too-many").await;
    assert!(
        message.starts_with("spec.workload.podAnnotations[\"sidecar.istio.io/inject\"]: pod annotation sidecar.istio.io/inject is not allowed; allowed keys: prometheus.io/*"),
        "{message}"
    );
    assert!(!message.contains("prometheus.io/port"), "allowed entries are not reported: {message}");
    support::delete_namespace(&e.client, &e.ns).await;
}

#[tokio::test]
async fn a_running_book_changed_to_a_forbidden_image_keeps_its_deployment() {
    let e = env("policy-existing").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    let books = e.api::<Sportsbook>();
    e.create_book("fanduel", json!({})).await;
    support::wait_condition(&books, "fanduel", "Ready", "True", Some("Succeeded")).await;
    let deployments = e.api::<Deployment>();
    let before = deployments.get("nflbet-scraper-fanduel").await.unwrap();
    assert_eq!(pod_spec(&before).containers[0].image.as_deref(), Some(WORKLOAD_IMAGE));

    let patch =
        json!({"spec": {"workload": {"image": "evil.example/miner:1"}, "polling": {"interval": "45s"}}});
    books.patch("fanduel", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    let message = e.refused::<Sportsbook>("fanduel").await;
    assert!(message.contains("\"evil.example/miner:1\" is not allowed"), "{message}");
    e.warning("Sportsbook", "fanduel").await;
    let after = deployments.get("nflbet-scraper-fanduel").await.unwrap();
    assert_eq!(after.metadata.generation, before.metadata.generation, "the Deployment was not written");
    assert_eq!(pod_spec(&after).containers[0].image.as_deref(), Some(WORKLOAD_IMAGE));
    let args = pod_spec(&after).containers[0].args.clone().unwrap();
    assert!(!args.contains(&"45s".to_string()), "no part of the refused spec is applied: {args:?}");

    // Taking the image out applies the rest of the spec again.
    let patch = json!({"spec": {"workload": {"image": null}}});
    books.patch("fanduel", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    support::wait_condition(&books, "fanduel", "Ready", "True", Some("Succeeded")).await;
    let fixed = deployments.get("nflbet-scraper-fanduel").await.unwrap();
    assert!(pod_spec(&fixed).containers[0].args.clone().unwrap().contains(&"45s".to_string()));
    support::delete_namespace(&e.client, &e.ns).await;
}

#[tokio::test]
async fn a_model_is_held_to_the_same_policy_including_its_candidate_image() {
    let e = env("policy-model").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    let models = e.api::<Model>();
    let model = |name: &str, extra: Value| -> Model {
        let mut spec = json!({
            "algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fanduel"]},
            "staking": {"bankroll": 10000.0, "kellyFraction": 0.25}
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap()
    };
    // About the pod policy: the replay gate is off, so the candidate Deployment is made at once.
    let candidate = json!({"rollout": {"candidate": {"version": "1.1.0", "image": "evil.example/model:1"}, "gate": {"enabled": false}}});
    models.create(&PostParams::default(), &model("elo", candidate)).await.unwrap();
    e.create_account("pricing", json!({})).await;
    models
        .create(
            &PostParams::default(),
            &model("consensus", json!({"workload": {"serviceAccountName": "pricing"}})),
        )
        .await
        .unwrap();

    let message = e.refused::<Model>("elo").await;
    assert!(
        message.starts_with("spec.rollout.candidate.image: image \"evil.example/model:1\" is not allowed"),
        "{message}"
    );
    assert_eq!(e.warning("Model", "elo").await, message);
    let message = e.refused::<Model>("consensus").await;
    assert!(message.starts_with("spec.workload.serviceAccountName"), "{message}");
    e.warning("Model", "consensus").await;
    for name in ["nflbet-model-elo", "nflbet-model-consensus"] {
        assert_eq!(e.children(name).await, Vec::<&str>::new(), "nothing is created for {name}");
    }
    assert!(e.api::<Deployment>().get_opt("nflbet-model-elo-candidate").await.unwrap().is_none());

    // The candidate on the operator's own image is fine: both Deployments are created.
    let patch = json!({"spec": {"rollout": {"candidate": {"image": WORKLOAD_IMAGE}}}});
    models.patch("elo", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    let deployments = e.api::<Deployment>();
    support::wait_for("the model's Deployments", Duration::from_secs(60), || async {
        let stable = deployments.get_opt("nflbet-model-elo").await.map_err(|e| e.to_string())?;
        let cand = deployments.get_opt("nflbet-model-elo-candidate").await.map_err(|e| e.to_string())?;
        match (stable, cand) {
            (Some(_), Some(c)) => Ok(c),
            other => Err(format!("stable {}, candidate {}", other.0.is_some(), other.1.is_some())),
        }
    })
    .await;
    support::wait_for("elo's Ready no longer PolicyViolation", Duration::from_secs(60), || async {
        let m = models.get("elo").await.map_err(|e| e.to_string())?;
        let generation = m.metadata.generation;
        let status = m.status.unwrap_or_default();
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready");
        match ready {
            Some(r) if r.observed_generation == generation && r.reason != "PolicyViolation" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    support::delete_namespace(&e.client, &e.ns).await;
}
