//! The metric families `nflbet telemetry` serves, computed from resources (pure: no cluster).
//!
//! Everything here comes from the resources' statuses, which the workloads and the operator
//! write; per-quote figures such as `<prefix>_ingestion_latency_seconds` exist only on the
//! workloads' own `/metrics`.
//!
//! The names say where a number comes from, as kube-state-metrics' do: `<kind>_status_<field>`
//! (and `resource_spec_suspend`). None can ever equal a family of the scraper, the model
//! workload or the operator, whatever prefix each is given (the test
//! `no_family_can_take_a_workload_or_operator_name`): a Prometheus scraping telemetry beside the
//! workloads never reads telemetry's summary (a total stake, the top ten edges) as the workloads'
//! per-team exposure or per-quote edge, which the Model's alert rules and the dashboards read.

use crate::crd::condition::Condition;
use crate::crd::{AlertRoute, Model, Sportsbook};
use kube::ResourceExt;
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::BTreeSet;

/// Name and help of every family, for the collector's descriptors.
pub fn descriptions(prefix: &str) -> Vec<(String, &'static str, Vec<&'static str>)> {
    vec![
        (
            format!("{prefix}_sportsbook_status_last_snapshot_timestamp_seconds"),
            "Unix time of the last snapshot a Sportsbook's scraper reported in its status (its creation time before the first)",
            vec!["namespace", "sportsbook"],
        ),
        (
            format!("{prefix}_sportsbook_status_consecutive_failures"),
            "Failed polls since the last success, as the scraper last reported in the Sportsbook's status",
            vec!["namespace", "sportsbook"],
        ),
        (
            format!("{prefix}_model_status_top_edge"),
            "Edge of the model's best bets of the last pricing run, from its status: which=ev is the expected value per unit staked, which=kelly the stake as a fraction of the bankroll",
            vec!["namespace", "model", "market", "event", "selection", "book", "which"],
        ),
        (
            format!("{prefix}_model_status_total_stake"),
            "Total stake the model recommended in its last pricing run, from its status, in bankroll currency units",
            vec!["namespace", "model"],
        ),
        (
            format!("{prefix}_model_status_brier_score"),
            "Brier score of the model's settled predictions over its calibration window, from its status",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            format!("{prefix}_model_status_log_loss"),
            "Log loss of the model's settled predictions over its calibration window, from its status",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            format!("{prefix}_model_status_calibration_samples"),
            "Settled predictions behind the calibration scores, from the model's status",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            "nflbet_resource_status_condition".into(),
            "Status of each condition of each nflbet resource (1 for the current status)",
            vec!["kind", "namespace", "name", "type", "status"],
        ),
        (
            "nflbet_resource_spec_suspend".into(),
            "1 when the resource's reconciliation is suspended",
            vec!["kind", "namespace", "name"],
        ),
    ]
}

/// Samples of one gauge family, in a stable order, without duplicate label sets.
struct Family {
    name: String,
    help: String,
    labels: Vec<&'static str>,
    samples: Vec<(Vec<String>, f64)>,
    seen: BTreeSet<Vec<String>>,
}

impl Family {
    fn add(&mut self, values: Vec<String>, value: f64) {
        debug_assert_eq!(values.len(), self.labels.len());
        // Two identical label sets would make the exposition invalid: keep the first.
        if self.seen.insert(values.clone()) {
            self.samples.push((values, value));
        }
    }

    fn into_proto(self) -> MetricFamily {
        let mut family = MetricFamily::default();
        family.set_name(self.name);
        family.set_help(self.help);
        family.set_field_type(MetricType::GAUGE);
        for (values, value) in self.samples {
            // Label pairs sorted by name, as the prometheus crate's own metrics are.
            let mut pairs: Vec<(&str, String)> = self.labels.iter().copied().zip(values).collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let mut m = Metric::default();
            m.set_label(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let mut p = LabelPair::default();
                        p.set_name(k.into());
                        p.set_value(v);
                        p
                    })
                    .collect(),
            );
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
            family.mut_metric().push(m);
        }
        family
    }
}

fn conditions(out: &mut Family, kind: &str, ns: &str, name: &str, conditions: &[Condition]) {
    for c in conditions {
        out.add(vec![kind.into(), ns.into(), name.into(), c.type_.to_string(), c.status.to_string()], 1.0);
    }
}

/// Every family for the given resources.
pub fn gather(
    prefix: &str,
    books: &[Sportsbook],
    models: &[Model],
    routes: &[AlertRoute],
) -> Vec<MetricFamily> {
    let mut fams: Vec<Family> = descriptions(prefix)
        .into_iter()
        .map(|(name, help, labels)| Family {
            name,
            help: help.into(),
            labels,
            samples: vec![],
            seen: BTreeSet::new(),
        })
        .collect();
    let [snapshot, failures, edge, exposure, brier, log_loss, samples, condition, suspend] = &mut fams[..]
    else {
        unreachable!("descriptions() lists nine families")
    };

    for sb in books {
        let (ns, name) = (sb.namespace().unwrap_or_default(), sb.name_any());
        let status = sb.status.clone().unwrap_or_default();
        let last = status
            .ingestion
            .as_ref()
            .and_then(|i| i.last_snapshot_time.as_ref())
            .or(sb.metadata.creation_timestamp.as_ref());
        if let Some(t) = last {
            snapshot.add(vec![ns.clone(), name.clone()], t.0.as_second() as f64);
        }
        if let Some(i) = &status.ingestion {
            failures.add(vec![ns.clone(), name.clone()], i.consecutive_failures.unwrap_or(0) as f64);
        }
        conditions(condition, "Sportsbook", &ns, &name, &status.conditions);
        suspend.add(vec!["Sportsbook".into(), ns, name], if sb.spec.suspend { 1.0 } else { 0.0 });
    }

    for m in models {
        let (ns, name) = (m.namespace().unwrap_or_default(), m.name_any());
        let status = m.status.clone().unwrap_or_default();
        if let Some(summary) = &status.summary {
            let bankroll = m.spec.parameters.staking.bankroll;
            for e in &summary.top_edges {
                let labels = |which: &str| {
                    vec![
                        ns.clone(),
                        name.clone(),
                        e.market.clone(),
                        e.event.clone(),
                        e.selection.clone(),
                        e.book.clone(),
                        which.into(),
                    ]
                };
                edge.add(labels("ev"), e.expected_value);
                if bankroll > 0.0 {
                    edge.add(labels("kelly"), e.stake / bankroll);
                }
            }
            if let Some(total) = summary.total_stake {
                exposure.add(vec![ns.clone(), name.clone()], total);
            }
        }
        if let Some(cal) = &status.calibration {
            for (role, score) in [("stable", &cal.stable), ("candidate", &cal.candidate)] {
                if let Some(s) = score {
                    let labels = vec![ns.clone(), name.clone(), s.version.clone(), role.into()];
                    brier.add(labels.clone(), s.brier);
                    log_loss.add(labels.clone(), s.log_loss);
                    samples.add(labels, s.samples as f64);
                }
            }
        }
        conditions(condition, "Model", &ns, &name, &status.conditions);
        suspend.add(vec!["Model".into(), ns, name], if m.spec.suspend { 1.0 } else { 0.0 });
    }

    for r in routes {
        let (ns, name) = (r.namespace().unwrap_or_default(), r.name_any());
        let status = r.status.clone().unwrap_or_default();
        conditions(condition, "AlertRoute", &ns, &name, &status.conditions);
    }

    fams.into_iter().filter(|f| !f.samples.is_empty()).map(Family::into_proto).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A family name as a process builds it: after a configurable prefix (`Prefixed(tail)`:
    /// `<any prefix>_<tail>`) or fixed.
    #[derive(Debug)]
    enum Name {
        Prefixed(String),
        Fixed(String),
    }

    /// Sort names built with the prefix `PFX` from fixed ones.
    fn names(built: impl IntoIterator<Item = String>) -> Vec<Name> {
        built
            .into_iter()
            .map(|n| match n.strip_prefix("PFX_") {
                Some(tail) => Name::Prefixed(tail.into()),
                None => Name::Fixed(n),
            })
            .collect()
    }

    /// Whether some choice of the two prefixes makes the names equal: `p_a == q_b` for some
    /// prefixes p and q exactly when `_a` ends with `_b` or `_b` with `_a`.
    fn can_be_equal(a: &Name, b: &Name) -> bool {
        let tail = |n: &Name| match n {
            Name::Prefixed(t) => format!("_{t}"),
            Name::Fixed(f) => format!("_{f}"),
        };
        match (a, b) {
            (Name::Fixed(x), Name::Fixed(y)) => x == y,
            (Name::Prefixed(_), Name::Prefixed(_)) => {
                tail(a).ends_with(&tail(b)) || tail(b).ends_with(&tail(a))
            }
            (Name::Fixed(f), p @ Name::Prefixed(_)) | (p @ Name::Prefixed(_), Name::Fixed(f)) => {
                f.ends_with(&tail(p))
            }
        }
    }

    /// Every family the scraper, the model workload and the operator register, built with the
    /// prefix `PFX`.
    fn workload_families() -> Vec<String> {
        use crate::controller::metrics::Metrics as Operator;
        use kube::core::DeserializeGuard;
        use kube::runtime::{reflector, watcher};
        let scraper = crate::workloads::scraper::metrics::Metrics::new("PFX", "fd").unwrap();
        let model = crate::workloads::model::metrics::Metrics::new("PFX", "elo", "stable").unwrap();
        let mut out: Vec<String> = [scraper.family_names(), model.family_names()].concat();
        // The operator's, with a series in each family so that `gather()` names it.
        let operator = Operator::new();
        let (store, mut writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
        let mut sb = crate::controller::sportsbook::build::fixtures::book("fd").build();
        sb.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        ));
        sb.status = Some(
            serde_json::from_value(json!({"conditions": [{
                "type": "Ready", "status": "True", "reason": "Succeeded", "message": "",
                "lastTransitionTime": "2024-09-05T18:00:00Z"
            }]}))
            .unwrap(),
        );
        writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(sb))));
        operator.register_sportsbooks(store, "PFX");
        operator.success("sportsbook");
        operator.failure("model", "ApplyFailed");
        drop(operator.start("alertroute"));
        operator.leader_gauge("lease").set(1);
        crate::controller::api_requests::REQUESTS.with_label_values(&["get", "sportsbooks", "2xx"]);
        crate::controller::watch::Health::new(&operator.registry).watch("sportsbook", "Deployment");
        // Every family the operator serves, as its exposition declares them.
        let text = operator.encode();
        let families: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect();
        for expected in ["PFX_sportsbook_last_snapshot_timestamp_seconds", "nflbet_resource_condition"] {
            assert!(families.iter().any(|f| f == expected), "{expected} not exported");
        }
        out.extend(families);
        out
    }

    #[test]
    fn no_family_can_take_a_workload_or_operator_name() {
        let workloads = names(workload_families());
        assert!(workloads.len() > 30, "{workloads:?}");
        let telemetry = names(descriptions("PFX").into_iter().map(|(n, _, _)| n));
        for t in &telemetry {
            for w in &workloads {
                assert!(!can_be_equal(t, w), "telemetry's {t:?} can be named as {w:?}");
            }
        }
        // The check can fail: the names telemetry had before were the workloads' own.
        for (old, prefix) in [("PFX_portfolio_exposure", true), ("nflbet_resource_condition", false)] {
            let old = names([old.to_string()]).pop().unwrap();
            assert_eq!(matches!(old, Name::Prefixed(_)), prefix);
            assert!(workloads.iter().any(|w| can_be_equal(&old, w)), "{old:?}");
        }
        // Across prefixes too: `a_model_edge` can be `a_x_model_edge` when the other prefix is `a_x`.
        assert!(can_be_equal(&Name::Prefixed("x_model_edge".into()), &Name::Prefixed("model_edge".into())));
        assert!(can_be_equal(&Name::Fixed("nflbet_model_edge".into()), &Name::Prefixed("model_edge".into())));
    }

    /// Labels Prometheus sets on a target. Telemetry's ServiceMonitor (chart) honours the labels
    /// it exports, so that `namespace` is the resource's: a `service` label exported here would
    /// pass for a workload's Service, which is what the Model's alert rules select on.
    #[test]
    fn no_series_carries_a_target_label() {
        for (_, _, labels) in descriptions("nflreadpy") {
            for target in ["job", "instance", "pod", "service", "container", "endpoint"] {
                assert!(!labels.contains(&target), "{labels:?}");
            }
        }
    }

    fn encode(f: Vec<MetricFamily>) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new().encode_utf8(&f, &mut out).unwrap();
        out
    }

    #[test]
    fn model_status_becomes_edge_exposure_and_calibration() {
        let m: Model = serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "elo", "namespace": "b"},
            "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fd"]}, "staking": {"bankroll": 1000.0, "kellyFraction": 0.25}},
            "status": {
                "summary": {"totalStake": 35.0, "topEdges": [
                    {"event": "2025_01_KC_BAL", "market": "moneyline", "selection": "KC", "book": "fd", "american": 120, "expectedValue": 0.05, "stake": 20.0}
                ]},
                "calibration": {"stable": {"version": "1.0.0", "brier": 0.21, "logLoss": 0.61, "samples": 300}}
            }
        }))
        .unwrap();
        let text = encode(gather("nflreadpy", &[], &[m], &[]));
        assert!(text.contains(r#"nflreadpy_model_status_top_edge{book="fd",event="2025_01_KC_BAL",market="moneyline",model="elo",namespace="b",selection="KC",which="ev"} 0.05"#), "{text}");
        assert!(text.contains(r#"which="kelly"} 0.02"#), "{text}");
        assert!(
            text.contains(r#"nflreadpy_model_status_total_stake{model="elo",namespace="b"} 35"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"nflreadpy_model_status_brier_score{model="elo",namespace="b",role="stable",version="1.0.0"} 0.21"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"nflbet_resource_spec_suspend{kind="Model",name="elo",namespace="b"} 0"#),
            "{text}"
        );
    }
}
