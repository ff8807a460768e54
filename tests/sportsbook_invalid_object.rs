//! A Sportsbook the operator cannot read (here: written while the CRD accepted anything) never
//! stops the controller: the other books reconcile, and the bad one gets a Warning Event,
//! `Ready=False` with reason `InvalidObject`, and an error metric.
//!
//! This test loosens the shared Sportsbook CRD for a moment, so it lives in its own test binary
//! (cargo runs test binaries one after another, so nothing else runs meanwhile) and restores the
//! real CRD before it ends.

mod support;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn an_unreadable_book_is_reported_and_the_others_reconcile() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "sb-invalid").await;

    // Loosen the schema: spec accepts anything.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut loose = Sportsbook::crd();
    loose.spec.versions[0].selectable_fields = None; // they must point at schema fields
    let schema = loose.spec.versions[0].schema.as_mut().unwrap().open_api_v3_schema.as_mut().unwrap();
    schema.properties.as_mut().unwrap().insert(
        "spec".into(),
        serde_json::from_value(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
            .unwrap(),
    );
    schema.x_kubernetes_validations = None;
    loose.metadata.managed_fields = None;
    crds.patch(
        "sportsbooks.betting.nflbet.dev",
        &PatchParams::apply("nflbet-tests").force(),
        &Patch::Apply(&loose),
    )
    .await
    .unwrap();

    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &kube::core::ApiResource::erase::<Sportsbook>(&()));
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "broken"},
        "spec": {"provider": "theOddsApi", "markets": "all of them, please"}
    }))
    .unwrap();
    support::wait_for("the loose schema accepts a malformed book", Duration::from_secs(30), || async {
        api.create(&PostParams::default(), &bad).await.map(drop).map_err(|e| e.to_string())
    })
    .await;
    let good: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "fine"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &good).await.unwrap();

    let op = support::start_operator(&client, &ns).await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    support::wait_condition(&books, "fine", "Ready", "True", Some("Succeeded")).await;

    let reported = support::wait_for(
        "Ready=False InvalidObject on the broken book",
        Duration::from_secs(30),
        || async {
            let obj = api.get("broken").await.map_err(|e| e.to_string())?;
            let conditions = obj.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
            conditions
                .into_iter()
                .find(|c| c["type"] == "Ready" && c["status"] == "False" && c["reason"] == "InvalidObject")
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    assert!(reported["message"].as_str().unwrap().contains("cannot read this Sportsbook"), "{reported}");

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    support::wait_for("InvalidObject event", Duration::from_secs(30), || async {
        let l = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        l.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("InvalidObject")
                    && e.involved_object.name.as_deref() == Some("broken")
            })
            .then_some(())
            .ok_or_else(|| "no event".to_string())
    })
    .await;
    let metrics = reqwest::get(format!("http://{}/metrics", op.listen)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            r#"controller_runtime_reconcile_errors_total{controller="sportsbook",error="InvalidObject"}"#
        ),
        "{metrics}"
    );

    // The controller keeps working on the others after the bad object.
    books
        .patch("fine", &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
        .await
        .unwrap();
    support::wait_condition(&books, "fine", "Stopped", "True", Some("Disabled")).await;

    api.delete("broken", &DeleteParams::default()).await.unwrap();
    op.stop().await.unwrap();
    // Restore the real schema for every later test.
    crds.patch(
        "sportsbooks.betting.nflbet.dev",
        &PatchParams::apply("nflbet-tests").force(),
        &Patch::Apply(&nflbet::crd::all().into_iter().find(|(f, _)| *f == "sportsbooks.yaml").unwrap().1),
    )
    .await
    .unwrap();
}
