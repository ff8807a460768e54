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

/// Labels of the stable workload's calibration series as Prometheus stores them: the target's
/// `namespace` and `service` (the Model's Service) beside the workload's own.
const L: &str = r#"namespace="betting",service="nflbet-model-elo",model="elo",version="1.0.0",role="stable""#;

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
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",service="nflbet-model-elo",model="elo",team="KC",market="moneyline",book="fanduel"}'
    values: '700x30'
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",service="nflbet-model-elo",model="elo",team="KC",market="spread",book="draftkings"}'
    values: '500x30'
  - series: 'nflreadpy_portfolio_exposure{namespace="betting",service="nflbet-model-elo",model="elo",team="BUF",market="moneyline",book="fanduel"}'
    values: '300x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",market="moneyline",book="fanduel"}'
    values: '3500x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",market="spread",book="draftkings"}'
    values: '500x30'
  - series: 'nflreadpy_model_edge{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",market="moneyline",event="2025_14_KC_BUF",selection="KC",book="fanduel",which="kelly"}'
    values: '0.05x30'
  - series: 'nflreadpy_model_edge{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",market="moneyline",event="2025_14_KC_BUF",selection="KC",book="fanduel",which="ev"}'
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
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",event="2025_14_KC_BUF",market="moneyline",book="fanduel"}'
    values: '300x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",event="2025_14_KC_BUF",market="spread",book="draftkings"}'
    values: '150x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="candidate",event="2025_14_KC_BUF",market="moneyline",book="fanduel"}'
    values: '100x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",event="2025_14_DAL_NYG",market="moneyline",book="fanduel"}'
    values: '490x30'
  - series: 'nflreadpy_portfolio_stake{namespace="betting",service="nflbet-model-elo",model="elo",role="stable",event="2025_14_SF_SEA",market="total",book="fanduel"}'
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

/// promtool input series of one target's `/metrics` text, as Prometheus stores them: the target's
/// labels added; with `honor_labels` the exported labels win a clash, else Prometheus keeps the
/// target's and renames the exported one `exported_<name>`. Each value held for `minutes`.
fn scraped(exposition: &str, target: &[(&str, &str)], honor_labels: bool, minutes: u32) -> String {
    let pair = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut out = String::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let mut all: Vec<(String, String)> =
            pair.captures_iter(labels).map(|c| (c[1].to_string(), c[2].to_string())).collect();
        for (k, v) in target {
            match all.iter().position(|(n, _)| n == k) {
                None => all.push((k.to_string(), v.to_string())),
                Some(_) if honor_labels => {}
                Some(i) => {
                    all[i].0 = format!("exported_{k}");
                    all.push((k.to_string(), v.to_string()));
                }
            }
        }
        let labels: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        out.push_str(&format!(
            "  - series: '{name}{{{}}}'\n    values: '{value}x{minutes}'\n",
            labels.join(",")
        ));
    }
    out
}

/// The stable model workload's `/metrics` after one run recommending `kc` on KC and 300 on BUF
/// (moneyline, fanduel), as Prometheus scrapes it through the Model's ServiceMonitor.
fn workload_series(kc: f64) -> String {
    use nflbet::workloads::model::staking::Portfolio;
    let metrics = nflbet::workloads::model::metrics::Metrics::new("nflreadpy", "elo", "stable").unwrap();
    let moneyline: nflbet::domain::market::Market = serde_json::from_str("\"moneyline\"").unwrap();
    let mut portfolio = Portfolio::default();
    portfolio.by_team.insert(("KC".into(), moneyline, "fanduel".into()), kc);
    portfolio.by_team.insert(("BUF".into(), moneyline, "fanduel".into()), 300.0);
    portfolio.by_event_market_book.insert(("2025_14_KC_BUF".into(), moneyline, "fanduel".into()), kc + 300.0);
    metrics.record_run(&[], &portfolio, 1, 1.7e9, 0.5);
    let target = [
        ("namespace", "betting"),
        ("service", "nflbet-model-elo"),
        ("job", "nflbet-model-elo"),
        ("endpoint", "metrics"),
        ("pod", "nflbet-model-elo-7d9f8-abcde"),
        ("instance", "10.0.0.7:8080"),
    ];
    scraped(&metrics.render(), &target, false, 40)
}

/// `nflbet telemetry` in the monitoring namespace, scraped with honorLabels (the chart's
/// ServiceMonitor) so its `namespace` is the Model's: its real exposition for a Model whose status
/// says 2,500 staked in total and a top bet of 5% of the bankroll, plus the same numbers under the
/// names telemetry used before (an old telemetry still deployed, or any exporter reusing them).
fn telemetry_series() -> String {
    let m: nflbet::crd::Model = serde_json::from_value(serde_json::json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "elo", "namespace": "betting"},
        "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fanduel"]}, "staking": {"bankroll": 10000.0, "kellyFraction": 0.25}},
        "status": {"summary": {"totalStake": 2500.0, "topEdges": [
            {"event": "2025_14_KC_BUF", "market": "moneyline", "selection": "KC", "book": "fanduel", "american": 120, "expectedValue": 0.3, "stake": 500.0}
        ]}}
    }))
    .unwrap();
    let mut text = String::new();
    let families = nflbet::cli::telemetry::families::gather("nflreadpy", &[], &[m], &[]);
    prometheus::TextEncoder::new().encode_utf8(&families, &mut text).unwrap();
    assert!(text.contains("nflreadpy_model_status_total_stake"), "{text}");
    text.push_str(concat!(
        "nflreadpy_portfolio_exposure{model=\"elo\",namespace=\"betting\"} 2500\n",
        "nflreadpy_portfolio_stake{model=\"elo\",namespace=\"betting\"} 3500\n",
        "nflreadpy_model_edge{book=\"fanduel\",event=\"2025_14_KC_BUF\",market=\"moneyline\",model=\"elo\",namespace=\"betting\",selection=\"KC\",which=\"kelly\"} 0.05\n",
    ));
    let target = [
        ("namespace", "monitoring"),
        ("service", "nflbet-telemetry"),
        ("job", "nflbet-telemetry"),
        ("endpoint", "metrics"),
        ("pod", "nflbet-telemetry-5c6d7-fghij"),
        ("instance", "10.0.0.9:9100"),
    ];
    scraped(&text, &target, true, 40)
}

/// A promtool test file: one test group of `input_series` (already indented) and `alert_rule_test`.
fn one_group(input_series: &str, alert_rule_test: &str) -> String {
    format!(
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n{input_series}  alert_rule_test:\n{alert_rule_test}"
    )
}

#[test]
fn telemetry_beside_the_workload_never_fires_the_portfolio_alerts() {
    // Team cap 1000, book cap 3000, maxStakePerBet 0.02. The workload stays under every cap
    // (KC 600, fanduel 900, no Kelly edges); telemetry's series, 2500 total, 3500 on a book and
    // a Kelly fraction of 0.05, would each be above one if a rule read them.
    let cases = one_group(
        &format!("{}{}", workload_series(600.0), telemetry_series()),
        r#"  - {eval_time: 10m, alertname: NflbetModelExposureAboveCap, exp_alerts: []}
  - {eval_time: 30m, alertname: NflbetModelExposureAboveCap, exp_alerts: []}
  - {eval_time: 30m, alertname: NflbetModelKellyStakeAboveCap, exp_alerts: []}
"#,
    );
    let (ok, out) = promtool_test(&cases);
    assert!(ok, "{out}\n{cases}");

    // The same inputs with the workload above the team cap: exactly the workload's KC alert
    // fires, so the test above could fail, and telemetry adds no team="" alert of its own.
    let cases = one_group(
        &format!("{}{}", workload_series(1200.0), telemetry_series()),
        r#"  - eval_time: 10m
    alertname: NflbetModelExposureAboveCap
    exp_alerts:
    - exp_labels: {severity: warning, namespace: betting, model: elo, team: KC, dimension: team}
      exp_annotations:
        summary: Model elo exposure per team is above its cap
        description: Recommended stakes of model betting/elo on team KC total 1.2k, above the cap 0.1 × bankroll 10000 = 1000.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetmodelexposureabovecap
"#,
    );
    let (ok, out) = promtool_test(&cases);
    assert!(ok, "{out}\n{cases}");
}
