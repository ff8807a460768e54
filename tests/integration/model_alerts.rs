//! The Model's generated alerting rules, checked with the real `promtool`: calibration drift
//! fires only above baseline + tolerance and only once enough samples exist; portfolio alerts
//! fire when exposure (per team, market, book or event) or Kelly stakes exceed their caps, with
//! the severity the Model's `alerts.severities` gives them.

use crate::support;
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::model::alerts::rule_group;
use nflbet::crd::Model;

fn model() -> Model {
    model_with("")
}

/// The Model of these tests, with `extra` appended to its spec (indented two spaces).
fn model_with(extra: &str) -> Model {
    serde_saphyr::from_str(&format!(
        r#"
apiVersion: betting.nflbet.dev/v1alpha1
kind: Model
metadata: {{name: elo, namespace: betting}}
spec:
  algorithm: elo
  version: 1.0.0
  sportsbooks: {{names: [fanduel]}}
  staking: {{bankroll: 10000, kellyFraction: 0.25, maxStakePerBet: 0.02, exposureCaps: {{team: 0.1, book: 0.3}}}}
  calibration: {{baselineBrier: 0.22, baselineLogLoss: 0.63, tolerance: 0.01, minSamples: 100}}
{extra}"#,
    ))
    .unwrap()
}

fn promtool_test(cases: &str) -> (bool, String) {
    promtool_test_of(&model(), cases)
}

fn promtool_test_of(model: &Model, cases: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    support::write_rule_file(dir.path(), &rule_group(model, "betting", &OperatorConfig::default()));
    let (ok, out) = support::prometheus_tool("promtool", dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules: {out}");
    std::fs::write(dir.path().join("tests.yaml"), cases).unwrap();
    support::prometheus_tool("promtool", dir.path(), &["test", "rules", "tests.yaml"])
}

const L: &str = r#"namespace="betting",model="elo",version="1.0.0",role="stable""#;

#[test]
fn brier_drift_fires_only_with_enough_samples_and_above_tolerance() {
    // Brier 0.235 > 0.22 + 0.01 throughout; samples reach 100 at minute 30. `for: 30m`.
    let cases = format!(
        r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_model_brier_score{{{L}}}'
    values: '0.235x120'
  - series: 'nflreadpy_model_log_loss{{{L}}}'
    values: '0.62x120'
  - series: 'nflreadpy_model_calibration_samples{{{L}}}'
    values: '40+2x30 100+1x90'
  alert_rule_test:
  - {{eval_time: 29m, alertname: NflbetModelBrierDrift, exp_alerts: []}}
  - {{eval_time: 50m, alertname: NflbetModelBrierDrift, exp_alerts: []}}
  - {{eval_time: 120m, alertname: NflbetModelLogLossDrift, exp_alerts: []}}
  - eval_time: 61m
    alertname: NflbetModelBrierDrift
    exp_alerts:
    - exp_labels: {{severity: warning, namespace: betting, model: elo, version: 1.0.0, role: stable}}
      exp_annotations:
        summary: Model elo Brier score drifted above its baseline
        description: The Brier score of model betting/elo (stable 1.0.0) is 0.2350, above baseline 0.22 + tolerance 0.01 over at least 100 settled bets.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodelbrierdrift
"#
    );
    let (ok, out) = promtool_test(&cases);
    assert!(ok, "{out}");
}

#[test]
fn calibration_within_tolerance_stays_silent() {
    let cases = format!(
        r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_model_brier_score{{{L}}}'
    values: '0.229x120'
  - series: 'nflreadpy_model_log_loss{{{L}}}'
    values: '0.639x120'
  - series: 'nflreadpy_model_calibration_samples{{{L}}}'
    values: '500x120'
  alert_rule_test:
  - {{eval_time: 120m, alertname: NflbetModelBrierDrift, exp_alerts: []}}
  - {{eval_time: 120m, alertname: NflbetModelLogLossDrift, exp_alerts: []}}
"#
    );
    let (ok, out) = promtool_test(&cases);
    assert!(ok, "{out}");
}

#[test]
fn exposure_and_kelly_above_caps_fire() {
    // Team cap 0.1 × 10000 = 1000: KC exposure sums to 1200 across two books. Book cap 3000:
    // fanduel's stakes (counted once each, from portfolio_stake) total 3500; draftkings' 500.
    // Kelly stake fraction 0.05 > maxStakePerBet 0.02 on one market.
    let cases = r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",model="elo",team="KC",market="moneyline",book="fanduel"}'
    values: '700x30'
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",model="elo",team="KC",market="spread",book="draftkings"}'
    values: '500x30'
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",model="elo",team="BUF",market="moneyline",book="fanduel"}'
    values: '300x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",market="moneyline",book="fanduel"}'
    values: '3500x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",market="spread",book="draftkings"}'
    values: '500x30'
  - series: 'nflreadpy_model_edge{namespace="betting",model="elo",role="stable",market="moneyline",event="2025_14_KC_BUF",selection="KC",book="fanduel",which="kelly"}'
    values: '0.05x30'
  - series: 'nflreadpy_model_edge{namespace="betting",model="elo",role="stable",market="moneyline",event="2025_14_KC_BUF",selection="KC",book="fanduel",which="ev"}'
    values: '0.08x30'
  alert_rule_test:
  - {eval_time: 4m, alertname: NflbetModelExposureAboveCap, exp_alerts: []}
  - eval_time: 10m
    alertname: NflbetModelExposureAboveCap
    exp_alerts:
    - exp_labels: {severity: warning, namespace: betting, model: elo, team: KC, dimension: team}
      exp_annotations:
        summary: Model elo exposure per team is above its cap
        description: Recommended stakes of model betting/elo on team KC total 1.2k, above the cap 0.1 × bankroll 10000 = 1000.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodelexposureabovecap
    - exp_labels: {severity: warning, namespace: betting, model: elo, book: fanduel, dimension: book}
      exp_annotations:
        summary: Model elo exposure per book is above its cap
        description: Recommended stakes of model betting/elo on book fanduel total 3.5k, above the cap 0.3 × bankroll 10000 = 3000.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodelexposureabovecap
  - eval_time: 20m
    alertname: NflbetModelKellyStakeAboveCap
    exp_alerts:
    - exp_labels: {severity: warning, namespace: betting, model: elo, role: stable}
      exp_annotations:
        summary: Model elo wants stakes above the per-bet cap
        description: Model betting/elo (stable) computes a Kelly stake of 0.050 of the bankroll, above maxStakePerBet 0.02. Stakes are capped, but edges this large usually mean bad prices or a broken model.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodelkellystakeabovecap
"#;
    let (ok, out) = promtool_test(cases);
    assert!(ok, "{out}");
}

/// Stakes per event (every bet once, from `portfolio_stake`) against maxEventExposure, default
/// 0.05 × bankroll 10000 = 500: KC@BUF totals 550 over two markets, two books and both roles;
/// DAL@NYG 490 and SF@SEA exactly 500 stay silent.
const EVENT_STAKES: &str = r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",event="2025_14_KC_BUF",market="moneyline",book="fanduel"}'
    values: '300x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",event="2025_14_KC_BUF",market="spread",book="draftkings"}'
    values: '150x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="candidate",event="2025_14_KC_BUF",market="moneyline",book="fanduel"}'
    values: '100x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",event="2025_14_DAL_NYG",market="moneyline",book="fanduel"}'
    values: '490x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",model="elo",role="stable",event="2025_14_SF_SEA",market="total",book="fanduel"}'
    values: '500x30'
  alert_rule_test:
  - {eval_time: 4m, alertname: NflbetModelEventExposureAboveCap, exp_alerts: []}
  - {eval_time: 10m, alertname: NflbetModelExposureAboveCap, exp_alerts: []}
  - eval_time: 10m
    alertname: NflbetModelEventExposureAboveCap
    exp_alerts:
    - exp_labels: {severity: @SEVERITY@, namespace: betting, model: elo, event: 2025_14_KC_BUF}
      exp_annotations:
        summary: Model elo exposure on one event is above maxEventExposure
        description: Recommended stakes of model betting/elo on event 2025_14_KC_BUF total 550, above maxEventExposure 0.05 × bankroll 10000 = 500.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodeleventexposureabovecap
"#;

#[test]
fn event_exposure_above_max_event_exposure_fires_as_a_warning_by_default() {
    let (ok, out) = promtool_test(&EVENT_STAKES.replace("@SEVERITY@", "warning"));
    assert!(ok, "{out}");
    // The expectation can fail: the same series do not make a critical alert by default.
    let (ok, _) = promtool_test(&EVENT_STAKES.replace("@SEVERITY@", "critical"));
    assert!(!ok, "promtool must refuse a severity the rule does not carry");
}

#[test]
fn the_severity_the_model_spec_sets_is_the_one_the_alert_carries() {
    let m = model_with(
        "  alerts: {severities: {NflbetModelEventExposureAboveCap: critical, NflbetModelDown: info}}\n",
    );
    let (ok, out) = promtool_test_of(&m, &EVENT_STAKES.replace("@SEVERITY@", "critical"));
    assert!(ok, "{out}");
    let rules = rule_group(&m, "betting", &OperatorConfig::default()).rules;
    let severity =
        |alert: &str| rules.iter().find(|r| r.alert == alert).map(|r| r.labels["severity"].clone());
    assert_eq!(severity("NflbetModelDown").as_deref(), Some("info"));
    assert_eq!(
        severity("NflbetModelKellyStakeAboveCap").as_deref(),
        Some("warning"),
        "unlisted: its default"
    );
}
