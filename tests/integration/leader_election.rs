//! Two operator replicas with leader election: only the Lease holder reconciles; when it stops,
//! the other takes over and reconciles; when the leader is cut off from the API server, it stops
//! reconciling before the other replica starts.

use crate::support;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use nflbet::controller::leader::LeaderStatus;
use nflbet::controller::{OperatorArgs, OperatorHandle};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch;

async fn reconciles(listen: std::net::SocketAddr) -> u64 {
    let body = reqwest::get(format!("http://{listen}/metrics")).await.unwrap().text().await.unwrap();
    body.lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The replica's leadership gauge as a scrape sees it.
async fn leader_gauge(listen: std::net::SocketAddr) -> Option<String> {
    let body = reqwest::get(format!("http://{listen}/metrics")).await.unwrap().text().await.unwrap();
    let series = r#"leader_election_master_status{name="nflbet-operator"} "#;
    body.lines().find_map(|l| l.strip_prefix(series)).map(str::to_string)
}

/// Leader election on, as replica `name`, with the given lease duration, renew deadline and
/// retry period.
fn elect(ns: &str, name: &'static str, timing: [Duration; 3]) -> impl FnOnce(&mut OperatorArgs) + use<> {
    let ns = ns.to_string();
    move |a: &mut OperatorArgs| {
        a.leader_elect = true;
        a.lease_namespace = ns;
        a.pod_name = Some(name.into());
        [a.leader_elect_lease_duration, a.leader_elect_renew_deadline, a.leader_elect_retry_period] = timing;
    }
}

fn leadership(handle: &OperatorHandle) -> watch::Receiver<LeaderStatus> {
    handle.leadership.clone().expect("leader election is on")
}

/// Wait up to `within` for the replica to report a status that satisfies `check`.
async fn reported(
    rx: &mut watch::Receiver<LeaderStatus>,
    what: &str,
    within: Duration,
    check: impl FnMut(&LeaderStatus) -> bool,
) -> LeaderStatus {
    let outcome = tokio::time::timeout(within, rx.wait_for(check)).await.map(|r| r.map(|s| s.clone()));
    match outcome {
        Ok(Ok(status)) => status,
        Ok(Err(_)) => panic!("{what}: the replica stopped reporting"),
        Err(_) => panic!("timed out after {within:?} waiting for {what}; last report: {:?}", *rx.borrow()),
    }
}

fn book(name: &str) -> Sportsbook {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": name},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap()
}

async fn set_disabled(books: &Api<Sportsbook>, name: &str, disabled: bool) {
    let patch = Patch::Merge(json!({"spec": {"disabled": disabled}}));
    books.patch(name, &PatchParams::default(), &patch).await.unwrap();
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_follower_takes_over() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "leader").await;
    let timing = [15, 10, 2].map(Duration::from_secs);
    let first = support::start_operator_with(&client, &ns, elect(&ns, "replica-a", timing)).await;
    reported(&mut leadership(&first), "replica-a leads", Duration::from_secs(30), |s| s.leading).await;
    let second = support::start_operator_with(&client, &ns, elect(&ns, "replica-b", timing)).await;

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    books.create(&PostParams::default(), &book("fanduel")).await.unwrap();
    support::wait_condition(&books, "fanduel", "Ready", "True", None).await;
    assert!(reconciles(first.listen).await > 0, "the leader reconciles");
    assert_eq!(reconciles(second.listen).await, 0, "the follower writes nothing");
    assert_eq!(leader_gauge(first.listen).await.as_deref(), Some("1"));
    assert_eq!(leader_gauge(second.listen).await.as_deref(), Some("0"));
    let ready = reqwest::get(format!("http://{}/readyz", second.listen)).await.unwrap();
    assert_eq!(ready.status(), 200, "a follower is ready (it serves metrics and waits)");

    // The leader stops cleanly and releases the lease: the follower takes it at its next retry,
    // long before the 15 s lease would have expired, and reconciles a change.
    first.stop().await.unwrap();
    let released = tokio::time::Instant::now();
    let b =
        reported(&mut leadership(&second), "replica-b leads", Duration::from_secs(10), |s| s.leading).await;
    assert!(b.since - released < Duration::from_secs(5), "took {:?} after the release", b.since - released);
    set_disabled(&books, "fanduel", true).await;
    support::wait_condition(&books, "fanduel", "Stopped", "True", Some("Disabled")).await;
    assert!(reconciles(second.listen).await > 0, "the new leader reconciles");
    second.stop().await.unwrap();
    support::delete_namespace(&client, &ns).await;
}

/// Replica A reaches the API server through a proxy; cutting it black-holes A's requests (they
/// hang, nothing is refused). A must stop reconciling within its renew deadline, B must wait for
/// the lease to expire by its own observation and then take over, and their terms must not
/// overlap. After the proxy is restored A stays a follower and writes nothing.
#[tokio::test]
async fn a_leader_cut_off_from_the_api_server_steps_down_before_the_follower_takes_over() {
    let (lease, renew, retry) = (Duration::from_secs(4), Duration::from_secs(3), Duration::from_secs(1));
    let timing = [lease, renew, retry];
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "leader-cut").await;
    let proxy = support::proxy::Proxy::start(support::api_server_addr().await).await;
    let through_proxy = support::client_via(proxy.addr()).await;

    let a = support::start_operator_with(&through_proxy, &ns, elect(&ns, "replica-a", timing)).await;
    let mut a_status = leadership(&a);
    reported(&mut a_status, "replica-a leads", Duration::from_secs(30), |s| s.leading).await;
    let b = support::start_operator_with(&client, &ns, elect(&ns, "replica-b", timing)).await;
    let mut b_status = leadership(&b);
    reported(&mut b_status, "replica-b sees replica-a lead", Duration::from_secs(10), |s| {
        s.observed_holder.as_deref() == Some("replica-a")
    })
    .await;

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    books.create(&PostParams::default(), &book("fanduel")).await.unwrap();
    support::wait_condition(&books, "fanduel", "Ready", "True", None).await;
    assert!(reconciles(a.listen).await > 0, "the leader reconciles through the proxy");
    assert_eq!(reconciles(b.listen).await, 0, "the follower writes nothing");

    proxy.cut();
    let cut = tokio::time::Instant::now();
    let a_down =
        reported(&mut a_status, "replica-a steps down", renew + Duration::from_secs(5), |s| !s.leading).await;
    // Counted once A reports it stopped: from here on A's count must never move.
    let a_reconciles = reconciles(a.listen).await;
    assert_eq!(reconciles(b.listen).await, 0, "B does not reconcile while A may still");
    assert_eq!(leader_gauge(a.listen).await.as_deref(), Some("0"), "A's gauge shows the step-down");
    let b_up =
        reported(&mut b_status, "replica-b takes over", lease + retry * 2 + Duration::from_secs(5), |s| {
            s.leading
        })
        .await;

    let stepped_down_after = a_down.since - cut;
    let took_over_after = b_up.since - cut;
    eprintln!(
        "cut at 0: replica-a stepped down at {stepped_down_after:?}, replica-b took over at {took_over_after:?}"
    );
    // A's last renewal started before the cut, and A gives up one renew deadline after that,
    // however long its hung requests would wait (the slack is for timers on a busy machine).
    assert!(
        stepped_down_after <= renew + Duration::from_secs(1),
        "A stepped down {stepped_down_after:?} after the cut; its renew deadline is {renew:?}"
    );
    // B first saw A's last renewal within a (jittered) retry period of it, waited a full lease
    // from that observation, and woke when it expired.
    assert!(
        took_over_after <= lease + retry.mul_f64(1.2) + Duration::from_secs(2),
        "B took over {took_over_after:?} after the cut; lease {lease:?}, retry period {retry:?}"
    );
    // No overlap, by each replica's own report: A had stopped its controllers before B started.
    // B observed A's last renewal no earlier than A started it, and waits a lease from there; A
    // stops a renew deadline after that start, so the gap is about lease − renew deadline (1 s).
    assert!(a_down.since < b_up.since, "terms overlap: A stopped at {a_down:?}, B started at {b_up:?}");

    // A change after the takeover is B's to reconcile.
    set_disabled(&books, "fanduel", true).await;
    support::wait_condition(&books, "fanduel", "Stopped", "True", Some("Disabled")).await;
    assert!(reconciles(b.listen).await > 0, "the new leader reconciles");
    assert_eq!(reconciles(a.listen).await, a_reconciles, "A reconciled after it stepped down");

    // The partition heals: A reads the lease again, sees B hold it, and stays a follower.
    proxy.restore();
    let a_after = reported(&mut a_status, "replica-a sees replica-b lead", Duration::from_secs(15), |s| {
        s.observed_holder.as_deref() == Some("replica-b")
    })
    .await;
    assert!(!a_after.leading, "A leads again while B holds the lease: {a_after:?}");
    set_disabled(&books, "fanduel", false).await;
    support::wait_condition(&books, "fanduel", "Stopped", "False", Some("Running")).await;
    assert_eq!(reconciles(a.listen).await, a_reconciles, "A reconciled after the partition healed");
    assert!(!a_status.borrow().leading && b_status.borrow().leading, "leadership moved after the heal");
    assert_eq!(leader_gauge(a.listen).await.as_deref(), Some("0"));
    assert_eq!(leader_gauge(b.listen).await.as_deref(), Some("1"));
    let held = Api::<Lease>::namespaced(client.clone(), &ns).get("nflbet-operator").await.unwrap();
    let spec = held.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1), "exactly one hand-over, A to B");

    a.stop().await.unwrap();
    b.stop().await.unwrap();
    support::delete_namespace(&client, &ns).await;
}
