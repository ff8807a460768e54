//! Without the prometheus-operator CRDs the scraper still runs, and the Sportsbook says which
//! monitoring objects could not be created; once the CRDs are installed the operator creates them.
//!
//! The operator rediscovers the monitoring kinds every 10 s and restarts its watches when they
//! change, so neither an edit nor a restart is needed. The test removes the monitoring CRDs from
//! the shared control plane and installs them again before it ends.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use nflbet::crd::Sportsbook;
use nflbet::monitoring::{PrometheusRule, ServiceMonitor};
use serde_json::json;
use std::time::{Duration, Instant};

const MONITORING_CRDS: [&str; 4] = [
    "prometheusrules.monitoring.coreos.com",
    "servicemonitors.monitoring.coreos.com",
    "podmonitors.monitoring.coreos.com",
    "alertmanagerconfigs.monitoring.coreos.com",
];

#[tokio::test]
async fn workload_runs_without_monitoring_crds_and_status_says_why() {
    let _serial = crate::serial().await;
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in MONITORING_CRDS {
        let _ = crds.delete(name, &DeleteParams::default()).await;
    }
    support::wait_for("monitoring CRDs removed", Duration::from_secs(60), || async {
        for name in MONITORING_CRDS {
            if crds.get_opt(name).await.map_err(|e| e.to_string())?.is_some() {
                return Err(format!("{name} still present"));
            }
        }
        Ok(())
    })
    .await;

    let ns = support::namespace(&client, "sb-no-monitoring").await;
    let _op = support::start_operator(&client, &ns).await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": "inhouse"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "total"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();

    support::wait_condition(&books, "inhouse", "Ready", "True", Some("Succeeded")).await;
    let book = support::wait_condition(
        &books,
        "inhouse",
        "MonitoringAvailable",
        "False",
        Some("MonitoringCRDsMissing"),
    )
    .await;
    let cond =
        book.status.unwrap().conditions.into_iter().find(|c| c.type_ == "MonitoringAvailable").unwrap();
    assert!(cond.message.contains("prometheusrules.monitoring.coreos.com"), "{}", cond.message);
    assert!(cond.message.contains("servicemonitors.monitoring.coreos.com"), "{}", cond.message);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    assert_eq!(deployments.get("nflbet-scraper-inhouse").await.unwrap().spec.unwrap().replicas, Some(1));

    // Installing prometheus-operator later is picked up without restarting the operator and
    // without touching the book.
    support::install_monitoring_crds(&client).await;
    let installed = Instant::now();
    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), &ns);
    let monitors: Api<ServiceMonitor> = Api::namespaced(client.clone(), &ns);
    support::wait_for(
        "PrometheusRule and ServiceMonitor created once the CRDs exist",
        Duration::from_secs(45),
        || async {
            let rule = rules.get_opt("nflbet-sportsbook-inhouse").await.map_err(|e| e.to_string())?;
            let monitor = monitors.get_opt("nflbet-scraper-inhouse").await.map_err(|e| e.to_string())?;
            match (rule, monitor) {
                (Some(_), Some(_)) => Ok(()),
                other => Err(format!("rule, monitor: {:?}", (other.0.is_some(), other.1.is_some()))),
            }
        },
    )
    .await;
    let recovered = installed.elapsed();
    support::wait_condition(&books, "inhouse", "MonitoringAvailable", "True", Some("Succeeded")).await;

    // A rule deleted by hand comes back: once the CRDs are back the operator watches its rules
    // again (the watches were restarted with the new capabilities).
    rules.delete("nflbet-sportsbook-inhouse", &DeleteParams::default()).await.unwrap();
    support::wait_for("the deleted PrometheusRule restored", Duration::from_secs(30), || async {
        match rules.get_opt("nflbet-sportsbook-inhouse").await.map_err(|e| e.to_string())? {
            Some(r) if r.metadata.deletion_timestamp.is_none() => Ok(()),
            _ => Err("not yet".into()),
        }
    })
    .await;
    eprintln!("monitoring CRDs installed → rule and monitor created: {recovered:?}");
}
