//! Every kind of child a Sportsbook or a Model owns is put back as built when someone deletes it
//! or edits it by hand (the operator watches each kind), RBAC included: deleting the
//! ServiceAccount, Role, RoleBinding, Service, ServiceMonitor or PrometheusRule, or widening the
//! workload's Role, is undone.

use crate::support;

use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use nflbet::crd::{Model, Sportsbook};
use nflbet::monitoring::{PrometheusRule, ServiceMonitor};
use serde_json::{Value, json};
use std::time::Duration;

/// The parts of a child the operator decides, as JSON pointers into the object.
fn built<K: serde::Serialize>(obj: &K, parts: &[&str]) -> Value {
    let v = serde_json::to_value(obj).unwrap();
    Value::Array(parts.iter().map(|p| v.pointer(p).cloned().unwrap_or(Value::Null)).collect())
}

/// Delete `name`, then wait until a new object (another uid) stands in its place, as built.
async fn deleted_and_restored<K>(client: &Client, ns: &str, name: &str, parts: &[&str])
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let kind = K::kind(&());
    let before = api.get(name).await.unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    let (uid, shape) = (before.uid(), built(&before, parts));
    api.delete(name, &DeleteParams::background()).await.unwrap();
    support::wait_for(&format!("{kind} {name} recreated as built"), Duration::from_secs(30), || async {
        let now = api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("absent")?;
        if now.uid() == uid || now.meta().deletion_timestamp.is_some() {
            return Err("the old one".into());
        }
        let got = built(&now, parts);
        if got == shape { Ok(()) } else { Err(format!("differs: {got} vs {shape}")) }
    })
    .await;
}

/// Give the workload's Role every verb on everything, and wait until its rules are back.
async fn widened_role_narrowed(client: &Client, ns: &str, name: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let rules = roles.get(name).await.unwrap().rules;
    let wide = json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    roles.patch(name, &PatchParams::default(), &Patch::Merge(wide)).await.unwrap();
    support::wait_for(&format!("Role {name} narrowed again"), Duration::from_secs(30), || async {
        let now = roles.get(name).await.map_err(|e| e.to_string())?.rules;
        if now == rules { Ok(()) } else { Err(format!("{now:?}")) }
    })
    .await;
}

async fn every_child_restored(client: &Client, ns: &str, child: &str, rule: &str) {
    deleted_and_restored::<ServiceAccount>(client, ns, child, &["/metadata/labels"]).await;
    deleted_and_restored::<Role>(client, ns, child, &["/rules"]).await;
    deleted_and_restored::<RoleBinding>(client, ns, child, &["/roleRef", "/subjects"]).await;
    deleted_and_restored::<Service>(client, ns, child, &["/spec/selector", "/spec/ports"]).await;
    deleted_and_restored::<ServiceMonitor>(client, ns, child, &["/metadata/labels", "/spec"]).await;
    deleted_and_restored::<PrometheusRule>(client, ns, rule, &["/metadata/labels", "/spec"]).await;
    widened_role_narrowed(client, ns, child).await;
}

#[tokio::test]
async fn every_child_of_a_sportsbook_is_restored() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "drift-book").await;
    let _op = support::start_operator(&client, &ns).await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "pinnacle"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
    support::wait_condition(&books, "pinnacle", "Ready", "True", None).await;
    let child = nflbet::controller::sportsbook::build::child_name("pinnacle");
    let rule = nflbet::controller::sportsbook::build::rule_name("pinnacle");
    every_child_restored(&client, &ns, &child, &rule).await;
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn every_child_of_a_model_is_restored() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "drift-model").await;
    let _op = support::start_operator(&client, &ns).await;
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let m: Model = serde_json::from_value(crate::model_operator::model_json("elo", json!({}))).unwrap();
    models.create(&PostParams::default(), &m).await.unwrap();
    support::wait_condition(&models, "elo", "Ready", "True", None).await;
    let child = nflbet::controller::model::build::child_name("elo");
    every_child_restored(&client, &ns, &child, &child).await;
    support::delete_namespace(&client, &ns).await;
}
