//! The small HTTP server every nflbet process runs: `/metrics`, `/healthz` and `/readyz`.
//!
//! `/healthz` answers 200 while the process serves HTTP. A workload's `/readyz` answers 200 once
//! it has done its first unit of work (a poll, a pricing run), whatever its outcome: readiness
//! gates the Service Prometheus scrapes, and a workload whose feed is down must still be scraped
//! so its errors are seen. Health of the work itself is the job of the metrics and alerts, not of
//! the probe. The operator's `/readyz` follows its watches (see [`Readiness`]).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Anything that renders the Prometheus text exposition format.
pub trait Exposition: Send + Sync + 'static {
    fn render(&self) -> String;

    /// The same text in pieces, sent as they are made; one piece unless the exposition is large
    /// (the operator's per-resource gauges).
    fn chunks(&self) -> Box<dyn Iterator<Item = String> + Send> {
        Box::new(std::iter::once(self.render()))
    }
}

/// What `/readyz` asks: `None` when ready, otherwise why not (the 503 body; empty for the
/// router's default text).
pub trait Readiness: Send + Sync + 'static {
    fn not_ready(&self) -> Option<String>;
}

/// A flag set once the first unit of work is done.
impl Readiness for AtomicBool {
    fn not_ready(&self) -> Option<String> {
        (!self.load(Ordering::Relaxed)).then(String::new)
    }
}

struct AppState {
    metrics: Arc<dyn Exposition>,
    ready: Arc<dyn Readiness>,
    waiting: &'static str,
}

/// The router; `waiting` is the `/readyz` body while the process is not ready and says no more.
pub fn router(metrics: Arc<dyn Exposition>, ready: Arc<dyn Readiness>, waiting: &'static str) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(Arc::new(AppState { metrics, ready, waiting }))
}

async fn metrics_handler(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let chunks = futures::stream::iter(s.metrics.chunks().map(Ok::<_, std::convert::Infallible>));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        axum::body::Body::from_stream(chunks),
    )
}

async fn ready_handler(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    match s.ready.not_ready() {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(why) if why.is_empty() => (StatusCode::SERVICE_UNAVAILABLE, s.waiting.to_string()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Serve until cancelled.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, cancel: CancellationToken) {
    let shutdown = async move { cancel.cancelled().await };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}
