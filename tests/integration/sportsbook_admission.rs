//! Invalid Sportsbooks are refused by the real API server at admission, with messages a person
//! understands (schema + CEL rules generated from the Rust types).

use crate::support;

use kube::api::{Api, DynamicObject, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::{Value, json};

/// The valid Sportsbook each case changes in one place.
pub(crate) fn base() -> Value {
    json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": "book"},
        "spec": {
            "provider": "theOddsApi",
            "theOddsApi": {"bookmaker": "fanduel"},
            "credentials": {"name": "odds-api", "key": "apiKey"},
            "markets": [{"name": "moneyline"}]
        }
    })
}

fn with(mut v: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut v["spec"];
    for p in &path[..path.len() - 1] {
        cur = &mut cur[*p];
    }
    let last = path[path.len() - 1];
    if value.is_null() {
        cur.as_object_mut().unwrap().remove(last);
    } else {
        cur[last] = value;
    }
    v
}

#[tokio::test]
async fn invalid_sportsbooks_are_refused_with_clear_messages() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "sb-admission").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &kube::core::ApiResource::erase::<Sportsbook>(&()));
    let obj = |v: Value| -> DynamicObject { serde_json::from_value(v).expect("object") };

    // The base object itself is valid, so each failure below is caused by its one change.
    let mut ok = base();
    ok["metadata"]["name"] = json!("valid");
    api.create(&PostParams::default(), &obj(ok)).await.expect("the base Sportsbook is valid");
    let mut kept = with(base(), &["storage"], json!({"url": "s3://odds/prod", "retention": "4392h"}));
    kept["metadata"]["name"] = json!("kept");
    api.create(&PostParams::default(), &obj(kept)).await.expect("a season's retention is valid");

    let cases = cases();
    let mut failures = Vec::new();
    for (i, (what, value, expected)) in cases.into_iter().enumerate() {
        let mut value = value;
        value["metadata"]["name"] = json!(format!("case-{i}"));
        match api.create(&PostParams::default(), &obj(value)).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(expected) => {}
            Err(e) => failures.push(format!("{what}: expected a 422 mentioning {expected:?}, got {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Each case: what is wrong, the object, and a part of the API server's message. The same cases
/// go through `nflbet validate-config --strict` in `validate_config_agrees`.
pub(crate) fn cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "no provider settings",
            with(base(), &["theOddsApi"], Value::Null),
            "provider theOddsApi needs spec.theOddsApi",
        ),
        (
            "no credentials",
            with(base(), &["credentials"], Value::Null),
            "provider theOddsApi needs spec.credentials",
        ),
        (
            "generic feed without endpoint",
            with(with(base(), &["provider"], json!("genericJson")), &["theOddsApi"], Value::Null),
            "provider genericJson needs spec.endpoint",
        ),
        (
            "unknown market",
            with(base(), &["markets"], json!([{"name": "props"}])),
            r#"Unsupported value: "props""#,
        ),
        (
            "duplicate market",
            with(base(), &["markets"], json!([{"name": "spread"}, {"name": "spread", "enabled": false}])),
            "Duplicate value",
        ),
        (
            "no enabled market",
            with(base(), &["markets"], json!([{"name": "spread", "enabled": false}])),
            "at least one market must be enabled",
        ),
        (
            "tiny interval",
            with(base(), &["polling"], json!({"interval": "1s"})),
            "polling.interval must be at least 5s",
        ),
        (
            "negative interval",
            with(base(), &["polling"], json!({"interval": "-30s"})),
            "spec.polling.interval",
        ),
        (
            "jitter longer than interval",
            with(base(), &["polling"], json!({"interval": "30s", "jitter": "45s"})),
            "polling.jitter must be shorter than polling.interval",
        ),
        (
            "timeout longer than interval",
            with(base(), &["polling"], json!({"interval": "10s", "timeout": "20s"})),
            "polling.timeout must not be longer than polling.interval",
        ),
        (
            "stale threshold below interval",
            with(
                with(base(), &["polling"], json!({"interval": "10m"})),
                &["alerts"],
                json!({"staleAfter": "5m"}),
            ),
            "alerts.staleAfter must be longer than polling.interval",
        ),
        (
            "endpoint not a URL",
            with(base(), &["endpoint"], json!("ftp://odds")),
            "endpoint must be an http:// or https:// URL",
        ),
        (
            "unknown region",
            with(base(), &["theOddsApi"], json!({"bookmaker": "fanduel", "regions": ["mars"]})),
            r#"Unsupported value: "mars""#,
        ),
        (
            "zero error window (it would render increase(...[0s]))",
            with(base(), &["alerts"], json!({"errorWindow": "0s"})),
            r#"spec.alerts.errorWindow: Invalid value: "0s": alerts.errorWindow must be between 1m and 168h: Prometheus needs at least two scrapes (30s apart) in the window"#,
        ),
        (
            "scrape interval below 5s",
            with(base(), &["workload"], json!({"scrapeInterval": "1s"})),
            r#"spec.workload.scrapeInterval: Invalid value: "1s": workload.scrapeInterval must be between 5s and 2m"#,
        ),
        (
            "error window too short for two scrapes",
            with(
                with(base(), &["workload"], json!({"scrapeInterval": "2m"})),
                &["alerts"],
                json!({"errorWindow": "3m"}),
            ),
            "alerts.errorWindow (default 15m) must be at least twice workload.scrapeInterval: increase() needs two scrapes in the window",
        ),
        (
            "zero stale threshold",
            with(base(), &["alerts"], json!({"staleAfter": "0s"})),
            r#"spec.alerts.staleAfter: Invalid value: "0s": alerts.staleAfter must be between 1m and 168h"#,
        ),
        (
            "zero backoff",
            with(base(), &["polling"], json!({"backoffBase": "0s"})),
            r#"spec.polling.backoffBase: Invalid value: "0s": polling.backoffBase must be between 100ms and 10m"#,
        ),
        (
            "endless backoff",
            with(base(), &["polling"], json!({"backoffMax": "2h"})),
            r#"spec.polling.backoffMax: Invalid value: "2h": polling.backoffMax must be at most 1h"#,
        ),
        (
            "zero quote age",
            with(base(), &["polling"], json!({"maxQuoteAge": "0s"})),
            r#"spec.polling.maxQuoteAge: Invalid value: "0s": polling.maxQuoteAge must be between 1s and 168h (0s would drop every quote)"#,
        ),
        (
            "label key Prometheus refuses",
            with(base(), &["alerts"], json!({"extraLabels": {"on-call": "trading"}})),
            "spec.alerts.extraLabels: Invalid value: alerts.extraLabels keys must be Prometheus label names of at most 128 characters: letters, digits and _, not starting with a digit (e.g. team, on_call)",
        ),
        (
            "reserved label key",
            with(base(), &["alerts"], json!({"extraLabels": {"__name__": "x"}})),
            "spec.alerts.extraLabels: Invalid value: alerts.extraLabels keys starting with __ are reserved by Prometheus",
        ),
        (
            "label the operator sets",
            with(base(), &["alerts"], json!({"extraLabels": {"severity": "page"}})),
            "spec.alerts.extraLabels: Invalid value: alerts.extraLabels cannot set severity, namespace or sportsbook: the operator sets them (use alerts.severity for the severity)",
        ),
        (
            "templated label value",
            with(base(), &["alerts"], json!({"extraLabels": {"team": "{{ $labels.team }}"}})),
            "spec.alerts.extraLabels: Invalid value: alerts.extraLabels values are literal text and must not contain {{ or }} (Prometheus would read them as a template)",
        ),
        (
            "retention too short",
            with(base(), &["storage"], json!({"retention": "30m"})),
            "storage.retention must be at least 1h",
        ),
        (
            "retention too long",
            with(base(), &["storage"], json!({"retention": "100000h"})),
            "storage.retention must be at most 87600h",
        ),
        (
            "retention in days (no kind takes d: the one duration syntax)",
            with(base(), &["storage"], json!({"retention": "30d"})),
            duration_refused("spec.storage.retention", "30d"),
        ),
        (
            "error window in weeks",
            with(base(), &["alerts"], json!({"errorWindow": "1w"})),
            duration_refused("spec.alerts.errorWindow", "1w"),
        ),
    ]
}

/// The API server's refusal of a value outside the one duration syntax of every kind
/// (`nflbet::domain::duration`): the field, the value and the same message everywhere.
pub(crate) fn duration_refused(field: &str, value: &str) -> &'static str {
    let message = nflbet::domain::duration::MESSAGE;
    Box::leak(format!("{field}: Invalid value: \"{value}\": {message}").into_boxed_str())
}
