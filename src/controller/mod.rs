//! The operator (`nflbet operator`): one controller per custom resource, an HTTP server for
//! `/metrics`, `/healthz` and `/readyz`, optional leader election, graceful shutdown.

pub mod alert_route;
pub mod api_requests;
pub mod apply;
pub mod children;
pub mod conditions;
pub mod config;
pub mod context;
pub mod driver;
#[cfg(test)]
pub mod fixtures;
pub mod invalid;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod names;
pub mod pod_policy;
pub mod snapshot_store;
pub mod sportsbook;
pub mod watch;
pub mod workload_objects;

use crate::crd::Sportsbook;
use crate::crd::{AlertRoute, Model};
use crate::monitoring::{AlertmanagerConfig, Capabilities, PrometheusRule, ServiceMonitor};
use children::{ChildKind, ChildStore, ChildView};
use clap::Args;
pub use config::FIELD_MANAGER;
use config::{MANAGED_BY, OperatorConfig};
use context::{Caches, Context};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, controller, reflector, watcher};
use kube::{Client, ResourceExt};
use metrics::Metrics;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use workload_objects::WatchedDeployment;

#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// Watch only this namespace (empty: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub watch_namespace: String,

    /// Image of the scraper and model workloads when a resource names none.
    #[arg(long, env = "NFLBET_WORKLOAD_IMAGE")]
    pub workload_image: Option<String>,

    /// Pull policy of the workloads when a resource names none.
    #[arg(long, env = "NFLBET_WORKLOAD_PULL_POLICY", default_value = "IfNotPresent")]
    pub workload_pull_policy: String,

    /// Secret the scraper and model pods pull their image with (a private registry), by name in
    /// the resource's namespace; repeatable or comma-separated.
    #[arg(long = "workload-image-pull-secret", env = "NFLBET_WORKLOAD_IMAGE_PULL_SECRETS", value_delimiter = ',', value_parser = parse_secret_name)]
    pub workload_image_pull_secrets: Vec<String>,

    /// Prefix of metric names (dashboards expect `nflreadpy`).
    #[arg(long, env = "NFLBET_METRICS_NAMESPACE", default_value = "nflreadpy")]
    pub metrics_namespace: String,

    /// Extra label on every generated PrometheusRule, as key=value; repeatable. For example
    /// `release=kube-prometheus-stack`, without which kube-prometheus-stack ignores the rules.
    #[arg(long = "rule-label", env = "NFLBET_RULE_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub rule_labels: Vec<(String, String)>,

    /// Extra label on every generated ServiceMonitor (scrapers, models), as key=value;
    /// repeatable. For example `release=kube-prometheus-stack`, without which
    /// kube-prometheus-stack never scrapes the workloads.
    #[arg(long = "monitor-label", env = "NFLBET_MONITOR_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub monitor_labels: Vec<(String, String)>,

    /// Base URL of the runbooks linked from every alert.
    #[arg(long, env = "NFLBET_RUNBOOK_BASE_URL")]
    pub runbook_base_url: Option<String>,

    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "NFLBET_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Reconciles run in parallel per controller.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,

    /// Hold a Lease before reconciling, so only one replica writes.
    #[arg(long, env = "NFLBET_LEADER_ELECT")]
    pub leader_elect: bool,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = "nflbet-operator")]
    pub lease_name: String,

    /// Namespace of the Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// Identity of this replica (defaults to the pod name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// How long a follower waits after it last saw the Lease change before it takes over.
    #[arg(long, env = "NFLBET_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_lease_duration)]
    pub leader_elect_lease_duration: Duration,

    /// How long the leader keeps trying to renew before it stops reconciling (shorter than the
    /// lease duration).
    #[arg(long, env = "NFLBET_LEADER_ELECT_RENEW_DEADLINE", default_value = "10s", value_parser = parse_lease_duration)]
    pub leader_elect_renew_deadline: Duration,

    /// Wait between attempts to take or renew the Lease.
    #[arg(long, env = "NFLBET_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_lease_duration)]
    pub leader_elect_retry_period: Duration,

    /// PagerDuty Events API v2 endpoint for the operator's own notifications.
    #[arg(long, env = "NFLBET_PAGERDUTY_EVENTS_URL", default_value = crate::notify::PAGERDUTY_EVENTS_URL)]
    pub pagerduty_events_url: String,

    /// Timeout of one notification request (Go duration).
    #[arg(long, default_value = "5s")]
    pub notify_timeout: String,

    /// Where workloads may send credentials and connect; passed on to every workload.
    #[command(flatten)]
    pub egress: crate::egress::EgressArgs,
    #[command(flatten)]
    pub pod_policy: PodPolicyArgs,
}

/// The pod-security policy for specs (`pod_policy`, docs/security.md). Patterns: exact, or a
/// prefix ending in `*`.
#[derive(Args, Debug, Clone)]
pub struct PodPolicyArgs {
    /// Image a Sportsbook or Model may name besides the workload image; repeatable.
    #[arg(long = "allowed-image", env = "NFLBET_ALLOWED_IMAGES", value_delimiter = ',', value_parser = pod_policy::Pattern::parse)]
    pub images: Vec<pod_policy::Pattern>,

    /// Label, as key=value, that a ServiceAccount named by a spec must carry.
    #[arg(long, env = "NFLBET_SERVICE_ACCOUNT_LABEL", value_parser = parse_label,
          default_value = "betting.nflbet.dev/workload-identity=true")]
    pub service_account_label: (String, String),

    /// Toleration a spec may ask for, as KEY or KEY=VALUE; repeatable.
    #[arg(long = "allowed-toleration", env = "NFLBET_ALLOWED_TOLERATIONS", value_delimiter = ',', value_parser = pod_policy::KeyValuePattern::parse)]
    pub tolerations: Vec<pod_policy::KeyValuePattern>,

    /// Node selector entry a spec may ask for, as KEY or KEY=VALUE; repeatable.
    #[arg(long = "allowed-node-selector", env = "NFLBET_ALLOWED_NODE_SELECTORS", value_delimiter = ',', value_parser = pod_policy::KeyValuePattern::parse)]
    pub node_selectors: Vec<pod_policy::KeyValuePattern>,

    /// Pod annotation key a spec may set; repeatable.
    #[arg(long = "allowed-pod-annotation", env = "NFLBET_ALLOWED_POD_ANNOTATIONS", value_delimiter = ',', value_parser = pod_policy::Pattern::parse)]
    pub pod_annotations: Vec<pod_policy::Pattern>,
}

impl Default for PodPolicyArgs {
    /// The flags' defaults: only the workload image, labelled ServiceAccounts, nothing else.
    fn default() -> Self {
        let p = pod_policy::PodPolicy::default();
        PodPolicyArgs {
            images: p.images,
            service_account_label: p.service_account_label,
            tolerations: p.tolerations,
            node_selectors: p.node_selectors,
            pod_annotations: p.pod_annotations,
        }
    }
}

impl PodPolicyArgs {
    pub fn policy(&self) -> pod_policy::PodPolicy {
        pod_policy::PodPolicy {
            images: self.images.clone(),
            service_account_label: self.service_account_label.clone(),
            tolerations: self.tolerations.clone(),
            node_selectors: self.node_selectors.clone(),
            pod_annotations: self.pod_annotations.clone(),
        }
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// A Secret name as Kubernetes accepts it (a DNS subdomain: lowercase letters, digits, `-`, `.`).
fn parse_secret_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("expected a Secret name (lowercase letters, digits, '-' and '.'), got {s:?}"))
    }
}

fn parse_lease_duration(s: &str) -> Result<Duration, String> {
    crate::domain::duration::parse_duration(s)
        .ok_or_else(|| format!("expected a duration such as 15s or 1m30s, got {s:?}"))
}

impl OperatorArgs {
    /// The leader-election settings of replica `identity`, checked.
    pub fn lease_settings(&self, identity: String) -> Result<leader::LeaseSettings, leader::LeaderError> {
        let settings = leader::LeaseSettings {
            name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity,
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The operator's settings; fails only on an unreadable egress policy.
    pub fn config(&self) -> Result<OperatorConfig, crate::egress::EgressError> {
        let mut cfg = OperatorConfig {
            image_pull_policy: self.workload_pull_policy.clone(),
            image_pull_secrets: self.workload_image_pull_secrets.clone(),
            metrics_namespace: self.metrics_namespace.clone(),
            rule_labels: self.rule_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            monitor_labels: self.monitor_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            pod_policy: self.pod_policy.policy(),
            ..OperatorConfig::default()
        };
        if let Some(image) = &self.workload_image {
            cfg.workload_image = image.clone();
        }
        if let Some(url) = &self.runbook_base_url {
            cfg.runbook_base_url = url.clone();
        }
        // The operator's own pod is not where the workloads run: the API server's addresses are
        // found by each workload in its own environment.
        cfg.egress = self.egress.policy(Vec::new())?;
        Ok(cfg)
    }
}

/// Errors that stop the operator process.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {0}")]
    Client(#[source] kube::Error),
    #[error(
        "the Sportsbook CRD is not installed or not readable ({0}); install the CRDs first: \
         `nflbet crds | kubectl apply --server-side -f -` or `helm install` with crds.enabled=true"
    )]
    CrdsMissing(#[source] kube::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let client = api_requests::counted_client().await.map_err(OperatorError::Client)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::shutdown::on_signal(shutdown.clone()));
    let handle = start(client, args, shutdown.clone()).await?;
    handle.wait().await
}

/// A running operator; tests start one in-process against the local control plane.
pub struct OperatorHandle {
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub listen: SocketAddr,
    /// With leader election: this replica's leadership as it reports it.
    pub leadership: Option<tokio::sync::watch::Receiver<leader::LeaderStatus>>,
    tasks: tokio::task::JoinSet<anyhow::Result<()>>,
}

impl OperatorHandle {
    /// Wait until shutdown is requested or a task fails.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let r = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if r.is_err() && result.is_ok() {
                result = r;
                self.shutdown.cancel();
            }
        }
        result
    }

    /// Request shutdown and wait for the controllers to drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Start the operator's tasks. Returns once the HTTP server listens; the controllers start after
/// leadership is acquired.
pub async fn start(
    client: Client,
    args: OperatorArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<OperatorHandle> {
    let identity = args.pod_name.clone().unwrap_or_else(|| format!("nflbet-operator-{}", std::process::id()));
    // Refuse bad leader-election settings before anything starts.
    let lease = args
        .leader_elect
        .then(|| args.lease_settings(identity.clone()))
        .transpose()
        .map_err(OperatorError::Leader)?;
    let namespace = (!args.watch_namespace.is_empty()).then(|| args.watch_namespace.clone());
    let sportsbooks: Api<Sportsbook> = scoped(&client, &namespace);
    // Metadata only: one unreadable object must not keep the operator from starting.
    sportsbooks.list_metadata(&ListParams::default().limit(1)).await.map_err(OperatorError::CrdsMissing)?;

    let metrics = Arc::new(Metrics::new());
    let health = watch::Health::new(&metrics.registry);
    let ready = Arc::new(OperatorReadiness { phase: AtomicU8::new(STARTING), watches: health.clone() });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| OperatorError::Listen(args.listen, e))?;
    let listen = listener.local_addr()?;
    let mut tasks = tokio::task::JoinSet::new();
    let app = crate::http::router(metrics.clone(), ready.clone(), "starting\n");
    tasks.spawn(crate::http::serve(listener, app, shutdown.clone()).map(Ok));

    let notifier = crate::notify::NotifierSettings {
        pagerduty_url: args.pagerduty_events_url.clone(),
        timeout: crate::domain::duration::parse_duration(&args.notify_timeout)
            .unwrap_or(Duration::from_secs(5)),
        ..crate::notify::NotifierSettings::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        args.config()?,
        metrics.clone(),
        Some(identity.clone()),
        notifier,
    ));
    let elector = lease
        .map(|lease| {
            leader::LeaderElector::new(client.clone(), lease, metrics.leader_gauge(&args.lease_name))
        })
        .transpose()
        .map_err(OperatorError::Leader)?;
    let leadership = elector.as_ref().map(leader::LeaderElector::subscribe);
    let concurrency = args.concurrency;
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let reconcile =
            || run_until_stopped(ctx.clone(), namespace.clone(), health.clone(), concurrency, stop.clone());
        let Some(mut elector) = elector else {
            ready.phase.store(LEADING, Ordering::Relaxed);
            reconcile().await;
            return Ok(());
        };
        loop {
            // A follower is healthy and ready: it serves metrics and waits.
            ready.phase.store(FOLLOWING, Ordering::Relaxed);
            let renewed_at = tokio::select! {
                at = elector.acquire() => at,
                _ = stop.cancelled() => return Ok(()),
            };
            ready.phase.store(LEADING, Ordering::Relaxed);
            // The controllers run only inside this block: when `keep` returns, leaving the block
            // drops them, aborting in-flight reconciles, before the step-down is reported.
            let stepped_down = {
                let controllers = std::pin::pin!(reconcile());
                let keep = std::pin::pin!(elector.keep(renewed_at));
                match futures::future::select(controllers, keep).await {
                    futures::future::Either::Left(_) => None,
                    futures::future::Either::Right((why, _)) => Some(why),
                }
            };
            let Some(why) = stepped_down else {
                // Shutdown: the controllers drained while the lease was still renewed.
                elector.release().await;
                return Ok(());
            };
            ctx.metrics.forget_resources();
            health.clear();
            elector.follow();
            tracing::error!(reason = %why, "stepped down: stopped reconciling; following the lease again");
        }
    });
    Ok(OperatorHandle { metrics, shutdown, listen, leadership, tasks })
}

const STARTING: u8 = 0;
const FOLLOWING: u8 = 1;
const LEADING: u8 = 2;

/// The operator's `/readyz`: not before it knows its role; a follower is ready (it serves metrics
/// and waits); a leader is ready while every watch of its controllers is synced, so a control
/// plane it cannot hear shows as a pod that is not ready.
struct OperatorReadiness {
    phase: AtomicU8,
    watches: watch::Health,
}

impl crate::http::Readiness for OperatorReadiness {
    fn not_ready(&self) -> Option<String> {
        match self.phase.load(Ordering::Relaxed) {
            STARTING => Some(String::new()),
            FOLLOWING => None,
            _ if self.watches.is_empty() => Some("starting the controllers".into()),
            _ => {
                let unsynced = self.watches.unsynced();
                (!unsynced.is_empty()).then(|| format!("watches not synced: {}", unsynced.join(", ")))
            }
        }
    }
}

/// How often the controllers' supervisor asks which monitoring kinds the cluster serves.
const CAPABILITIES_EVERY: Duration = Duration::from_secs(10);

/// Run the controllers until `shutdown`, restarting them when the monitoring CRDs appear or
/// disappear: the set of children watched (PrometheusRules, ServiceMonitors,
/// AlertmanagerConfigs) depends on them, and the fresh watches list every object again, so each
/// resource is reconciled with the new capabilities at once (installing prometheus-operator after
/// nflbet needs no restart and no edit).
async fn run_until_stopped(
    ctx: Arc<Context>,
    namespace: Option<String>,
    health: watch::Health,
    concurrency: u16,
    shutdown: CancellationToken,
) {
    let mut caps = loop {
        match Capabilities::discover(&ctx.client).await {
            Ok(caps) => break caps,
            Err(e) => tracing::warn!(error = %e, "cannot discover the monitoring CRDs yet; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    };
    loop {
        ctx.set_capabilities(caps);
        tracing::info!(?caps, "starting the controllers");
        let round = shutdown.child_token();
        let controllers =
            run_controllers(ctx.clone(), namespace.clone(), caps, &health, concurrency, round.clone());
        tokio::pin!(controllers);
        let changed = async {
            loop {
                tokio::time::sleep(CAPABILITIES_EVERY).await;
                match Capabilities::discover(&ctx.client).await {
                    Ok(now) if now != caps => return now,
                    Ok(_) => {}
                    // The API server is away: keep what we know; the watches report it.
                    Err(e) => tracing::debug!(error = %e, "monitoring CRD discovery failed"),
                }
            }
        };
        tokio::select! {
            _ = &mut controllers => return,
            now = changed => {
                tracing::info!(before = ?caps, after = ?now, "monitoring CRDs changed; restarting the controllers");
                round.cancel();
                controllers.await;
                health.clear();
                if shutdown.is_cancelled() {
                    return;
                }
                caps = now;
            }
        }
    }
}

async fn run_controllers(
    ctx: Arc<Context>,
    namespace: Option<String>,
    caps: Capabilities,
    health: &watch::Health,
    concurrency: u16,
    shutdown: CancellationToken,
) {
    let client = ctx.client.clone();
    // The Sportsbooks' cache is shared: the Model controller reads which books it prices there.
    let (books, books_writer) = reflector::store();
    let books_synced = health.watch(sportsbook::CONTROLLER, "Sportsbook");
    let caches = Caches {
        children: ChildStore::default(),
        sportsbooks: books.clone(),
        sportsbooks_synced: Some(books_synced.clone()),
    };
    ctx.set_caches(caches.clone());
    let run = Run {
        ctx: &ctx,
        namespace: &namespace,
        caps,
        health,
        concurrency,
        shutdown: &shutdown,
        caches: &caches,
    };

    let sportsbooks =
        run.controller((books, books_writer, books_synced), "scraper", sportsbook::CHILDREN, |c| c);
    let (routes, routes_writer) = reflector::store::<DeserializeGuard<AlertRoute>>();
    let alert_routes_store = routes.clone();
    let routes_synced = health.watch(alert_route::CONTROLLER, "AlertRoute");
    let alert_routes =
        run.controller((routes, routes_writer, routes_synced), "", alert_route::CHILDREN, |c| c);
    let (models, models_writer) = reflector::store::<DeserializeGuard<Model>>();
    let model_store = models.clone();
    ctx.metrics.register_resources(
        caches.sportsbooks.clone(),
        Some((models.clone(), alert_routes_store.clone())),
        &ctx.config.metrics_namespace,
    );
    let models_synced = health.watch(model::CONTROLLER, "Model");
    let models = run.controller((models, models_writer, models_synced), "model", model::CHILDREN, |c| {
        // A Sportsbook appearing or changing labels can change which books a Model prices.
        // Metadata only: names and labels are all that matter, and an unreadable Sportsbook spec
        // must not disturb the Model controller.
        let book_meta = watch::touched(
            scoped_meta::<Sportsbook>(&client, &namespace),
            watcher::Config::default().any_semantic(),
            health.watch(model::CONTROLLER, "Sportsbook"),
        );
        c.watches_stream(book_meta, move |sb: kube::core::PartialObjectMeta<Sportsbook>| {
            let ns = sb.namespace();
            model_store
                .state()
                .into_iter()
                .filter(move |m| m.0.as_ref().is_ok_and(|m| m.namespace() == ns))
                .map(|m| kube::runtime::reflector::ObjectRef::from_obj(&*m))
                .collect::<Vec<_>>()
        })
    });
    tokio::join!(sportsbooks, alert_routes, models);
}

/// What every controller of one start of the controllers shares.
struct Run<'a> {
    ctx: &'a Arc<Context>,
    namespace: &'a Option<String>,
    caps: Capabilities,
    health: &'a watch::Health,
    concurrency: u16,
    shutdown: &'a CancellationToken,
    caches: &'a Caches,
}

impl Run<'_> {
    /// The controller of kind `K`: its own objects (through `DeserializeGuard`, so one malformed
    /// object never stops the watch of the others), each kind of child it makes (labelled with
    /// `component`) among those the cluster serves, the periodic resync pass, and whatever `extra`
    /// adds; reconciled by the driver. No debounce: the first event of a burst is reconciled at
    /// once, and the events that arrive while it runs are folded into one more reconcile, which
    /// finds the children as wanted and writes nothing.
    fn controller<K, F>(
        &self,
        (store, writer, listed): (
            reflector::Store<DeserializeGuard<K>>,
            reflector::store::Writer<DeserializeGuard<K>>,
            watch::Synced,
        ),
        component: &str,
        children: &[ChildKind],
        extra: F,
    ) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        K: driver::Reconciled,
        F: FnOnce(Controller<DeserializeGuard<K>>) -> Controller<DeserializeGuard<K>>,
    {
        let client = &self.ctx.client;
        let ns = self.namespace;
        let synced = |resource: &str| self.health.watch(K::CONTROLLER, resource);
        let objects: Api<DeserializeGuard<K>> = scoped(client, ns);
        let resync = watch::resync(store.clone(), driver::RESYNC);
        let mut c = Controller::for_stream(
            watch::reflected(objects, watcher::Config::default().any_semantic(), writer, listed),
            store,
        )
        .reconcile_on(resync);
        let mut selector = format!("app.kubernetes.io/managed-by={MANAGED_BY}");
        if !component.is_empty() {
            selector.push_str(&format!(",app.kubernetes.io/component={component}"));
        }
        let owned = watcher::Config::default().labels(&selector);
        for &kind in children {
            let w = ChildWatch {
                config: owned.clone(),
                synced: synced(kind.name()),
                kind,
                store: self.caches.children.clone(),
            };
            c = match kind {
                // Deployments without their pod template: the status step needs their rollout state.
                ChildKind::Deployment => owning(c, scoped::<WatchedDeployment>(client, ns), w),
                ChildKind::Service => owning(c, scoped_meta::<Service>(client, ns), w),
                ChildKind::Job => owning(c, scoped_meta::<Job>(client, ns), w),
                ChildKind::ServiceAccount => owning(c, scoped_meta::<ServiceAccount>(client, ns), w),
                ChildKind::Role => owning(c, scoped_meta::<Role>(client, ns), w),
                ChildKind::RoleBinding => owning(c, scoped_meta::<RoleBinding>(client, ns), w),
                ChildKind::PrometheusRule if self.caps.prometheus_rules => {
                    owning(c, scoped_meta::<PrometheusRule>(client, ns), w)
                }
                ChildKind::ServiceMonitor if self.caps.service_monitors => {
                    owning(c, scoped_meta::<ServiceMonitor>(client, ns), w)
                }
                ChildKind::AlertmanagerConfig if self.caps.alertmanager_configs => {
                    owning(c, scoped_meta::<AlertmanagerConfig>(client, ns), w)
                }
                // The kind's CRD is not installed: nothing to watch.
                _ => c,
            };
        }
        let stop = self.shutdown.clone();
        extra(c)
            .with_config(controller::Config::default().concurrency(self.concurrency))
            .trigger_backoff(watch::NoTriggerBackoff)
            .graceful_shutdown_on(async move { stop.cancelled().await })
            .run(driver::reconcile::<K>, driver::error_policy::<K>, self.ctx.clone())
            .for_each(log_result)
    }
}

/// A kind a controller can watch: typed, decodable, and shareable between tasks.
trait Watchable:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Watchable for T where
    T: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// `c`, also reconciling an object when one of its children of kind `K` changes (the
/// operator's children only), feeding the child store on the way.
fn owning<K, C>(c: Controller<C>, api: Api<K>, w: ChildWatch) -> Controller<C>
where
    K: Watchable + ChildView,
    C: Watchable,
{
    c.owns_stream(watch::children(api, w.config, w.synced, w.kind, w.store))
}

/// How one kind of child is watched.
struct ChildWatch {
    /// The operator's children of one controller (by label).
    config: watcher::Config,
    synced: watch::Synced,
    kind: ChildKind,
    store: ChildStore,
}

/// The metadata of `K`'s objects, over all namespaces or the one the operator is restricted to.
fn scoped_meta<K>(client: &Client, ns: &Option<String>) -> Api<kube::core::PartialObjectMeta<K>>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    scoped(client, ns)
}

/// An Api over all namespaces, or the one the operator is restricted to.
fn scoped<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn log_result<
    K: kube::Resource,
    E: std::fmt::Debug + std::error::Error + 'static,
    Q: std::fmt::Debug + std::error::Error + 'static,
>(
    res: Result<(kube::runtime::reflector::ObjectRef<K>, Action), controller::Error<E, Q>>,
) {
    match res {
        Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
        Err(controller::Error::ReconcilerFailed(..)) => {} // logged by error_policy
        Err(e) => tracing::warn!(error = %e, "controller event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: OperatorArgs,
    }

    #[test]
    fn monitor_and_rule_labels_are_separate_repeatable_flags() {
        let cli = Cli::try_parse_from([
            "operator",
            "--monitor-label",
            "release=kube-prometheus-stack,team=trading",
            "--rule-label",
            "release=rules",
        ])
        .expect("flags parse");
        let cfg = cli.args.config().unwrap();
        assert_eq!(
            cfg.monitor_labels,
            BTreeMap::from([
                ("release".to_string(), "kube-prometheus-stack".to_string()),
                ("team".to_string(), "trading".to_string())
            ])
        );
        assert_eq!(cfg.rule_labels, BTreeMap::from([("release".to_string(), "rules".to_string())]));
        assert!(Cli::try_parse_from(["operator", "--monitor-label", "release"]).is_err(), "key=value only");
    }

    #[test]
    fn workload_image_pull_secrets_are_a_checked_list() {
        assert!(
            Cli::try_parse_from(["operator"]).unwrap().args.config().unwrap().image_pull_secrets.is_empty()
        );
        let cli = Cli::try_parse_from(["operator", "--workload-image-pull-secret", "ghcr,registry.example"])
            .unwrap();
        assert_eq!(cli.args.config().unwrap().image_pull_secrets, ["ghcr", "registry.example"]);
        let bad = Cli::try_parse_from(["operator", "--workload-image-pull-secret", "Not_A_Name"]);
        assert!(bad.err().unwrap().to_string().contains("expected a Secret name"));
    }

    #[test]
    fn egress_policy_comes_from_flags_with_a_secure_default() {
        let cfg = Cli::try_parse_from(["operator"]).unwrap().args.config().unwrap();
        assert_eq!(cfg.egress, crate::egress::Egress::default());
        let cli = Cli::try_parse_from([
            "operator",
            "--feed-credential-hosts",
            "api.the-odds-api.com,http://*.svc.cluster.local",
            "--allow-addresses",
            "10.96.0.1/32",
        ])
        .unwrap();
        let cfg = cli.args.config().unwrap();
        assert_eq!(
            cfg.egress.feed_credentials.to_string(),
            "api.the-odds-api.com, http://*.svc.cluster.local"
        );
        assert_eq!(cfg.egress.addresses.allow.len(), 1);
        let bad = Cli::try_parse_from(["operator", "--s3-credential-hosts", "https://minio:9000"]).unwrap();
        assert!(bad.args.config().unwrap_err().to_string().contains("port"));
    }

    #[test]
    fn lease_timing_defaults_to_client_gos_and_bad_timing_names_the_flag() {
        let defaults = Cli::try_parse_from(["operator"]).unwrap().args;
        let s = defaults.lease_settings("replica-a".into()).unwrap();
        assert_eq!(
            [s.lease_duration, s.renew_deadline, s.retry_period],
            [15, 10, 2].map(Duration::from_secs)
        );
        let short = Cli::try_parse_from([
            "operator",
            "--leader-elect-lease-duration=4s",
            "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=500ms",
        ])
        .unwrap()
        .args;
        let s = short.lease_settings("replica-a".into()).unwrap();
        assert_eq!(s.retry_period, Duration::from_millis(500));

        let unparsable = Cli::try_parse_from(["operator", "--leader-elect-retry-period=soon"]);
        let msg = unparsable.err().expect("refused").to_string();
        assert!(msg.contains("expected a duration such as 15s"), "{msg}");
        let inverted = Cli::try_parse_from(["operator", "--leader-elect-renew-deadline=20s"]).unwrap().args;
        let msg = inverted.lease_settings("replica-a".into()).unwrap_err().to_string();
        assert!(msg.contains("must be shorter than --leader-elect-lease-duration"), "{msg}");
    }

    #[test]
    fn pod_policy_flags_default_to_the_strict_policy_and_parse_patterns() {
        let cli = Cli::try_parse_from(["operator"]).expect("no flags");
        assert_eq!(cli.args.config().unwrap().pod_policy, pod_policy::PodPolicy::default());
        assert_eq!(
            cli.args.pod_policy.policy(),
            PodPolicyArgs::default().policy(),
            "Default = clap's defaults"
        );

        let cli = Cli::try_parse_from([
            "operator",
            "--allowed-image",
            "registry.example.com/nflbet/*,ghcr.io/acme/nflbet:2",
            "--service-account-label",
            "team=trading",
            "--allowed-toleration",
            "dedicated=betting",
            "--allowed-node-selector",
            "kubernetes.io/arch",
            "--allowed-pod-annotation",
            "prometheus.io/*",
        ])
        .expect("flags parse");
        let p = cli.args.config().unwrap().pod_policy;
        let shown = |v: &[pod_policy::Pattern]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(shown(&p.images), ["registry.example.com/nflbet/*", "ghcr.io/acme/nflbet:2"]);
        assert_eq!(p.service_account_label, ("team".to_string(), "trading".to_string()));
        assert_eq!(p.tolerations[0].to_string(), "dedicated=betting");
        assert_eq!(p.node_selectors[0].to_string(), "kubernetes.io/arch");
        assert_eq!(shown(&p.pod_annotations), ["prometheus.io/*"]);

        let err = Cli::try_parse_from(["operator", "--allowed-image", "reg*/x"]).err().unwrap().to_string();
        assert!(err.contains("only end a pattern"), "{err}");
    }
}
