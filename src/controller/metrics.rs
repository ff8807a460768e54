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

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    active: IntGaugeVec,
    leader: IntGaugeVec,
    /// The per-resource gauges of the current term of leadership; `None` while following.
    resources: Arc<RwLock<Option<Arc<ResourceGauges>>>>,
    /// The metrics namespace whose resource families are reserved in the registry.
    reserved: Arc<Mutex<Option<String>>>,
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
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            active,
            leader,
            resources: Arc::default(),
            reserved: Arc::default(),
        }
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
        let gauges = ResourceGauges::new(sportsbooks, others, metrics_namespace);
        // The registry holds the families' names (so nothing else can take them), not their
        // series: those are written at scrape time by `chunks`.
        let mut reserved = self.reserved.lock().expect("reserved families lock");
        if reserved.as_deref() != Some(metrics_namespace) {
            if let Some(old) = reserved.take() {
                let _ = self.registry.unregister(Box::new(ResourceFamilies::new(&old)));
            }
            match self.registry.register(Box::new(ResourceFamilies::new(metrics_namespace))) {
                Ok(()) => *reserved = Some(metrics_namespace.to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, "per-resource gauges not exported");
                    return;
                }
            }
        }
        *self.resources.write().expect("resource gauges lock") = Some(Arc::new(gauges));
    }

    /// Stop exporting the per-resource gauges (the controllers stopped: their caches no longer
    /// follow the cluster, and a frozen heartbeat would look like stale data).
    pub fn forget_resources(&self) {
        *self.resources.write().expect("resource gauges lock") = None;
    }

    /// The leadership gauge of Lease `lease`.
    pub fn leader_gauge(&self, lease: &str) -> IntGauge {
        self.leader.with_label_values(&[lease])
    }

    /// The whole exposition as one string (tests; `/metrics` streams [`Metrics::chunks`]).
    pub fn encode(&self) -> String {
        self.chunks().collect()
    }

    /// The exposition in pieces: the registry's families, then the per-resource gauges a few
    /// hundred objects at a time, so a scrape of 10,000 objects never holds its whole text (or,
    /// as the registry would build it, a protobuf family per series: ~40 MB at that size).
    pub fn chunks(&self) -> Box<dyn Iterator<Item = String> + Send> {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        encoder.encode_utf8(&self.registry.gather(), &mut out).expect("text encoding never fails");
        let resources = self.resources.read().expect("resource gauges lock").clone();
        match resources {
            Some(r) => Box::new(std::iter::once(out).chain(r.chunks())),
            None => Box::new(std::iter::once(out)),
        }
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

const CONDITION: (&str, &str) = (
    "nflbet_resource_condition",
    "Status of each condition of each nflbet resource (1 for the current status)",
);
const SUSPEND: (&str, &str) = ("nflbet_suspend_status", "1 when the resource's reconciliation is suspended");
const SNAPSHOT_HELP: &str =
    "Unix time of the last snapshot a Sportsbook's scraper reported (creation time before the first)";

/// Objects per chunk of the exposition (about 50 kB of text).
const CHUNK: usize = 256;

/// The per-resource gauges, read from the controllers' caches at scrape time and written
/// straight into the exposition text.
struct ResourceGauges {
    books: Store<DeserializeGuard<Sportsbook>>,
    others: Option<OtherStores>,
    snapshot_name: String,
}

impl ResourceGauges {
    fn new(
        books: Store<DeserializeGuard<Sportsbook>>,
        others: Option<OtherStores>,
        metrics_namespace: &str,
    ) -> Self {
        ResourceGauges { books, others, snapshot_name: snapshot_family(metrics_namespace) }
    }

    /// The three families, each a header and then its series in chunks of [`CHUNK`] objects,
    /// from one snapshot of each cache (a list of `Arc`s).
    fn chunks(&self) -> impl Iterator<Item = String> + Send + use<> {
        let books = Arc::new(self.books.state());
        let (models, routes) = match &self.others {
            Some((m, r)) => (Arc::new(m.state()), Arc::new(r.state())),
            None => (Arc::default(), Arc::default()),
        };
        let conditions = std::iter::once(header(CONDITION.0, CONDITION.1))
            .chain(chunked(books.clone(), write_conditions::<Sportsbook>))
            .chain(chunked(models.clone(), write_conditions::<Model>))
            .chain(chunked(routes.clone(), write_conditions::<AlertRoute>));
        let suspended = std::iter::once(header(SUSPEND.0, SUSPEND.1))
            .chain(chunked(books.clone(), write_suspended::<Sportsbook>))
            .chain(chunked(models, write_suspended::<Model>))
            .chain(chunked(routes, write_suspended::<AlertRoute>));
        let name = self.snapshot_name.clone();
        let snapshots = std::iter::once(header(&self.snapshot_name, SNAPSHOT_HELP))
            .chain(chunked(books, move |b, out| write_snapshot(&name, b, out)));
        conditions.chain(suspended).chain(snapshots)
    }
}

fn snapshot_family(metrics_namespace: &str) -> String {
    format!("{metrics_namespace}_{}", super::sportsbook::alerts::OPERATOR_SNAPSHOT_GAUGE)
}

fn header(name: &str, help: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} gauge\n")
}

/// `objects` rendered [`CHUNK`] at a time by `write`.
fn chunked<T: Send + Sync + 'static>(
    objects: Arc<Vec<T>>,
    write: impl Fn(&T, &mut String) + Send + 'static,
) -> impl Iterator<Item = String> + Send {
    (0..objects.len()).step_by(CHUNK).map(move |start| {
        let mut out = String::with_capacity(CHUNK * 160);
        for o in &objects[start..(start + CHUNK).min(objects.len())] {
            write(o, &mut out);
        }
        out
    })
}

/// One series: `name{labels} value`, labels in the order given (sorted by name, as the
/// registry's own families are), values escaped as the text format requires.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    use std::fmt::Write;
    out.push_str(name);
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

/// `nflbet_resource_condition`: one series per condition of the object.
fn write_conditions<K: Reconciled>(guarded: &Arc<DeserializeGuard<K>>, out: &mut String) {
    let Ok(obj) = &guarded.0 else { return };
    let (kind, ns, name) = (K::kind(&()), obj.meta().namespace.as_deref().unwrap_or(""), obj.name_any());
    for c in obj.current_status().1 {
        let labels =
            [("kind", &*kind), ("name", &name), ("namespace", ns), ("status", &c.status), ("type", &c.type_)];
        sample(out, CONDITION.0, &labels, 1.0);
    }
}

/// `nflbet_suspend_status`: 1 while the object's reconciliation is suspended.
fn write_suspended<K: Reconciled>(guarded: &Arc<DeserializeGuard<K>>, out: &mut String) {
    let Ok(obj) = &guarded.0 else { return };
    let (kind, ns, name) = (K::kind(&()), obj.meta().namespace.as_deref().unwrap_or(""), obj.name_any());
    let labels = [("kind", &*kind), ("name", &name), ("namespace", ns)];
    sample(out, SUSPEND.0, &labels, if obj.suspended() { 1.0 } else { 0.0 });
}

/// The Sportsbook's heartbeat: its last snapshot's time, or its creation before the first.
fn write_snapshot(family: &str, guarded: &Arc<DeserializeGuard<Sportsbook>>, out: &mut String) {
    let Ok(sb) = &guarded.0 else { return };
    let last = sb
        .status
        .as_ref()
        .and_then(|s| s.ingestion.as_ref())
        .and_then(|i| i.last_snapshot_time.as_ref())
        .or(sb.metadata.creation_timestamp.as_ref());
    if let Some(t) = last {
        let ns = sb.metadata.namespace.as_deref().unwrap_or("");
        let name = sb.name_any();
        sample(
            out,
            family,
            &[("namespace", ns), ("sportsbook", &name)],
            t.0.as_millisecond() as f64 / 1000.0,
        );
    }
}

/// Reserves the per-resource families' names in the registry: no other collector can take them,
/// and a probe of the registry finds them. It collects nothing; [`ResourceGauges`] writes the
/// series.
struct ResourceFamilies {
    descs: Vec<Desc>,
}

impl ResourceFamilies {
    fn new(metrics_namespace: &str) -> Self {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(
                name.into(),
                help.into(),
                labels.iter().map(|l| l.to_string()).collect(),
                Default::default(),
            )
            .expect("valid desc")
        };
        ResourceFamilies {
            descs: vec![
                desc(CONDITION.0, CONDITION.1, &["kind", "namespace", "name", "type", "status"]),
                desc(SUSPEND.0, SUSPEND.1, &["kind", "namespace", "name"]),
                desc(&snapshot_family(metrics_namespace), SNAPSHOT_HELP, &["namespace", "sportsbook"]),
            ],
        }
    }
}

impl Collector for ResourceFamilies {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}

impl crate::http::Exposition for Metrics {
    fn render(&self) -> String {
        self.encode()
    }

    fn chunks(&self) -> Box<dyn Iterator<Item = String> + Send> {
        Metrics::chunks(self)
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

        let text = metrics.encode();
        let all = series(&text);
        for expected in [
            "controller_runtime_reconcile_total",
            "controller_runtime_reconcile_errors_total",
            "controller_runtime_reconcile_time_seconds_bucket",
            "controller_runtime_active_workers",
            "nflbet_resource_condition",
            "nflbet_suspend_status",
            "nflreadpy_sportsbook_last_snapshot_timestamp_seconds",
        ] {
            assert!(all.iter().any(|(name, _)| name == expected), "{expected} not exported: {text}");
            assert!(text.contains(&format!("# TYPE {} ", expected.trim_end_matches("_bucket"))), "{text}");
        }
        for (name, labels) in &all {
            for (label, _) in labels {
                assert!(!TARGET_LABELS.contains(&label.as_str()), "{name} carries target label {label:?}");
            }
        }
        let (_, labels) = all
            .iter()
            .find(|(name, _)| name == "nflreadpy_sportsbook_last_snapshot_timestamp_seconds")
            .unwrap();
        assert_eq!(
            labels,
            &[("namespace".to_string(), "betting".to_string()), ("sportsbook".into(), "fanduel".into())]
        );
        assert!(text.contains("nflreadpy_sportsbook_last_snapshot_timestamp_seconds{namespace=\"betting\",sportsbook=\"fanduel\"} 1700000000\n"), "{text}");
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
            series(&m.encode())
                .into_iter()
                .filter(|(name, _)| name == "nflbet_suspend_status")
                .map(|(_, labels)| labels[1].1.clone())
                .collect::<Vec<_>>()
        };
        let term = |name: &str| {
            let (store, mut writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
            let sb = crate::controller::sportsbook::build::fixtures::book(name).build();
            writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(sb))));
            store
        };
        metrics.register_sportsbooks(term("fanduel"), "nflreadpy");
        assert_eq!(exported(&metrics), ["fanduel"]);
        metrics.forget_resources();
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

    /// The series of a text exposition: name and labels, in order (values unescaped).
    fn series(text: &str) -> Vec<(String, Vec<(String, String)>)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let (name, rest) = line.split_once('{').unwrap_or((line.split(' ').next().unwrap(), "}"));
                let (labels, _value) = rest.rsplit_once("} ").unwrap_or(("", ""));
                let mut out = Vec::new();
                let mut chars = labels.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => panic!("{line}"),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    out.push((key, value));
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_string(), out)
            })
            .collect()
    }

    #[test]
    fn label_values_are_escaped_and_large_caches_come_in_chunks() {
        let (store, mut writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
        for i in 0..(2 * CHUNK + 3) {
            let mut sb = crate::controller::sportsbook::build::fixtures::book(&format!("book-{i}")).build();
            sb.status = Some(
                serde_json::from_value(serde_json::json!({"conditions": [{
                    "type": "Odd\"type\\\n", "status": "True", "reason": "Succeeded", "message": "",
                    "lastTransitionTime": "2024-09-05T18:00:00Z"
                }]}))
                .unwrap(),
            );
            writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(sb))));
        }
        let metrics = Metrics::new();
        metrics.register_sportsbooks(store, "nflreadpy");
        let chunks: Vec<String> = metrics.chunks().collect();
        assert!(
            chunks.len() >= 3 * 3,
            "three families of three chunks each and the registry: {}",
            chunks.len()
        );
        assert!(chunks.iter().all(|c| c.len() < CHUNK * 400), "no chunk holds more than {CHUNK} objects");
        let text: String = chunks.concat();
        // The process-wide request counter moves while other tests send requests: compare the rest.
        let steady = |t: &str| {
            t.lines()
                .filter(|l| !l.contains("nflbet_kube_client_requests_total"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(steady(&text), steady(&metrics.encode()));
        let conditions: Vec<_> =
            series(&text).into_iter().filter(|(name, _)| name == "nflbet_resource_condition").collect();
        assert_eq!(conditions.len(), 2 * CHUNK + 3, "one series per book's condition");
        assert!(conditions.iter().all(|(_, labels)| labels[4] == ("type".into(), "Odd\"type\\\n".into())));
        assert!(text.contains(r#"type="Odd\"type\\\n"} 1"#), "escaped as the text format says");
        // One header per family, however many chunks.
        assert_eq!(text.matches("# TYPE nflbet_resource_condition gauge").count(), 1);
        assert_eq!(text.matches("# TYPE nflbet_suspend_status gauge").count(), 1);
    }

    #[test]
    fn the_resource_families_names_are_reserved_in_the_registry() {
        let metrics = Metrics::new();
        let (store, _writer) = reflector::store::<DeserializeGuard<Sportsbook>>();
        metrics.register_sportsbooks(store.clone(), "nflreadpy");
        let taken = prometheus::Gauge::new("nflbet_suspend_status", "another").unwrap();
        assert!(metrics.registry.register(Box::new(taken)).is_err(), "the name is reserved");
        // A new term with the same namespace keeps its reservation; none is registered twice.
        metrics.forget_resources();
        metrics.register_sportsbooks(store, "nflreadpy");
        let free =
            prometheus::Gauge::new("nflreadpy_sportsbook_last_snapshot_timestamp_seconds", "x").unwrap();
        assert!(metrics.registry.register(Box::new(free)).is_err());
    }
}
