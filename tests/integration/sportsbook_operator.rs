//! The Sportsbook controller on the real control plane (issue 3). Each test has its own
//! namespace and its own in-process operator watching only that namespace.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use nflbet::crd::Sportsbook;
use nflbet::monitoring::{PrometheusRule, ServiceMonitor};
use serde_json::json;
use std::time::Duration;

struct Env {
    client: Client,
    ns: String,
    books: Api<Sportsbook>,
}

async fn env(test: &str) -> Env {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, test).await;
    Env { books: Api::namespaced(client.clone(), &ns), client, ns }
}

impl Env {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create_book(&self, name: &str) -> Sportsbook {
        let sb: Sportsbook = serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
            "metadata": {"name": name},
            "spec": {
                "provider": "theOddsApi",
                "theOddsApi": {"bookmaker": "fanduel", "regions": ["us"]},
                "credentials": {"name": "odds-api", "key": "apiKey"},
                "markets": [{"name": "moneyline"}, {"name": "spread"}],
                "polling": {"interval": "30s"}
            }
        }))
        .unwrap();
        self.books.create(&PostParams::default(), &sb).await.expect("create Sportsbook")
    }

    async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.books
            .patch(name, &PatchParams::default(), &Patch::Merge(json!({ "spec": spec })))
            .await
            .expect("patch Sportsbook spec");
    }

    async fn replicas(&self, name: &str) -> Option<i32> {
        let d: Api<Deployment> = self.api();
        d.get_opt(&format!("nflbet-scraper-{name}"))
            .await
            .unwrap()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
    }

    async fn wait_replicas(&self, name: &str, want: i32) {
        support::wait_for(
            &format!("scraper of {name} at {want} replicas"),
            Duration::from_secs(60),
            || async {
                match self.replicas(name).await {
                    Some(n) if n == want => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
    }

    async fn rule_exists(&self, name: &str) -> bool {
        let r: Api<PrometheusRule> = self.api();
        r.get_opt(&format!("nflbet-sportsbook-{name}")).await.unwrap().is_some()
    }
}

fn owned_by(meta: &kube::api::ObjectMeta, sb: &Sportsbook) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == sb.uid().unwrap() && o.controller == Some(true) && o.kind == "Sportsbook")
}

#[tokio::test]
async fn apply_creates_owned_children_and_becomes_ready() {
    let e = env("sb-apply").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    let sb = e.create_book("fanduel").await;

    let ready = support::wait_condition(&e.books, "fanduel", "Ready", "True", Some("Succeeded")).await;
    let status = ready.status.clone().unwrap();
    assert_eq!(status.observed_generation, ready.metadata.generation);
    assert_eq!(status.ready_replicas, Some(1));
    assert!(status.ingestion.is_none(), "the operator never writes the scraper's heartbeat");

    let name = "nflbet-scraper-fanduel";
    let d = e.api::<Deployment>().get(name).await.unwrap();
    assert!(owned_by(&d.metadata, &sb));
    let args = d.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
    assert_eq!(args[0], "scrape");
    assert!(args.windows(2).any(|w| w == ["--poll-interval", "30s"]), "{args:?}");
    assert!(owned_by(&e.api::<Service>().get(name).await.unwrap().metadata, &sb));
    assert!(owned_by(&e.api::<ServiceAccount>().get(name).await.unwrap().metadata, &sb));
    assert!(owned_by(&e.api::<Role>().get(name).await.unwrap().metadata, &sb));
    assert!(owned_by(&e.api::<RoleBinding>().get(name).await.unwrap().metadata, &sb));
    assert!(owned_by(&e.api::<ServiceMonitor>().get(name).await.unwrap().metadata, &sb));
    let rule = e.api::<PrometheusRule>().get("nflbet-sportsbook-fanduel").await.unwrap();
    assert!(owned_by(&rule.metadata, &sb));
    assert_eq!(rule.labels()["release"], "kube-prometheus-stack", "operator's extra rule labels");
    assert_eq!(rule.spec.groups[0].rules.len(), 3);

    let stopped = ready.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Stopped").unwrap();
    assert_eq!((stopped.status.as_str(), stopped.reason.as_str()), ("False", "Running"));
}

#[tokio::test]
async fn disabling_stops_the_book_and_enabling_restores_it() {
    let e = env("sb-disable").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    e.create_book("draftkings").await;
    support::wait_condition(&e.books, "draftkings", "Ready", "True", Some("Succeeded")).await;
    assert!(e.rule_exists("draftkings").await);

    // What a person types: kubectl patch sportsbook draftkings --type merge -p '{"spec":{"disabled":true}}'
    e.patch_spec("draftkings", json!({"disabled": true})).await;
    e.wait_replicas("draftkings", 0).await;
    support::wait_condition(&e.books, "draftkings", "Stopped", "True", Some("Disabled")).await;
    support::wait_condition(&e.books, "draftkings", "Ready", "True", Some("Stopped")).await;
    assert!(!e.rule_exists("draftkings").await, "the book's alerts are removed");
    assert!(
        e.api::<Service>().get_opt("nflbet-scraper-draftkings").await.unwrap().is_some(),
        "objects are kept"
    );
    let pods: Api<k8s_openapi::api::core::v1::Pod> = e.api();
    support::wait_for("scraper pods gone", Duration::from_secs(60), || async {
        let n = pods
            .list(&ListParams::default().labels("app.kubernetes.io/instance=draftkings"))
            .await
            .unwrap()
            .items
            .len();
        if n == 0 { Ok(()) } else { Err(format!("{n} pods")) }
    })
    .await;

    let events: Api<Event> = e.api();
    support::wait_for("a Stopped event", Duration::from_secs(30), || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|ev| {
                ev.reason.as_deref() == Some("Stopped")
                    && ev.involved_object.name.as_deref() == Some("draftkings")
            })
            .map(|_| ())
            .ok_or_else(|| format!("{} events, none Stopped", list.items.len()))
    })
    .await;

    e.patch_spec("draftkings", json!({"disabled": false})).await;
    e.wait_replicas("draftkings", 1).await;
    support::wait_condition(&e.books, "draftkings", "Stopped", "False", Some("Running")).await;
    support::wait_condition(&e.books, "draftkings", "Ready", "True", Some("Succeeded")).await;
    assert!(e.rule_exists("draftkings").await, "alerts restored");
}

#[tokio::test]
async fn manual_edits_of_the_deployment_are_reverted() {
    let e = env("sb-drift").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    e.create_book("pinnacle").await;
    support::wait_condition(&e.books, "pinnacle", "Ready", "True", None).await;

    // What `kubectl edit` / `kubectl scale` do: another field manager changes owned fields.
    let deployments: Api<Deployment> = e.api();
    deployments
        .patch(
            "nflbet-scraper-pinnacle",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "scraper", "image": "example.invalid/hand-edited:1"}
            ]}}}})),
        )
        .await
        .expect("hand edit");
    support::wait_for("hand edit reverted", Duration::from_secs(60), || async {
        let d = deployments.get("nflbet-scraper-pinnacle").await.map_err(|e| e.to_string())?;
        let spec = d.spec.unwrap();
        let image = spec.template.spec.unwrap().containers[0].image.clone();
        if spec.replicas == Some(1) && image.as_deref() == Some("example.invalid/nflbet:test") {
            Ok(())
        } else {
            Err(format!("replicas {:?}, image {image:?}", spec.replicas))
        }
    })
    .await;
}

#[tokio::test]
async fn suspend_leaves_children_alone_until_lifted() {
    let e = env("sb-suspend").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    e.create_book("betmgm").await;
    support::wait_condition(&e.books, "betmgm", "Ready", "True", None).await;

    e.patch_spec("betmgm", json!({"suspend": true})).await;
    support::wait_condition(&e.books, "betmgm", "Suspended", "True", Some("Suspended")).await;
    support::wait_condition(&e.books, "betmgm", "Stopped", "Unknown", Some("Suspended")).await;

    // While suspended: a hand edit and a later spec change both stay as they are. The reconcile
    // of the spec change runs after the hand edit and writes status for the new generation last,
    // so once status follows that generation, any child write it made would be visible.
    let deployments: Api<Deployment> = e.api();
    deployments
        .patch(
            "nflbet-scraper-betmgm",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    e.patch_spec("betmgm", json!({"disabled": true})).await;
    support::wait_condition(&e.books, "betmgm", "Suspended", "True", None).await; // status follows the new generation
    assert_eq!(e.replicas("betmgm").await, Some(2), "no child writes while suspended");
    assert!(e.rule_exists("betmgm").await, "alerts untouched while suspended");

    e.patch_spec("betmgm", json!({"suspend": false})).await;
    e.wait_replicas("betmgm", 0).await;
    support::wait_condition(&e.books, "betmgm", "Stopped", "True", Some("Disabled")).await;
    assert!(!e.rule_exists("betmgm").await);
}

#[tokio::test]
async fn deleting_the_book_garbage_collects_every_child() {
    let e = env("sb-delete").await;
    let _op = support::start_operator(&e.client, &e.ns).await;
    e.create_book("caesars").await;
    support::wait_condition(&e.books, "caesars", "Ready", "True", None).await;
    // Deletion must work while suspended too.
    e.patch_spec("caesars", json!({"suspend": true})).await;

    e.books.delete("caesars", &DeleteParams::background()).await.unwrap();
    support::wait_for("children garbage-collected", Duration::from_secs(90), || async {
        let mut left = Vec::new();
        let name = "nflbet-scraper-caesars";
        if e.api::<Deployment>().get_opt(name).await.unwrap().is_some() {
            left.push("Deployment");
        }
        if e.api::<Service>().get_opt(name).await.unwrap().is_some() {
            left.push("Service");
        }
        if e.api::<ServiceAccount>().get_opt(name).await.unwrap().is_some() {
            left.push("ServiceAccount");
        }
        if e.api::<k8s_openapi::api::rbac::v1::Role>().get_opt(name).await.unwrap().is_some() {
            left.push("Role");
        }
        if e.api::<k8s_openapi::api::rbac::v1::RoleBinding>().get_opt(name).await.unwrap().is_some() {
            left.push("RoleBinding");
        }
        if e.api::<ServiceMonitor>().get_opt(name).await.unwrap().is_some() {
            left.push("ServiceMonitor");
        }
        if e.rule_exists("caesars").await {
            left.push("PrometheusRule");
        }
        if left.is_empty() { Ok(()) } else { Err(format!("left: {left:?}")) }
    })
    .await;
}

#[tokio::test]
async fn operator_metrics_count_reconciles_and_export_conditions() {
    let e = env("sb-metrics").await;
    let op = support::start_operator(&e.client, &e.ns).await;
    e.create_book("circa").await;
    support::wait_condition(&e.books, "circa", "Ready", "True", None).await;
    let url = format!("http://{}/metrics", op.listen);
    let cond = format!(
        r#"nflbet_resource_condition{{kind="Sportsbook",name="circa",namespace="{}",status="True",type="Ready"}} 1"#,
        e.ns
    );
    // The gauges are read from the controller's cache, which follows the API server's watch.
    let body = support::wait_for("Ready condition in /metrics", Duration::from_secs(30), || async {
        let body =
            reqwest::get(&url).await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
        if body.contains(&cond) { Ok(body) } else { Err(format!("missing {cond}")) }
    })
    .await;
    assert!(
        body.contains(r#"controller_runtime_reconcile_total{controller="sportsbook",result="success"}"#),
        "{body}"
    );
    assert!(body.contains("controller_runtime_reconcile_time_seconds_bucket"), "{body}");
    assert!(
        body.contains(&format!(
            r#"nflbet_suspend_status{{kind="Sportsbook",name="circa",namespace="{}"}} 0"#,
            e.ns
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        r#"nflreadpy_sportsbook_last_snapshot_timestamp_seconds{{namespace="{}",sportsbook="circa"}}"#,
        e.ns
    )));
    let health = reqwest::get(format!("http://{}/readyz", op.listen)).await.unwrap();
    assert_eq!(health.status(), 200);
}
