//! The chart's PrometheusRule on the operator itself, checked with the real `promtool`: each
//! alert fires when it should and stays silent otherwise; the rule exists only where the
//! prometheus-operator CRD does, follows the values, and links its runbooks.

use crate::chart::{WITH_MONITORING_CRDS, documents, template_ok};
use crate::support;

const NS: &str = "nflbet-system";
/// The job of the chart's ServiceMonitor: its Service, `<release>-nflbet-operator`.
const JOB: &str = "nflbet-nflbet-operator";

fn operator_rule(set: &[&str]) -> Option<serde_json::Value> {
    documents(&template_ok("nflbet", NS, set)).into_iter().find(|d| d["kind"] == "PrometheusRule")
}

fn alert_names(rule: &serde_json::Value) -> Vec<String> {
    rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect()
}

/// `promtool test rules` of the test groups `tests` against the rule rendered with leader
/// election on: it passes.
fn promtool_passes(tests: &str) {
    let cases = format!("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n{tests}");
    let rule = operator_rule(&[WITH_MONITORING_CRDS, "leaderElection.enabled=true"]).expect("the rule");
    let dir = tempfile::tempdir().unwrap();
    support::write_rule_file(dir.path(), &rule["spec"]["groups"][0]);
    let (ok, out) = support::prometheus_tool("promtool", dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules: {out}");
    std::fs::write(dir.path().join("tests.yaml"), &cases).unwrap();
    let (ok, out) = support::prometheus_tool("promtool", dir.path(), &["test", "rules", "tests.yaml"]);
    assert!(ok, "{out}");
}

/// promtool expectations that `alert` is not firing at each of `minutes`.
fn silent(alert: &str, minutes: &[u32]) -> String {
    minutes.iter().map(|m| format!("  - {{eval_time: {m}m, alertname: {alert}, exp_alerts: []}}\n")).collect()
}

/// The series labels of the operator's target, as Prometheus adds them.
fn target(pod: &str) -> String {
    format!(r#"job="{JOB}",namespace="{NS}",pod="{pod}""#)
}

#[test]
fn the_rule_needs_the_crd_follows_the_values_and_links_runbooks() {
    assert!(operator_rule(&[]).is_none(), "no PrometheusRule where the cluster lacks the CRD");
    assert!(operator_rule(&[WITH_MONITORING_CRDS, "prometheusRule.operator.enabled=false"]).is_none());

    let rule = operator_rule(&[WITH_MONITORING_CRDS]).expect("on by default where the CRD exists");
    assert_eq!(
        alert_names(&rule),
        ["NflbetOperatorDown", "NflbetOperatorReconcileErrors", "NflbetOperatorWatchNotSynced"],
        "no Lease alert without leader election"
    );
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let runbooks = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbooks.md")).unwrap();
    for r in rules {
        let alert = r["alert"].as_str().unwrap();
        assert!(r["labels"]["severity"].as_str().is_some(), "{alert}: severity");
        assert!(
            r["expr"].as_str().unwrap().contains(&format!(r#"job="{JOB}", namespace="{NS}""#)),
            "{alert}"
        );
        let url = r["annotations"]["runbook_url"].as_str().unwrap();
        let anchor = alert.to_lowercase();
        assert_eq!(url, format!("https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#{anchor}"));
        assert!(runbooks.contains(&format!("\n## {anchor}\n")), "docs/runbooks.md has no section {anchor}");
    }

    let rule = operator_rule(&[
        WITH_MONITORING_CRDS,
        "leaderElection.enabled=true",
        "monitoring.labels.release=kube-prometheus-stack",
        "prometheusRule.extraLabels.team=platform",
        "prometheusRule.operator.job=my-operator",
        "prometheusRule.operator.downFor=2m",
        // --set makes 0.25 a string, which the schema refuses; a values file or --set-json does not.
        "--set-json=prometheusRule.operator.reconcileErrorRatio=0.25",
        "runbookBaseUrl=https://runbooks.example.com/nflbet",
    ])
    .unwrap();
    let labels = &rule["metadata"]["labels"];
    assert_eq!(
        labels["release"].as_str(),
        Some("kube-prometheus-stack"),
        "kube-prometheus-stack's ruleSelector"
    );
    assert_eq!(labels["team"].as_str(), Some("platform"));
    assert_eq!(alert_names(&rule).last().map(String::as_str), Some("NflbetOperatorLeaderLeaseNotHeld"));
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["for"].as_str(), Some("2m"));
    assert!(rules[0]["expr"].as_str().unwrap().contains(r#"job="my-operator""#));
    assert!(rules[1]["expr"].as_str().unwrap().trim_end().ends_with("> 0.25"), "{:?}", rules[1]["expr"]);
    assert_eq!(
        rules[0]["annotations"]["runbook_url"].as_str(),
        Some("https://runbooks.example.com/nflbet#nflbetoperatordown")
    );
}

#[test]
fn operator_down_fires_after_five_minutes_without_an_up_target() {
    let op = target("op-0");
    let firing = format!(
        "    exp_alerts:\n\
         \x20   - exp_labels: {{severity: critical, namespace: {NS}}}\n\
         \x20     exp_annotations:\n\
         \x20       summary: The nflbet operator is down\n\
         \x20       description: No target of job {JOB} in namespace {NS} has been up for 5m. Sportsbooks, Models and AlertRoutes are not reconciled, and the stale-data rules lose the operator's copy of the last snapshot time.\n\
         \x20       runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetoperatordown\n"
    );
    let quiet = silent("NflbetOperatorDown", &[5, 10]);
    let quiet_later = silent("NflbetOperatorDown", &[9, 20]);
    let cases = format!(
        r#"
# Up, then down from minute 6: pending for 5 minutes, then firing.
- interval: 1m
  input_series:
  - series: 'up{{{op}}}'
    values: '1x5 0x20'
  # Another job down is not the operator.
  - series: 'up{{job="other",namespace="{NS}",pod="x"}}'
    values: '0x25'
  alert_rule_test:
{quiet}  - eval_time: 12m
    alertname: NflbetOperatorDown
{firing}# No target at all (the pod is gone, or never scraped).
- interval: 1m
  input_series:
  - series: 'up{{job="other",namespace="{NS}",pod="x"}}'
    values: '1x10'
  alert_rule_test:
  - eval_time: 6m
    alertname: NflbetOperatorDown
{firing}# A restart that is down for three minutes stays silent.
- interval: 1m
  input_series:
  - series: 'up{{{op}}}'
    values: '1x5 0x3 1x15'
  alert_rule_test:
{quiet_later}"#
    );
    promtool_passes(&cases);
}

/// The input series of one controller's reconciles: `good` and `failed` are promtool value
/// expressions of the counters; failures carry the error class `error`.
fn reconciles(op: &str, controller: &str, good: &str, failed: &str, error: &str) -> String {
    let total = format!("controller_runtime_reconcile_total{{{op},controller=\"{controller}\"");
    format!(
        "  - {{series: '{total},result=\"success\"}}', values: '{good}'}}\n\
         \x20 - {{series: '{total},result=\"error\"}}', values: '{failed}'}}\n\
         \x20 - {{series: 'controller_runtime_reconcile_errors_total{{{op},controller=\"{controller}\",error=\"{error}\"}}', values: '{failed}'}}\n"
    )
}

#[test]
fn reconcile_errors_fire_when_failures_stay_above_the_ratio() {
    let op = target("op-0");
    // sportsbook: 10 good and 5 failed reconciles a minute, a third failing; model: 1 in 100.
    let steady = reconciles(&op, "sportsbook", "0+10x40", "0+5x40", "ApplyFailed")
        + &reconciles(&op, "model", "0+99x40", "0+1x40", "StatusFailed");
    // alertroute: a five-minute burst of failures from minute 11, then none.
    let burst = reconciles(&op, "alertroute", "0+10x40", "0x10 0+5x5 25x25", "ApplyFailed");
    let quiet = silent("NflbetOperatorReconcileErrors", &[10]);
    let quiet_later = silent("NflbetOperatorReconcileErrors", &[14, 22, 30]);
    let cases = format!(
        r#"
- interval: 1m
  input_series:
{steady}
  alert_rule_test:
{quiet}  - eval_time: 25m
    alertname: NflbetOperatorReconcileErrors
    exp_alerts:
    - exp_labels: {{severity: warning, namespace: {NS}, controller: sportsbook}}
      exp_annotations:
        summary: The nflbet operator's sportsbook reconciles are failing
        description: The sportsbook controller failed 33.33% of its reconciles over 5 minutes (above 0.1 for 15m).
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetoperatorreconcileerrors
- interval: 1m
  input_series:
{burst}
  alert_rule_test:
{quiet_later}"#
    );
    promtool_passes(&cases);
}

#[test]
fn a_watch_not_synced_for_ten_minutes_fires() {
    let op = target("op-0");
    let quiet = silent("NflbetOperatorWatchNotSynced", &[14]);
    let cases = format!(
        r#"
- interval: 1m
  input_series:
  - series: 'nflbet_watch_synced{{{op},controller="sportsbook",resource="Sportsbook"}}'
    values: '1x5 0x25'
  - series: 'nflbet_watch_synced{{{op},controller="sportsbook",resource="Deployment"}}'
    values: '1x30'
  # A relist that takes five minutes stays silent.
  - series: 'nflbet_watch_synced{{{op},controller="model",resource="Model"}}'
    values: '1x5 0x5 1x20'
  alert_rule_test:
{quiet}  - eval_time: 17m
    alertname: NflbetOperatorWatchNotSynced
    exp_alerts:
    - exp_labels: {{severity: warning, namespace: {NS}, pod: op-0, controller: sportsbook, resource: Sportsbook}}
      exp_annotations:
        summary: The nflbet operator's watch of Sportsbook is not synced
        description: The sportsbook controller's watch of Sportsbook in pod op-0 has not listed completely for 10m; the operator's /readyz fails and changes to those objects go unseen.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetoperatorwatchnotsynced
"#
    );
    promtool_passes(&cases);
}

#[test]
fn a_lease_no_replica_holds_for_five_minutes_fires() {
    let (op0, op1) = (target("op-0"), target("op-1"));
    let quiet = silent("NflbetOperatorLeaderLeaseNotHeld", &[10]);
    let quiet_later = silent("NflbetOperatorLeaderLeaseNotHeld", &[12, 25]);
    let cases = format!(
        r#"
# The leader steps down at minute 6 and the other replica never takes over.
- interval: 1m
  input_series:
  - series: 'leader_election_master_status{{{op0},name="nflbet-nflbet-operator"}}'
    values: '1x5 0x20'
  - series: 'leader_election_master_status{{{op1},name="nflbet-nflbet-operator"}}'
    values: '0x25'
  alert_rule_test:
{quiet}  - eval_time: 12m
    alertname: NflbetOperatorLeaderLeaseNotHeld
    exp_alerts:
    - exp_labels: {{severity: critical, namespace: {NS}, name: nflbet-nflbet-operator}}
      exp_annotations:
        summary: No nflbet operator replica holds Lease nflbet-nflbet-operator
        description: The operator replicas are up but none has held Lease {NS}/nflbet-nflbet-operator for 5m, so nothing is reconciled.
        runbook_url: https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md#nflbetoperatorleaderleasenotheld
# A handover within two minutes stays silent.
- interval: 1m
  input_series:
  - series: 'leader_election_master_status{{{op0},name="nflbet-nflbet-operator"}}'
    values: '1x5 0x20'
  - series: 'leader_election_master_status{{{op1},name="nflbet-nflbet-operator"}}'
    values: '0x7 1x18'
  alert_rule_test:
{quiet_later}"#
    );
    promtool_passes(&cases);
}
