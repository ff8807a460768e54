//! The metric families `nflbet telemetry` serves, computed from resources (pure: no cluster).
//!
//! Everything here comes from the resources' statuses, which the workloads and the operator
//! write; per-quote figures such as `<prefix>_ingestion_latency_seconds` exist only on the
//! workloads' own `/metrics`.

use crate::crd::{AlertRoute, Model, Sportsbook};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::BTreeSet;

/// Name and help of every family, for the collector's descriptors.
pub fn descriptions(prefix: &str) -> Vec<(String, &'static str, Vec<&'static str>)> {
    vec![
        (
            format!("{prefix}_sportsbook_last_snapshot_timestamp_seconds"),
            "Unix time of the last snapshot a Sportsbook's scraper reported in its status (its creation time before the first)",
            vec!["namespace", "sportsbook"],
        ),
        (
            format!("{prefix}_ingestion_consecutive_failures"),
            "Failed polls since the last success, as the scraper last reported in the Sportsbook's status",
            vec!["namespace", "sportsbook"],
        ),
        (
            format!("{prefix}_model_edge"),
            "Edge of the model's best bets of the last pricing run: which=ev is the expected value per unit staked, which=kelly the stake as a fraction of the bankroll",
            vec!["namespace", "model", "market", "event", "selection", "book", "which"],
        ),
        (
            format!("{prefix}_portfolio_exposure"),
            "Total stake the model recommended in its last pricing run, in bankroll currency units",
            vec!["namespace", "model"],
        ),
        (
            format!("{prefix}_model_brier_score"),
            "Brier score of the model's settled predictions over its calibration window",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            format!("{prefix}_model_log_loss"),
            "Log loss of the model's settled predictions over its calibration window",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            format!("{prefix}_model_calibration_samples"),
            "Settled predictions behind the calibration scores",
            vec!["namespace", "model", "version", "role"],
        ),
        (
            "nflbet_resource_condition".into(),
            "Status of each condition of each nflbet resource (1 for the current status)",
            vec!["kind", "namespace", "name", "type", "status"],
        ),
        (
            "nflbet_suspend_status".into(),
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
        out.add(vec![kind.into(), ns.into(), name.into(), c.type_.clone(), c.status.clone()], 1.0);
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
        assert!(text.contains(r#"nflreadpy_model_edge{book="fd",event="2025_01_KC_BAL",market="moneyline",model="elo",namespace="b",selection="KC",which="ev"} 0.05"#), "{text}");
        assert!(text.contains(r#"which="kelly"} 0.02"#), "{text}");
        assert!(text.contains(r#"nflreadpy_portfolio_exposure{model="elo",namespace="b"} 35"#), "{text}");
        assert!(
            text.contains(
                r#"nflreadpy_model_brier_score{model="elo",namespace="b",role="stable",version="1.0.0"} 0.21"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"nflbet_suspend_status{kind="Model",name="elo",namespace="b"} 0"#), "{text}");
    }
}
