//! The operator (`nflbet operator`): one controller per custom resource, an HTTP server for
//! `/metrics`, `/healthz` and `/readyz`, optional leader election, graceful shutdown.

pub mod alert_route;
pub mod apply;
pub mod conditions;
pub mod config;
pub mod context;
pub mod invalid;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod snapshot_store;
pub mod sportsbook;
pub mod watch;
pub mod workload;

use crate::crd::Sportsbook;
use crate::crd::{AlertRoute, Model};
use crate::monitoring::{AlertmanagerConfig, Capabilities, PrometheusRule, ServiceMonitor};
use clap::Args;
pub use config::FIELD_MANAGER;
use config::{MANAGED_BY, OperatorConfig};
use context::Context;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, controller, reflector, watcher};
use kube::{Client, ResourceExt};
use metrics::Metrics;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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

    /// PagerDuty Events API v2 endpoint for the operator's own notifications.
    #[arg(long, env = "NFLBET_PAGERDUTY_EVENTS_URL", default_value = crate::notify::PAGERDUTY_EVENTS_URL)]
    pub pagerduty_events_url: String,

    /// Timeout of one notification request (Go duration).
    #[arg(long, default_value = "5s")]
    pub notify_timeout: String,

    /// Where workloads may send credentials and connect; passed on to every workload.
    #[command(flatten)]
    pub egress: crate::egress::EgressArgs,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

impl OperatorArgs {
    /// The operator's settings; fails only on an unreadable egress policy.
    pub fn config(&self) -> Result<OperatorConfig, crate::egress::EgressError> {
        let mut cfg = OperatorConfig {
            image_pull_policy: self.workload_pull_policy.clone(),
            metrics_namespace: self.metrics_namespace.clone(),
            rule_labels: self.rule_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            monitor_labels: self.monitor_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
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
    let client = Client::try_default().await.map_err(OperatorError::Client)?;
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
    let namespace = (!args.watch_namespace.is_empty()).then(|| args.watch_namespace.clone());
    let sportsbooks: Api<Sportsbook> = scoped(&client, &namespace);
    // Metadata only: one unreadable object must not keep the operator from starting.
    sportsbooks.list_metadata(&ListParams::default().limit(1)).await.map_err(OperatorError::CrdsMissing)?;

    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| OperatorError::Listen(args.listen, e))?;
    let listen = listener.local_addr()?;
    let mut tasks = tokio::task::JoinSet::new();
    let app = crate::http::router(metrics.clone(), ready.clone(), "starting\n");
    tasks.spawn(crate::http::serve(listener, app, shutdown.clone()).map(Ok));

    let identity = args.pod_name.clone().unwrap_or_else(|| format!("nflbet-operator-{}", std::process::id()));
    let notifier = crate::notify::NotifierSettings {
        pagerduty_url: args.pagerduty_events_url.clone(),
        timeout: crate::crd::sportsbook::parse_duration(&args.notify_timeout)
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
    let elector = args.leader_elect.then(|| {
        leader::LeaderElector::new(
            client.clone(),
            leader::LeaseSettings {
                name: args.lease_name.clone(),
                namespace: args.lease_namespace.clone(),
                identity,
                lease_duration: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
            },
        )
    });
    let concurrency = args.concurrency;
    let stop = shutdown.clone();
    tasks.spawn(async move {
        // A follower is healthy and ready: it serves metrics and waits.
        ready.store(true, Ordering::Relaxed);
        if let Some(elector) = &elector {
            tokio::select! {
                r = elector.acquire() => r?,
                _ = stop.cancelled() => return Ok(()),
            }
        }
        let caps = ctx.capabilities().await;
        let controllers = run_controllers(ctx, namespace, caps, concurrency, stop.clone());
        match &elector {
            Some(elector) => tokio::select! {
                _ = controllers => {
                    elector.release().await;
                    Ok(())
                }
                lost = elector.keep() => {
                    stop.cancel();
                    Err(OperatorError::Leader(lost).into())
                }
            },
            None => {
                controllers.await;
                Ok(())
            }
        }
    });
    Ok(OperatorHandle { metrics, shutdown, listen, tasks })
}

async fn run_controllers(
    ctx: Arc<Context>,
    namespace: Option<String>,
    caps: Capabilities,
    concurrency: u16,
    shutdown: CancellationToken,
) {
    let client = ctx.client.clone();
    // Each controller watches only the children it makes (by component), so no object is cached
    // twice.
    let owned_by = |component: &str| {
        let mut selector = format!("app.kubernetes.io/managed-by={MANAGED_BY}");
        if !component.is_empty() {
            selector.push_str(&format!(",app.kubernetes.io/component={component}"));
        }
        watcher::Config::default().labels(&selector)
    };
    let owned = owned_by("scraper");
    // `DeserializeGuard` keeps one malformed object from stopping the watch of all the others.
    // Every watch comes from `watch`, which lists again when a resume is refused as too old.
    let guarded: Api<DeserializeGuard<Sportsbook>> = scoped(&client, &namespace);
    let (books, writer) = reflector::store();
    let mut c = Controller::for_stream(
        watch::reflected(guarded, watcher::Config::default().any_semantic(), writer),
        books,
    )
    .owns_stream(watch::touched(scoped_meta::<Deployment>(&client, &namespace), owned.clone()))
    .owns_stream(watch::touched(scoped_meta::<Service>(&client, &namespace), owned.clone()));
    if caps.prometheus_rules {
        c = c.owns_stream(watch::touched(scoped_meta::<PrometheusRule>(&client, &namespace), owned.clone()));
    }
    if caps.service_monitors {
        c = c.owns_stream(watch::touched(scoped_meta::<ServiceMonitor>(&client, &namespace), owned.clone()));
    }
    ctx.metrics.register_sportsbooks(c.store(), &ctx.config.metrics_namespace);
    let stop = shutdown.clone();
    let sportsbooks = c
        .with_config(controller_config(concurrency))
        .trigger_backoff(watch::NoTriggerBackoff)
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(sportsbook::reconcile, sportsbook::error_policy, ctx.clone())
        .for_each(log_result);

    let routes: Api<DeserializeGuard<AlertRoute>> = scoped(&client, &namespace);
    let (route_store, writer) = reflector::store();
    let mut r = Controller::for_stream(
        watch::reflected(routes, watcher::Config::default().any_semantic(), writer),
        route_store,
    );
    if caps.alertmanager_configs {
        r = r.owns_stream(watch::touched(
            scoped_meta::<AlertmanagerConfig>(&client, &namespace),
            owned_by(""),
        ));
    }
    let stop = shutdown.clone();
    let alert_routes = r
        .with_config(controller_config(concurrency))
        .trigger_backoff(watch::NoTriggerBackoff)
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(alert_route::reconcile, alert_route::error_policy, ctx.clone())
        .for_each(log_result);

    let models: Api<DeserializeGuard<Model>> = scoped(&client, &namespace);
    let owned = owned_by("model");
    let (model_store, writer) = reflector::store();
    let mut mc = Controller::for_stream(
        watch::reflected(models, watcher::Config::default().any_semantic(), writer),
        model_store.clone(),
    )
    .owns_stream(watch::touched(scoped_meta::<Deployment>(&client, &namespace), owned.clone()))
    .owns_stream(watch::touched(scoped_meta::<Service>(&client, &namespace), owned.clone()));
    if caps.prometheus_rules {
        mc =
            mc.owns_stream(watch::touched(scoped_meta::<PrometheusRule>(&client, &namespace), owned.clone()));
    }
    // A Sportsbook appearing or changing labels can change which books a Model prices.
    // Metadata only: names and labels are all that matter, and an unreadable Sportsbook spec
    // must not disturb the Model controller.
    let book_meta = watch::touched(
        scoped_meta::<Sportsbook>(&client, &namespace),
        watcher::Config::default().any_semantic(),
    );
    mc = mc.watches_stream(book_meta, move |sb: kube::core::PartialObjectMeta<Sportsbook>| {
        let ns = sb.namespace();
        model_store
            .state()
            .into_iter()
            .filter(move |m| m.0.as_ref().is_ok_and(|m| m.namespace() == ns))
            .map(|m| kube::runtime::reflector::ObjectRef::from_obj(&*m))
            .collect::<Vec<_>>()
    });
    let stop = shutdown.clone();
    let models = mc
        .with_config(controller_config(concurrency))
        .trigger_backoff(watch::NoTriggerBackoff)
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(model::reconcile, model::error_policy, ctx.clone())
        .for_each(log_result);

    tokio::join!(sportsbooks, alert_routes, models);
}

/// Reconcile settings shared by the controllers. A short trailing debounce folds the burst of
/// events that follows a reconcile (each child it creates, then each Deployment status update)
/// into one reconcile instead of one per event; it adds that much to every reaction.
fn controller_config(concurrency: u16) -> controller::Config {
    controller::Config::default().concurrency(concurrency).debounce(Duration::from_millis(DEBOUNCE_MS))
}

/// Milliseconds of trailing debounce; see [`controller_config`].
const DEBOUNCE_MS: u64 = 100;

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
}
