//! Two operator replicas with leader election: only the Lease holder reconciles; when it stops,
//! the other takes over and reconciles.

use crate::support;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::time::Duration;

async fn reconciles(listen: std::net::SocketAddr) -> u64 {
    let body = reqwest::get(format!("http://{listen}/metrics")).await.unwrap().text().await.unwrap();
    body.lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_follower_takes_over() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "leader").await;
    let elect = |name: &'static str| {
        let ns = ns.clone();
        move |a: &mut nflbet::controller::OperatorArgs| {
            a.leader_elect = true;
            a.lease_namespace = ns;
            a.pod_name = Some(name.into());
        }
    };
    let first = support::start_operator_with(&client, &ns, elect("replica-a")).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    support::wait_for("replica-a holds the lease", Duration::from_secs(30), || async {
        let l = leases.get_opt("nflbet-operator").await.map_err(|e| e.to_string())?.ok_or("no lease")?;
        let holder = l.spec.and_then(|s| s.holder_identity);
        if holder.as_deref() == Some("replica-a") { Ok(()) } else { Err(format!("{holder:?}")) }
    })
    .await;
    let second = support::start_operator_with(&client, &ns, elect("replica-b")).await;

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "fanduel"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
    support::wait_condition(&books, "fanduel", "Ready", "True", None).await;
    assert!(reconciles(first.listen).await > 0, "the leader reconciles");
    assert_eq!(reconciles(second.listen).await, 0, "the follower writes nothing");
    let ready = reqwest::get(format!("http://{}/readyz", second.listen)).await.unwrap();
    assert_eq!(ready.status(), 200, "a follower is ready (it serves metrics and waits)");

    // The leader stops; the follower takes the lease once it expires and reconciles a change.
    first.stop().await.unwrap();
    support::wait_for("replica-b takes the lease", Duration::from_secs(60), || async {
        let l = leases.get("nflbet-operator").await.map_err(|e| e.to_string())?;
        let holder = l.spec.and_then(|s| s.holder_identity);
        if holder.as_deref() == Some("replica-b") { Ok(()) } else { Err(format!("{holder:?}")) }
    })
    .await;
    books
        .patch("fanduel", &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
        .await
        .unwrap();
    support::wait_condition(&books, "fanduel", "Stopped", "True", Some("Disabled")).await;
    assert!(reconciles(second.listen).await > 0, "the new leader reconciles");
}
