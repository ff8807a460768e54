//! The operator's own notifications reach Slack- and PagerDuty-shaped receivers on 127.0.0.1
//! with the right payloads; Secrets are resolved at send time; a receiver that hangs or fails
//! does not block the operator; no secret shows up in Events or status.

use crate::support;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use nflbet::crd::common::Severity;
use nflbet::crd::{AlertRoute, Sportsbook};
use nflbet::notify::{Notice, Notifier, NotifierSettings};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub(crate) struct Inbox(pub(crate) Arc<Mutex<Vec<(String, Value)>>>);

/// A Slack- and PagerDuty-shaped receiver on 127.0.0.1: every POST to `/{path}` is recorded.
pub(crate) async fn receiver() -> (String, Inbox) {
    let inbox = Inbox::default();
    let app = Router::new()
        .route(
            "/{path}",
            post(
                |State(inbox): State<Inbox>,
                 axum::extract::Path(path): axum::extract::Path<String>,
                 body: axum::Json<Value>| async move {
                    // Every arrival is recorded, the failing ones too: they show how far the
                    // operator's fan-out has gone.
                    inbox.0.lock().unwrap().push((path.clone(), body.0));
                    match path.as_str() {
                        "hang" => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            axum::http::StatusCode::OK
                        }
                        "fail" => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        _ => axum::http::StatusCode::ACCEPTED,
                    }
                },
            ),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), inbox)
}

pub(crate) async fn secret(client: &kube::Client, ns: &str, name: &str, key: &str, value: &str) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: value}
    }))
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
}

pub(crate) async fn route(client: &kube::Client, ns: &str, name: &str, spec: Value) {
    let api: Api<AlertRoute> = Api::namespaced(client.clone(), ns);
    let ar: AlertRoute = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute", "metadata": {"name": name}, "spec": spec
    }))
    .unwrap();
    api.create(&PostParams::default(), &ar).await.unwrap();
}

const ROUTING_KEY: &str = "R0UTING-KEY-never-in-logs";

#[tokio::test]
async fn stopping_a_book_notifies_slack_and_pagerduty_despite_a_hanging_receiver() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "notify-stop").await;
    let (base, inbox) = receiver().await;

    secret(&client, &ns, "slack-webhook", "url", &format!("{base}/slack")).await;
    secret(&client, &ns, "slack-hang", "url", &format!("{base}/hang")).await;
    secret(&client, &ns, "slack-fail", "url", &format!("{base}/fail")).await;
    secret(&client, &ns, "pagerduty", "routingKey", ROUTING_KEY).await;
    // Registered first so that a slow send cannot hide behind a fast one.
    route(&client, &ns, "a-hanging", json!({"slack": {"apiURL": {"name": "slack-hang", "key": "url"}}}))
        .await;
    route(&client, &ns, "b-failing", json!({"slack": {"apiURL": {"name": "slack-fail", "key": "url"}}}))
        .await;
    route(
        &client,
        &ns,
        "c-trading",
        json!({
            "sportsbooks": ["fanduel"],
            "slack": {"apiURL": {"name": "slack-webhook", "key": "url"}, "channel": "#odds-alerts"},
            "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}}
        }),
    )
    .await;
    // Sorted before c-trading: routes are served in name order, so a wrong match would arrive
    // before c-trading's PagerDuty event, the last delivery of the fan-out.
    route(
        &client,
        &ns,
        "b2-other-book",
        json!({"sportsbooks": ["pinnacle"], "slack": {"apiURL": {"name": "slack-webhook", "key": "url"}}}),
    )
    .await;

    let pd_url = format!("{base}/pagerduty");
    let _op = support::start_operator_with(&client, &ns, |a| {
        a.pagerduty_events_url = pd_url;
        a.notify_timeout = "1s".into();
    })
    .await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "fanduel"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
    support::wait_condition(&books, "fanduel", "Ready", "True", Some("Succeeded")).await;

    let started = Instant::now();
    books
        .patch("fanduel", &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    support::wait_for("scraper scaled to 0", Duration::from_secs(30), || async {
        let d = deployments.get("nflbet-scraper-fanduel").await.map_err(|e| e.to_string())?;
        (d.spec.unwrap().replicas == Some(0)).then_some(()).ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10), "the hanging receiver must not delay reconciling");

    let received = support::wait_for("Slack and PagerDuty payloads", Duration::from_secs(30), || async {
        let got = inbox.0.lock().unwrap().clone();
        if got.iter().any(|(p, _)| p == "slack") && got.iter().any(|(p, _)| p == "pagerduty") {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let arrivals = |path: &str| received.iter().filter(|(p, _)| p == path).count();
    // The whole fan-out went by: the hanging and the failing receiver were each tried
    // `attempts` times (3) before the operator moved on, and nothing else came.
    assert_eq!((arrivals("hang"), arrivals("fail")), (3, 3), "{received:?}");
    let slack: Vec<&Value> = received.iter().filter(|(p, _)| p == "slack").map(|(_, v)| v).collect();
    assert_eq!(slack.len(), 1, "only the route taking fanduel gets it: {slack:?}");
    assert_eq!(slack[0]["channel"], "#odds-alerts");
    let text = slack[0]["text"].as_str().unwrap();
    assert!(text.contains("SportsbookStopped") && text.contains(&format!("{ns}/fanduel")), "{text}");

    let pd = &received.iter().find(|(p, _)| p == "pagerduty").unwrap().1;
    assert_eq!(pd["routing_key"], ROUTING_KEY);
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], format!("nflbet/{ns}/sportsbook/fanduel/SportsbookStopped"));
    assert_eq!(pd["payload"]["source"], "nflbet-operator");
    assert_eq!(pd["payload"]["severity"], "warning");
    assert!(pd["payload"]["summary"].as_str().unwrap().contains("fanduel"));

    // Nothing secret leaks into Events or status.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let all = serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap()
        + &serde_json::to_string(&books.get("fanduel").await.unwrap()).unwrap();
    assert!(!all.contains(ROUTING_KEY) && !all.contains(&base), "a secret leaked into Events or status");
}

#[tokio::test]
async fn model_notices_reach_routes_taking_the_model_and_time_out_on_a_hanging_receiver() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "notify-model").await;
    let (base, inbox) = receiver().await;
    secret(&client, &ns, "slack-webhook", "url", &format!("{base}/slack")).await;
    secret(&client, &ns, "slack-hang", "url", &format!("{base}/hang")).await;
    route(
        &client,
        &ns,
        "models",
        json!({"models": ["elo"], "slack": {"apiURL": {"name": "slack-webhook", "key": "url"}}}),
    )
    .await;
    route(&client, &ns, "hang", json!({"slack": {"apiURL": {"name": "slack-hang", "key": "url"}}})).await;
    route(
        &client,
        &ns,
        "books-only",
        json!({"sportsbooks": ["fanduel"], "slack": {"apiURL": {"name": "slack-webhook", "key": "url"}}}),
    )
    .await;
    route(&client, &ns, "missing-secret", json!({"slack": {"apiURL": {"name": "nope", "key": "url"}}})).await;

    let notifier = Notifier::new(
        client.clone(),
        NotifierSettings {
            timeout: Duration::from_millis(300),
            attempts: 2,
            backoff: Duration::from_millis(50),
            ..NotifierSettings::default()
        },
    );
    let notice = Notice {
        namespace: ns.clone(),
        kind: "Model",
        name: "elo".into(),
        reason: "ModelRolledBack".into(),
        message: "candidate 1.1.0 rolled back".into(),
        severity: Severity::Warning,
    };
    let started = Instant::now();
    let sent = notifier.deliver(&notice).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by timeout × attempts: {:?}",
        started.elapsed()
    );
    assert_eq!(sent, 1, "delivered to the model route only; the hanging and the secret-less ones fail");
    let got = inbox.0.lock().unwrap().clone();
    let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    // Routes are served in name order: "hang" (tried `attempts` times), then "models".
    assert_eq!(paths, ["hang", "hang", "slack"], "the model route once, the hanging one twice");
    assert!(got[2].1["text"].as_str().unwrap().contains("ModelRolledBack"));
}
