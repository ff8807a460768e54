//! The alerting rules of one Sportsbook.
//!
//! Every alert carries `severity`, `namespace` and `sportsbook` labels, which is what AlertRoutes
//! and Alertmanager's `OnNamespace` matcher strategy select on.
//!
//! The stale-data alert reads the freshest of two sources of the last snapshot time: the
//! scraper's own gauge and the operator's copy of the heartbeat in the Sportsbook's status. The
//! operator's copy outlives the scraper pod, so the alert still fires when the pod is gone; the
//! scraper's copy covers an operator outage. With neither source present the data's freshness is
//! unknown, which is treated as stale.

use crate::controller::config::OperatorConfig;
use crate::controller::names::sportsbook::child_name;
use crate::crd::sportsbook::{Severity, Sportsbook};
use crate::domain::duration::{format_duration, parse_duration};
use crate::monitoring::rules::selector;
use crate::monitoring::{Rule, RuleGroup};
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::time::Duration;

pub const SCRAPER_DOWN: &str = "NflbetSportsbookScraperDown";
pub const DATA_STALE: &str = "NflbetSportsbookDataStale";
pub const INGESTION_ERRORS: &str = "NflbetSportsbookIngestionErrors";

/// Gauge the operator exports from each Sportsbook's status (see `controller::metrics`).
pub const OPERATOR_SNAPSHOT_GAUGE: &str = "sportsbook_last_snapshot_timestamp_seconds";
/// Gauge the scraper exports after each successful snapshot.
pub const SCRAPER_SNAPSHOT_GAUGE: &str = "ingestion_last_success_timestamp_seconds";

pub fn rule_group(sb: &Sportsbook, ns: &str, cfg: &OperatorConfig) -> RuleGroup {
    let book = sb.name_any();
    let spec = &sb.spec;
    let alerts = spec.alerts.clone().unwrap_or_default();
    let severity = alerts.severity.unwrap_or(Severity::Critical);
    let stale = spec.stale_after();
    let error_threshold = alerts.error_threshold.unwrap_or(10);
    let error_window =
        alerts.error_window.as_deref().and_then(parse_duration).unwrap_or(Duration::from_secs(15 * 60));

    let labels = |sev: Severity| {
        let mut l: BTreeMap<String, String> = alerts.extra_labels.clone();
        l.insert("severity".into(), sev.as_str().into());
        l.insert("namespace".into(), ns.into());
        l.insert("sportsbook".into(), book.clone());
        l
    };
    let annotations = |alert: &str, summary: String, description: String| {
        BTreeMap::from([
            ("summary".to_string(), summary),
            ("description".to_string(), description),
            ("runbook_url".to_string(), cfg.runbook(alert)),
        ])
    };

    let service = child_name(&book);
    let instance = crate::controller::names::label_value(&book);
    let up = format!("up{}", selector(&[("namespace", ns), ("service", &service)]));
    let scraper_down = Rule {
        alert: SCRAPER_DOWN.into(),
        expr: format!("(max by (namespace, service) ({up}) == 0) or absent({up})"),
        for_: Some("5m".into()),
        labels: labels(severity),
        annotations: annotations(
            SCRAPER_DOWN,
            format!("Scraper of sportsbook {book} is down"),
            format!(
                "Prometheus cannot scrape the scraper of sportsbook {ns}/{book} (service {service}). \
                 Check `kubectl -n {ns} get deploy,pods -l app.kubernetes.io/instance={instance}`."
            ),
        ),
    };

    let snapshot = format!(
        "{{__name__=~\"{}|{}\", namespace=\"{}\", sportsbook=\"{}\"}}",
        cfg.metric(OPERATOR_SNAPSHOT_GAUGE),
        cfg.metric(SCRAPER_SNAPSHOT_GAUGE),
        crate::monitoring::rules::escape(ns),
        crate::monitoring::rules::escape(&book),
    );
    let data_stale = Rule {
        alert: DATA_STALE.into(),
        expr: format!(
            "(time() - max by (namespace, sportsbook) ({snapshot}) > {}) or absent({snapshot})",
            stale.as_secs()
        ),
        for_: Some("2m".into()),
        labels: labels(severity),
        annotations: annotations(
            DATA_STALE,
            format!("Odds from sportsbook {book} are stale"),
            format!(
                "No snapshot from sportsbook {ns}/{book} for more than {} (last one {{{{ $value | humanizeDuration }}}} ago). \
                 Models pricing this book are using old odds.",
                format_duration(stale)
            ),
        ),
    };

    let errors = cfg.metric("ingestion_errors_total");
    let errors_expr = format!(
        "sum by (namespace, sportsbook) (increase({errors}{}[{}])) > {error_threshold}",
        selector(&[("namespace", ns), ("sportsbook", &book)]),
        format_duration(error_window),
    );
    let ingestion_errors = Rule {
        alert: INGESTION_ERRORS.into(),
        expr: errors_expr,
        for_: Some("1m".into()),
        labels: labels(Severity::Warning),
        annotations: annotations(
            INGESTION_ERRORS,
            format!("Sportsbook {book} has ingestion errors"),
            format!(
                "{{{{ $value | humanize }}}} ingestion errors in {} for sportsbook {ns}/{book} (threshold {error_threshold}). \
                 See `nflreadpy_ingestion_errors_total` by error_type.",
                format_duration(error_window)
            ),
        ),
    };

    RuleGroup {
        name: format!("nflbet.sportsbook.{ns}.{book}"),
        interval: None,
        rules: vec![scraper_down, data_stale, ingestion_errors],
    }
}
