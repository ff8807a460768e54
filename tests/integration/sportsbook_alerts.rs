//! The Sportsbook's generated alerting rules, checked with the real `promtool` (Debian package
//! `prometheus`): the rule file is valid, and unit tests on synthetic series show the stale-data
//! and scraper-down alerts fire exactly when they should — including after the scraper pod and
//! its own metrics are gone.

use crate::support;
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::sportsbook::alerts::rule_group;
use nflbet::crd::Sportsbook;
use std::path::Path;

fn book() -> Sportsbook {
    serde_saphyr::from_str(
        r#"
apiVersion: betting.nflbet.dev/v1alpha1
kind: Sportsbook
metadata: {name: fanduel, namespace: betting}
spec:
  provider: theOddsApi
  theOddsApi: {bookmaker: fanduel}
  credentials: {name: odds-api, key: apiKey}
  markets: [{name: moneyline}]
  polling: {interval: 60s}
  alerts: {errorThreshold: 5, errorWindow: 10m}
"#,
    )
    .expect("fixture")
}

fn write_rules(dir: &Path) {
    support::write_rule_file(dir, &rule_group(&book(), "betting", &OperatorConfig::default()));
}

fn run(dir: &Path, args: &[&str]) -> (bool, String) {
    support::prometheus_tool("promtool", dir, args)
}

#[test]
fn generated_rules_pass_promtool_check() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path());
    let (ok, out) = run(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules failed:\n{out}");
    assert!(out.contains("SUCCESS: 3 rules found"), "{out}");
}

/// promtool's own failure proves the harness can fail: a broken expression is caught.
#[test]
fn promtool_rejects_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'up =='\n",
    )
    .unwrap();
    let (ok, out) = run(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(!ok, "a broken expression must fail: {out}");
}

const LABELS: &str = r#"{namespace="betting",sportsbook="fanduel"}"#;

fn test_rules(cases: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path());
    std::fs::write(dir.path().join("tests.yaml"), cases).unwrap();
    run(dir.path(), &["test", "rules", "tests.yaml"])
}

#[test]
fn stale_data_fires_after_the_scraper_pod_is_gone() {
    // Heartbeats every minute until minute 10; then the pod (and its own gauge) disappears, but
    // the operator keeps exporting the last snapshot time from the Sportsbook's status.
    // Stale after 5m (5 × 60s polls), `for: 2m`: pending at 16m, firing from 18m. `up` vanishes
    // 5m (Prometheus' lookback) after the last scrape, so scraper-down fires 5m after that.
    let cases = format!(
        r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_sportsbook_last_snapshot_timestamp_seconds{LABELS}'
    values: '0+60x10 600x40'
  - series: 'nflreadpy_ingestion_last_success_timestamp_seconds{LABELS}'
    values: '0+60x10'
  - series: 'up{{namespace="betting",service="nflbet-scraper-fanduel"}}'
    values: '1x10'
  alert_rule_test:
  - eval_time: 12m
    alertname: NflbetSportsbookDataStale
    exp_alerts: []
  - eval_time: 17m
    alertname: NflbetSportsbookDataStale
    exp_alerts: []
  - eval_time: 19m
    alertname: NflbetSportsbookDataStale
    exp_alerts:
    - exp_labels: {{severity: critical, namespace: betting, sportsbook: fanduel}}
      exp_annotations:
        summary: Odds from sportsbook fanduel are stale
        description: No snapshot from sportsbook betting/fanduel for more than 5m (last one 9m 0s ago). Models pricing this book are using old odds.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetsportsbookdatastale
  - {{eval_time: 19m, alertname: NflbetSportsbookScraperDown, exp_alerts: []}}
  - eval_time: 21m
    alertname: NflbetSportsbookScraperDown
    exp_alerts:
    - exp_labels: {{severity: critical, namespace: betting, service: nflbet-scraper-fanduel, sportsbook: fanduel}}
      exp_annotations:
        summary: Scraper of sportsbook fanduel is down
        description: Prometheus cannot scrape the scraper of sportsbook betting/fanduel (service nflbet-scraper-fanduel). Check `kubectl -n betting get deploy,pods -l app.kubernetes.io/instance=fanduel`.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetsportsbookscraperdown
"#
    );
    let (ok, out) = test_rules(&cases);
    assert!(ok, "promtool test rules failed:\n{out}");
}

#[test]
fn healthy_book_stays_silent() {
    let cases = format!(
        r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_sportsbook_last_snapshot_timestamp_seconds{LABELS}'
    values: '0+60x60'
  - series: 'nflreadpy_ingestion_last_success_timestamp_seconds{LABELS}'
    values: '0+60x60'
  - series: 'up{{namespace="betting",service="nflbet-scraper-fanduel"}}'
    values: '1x60'
  - series: 'nflreadpy_ingestion_errors_total{{namespace="betting",sportsbook="fanduel",error_type="timeout"}}'
    values: '0+0x60'
  alert_rule_test:
  - {{eval_time: 30m, alertname: NflbetSportsbookDataStale, exp_alerts: []}}
  - {{eval_time: 60m, alertname: NflbetSportsbookDataStale, exp_alerts: []}}
  - {{eval_time: 60m, alertname: NflbetSportsbookScraperDown, exp_alerts: []}}
  - {{eval_time: 60m, alertname: NflbetSportsbookIngestionErrors, exp_alerts: []}}
"#
    );
    let (ok, out) = test_rules(&cases);
    assert!(ok, "promtool test rules failed:\n{out}");
}

#[test]
fn scraper_down_fires_after_five_minutes_of_failed_scrapes_and_errors_fire_over_threshold() {
    // The pod is there but unscrapeable from minute 10; errors climb by 1 a minute from minute 20.
    let cases = format!(
        r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_sportsbook_last_snapshot_timestamp_seconds{LABELS}'
    values: '0+60x60'
  - series: 'up{{namespace="betting",service="nflbet-scraper-fanduel"}}'
    values: '1x10 0x50'
  - series: 'nflreadpy_ingestion_errors_total{{namespace="betting",sportsbook="fanduel",error_type="http_status"}}'
    values: '0x20 1+1x40'
  alert_rule_test:
  - {{eval_time: 13m, alertname: NflbetSportsbookScraperDown, exp_alerts: []}}
  - eval_time: 16m
    alertname: NflbetSportsbookScraperDown
    exp_alerts:
    - exp_labels: {{severity: critical, namespace: betting, service: nflbet-scraper-fanduel, sportsbook: fanduel}}
      exp_annotations:
        summary: Scraper of sportsbook fanduel is down
        description: Prometheus cannot scrape the scraper of sportsbook betting/fanduel (service nflbet-scraper-fanduel). Check `kubectl -n betting get deploy,pods -l app.kubernetes.io/instance=fanduel`.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetsportsbookscraperdown
  - {{eval_time: 22m, alertname: NflbetSportsbookIngestionErrors, exp_alerts: []}}
  - eval_time: 40m
    alertname: NflbetSportsbookIngestionErrors
    exp_alerts:
    - exp_labels: {{severity: warning, namespace: betting, sportsbook: fanduel}}
      exp_annotations:
        summary: Sportsbook fanduel has ingestion errors
        description: 10 ingestion errors in 10m for sportsbook betting/fanduel (threshold 5). See `nflreadpy_ingestion_errors_total` by error_type.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetsportsbookingestionerrors
"#
    );
    let (ok, out) = test_rules(&cases);
    assert!(ok, "promtool test rules failed:\n{out}");
}
