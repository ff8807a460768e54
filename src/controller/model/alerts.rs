//! The alerting rules of one Model: calibration drift against the baselines, portfolio limits,
//! and the workload being down. Every alert carries `severity` (its default, or the spec's
//! `alerts.severities`), `namespace` and `model`.
//!
//! Drift rules only fire once the workload reports at least `minSamples` settled bets, so a
//! fresh model is not judged on three games.

use crate::controller::config::OperatorConfig;
use crate::controller::names::model::child_name;
use crate::crd::model::{Model, ModelAlert};
use crate::monitoring::rules::selector;
use crate::monitoring::{Rule, RuleGroup};
use kube::ResourceExt;
use std::collections::BTreeMap;

pub const BRIER_DRIFT: &str = ModelAlert::BrierDrift.as_str();
pub const LOG_LOSS_DRIFT: &str = ModelAlert::LogLossDrift.as_str();
pub const EXPOSURE_ABOVE_CAP: &str = ModelAlert::ExposureAboveCap.as_str();
pub const EVENT_EXPOSURE_ABOVE_CAP: &str = ModelAlert::EventExposureAboveCap.as_str();
pub const KELLY_ABOVE_CAP: &str = ModelAlert::KellyStakeAboveCap.as_str();
pub const MODEL_DOWN: &str = ModelAlert::Down.as_str();

pub fn rule_group(m: &Model, ns: &str, cfg: &OperatorConfig) -> RuleGroup {
    let model = m.name_any();
    let spec = &m.spec;
    let cal = spec.calibration();
    // Series of this model's workloads only: Prometheus sets `service` on every target of the
    // model's ServiceMonitor (stable and candidate share the Service), and no exporter scraped
    // with honorLabels sets it, so a same-named series from elsewhere (an old `nflbet
    // telemetry`, a third exporter) can never make these rules fire.
    let service = child_name(&model);
    let sel = selector(&[("namespace", ns), ("service", &service), ("model", &model)]);
    let labels = |alert: ModelAlert| {
        BTreeMap::from([
            ("severity".to_string(), spec.alert_severity(alert).as_str().to_string()),
            ("namespace".to_string(), ns.to_string()),
            ("model".to_string(), model.clone()),
        ])
    };
    let annotations = |alert: &str, summary: String, description: String| {
        BTreeMap::from([
            ("summary".to_string(), summary),
            ("description".to_string(), description),
            ("runbook_url".to_string(), cfg.runbook(alert)),
        ])
    };
    let samples = format!("{}{sel}", cfg.metric("model_calibration_samples"));
    let mut rules = Vec::new();

    for (alert, metric, baseline, what) in [
        (ModelAlert::BrierDrift, "model_brier_score", cal.baseline_brier, "Brier score"),
        (ModelAlert::LogLossDrift, "model_log_loss", cal.baseline_log_loss, "log loss"),
    ] {
        let Some(baseline) = baseline else { continue };
        let limit = baseline + cal.tolerance;
        rules.push(Rule {
            alert: alert.as_str().into(),
            expr: format!(
                "(max by (namespace, model, version, role) ({}{sel}) > {limit}) \
                 and on (namespace, model, version, role) (max by (namespace, model, version, role) ({samples}) >= {})",
                cfg.metric(metric),
                cal.min_samples
            ),
            for_: Some("30m".into()),
            labels: labels(alert),
            annotations: annotations(
                alert.as_str(),
                format!("Model {model} {what} drifted above its baseline"),
                format!(
                    "The {what} of model {ns}/{model} ({{{{ $labels.role }}}} {{{{ $labels.version }}}}) is {{{{ $value | printf \"%.4f\" }}}}, \
                     above baseline {baseline} + tolerance {} over at least {} settled bets.",
                    cal.tolerance, cal.min_samples
                ),
            ),
        });
    }

    let staking = &spec.parameters.staking;
    if let Some(caps) = &staking.limits.exposure_caps {
        // A total bet is exposure on both teams, so team exposure comes from
        // `portfolio_exposure`; market and book totals from `portfolio_stake`, which counts
        // each bet once.
        for (dimension, cap, metric) in [
            ("team", caps.team, "portfolio_exposure"),
            ("market", caps.market, "portfolio_stake"),
            ("book", caps.book, "portfolio_stake"),
        ] {
            let Some(cap) = cap else { continue };
            let limit = cap * staking.bankroll;
            rules.push(Rule {
                alert: EXPOSURE_ABOVE_CAP.into(),
                expr: format!("sum by (namespace, model, {dimension}) ({}{sel}) > {limit}", cfg.metric(metric)),
                for_: Some("5m".into()),
                labels: {
                    let mut l = labels(ModelAlert::ExposureAboveCap);
                    l.insert("dimension".into(), dimension.into());
                    l
                },
                annotations: annotations(
                    EXPOSURE_ABOVE_CAP,
                    format!("Model {model} exposure per {dimension} is above its cap"),
                    format!(
                        "Recommended stakes of model {ns}/{model} on {dimension} {{{{ $labels.{dimension} }}}} total {{{{ $value | humanize }}}}, \
                         above the cap {cap} × bankroll {} = {limit}.",
                        staking.bankroll
                    ),
                ),
            });
        }
    }

    // Every bet once (`portfolio_stake`), summed over the markets, books and roles of one event.
    let max_event = staking.limits.max_event_exposure();
    let event_limit = max_event * staking.bankroll;
    rules.push(Rule {
        alert: EVENT_EXPOSURE_ABOVE_CAP.into(),
        expr: format!(
            "sum by (namespace, model, event) ({}{sel}) > {event_limit}",
            cfg.metric("portfolio_stake")
        ),
        for_: Some("5m".into()),
        labels: labels(ModelAlert::EventExposureAboveCap),
        annotations: annotations(
            EVENT_EXPOSURE_ABOVE_CAP,
            format!("Model {model} exposure on one event is above maxEventExposure"),
            format!(
                "Recommended stakes of model {ns}/{model} on event {{{{ $labels.event }}}} total {{{{ $value | humanize }}}}, \
                 above maxEventExposure {max_event} × bankroll {} = {event_limit}.",
                staking.bankroll
            ),
        ),
    });

    let max_stake = staking.limits.max_stake_per_bet.unwrap_or(0.02);
    rules.push(Rule {
        alert: KELLY_ABOVE_CAP.into(),
        expr: format!(
            "max by (namespace, model, role) ({}{}) > {max_stake}",
            cfg.metric("model_edge"),
            selector(&[("namespace", ns), ("service", &service), ("model", &model), ("which", "kelly")])
        ),
        for_: Some("15m".into()),
        labels: labels(ModelAlert::KellyStakeAboveCap),
        annotations: annotations(
            KELLY_ABOVE_CAP,
            format!("Model {model} wants stakes above the per-bet cap"),
            format!(
                "Model {ns}/{model} ({{{{ $labels.role }}}}) computes a Kelly stake of {{{{ $value | printf \"%.3f\" }}}} of the bankroll, above \
                 maxStakePerBet {max_stake}. Stakes are capped, but edges this large usually mean bad prices or a broken model."
            ),
        ),
    });

    let up = format!("up{}", selector(&[("namespace", ns), ("service", &service)]));
    rules.push(Rule {
        alert: MODEL_DOWN.into(),
        expr: format!("(max by (namespace, service) ({up}) == 0) or absent({up})"),
        for_: Some("5m".into()),
        labels: labels(ModelAlert::Down),
        annotations: annotations(
            MODEL_DOWN,
            format!("Model {model} workload is down"),
            format!("Prometheus cannot scrape model {ns}/{model} (service {service}); no prices or stakes are produced."),
        ),
    });

    RuleGroup { name: format!("nflbet.model.{ns}.{model}"), interval: None, rules }
}
