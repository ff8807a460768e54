//! `nflbet telemetry`: one metrics endpoint with the operations guide's metric families, for
//! setups that scrape a single target. It watches Sportsbooks, Models and AlertRoutes with kube
//! reflectors and computes every family at scrape time from the cached statuses, so a deleted
//! resource's series disappears with it.
//!
//! Endpoints: `/metrics`, `/healthz` (the process serves), `/readyz` (every cache has synced).

pub mod families;

use super::status::{ClusterArgs, Scope, connect};
use crate::crd::{AlertRoute, Model, Sportsbook};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Args;
use futures::StreamExt;
use kube::Client;
use kube::api::ListParams;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  nflbet telemetry --bind 0.0.0.0 --port 9100 -A\n\n\
Exit status: 0 after SIGINT/SIGTERM, 2 when the cluster or the address cannot be used.")]
pub struct TelemetryArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    pub bind: String,

    /// Port to listen on.
    #[arg(long, default_value_t = 9100)]
    pub port: u16,

    /// Prefix of the metric names (dashboards of the old toolkit expect `nflreadpy`).
    #[arg(long, env = "NFLBET_METRICS_NAMESPACE", default_value = "nflreadpy", value_name = "PREFIX")]
    pub metrics_namespace: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The server cannot start. Exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Connect(#[from] super::status::ConnectError),
    #[error(
        "the nflbet CRDs are not installed on {0} (install them with `nflbet crds | kubectl apply -f -` or the Helm chart)"
    )]
    CrdsMissing(String),
    #[error("cannot list {kind}s: {source}")]
    List { kind: &'static str, source: kube::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("invalid metrics prefix {0:?}: {1}")]
    Prefix(String, prometheus::Error),
}

type Guarded<K> = Store<DeserializeGuard<K>>;

/// Computes the families from the reflectors' caches on every scrape.
struct StatusCollector {
    prefix: String,
    books: Guarded<Sportsbook>,
    models: Guarded<Model>,
    routes: Guarded<AlertRoute>,
    descs: Vec<Desc>,
}

fn valid<K>(store: &Guarded<K>) -> Vec<K>
where
    K: kube::Resource + Clone,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store.state().iter().filter_map(|g| g.0.as_ref().ok().cloned()).collect()
}

impl Collector for StatusCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        families::gather(&self.prefix, &valid(&self.books), &valid(&self.models), &valid(&self.routes))
    }
}

/// Start a reflector for one kind; its store fills in the background.
fn reflect<K>(client: &Client, scope: &Scope) -> Guarded<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    <K as kube::Resource>::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let api = scope.api::<DeserializeGuard<K>>(client);
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default().any_semantic()))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::warn!(error = %e, "watch error; retrying with backoff");
            }
        }
    });
    reader
}

/// Fail fast, with a clear message, when the CRDs are missing (a watch would just retry).
async fn check_listable<K>(
    client: &Client,
    scope: &Scope,
    server: &str,
    kind: &'static str,
) -> Result<(), TelemetryError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    match scope.api::<DeserializeGuard<K>>(client).list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(TelemetryError::CrdsMissing(server.into())),
        Err(source) => Err(TelemetryError::List { kind, source }),
    }
}

#[derive(Clone)]
struct AppState {
    registry: prometheus::Registry,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&s.registry.gather(), &mut out) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding failed: {e}\n"),
        ),
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if (s.ready)() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "waiting for the first list of resources\n")
    }
}

async fn serve(args: TelemetryArgs) -> Result<(), TelemetryError> {
    let cluster = connect(&args.cluster).await?;
    let (client, scope) = (&cluster.client, &cluster.scope);
    check_listable::<Sportsbook>(client, scope, &cluster.server, "Sportsbook").await?;
    check_listable::<Model>(client, scope, &cluster.server, "Model").await?;
    check_listable::<AlertRoute>(client, scope, &cluster.server, "AlertRoute").await?;

    let books = reflect::<Sportsbook>(client, scope);
    let models = reflect::<Model>(client, scope);
    let routes = reflect::<AlertRoute>(client, scope);
    let descs = families::descriptions(&args.metrics_namespace)
        .into_iter()
        .map(|(name, help, labels)| {
            Desc::new(name, help.into(), labels.into_iter().map(String::from).collect(), Default::default())
                .map_err(|e| TelemetryError::Prefix(args.metrics_namespace.clone(), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registry = prometheus::Registry::new();
    let collector = StatusCollector {
        prefix: args.metrics_namespace.clone(),
        books: books.clone(),
        models: models.clone(),
        routes: routes.clone(),
        descs,
    };
    registry
        .register(Box::new(collector))
        .map_err(|e| TelemetryError::Prefix(args.metrics_namespace.clone(), e))?;
    let synced = Arc::new(AtomicBool::new(false));
    {
        let (b, m, r, synced) = (books.clone(), models.clone(), routes.clone(), synced.clone());
        tokio::spawn(async move {
            if b.wait_until_ready().await.is_ok()
                && m.wait_until_ready().await.is_ok()
                && r.wait_until_ready().await.is_ok()
            {
                synced.store(true, Ordering::Relaxed);
            }
        });
    }
    let ready = Arc::new(move || synced.load(Ordering::Relaxed));

    let addr = format!("{}:{}", args.bind, args.port);
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
        .await
        .map_err(|source| TelemetryError::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    let scope_text = match scope {
        Scope::Namespace(ns) => format!("namespace {ns}"),
        Scope::All => "all namespaces".into(),
    };
    tracing::info!(addr = %local, scope = %scope_text, server = %cluster.server, "serving nflbet telemetry on /metrics");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending::<()>().await,
            };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    };
    if let Err(e) =
        axum::serve(listener, router(AppState { registry, ready })).with_graceful_shutdown(shutdown).await
    {
        tracing::error!(error = %e, "telemetry server stopped");
    }
    Ok(())
}

pub async fn run(args: TelemetryArgs) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
