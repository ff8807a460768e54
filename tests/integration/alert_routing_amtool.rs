//! The routing an AlertRoute produces, rendered as plain Alertmanager configuration the way
//! prometheus-operator merges it, checked with Debian's real `amtool`: the config is valid, a
//! critical sportsbook alert reaches the right receiver, and an alert below the threshold or of
//! another namespace or book is dropped.

use crate::support;
use nflbet::controller::alert_route::build::build;
use nflbet::controller::alert_route::validate::{Placeholders, render_plain};
use nflbet::crd::AlertRoute;
use std::path::Path;

fn write_config(dir: &Path, yaml: &str) {
    let ar: AlertRoute = serde_yaml::from_str(yaml).expect("fixture");
    let plain = render_plain(&build(&ar), &Placeholders);
    std::fs::write(dir.join("alertmanager.yml"), serde_yaml::to_string(&plain).unwrap()).unwrap();
}

const TRADING: &str = r#"
apiVersion: betting.nflbet.dev/v1alpha1
kind: AlertRoute
metadata: {name: trading, namespace: betting}
spec:
  minSeverity: critical
  sportsbooks: [fanduel, draftkings]
  slack: {apiURL: {name: slack-webhook, key: url}, channel: '#odds-alerts'}
  pagerDuty: {routingKey: {name: pagerduty, key: routingKey}}
"#;

/// `amtool config routes test` exits 0 only when the alert reaches exactly the given receiver.
fn routes_to(dir: &Path, receiver: &str, labels: &[&str]) -> (bool, String) {
    let verify = format!("--verify.receivers={receiver}");
    let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yml", &verify];
    args.extend_from_slice(labels);
    support::prometheus_tool("amtool", dir, &args)
}

#[test]
fn rendered_routing_passes_amtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), TRADING);
    let (ok, text) = support::prometheus_tool("amtool", dir.path(), &["check-config", "alertmanager.yml"]);
    assert!(ok, "amtool check-config failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(text.contains("3 receivers"), "null, drop and deliver: {text}");
}

#[test]
fn amtool_rejects_a_broken_config() {
    // Proves the check above can fail: a route pointing at an undefined receiver.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route: {receiver: missing}\nreceivers: [{name: other}]\n",
    )
    .unwrap();
    let (ok, text) = support::prometheus_tool("amtool", dir.path(), &["check-config", "alertmanager.yml"]);
    assert!(!ok, "a route to an undefined receiver must be refused: {text}");
}

#[test]
fn critical_sportsbook_alert_reaches_the_receiver_and_the_rest_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), TRADING);
    let deliver = "betting/nflbet-trading/deliver";
    let base = ["alertname=NflbetSportsbookScraperDown", "namespace=betting"];

    let (ok, out) =
        routes_to(dir.path(), deliver, &[base[0], base[1], "severity=critical", "sportsbook=fanduel"]);
    assert!(ok, "critical fanduel alert must reach {deliver}: {out}");

    // Below the threshold: the route does not take it; it falls through to the root receiver.
    let (ok, out) =
        routes_to(dir.path(), "null", &[base[0], base[1], "severity=warning", "sportsbook=fanduel"]);
    assert!(ok, "warning must not be delivered: {out}");
    let (ok, _) =
        routes_to(dir.path(), deliver, &[base[0], base[1], "severity=warning", "sportsbook=fanduel"]);
    assert!(!ok, "a warning must not reach the deliver receiver");

    // A book the route does not take: caught by the route's drop receiver, never delivered.
    let (ok, out) = routes_to(
        dir.path(),
        "betting/nflbet-trading/drop",
        &[base[0], base[1], "severity=critical", "sportsbook=pinnacle"],
    );
    assert!(ok, "other books are dropped: {out}");

    // Another namespace's alert never enters this namespace's route.
    let (ok, out) = routes_to(
        dir.path(),
        "null",
        &[base[0], "namespace=other", "severity=critical", "sportsbook=fanduel"],
    );
    assert!(ok, "other namespaces fall through to the root: {out}");
}

#[test]
fn route_without_selection_takes_every_alert_above_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {name: all, namespace: betting}\nspec:\n  slack: {apiURL: {name: s, key: url}}\n",
    );
    let deliver = "betting/nflbet-all/deliver";
    let (ok, out) = routes_to(
        dir.path(),
        deliver,
        &["alertname=NflbetModelBrierDrift", "namespace=betting", "severity=warning", "model=elo"],
    );
    assert!(ok, "{out}");
    let (ok, out) = routes_to(dir.path(), "null", &["alertname=X", "namespace=betting", "severity=info"]);
    assert!(ok, "info is below the default warning threshold: {out}");
}
