//! The local control plane itself (issue 2): controller manager, scheduler and kwok make a
//! Deployment Available; the prometheus-operator CRDs validate; server-side apply conflicts.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn deployment_becomes_available_on_the_kwok_node_and_scales_to_zero() {
    let client = support::client().await;
    let ns = support::namespace(&client, "testenv-deploy").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "smoke"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "smoke"}},
            "template": {
                "metadata": {"labels": {"app": "smoke"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/never-pulled:1"}]}
            }
        }
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");

    support::wait_for("Deployment Available with 2 ready replicas", Duration::from_secs(60), || async {
        let d = deployments.get("smoke").await.map_err(|e| e.to_string())?;
        let st = d.status.unwrap_or_default();
        let available =
            st.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Available" && c.status == "True");
        if available && st.ready_replicas == Some(2) {
            Ok(())
        } else {
            Err(format!("ready={:?}", st.ready_replicas))
        }
    })
    .await;
    let running = pods.list(&ListParams::default().labels("app=smoke")).await.unwrap();
    assert_eq!(running.items.len(), 2);
    for p in &running.items {
        assert_eq!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("kwok-node-0"),
            "scheduled onto the kwok node"
        );
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    }

    deployments
        .patch("smoke", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}})))
        .await
        .expect("scale to 0");
    support::wait_for("all smoke pods gone", Duration::from_secs(60), || async {
        let n = pods
            .list(&ListParams::default().labels("app=smoke"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if n == 0 { Ok(()) } else { Err(format!("{n} pods left")) }
    })
    .await;
}

#[tokio::test]
async fn prometheus_operator_crds_validate_prometheus_rules() {
    let client = support::client().await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "testenv-promrule").await;
    let ar = kube::core::ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    };
    let api: Api<kube::core::DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);

    let valid: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "valid"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m",
                 "labels": {"severity": "critical"}}]}]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &valid).await.expect("a valid PrometheusRule is accepted");

    let invalid: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "invalid"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": 300}]}]}
    }))
    .unwrap();
    let err = api
        .create(&PostParams::default(), &invalid)
        .await
        .expect_err("a number where a duration string belongs is refused");
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.groups[0].rules[0].for")
            && status.message.contains("must be of type string"),
        "validation message names the field and the type: {}",
        status.message
    );
}

#[tokio::test]
async fn server_side_apply_conflict_without_force_is_409() {
    let client = support::client().await;
    let ns = support::namespace(&client, "testenv-ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"key": v}});

    api.patch("cm", &PatchParams::apply("manager-a"), &Patch::Apply(cm("a"))).await.expect("first apply");
    let err = api
        .patch("cm", &PatchParams::apply("manager-b"), &Patch::Apply(cm("b")))
        .await
        .expect_err("a second manager changing an owned field conflicts");
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!(status.code, 409);
    assert!(status.message.contains("manager-a"), "conflict names the owning manager: {}", status.message);

    // With force the second manager takes the field over.
    let taken = api
        .patch("cm", &PatchParams::apply("manager-b").force(), &Patch::Apply(cm("b")))
        .await
        .expect("forced apply");
    assert_eq!(taken.data.unwrap()["key"], "b");
}
