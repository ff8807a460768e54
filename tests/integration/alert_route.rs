//! AlertRoutes on the real control plane: the generated AlertmanagerConfig is accepted by the
//! real prometheus-operator CRD; configs that would be silently skipped are reported in status;
//! invalid AlertRoutes are refused at admission.

use crate::support;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use nflbet::crd::AlertRoute;
use nflbet::monitoring::AlertmanagerConfig;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) fn route_json(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn alert_route_becomes_an_accepted_alertmanager_config() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "ar-apply").await;
    let _op = support::start_operator(&client, &ns).await;
    let routes: Api<AlertRoute> = Api::namespaced(client.clone(), &ns);
    let configs: Api<AlertmanagerConfig> = Api::namespaced(client.clone(), &ns);

    let ar: AlertRoute = serde_json::from_value(route_json(
        "trading",
        json!({
            "minSeverity": "warning",
            "sportsbooks": ["fanduel", "draftkings"],
            "models": ["elo"],
            "slack": {"apiURL": {"name": "slack-webhook", "key": "url"}, "channel": "#odds-alerts"},
            "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}},
            "email": valid_email(),
            "repeatInterval": "2h"
        }),
    ))
    .unwrap();
    routes.create(&PostParams::default(), &ar).await.unwrap();

    let ready = support::wait_condition(&routes, "trading", "Ready", "True", Some("Succeeded")).await;
    assert_eq!(ready.status.as_ref().unwrap().receivers.as_deref(), Some("slack,pagerduty,email"));
    support::wait_condition(&routes, "trading", "ConfigValid", "True", None).await;

    // Read back as the API server stored it: the real CRD's schema accepted every field.
    let amc = configs.get("nflbet-trading").await.unwrap();
    let owner = &amc.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("AlertRoute", "trading"));
    let r = &amc.spec.route;
    assert_eq!(r.receiver, "drop");
    assert_eq!(r.repeat_interval.as_deref(), Some("2h"));
    assert_eq!(r.routes.len(), 2, "child routes survive the CRD's raw JSON field");
    assert_eq!(r.routes[0].matchers[0].value, "draftkings|fanduel");
    let deliver = amc.spec.receivers.iter().find(|r| r.name == "deliver").unwrap();
    assert_eq!(deliver.slack_configs[0].api_url.name, "slack-webhook");
    assert_eq!(deliver.pagerduty_configs[0].routing_key.key, "routingKey");
    let email = &deliver.email_configs[0];
    assert_eq!(email.to, "oncall@example.com, trading@example.com");
    assert_eq!(email.require_tls, Some(false));
    assert_eq!(email.auth_password.as_ref().map(|p| p.key.as_str()), Some("password"));

    // Disabling removes the routing and says so.
    routes
        .patch("trading", &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
        .await
        .unwrap();
    support::wait_condition(&routes, "trading", "Stopped", "True", Some("Disabled")).await;
    support::wait_for("AlertmanagerConfig removed", Duration::from_secs(30), || async {
        match configs.get_opt("nflbet-trading").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
}

#[tokio::test]
async fn a_route_that_can_never_match_is_reported_not_applied() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "ar-invalid").await;
    let _op = support::start_operator(&client, &ns).await;
    let routes: Api<AlertRoute> = Api::namespaced(client.clone(), &ns);
    let ar: AlertRoute = serde_json::from_value(route_json(
        "pages",
        json!({
            "minSeverity": "critical",
            "matchers": [{"name": "severity", "value": "warning"}, {"name": "team", "value": "(", "matchType": "=~"}],
            "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}}
        }),
    ))
    .unwrap();
    routes.create(&PostParams::default(), &ar).await.unwrap();
    let r = support::wait_condition(&routes, "pages", "ConfigValid", "False", Some("InvalidConfig")).await;
    let msg = r.status.unwrap().conditions.into_iter().find(|c| c.type_ == "ConfigValid").unwrap().message;
    assert!(msg.contains("exclude every severity allowed by minSeverity"), "{msg}");
    assert!(msg.contains("route.matchers[2]") && msg.contains("not a valid regular expression"), "{msg}");
    support::wait_condition(&routes, "pages", "Ready", "False", Some("InvalidConfig")).await;
    let configs: Api<AlertmanagerConfig> = Api::namespaced(client.clone(), &ns);
    assert!(configs.get_opt("nflbet-pages").await.unwrap().is_none(), "an invalid config is never applied");
}

#[tokio::test]
async fn invalid_alert_routes_are_refused_with_clear_messages() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "ar-admission").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &kube::core::ApiResource::erase::<AlertRoute>(&()));
    let cases = admission_cases();
    let mut failures = Vec::new();
    for (i, (spec, expected)) in cases.into_iter().enumerate() {
        let obj: DynamicObject =
            serde_json::from_value(route_json(&format!("case-{i}"), spec.clone())).unwrap();
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => failures.push(format!("{spec}: accepted")),
            Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(expected) => {}
            Err(e) => failures.push(format!("{spec}: expected 422 mentioning {expected:?}, got {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An email receiver with every field, its password in the Secret `smtp`.
pub(crate) fn valid_email() -> Value {
    json!({
        "to": ["oncall@example.com", "trading@example.com"], "from": "nflbet-alerts@example.com",
        "smarthost": "smtp.example.com:587", "requireTLS": false,
        "auth": {"username": "nflbet", "password": {"name": "smtp", "key": "password"}}
    })
}

/// Each case: an AlertRoute's spec and a part of the API server's message refusing it. The same
/// cases go through `nflbet validate-config --strict` in `validate_config_agrees`.
pub(crate) fn admission_cases() -> Vec<(Value, &'static str)> {
    let slack = json!({"apiURL": {"name": "s", "key": "url"}});
    vec![
        (
            json!({"minSeverity": "warning"}),
            "an AlertRoute needs a receiver: spec.slack, spec.pagerDuty and/or spec.email",
        ),
        (
            json!({"email": {"to": ["oncall"], "from": "a@example.com", "smarthost": "smtp.example.com:587"}}),
            "email.to entries must be email addresses such as oncall@example.com",
        ),
        (
            json!({"email": {"to": [], "from": "a@example.com", "smarthost": "smtp.example.com:587"}}),
            "spec.email.to: Invalid value: 0: spec.email.to in body should have at least 1 items",
        ),
        (
            json!({"email": {"to": ["a@example.com"], "from": "Alerts <a@example.com>", "smarthost": "smtp.example.com:587"}}),
            "email.from must be an email address such as alerts@example.com",
        ),
        (
            json!({"email": {"to": ["a@example.com"], "from": "a@example.com", "smarthost": "smtp.example.com"}}),
            "email.smarthost must be host:port, e.g. smtp.example.com:587",
        ),
        (
            json!({"email": {"to": ["a@example.com"], "from": "a@example.com", "smarthost": "smtp.example.com:587", "auth": {"username": "u", "password": "hunter2"}}}),
            "spec.email.auth.password: Invalid value: \"string\": spec.email.auth.password in body must be of type object",
        ),
        (json!({"slack": slack, "minSeverity": "page"}), r#"Unsupported value: "page""#),
        (
            json!({"slack": slack, "matchers": [{"name": "namespace", "value": "other"}]}),
            "matchers on namespace are not allowed",
        ),
        (
            json!({"slack": slack, "matchers": [{"name": "team", "value": "a", "matchType": "~="}]}),
            r#"Unsupported value: "~=""#,
        ),
        (
            json!({"slack": {"apiURL": {"name": "s", "key": "url"}, "channel": "odds"}}),
            "slack.channel must start with # or @",
        ),
        (
            json!({"slack": slack, "groupWait": "soon"}),
            crate::sportsbook_admission::duration_refused("spec.groupWait", "soon"),
        ),
        (
            json!({"slack": slack, "repeatInterval": "1d"}),
            crate::sportsbook_admission::duration_refused("spec.repeatInterval", "1d"),
        ),
        (json!({"slack": {"channel": "#x"}}), "spec.slack.apiURL: Required value"),
        (
            json!({"slack": slack, "repeatInterval": "0h"}),
            "spec.repeatInterval: Invalid value: \"0h\": repeatInterval must be longer than 0: Alertmanager refuses a zero repeatInterval",
        ),
        (
            json!({"slack": slack, "groupInterval": "0s0m"}),
            "spec.groupInterval: Invalid value: \"0s0m\": groupInterval must be longer than 0: Alertmanager refuses a zero groupInterval",
        ),
    ]
}
