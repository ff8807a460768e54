//! The operator's own metrics.
//!
//! Reconcile counters follow controller-runtime's names (`controller_runtime_reconcile_*`, with
//! a `controller` label) so existing dashboards work. Per-resource gauges are computed at scrape
//! time from the controllers' caches, so a deleted resource's series disappears with it:
//! - `controller_runtime_active_workers{controller}`: reconciles running now;
//! - `nflbet_resource_condition{kind,namespace,name,type,status}` (Flux's `gotk_reconcile_condition`);
//! - `nflbet_suspend_status{kind,namespace,name}`;
//! - `<prefix>_sportsbook_last_snapshot_timestamp_seconds{namespace,sportsbook}`: the heartbeat
//!   copied from status, which keeps stale-data alerts alive when the scraper pod is gone. Before
//!   the first snapshot it is the creation time, so "never ingested" turns stale too;
//! - `nflbet_watch_synced{controller,resource}`: 1 while a watch has listed completely and not
//!   failed since (registered by `super::watch::Health`; the leader's `/readyz` is their AND);
//! - `nflbet_kube_client_requests_total{verb,resource,code}`: the operator's requests to the API
//!   server (client-go's `rest_client_requests_total`; counted by `super::api_requests`).
//!
//! With leader election, `leader_election_master_status{name}` (controller-runtime's name; `name`
//! is the Lease) is 1 while this replica leads and 0 while it follows, and only the leader exports
//! the per-resource gauges (a follower has no caches).

use super::driver::Reconciled;
use crate::crd::{AlertRoute, Model, Sportsbook};
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use std::time::Instant;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    active: IntGaugeVec,
    leader: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("controller_runtime_reconcile_total", "Total number of reconciliations per controller"),
            &["controller", "result"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller",
            ),
            &["controller", "error"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["controller"],
        )
        .expect("valid metric");
        registry.register(Box::new(reconciles.clone())).expect("unique metric");
        registry.register(Box::new(errors.clone())).expect("unique metric");
        let leader = IntGaugeVec::new(
            Opts::new(
                "leader_election_master_status",
                "1 while this replica holds the named Lease, 0 otherwise",
            ),
            &["name"],
        )
        .expect("valid metric");
        let active = IntGaugeVec::new(
            Opts::new("controller_runtime_active_workers", "Number of reconciles running now per controller"),
            &["controller"],
        )
        .expect("valid metric");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        registry.register(Box::new(active.clone())).expect("unique metric");
        registry.register(Box::new(leader.clone())).expect("unique metric");
        registry.register(Box::new(super::api_requests::REQUESTS.clone())).expect("unique metric");
        Metrics { registry, reconciles, errors, duration, active, leader }
    }

    /// Start timing one reconcile; the guard records the duration when dropped.
    pub fn start(&self, controller: &'static str) -> ReconcileTimer {
        self.active.with_label_values(&[controller]).inc();
        ReconcileTimer { metrics: self.clone(), controller, start: Instant::now() }
    }

    pub fn success(&self, controller: &'static str) {
        self.reconciles.with_label_values(&[controller, "success"]).inc();
    }

    pub fn failure(&self, controller: &'static str, error: &str) {
        self.reconciles.with_label_values(&[controller, "error"]).inc();
        self.errors.with_label_values(&[controller, error]).inc();
    }

    /// Export per-Sportsbook gauges from the controller's cache, replacing the cache of an earlier
    /// term of leadership; the conditions of Models and AlertRoutes too once
    /// [`Metrics::register_resources`] is given their caches.
    pub fn register_sportsbooks(&self, store: Store<DeserializeGuard<Sportsbook>>, metrics_namespace: &str) {
        self.register_resources(store, None, metrics_namespace);
    }

    /// Export the per-resource gauges of every kind from the controllers' caches (`others`: the
    /// Models' and AlertRoutes'), replacing those of an earlier term of leadership.
    pub fn register_resources(
        &self,
        sportsbooks: Store<DeserializeGuard<Sportsbook>>,
        others: Option<OtherStores>,
        metrics_namespace: &str,
    ) {
        self.forget_sportsbooks(metrics_namespace);
        let mut collector = SportsbookCollector::new(sportsbooks, metrics_namespace);
        collector.others = others;
        if let Err(e) = self.registry.register(Box::new(collector)) {
            tracing::warn!(error = %e, "per-resource gauges not exported");
        }
    }

    /// Stop exporting per-Sportsbook gauges (the controllers stopped: their cache no longer
    /// follows the cluster, and a frozen heartbeat would look like stale data).
    pub fn forget_sportsbooks(&self, metrics_namespace: &str) {
        // The registry finds a collector by its descriptors; an empty one with the same names
        // identifies the registered one.
        let (empty, _writer) = kube::runtime::reflector::store();
        let _ = self.registry.unregister(Box::new(SportsbookCollector::new(empty, metrics_namespace)));
    }

    /// The leadership gauge of Lease `lease`.
    pub fn leader_gauge(&self, lease: &str) -> IntGauge {
        self.leader.with_label_values(&[lease])
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        encoder.encode_utf8(&self.registry.gather(), &mut out).expect("text encoding never fails");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

pub struct ReconcileTimer {
    metrics: Metrics,
    controller: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics.active.with_label_values(&[self.controller]).dec();
        self.metrics
            .duration
            .with_label_values(&[self.controller])
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// The Models' and AlertRoutes' caches, exported beside the Sportsbooks' once given.
type OtherStores = (Store<DeserializeGuard<Model>>, Store<DeserializeGuard<AlertRoute>>);

struct SportsbookCollector {
    store: Store<DeserializeGuard<Sportsbook>>,
    others: Option<OtherStores>,
    descs: Vec<Desc>,
    snapshot_name: String,
}

/// `nflbet_resource_condition` and `nflbet_suspend_status` samples of every object in `store`.
fn resource_samples<K: Reconciled>(
    store: &Store<DeserializeGuard<K>>,
    conditions: &mut Vec<(Vec<(&'static str, String)>, f64)>,
    suspended: &mut Vec<(Vec<(&'static str, String)>, f64)>,
) {
    let kind = K::kind(&()).to_string();
    for guarded in store.state() {
        let Ok(obj) = &guarded.0 else { continue };
        let ns = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        for c in obj.current_status().1 {
            conditions.push((
                vec![
                    ("kind", kind.clone()),
                    ("namespace", ns.clone()),
                    ("name", name.clone()),
                    ("type", c.type_.clone()),
                    ("status", c.status.clone()),
                ],
                1.0,
            ));
        }
        suspended.push((
            vec![("kind", kind.clone()), ("namespace", ns), ("name", name)],
            if obj.suspended() { 1.0 } else { 0.0 },
        ));
    }
}

impl SportsbookCollector {
    fn new(store: Store<DeserializeGuard<Sportsbook>>, metrics_namespace: &str) -> Self {
        let snapshot_name =
            format!("{metrics_namespace}_{}", super::sportsbook::alerts::OPERATOR_SNAPSHOT_GAUGE);
        let descs = vec![
            Desc::new(
                "nflbet_resource_condition".into(),
                "Status of each condition of each nflbet resource (1 for the current status)".into(),
                vec!["kind".into(), "namespace".into(), "name".into(), "type".into(), "status".into()],
                Default::default(),
            )
            .expect("valid desc"),
            Desc::new(
                "nflbet_suspend_status".into(),
                "1 when the resource's reconciliation is suspended".into(),
                vec!["kind".into(), "namespace".into(), "name".into()],
                Default::default(),
            )
            .expect("valid desc"),
            Desc::new(
                snapshot_name.clone(),
                "Unix time of the last snapshot a Sportsbook's scraper reported (creation time before the first)".into(),
                vec!["namespace".into(), "sportsbook".into()],
                Default::default(),
            )
            .expect("valid desc"),
        ];
        SportsbookCollector { store, others: None, descs, snapshot_name }
    }
}

fn gauge_family(name: &str, help: &str, samples: Vec<(Vec<(&str, String)>, f64)>) -> MetricFamily {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricType};
    let mut family = MetricFamily::default();
    family.set_name(name.into());
    family.set_help(help.into());
    family.set_field_type(MetricType::GAUGE);
    for (labels, value) in samples {
        let mut m = Metric::default();
        let mut labels = labels;
        // Sorted by name, like the crate's own metrics, so the exposition is stable.
        labels.sort_by(|a, b| a.0.cmp(b.0));
        let pairs: Vec<LabelPair> = labels
            .into_iter()
            .map(|(k, v)| {
                let mut p = LabelPair::default();
                p.set_name(k.into());
                p.set_value(v);
                p
            })
            .collect();
        m.set_label(pairs);
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
        family.mut_metric().push(m);
    }
    family
}

impl Collector for SportsbookCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut conditions = Vec::new();
        let mut suspended = Vec::new();
        let mut snapshots = Vec::new();
        resource_samples(&self.store, &mut conditions, &mut suspended);
        if let Some((models, routes)) = &self.others {
            resource_samples(models, &mut conditions, &mut suspended);
            resource_samples(routes, &mut conditions, &mut suspended);
        }
        for guarded in self.store.state() {
            let Ok(sb) = &guarded.0 else { continue };
            let (ns, name) = (sb.namespace().unwrap_or_default(), sb.name_any());
            let last = sb
                .status
                .as_ref()
                .and_then(|s| s.ingestion.as_ref())
                .and_then(|i| i.last_snapshot_time.as_ref())
                .or(sb.metadata.creation_timestamp.as_ref())
                .map(|t| t.0.as_millisecond() as f64 / 1000.0);
            if let Some(ts) = last {
                snapshots.push((vec![("namespace", ns), ("sportsbook", name)], ts));
            }
        }
        vec![
            gauge_family(
                "nflbet_resource_condition",
                "Status of each condition of each nflbet resource (1 for the current status)",
                conditions,
            ),
            gauge_family(
                "nflbet_suspend_status",
                "1 when the resource's reconciliation is suspended",
                suspended,
            ),
            gauge_family(
                &self.snapshot_name,
                "Unix time of the last snapshot a Sportsbook's scraper reported (creation time before the first)",
                snapshots,
            ),
        ]
    }
}

impl crate::http::Exposition for Metrics {
    fn render(&self) -> String {
        self.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};

    /// Labels Prometheus sets on every target. The operator's ServiceMonitor honours the labels
    /// it exports (so `namespace` stays the resource's), which means any of these on an operator
    /// series would replace the target's own.
    const TARGET_LABELS: [&str; 6] = ["job", "instance", "pod", "service", "container", "endpoint"];

    #[test]
    fn operator_series_never_carry_target_labels() {
        let (store, mut writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
        let mut sb = crate::controller::sportsbook::build::fixtures::book("fanduel").build();
        let rules = crate::controller::sportsbook::alerts::rule_group(&sb, "betting", &Default::default());
        sb.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        ));
        sb.status = Some(
            serde_json::from_value(serde_json::json!({"conditions": [{
                "type": "Ready", "status": "True", "reason": "Succeeded", "message": "",
                "lastTransitionTime": "2024-09-05T18:00:00Z"
            }]}))
            .unwrap(),
        );
        writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(sb))));

        let metrics = Metrics::new();
        metrics.register_sportsbooks(store, "nflreadpy");
        metrics.success("sportsbook");
        metrics.failure("model", "ApplyFailed");
        drop(metrics.start("alertroute"));

        let families = metrics.registry.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for expected in [
            "controller_runtime_reconcile_total",
            "controller_runtime_reconcile_errors_total",
            "controller_runtime_reconcile_time_seconds",
            "controller_runtime_active_workers",
            "nflbet_resource_condition",
            "nflbet_suspend_status",
            "nflreadpy_sportsbook_last_snapshot_timestamp_seconds",
        ] {
            assert!(names.contains(&expected), "{expected} not exported: {names:?}");
        }
        for family in &families {
            for metric in family.get_metric() {
                for label in metric.get_label() {
                    assert!(
                        !TARGET_LABELS.contains(&label.name()),
                        "{} carries target label {:?}",
                        family.name(),
                        label.name()
                    );
                }
            }
        }
        let snapshot = families
            .iter()
            .find(|f| f.name() == "nflreadpy_sportsbook_last_snapshot_timestamp_seconds")
            .unwrap();
        let labels: Vec<(&str, &str)> =
            snapshot.get_metric()[0].get_label().iter().map(|l| (l.name(), l.value())).collect();
        assert_eq!(labels, [("namespace", "betting"), ("sportsbook", "fanduel")]);
        // The stale-data rule selects the operator's copy by exactly those labels, as they arrive
        // with honorLabels (not as exported_namespace).
        let stale = rules.rules.iter().find(|r| r.alert == crate::controller::sportsbook::alerts::DATA_STALE);
        let expr = &stale.unwrap().expr;
        assert!(expr.contains("nflreadpy_sportsbook_last_snapshot_timestamp_seconds|"), "{expr}");
        assert!(expr.contains(r#"namespace="betting", sportsbook="fanduel""#), "{expr}");
        assert!(!expr.contains("exported_namespace"), "{expr}");
    }

    #[test]
    fn a_new_term_of_leadership_exports_its_own_cache_and_a_follower_none() {
        let metrics = Metrics::new();
        let exported = |m: &Metrics| {
            let families = m.registry.gather();
            let suspend = families.iter().find(|f| f.name() == "nflbet_suspend_status");
            suspend.map_or(Vec::new(), |f| {
                f.get_metric().iter().map(|m| m.get_label()[1].value().to_string()).collect::<Vec<_>>()
            })
        };
        let term = |name: &str| {
            let (store, mut writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
            let sb = crate::controller::sportsbook::build::fixtures::book(name).build();
            writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(sb))));
            store
        };
        metrics.register_sportsbooks(term("fanduel"), "nflreadpy");
        assert_eq!(exported(&metrics), ["fanduel"]);
        metrics.forget_sportsbooks("nflreadpy");
        assert!(exported(&metrics).is_empty(), "a follower exports no frozen cache");
        metrics.register_sportsbooks(term("draftkings"), "nflreadpy");
        assert_eq!(exported(&metrics), ["draftkings"], "the new term's cache, not the old one");

        metrics.leader_gauge("nflbet-operator").set(1);
        let text = metrics.encode();
        assert!(text.contains("leader_election_master_status{name=\"nflbet-operator\"} 1"), "{text}");
    }

    #[test]
    fn conditions_of_every_kind_are_exported() {
        let (books, _w) = reflector::store::<DeserializeGuard<Sportsbook>>();
        let (models, mut writer) = reflector::store::<DeserializeGuard<Model>>();
        let (routes, _r) = reflector::store::<DeserializeGuard<AlertRoute>>();
        let m: Model = serde_json::from_value(serde_json::json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "elo", "namespace": "betting"},
            "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fanduel"]},
                     "staking": {"bankroll": 1000.0, "kellyFraction": 0.25}, "suspend": true},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Progressing",
                                        "message": "", "lastTransitionTime": "2024-09-05T18:00:00Z"}]}
        }))
        .unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(m))));
        let metrics = Metrics::new();
        metrics.register_resources(books, Some((models, routes)), "nflreadpy");
        let text = metrics.encode();
        assert!(
            text.contains(r#"nflbet_resource_condition{kind="Model",name="elo",namespace="betting",status="False",type="Ready"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"nflbet_suspend_status{kind="Model",name="elo",namespace="betting"} 1"#),
            "{text}"
        );
    }
}
