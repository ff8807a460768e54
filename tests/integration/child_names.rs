//! Names that always work (issue 11): the longest names the API server accepts for a Sportsbook
//! and a Model (253 characters, with dots) get every child, valid labels and `Ready=True`; two
//! such names that differ only past the cut get distinct children; a Model name that would take
//! another Model's candidate Deployment is refused at creation.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};
use nflbet::controller::model::build as model_build;
use nflbet::controller::names;
use nflbet::controller::sportsbook::build as book_build;
use nflbet::crd::{Model, Sportsbook};
use nflbet::monitoring::{PrometheusRule, ServiceMonitor};
use serde_json::json;

/// A 253-character DNS-1123 subdomain ending in `tail`: the longest name Kubernetes allows.
fn longest(tail: &str) -> String {
    let last = format!("{}{tail}", "d".repeat(61 - tail.len()));
    let name = format!("{}.{}.{}.{last}", "a".repeat(63), "b".repeat(63), "c".repeat(63));
    assert_eq!(name.len(), 253);
    name
}

async fn setup(test: &str) -> (Client, String) {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, test).await;
    (client, ns)
}

fn owned_by<K: Resource>(child: &K, uid: &str) -> bool {
    child.meta().owner_references.iter().flatten().any(|o| o.uid == uid && o.controller == Some(true))
}

/// Every label on the object is a valid label value.
fn labels_valid<K: Resource>(child: &K) -> bool {
    child.meta().labels.iter().flatten().all(|(_, v)| names::is_label_value(v))
}

/// The namespaced children named `name` exist, are owned by `uid` and carry valid labels.
async fn assert_children(client: &Client, ns: &str, name: &str, uid: &str) {
    assert!(names::is_dns_label(name), "{name}");
    macro_rules! check {
        ($($kind:ty),*) => {$({
            let api: Api<$kind> = Api::namespaced(client.clone(), ns);
            let child = api.get(name).await.unwrap_or_else(|e| panic!("{} {name}: {e}", stringify!($kind)));
            assert!(owned_by(&child, uid), "{} {name} is not owned by {uid}", stringify!($kind));
            assert!(labels_valid(&child), "{} {name}: {:?}", stringify!($kind), child.labels());
        })*};
    }
    check!(Deployment, Service, ServiceAccount, Role, RoleBinding, ServiceMonitor);
}

fn book(name: &str) -> Sportsbook {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": name},
        "spec": {
            "provider": "genericJson",
            "endpoint": "http://127.0.0.1:9/feed",
            "markets": [{"name": "moneyline"}]
        }
    }))
    .unwrap()
}

fn model(name: &str, rollout: bool) -> serde_json::Value {
    let mut m = json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "algorithm": "elo",
            "version": "1.0.0",
            "sportsbooks": {"names": ["fanduel"]},
            "staking": {"bankroll": 10000.0, "kellyFraction": 0.25}
        }
    });
    if rollout {
        // About names: the replay gate is off, so the candidate Deployment is made at once.
        m["spec"]["rollout"] =
            json!({"candidate": {"version": "1.1.0", "trafficShare": 0.2}, "gate": {"enabled": false}});
    }
    m
}

#[tokio::test]
async fn the_longest_sportsbook_names_get_every_child_and_become_ready() {
    let (client, ns) = setup("names-books").await;
    let _op = support::start_operator(&client, &ns).await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    // Equal in their first 189 characters, so equal in every cut: only the hash tells them apart.
    let (one, two) = (longest("1"), longest("2"));
    let mut uids = Vec::new();
    for name in [&one, &two] {
        uids.push(books.create(&PostParams::default(), &book(name)).await.expect("admitted").uid().unwrap());
    }
    for (name, uid) in [&one, &two].into_iter().zip(&uids) {
        let ready = support::wait_condition(&books, name, "Ready", "True", Some("Succeeded")).await;
        assert_eq!(ready.status.unwrap().ready_replicas, Some(1));
        let child = book_build::child_name(name);
        assert_eq!(child.len(), 63);
        assert_children(&client, &ns, &child, uid).await;
        let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), &ns);
        let rule = rules.get(&book_build::rule_name(name)).await.expect("PrometheusRule");
        assert!(owned_by(&rule, uid));
        assert_eq!(rule.spec.groups[0].rules[0].labels["sportsbook"], **name, "alerts carry the full name");
    }
    assert_ne!(book_build::child_name(&one), book_build::child_name(&two));

    // A name that fitted before keeps exactly the children it had.
    let plain = "x".repeat(48);
    let uid = books.create(&PostParams::default(), &book(&plain)).await.unwrap().uid().unwrap();
    support::wait_condition(&books, &plain, "Ready", "True", Some("Succeeded")).await;
    assert_children(&client, &ns, &format!("nflbet-scraper-{plain}"), &uid).await;
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_longest_model_name_gets_stable_and_candidate_workloads() {
    let (client, ns) = setup("names-models").await;
    let _op = support::start_operator(&client, &ns).await;
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let name = longest("m");
    let created: Model = serde_json::from_value(model(&name, true)).unwrap();
    let uid = models.create(&PostParams::default(), &created).await.expect("admitted").uid().unwrap();

    let ready = support::wait_condition(&models, &name, "Ready", "True", Some("Succeeded")).await;
    assert_eq!(ready.status.unwrap().candidate_version.as_deref(), Some("1.1.0"));
    let stable = model_build::child_name(&name);
    assert_children(&client, &ns, &stable, &uid).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let candidate = deployments.get(&model_build::candidate_name(&name)).await.expect("candidate Deployment");
    assert!(owned_by(&candidate, &uid) && labels_valid(&candidate));
    assert!(candidate.name_any().ends_with("-candidate") && candidate.name_any().len() == 63);
    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), &ns);
    assert!(owned_by(&rules.get(&stable).await.expect("PrometheusRule"), &uid));
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_model_name_that_would_take_a_candidates_name_is_refused() {
    let (client, ns) = setup("names-candidate").await;
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let refused: Model = serde_json::from_value(model("elo-candidate", false)).unwrap();
    match models.create(&PostParams::default(), &refused).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422);
            assert!(s.message.contains(nflbet::crd::model::CANDIDATE_NAME_MESSAGE), "{}", s.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // `candidate` alone is nobody's candidate.
    let fine: Model = serde_json::from_value(model("candidate", false)).unwrap();
    models.create(&PostParams::default(), &fine).await.expect("a Model named candidate is admitted");
    support::delete_namespace(&client, &ns).await;
}
