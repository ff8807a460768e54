//! Counting the operator's requests to the Kubernetes API server.
//!
//! Every request the operator's [`Client`] makes passes a tower layer that counts it, when its
//! response headers arrive (or it fails), in
//! `nflbet_kube_client_requests_total{verb,resource,code}` (client-go's counterpart is
//! `rest_client_requests_total`). The labels are bounded: no namespace, no name, no host.
//! - `verb`: `get`, `list`, `watch`, `create`, `update`, `patch`, `apply` (a server-side apply
//!   patch), `delete`, `deletecollection`; `other` for any other method;
//! - `resource`: the plural from the URL path with namespace and name stripped, followed by the
//!   subresource (`sportsbooks/status`); `discovery` for the API group listings, `other` for
//!   anything else (`/version`);
//! - `code`: the status class (`2xx`, `4xx`, ...), `error` when no response came (connection
//!   refused, timeout).
//!
//! The layer wraps kube's whole stack, so a request kube retries inside its stack counts once.
//! The counter is process-wide (like client-go's): [`super::metrics::Metrics`] exports it.

use axum::http::{Method, Request, Response, header};
use futures::FutureExt;
use futures::future::BoxFuture;
use kube::client::ClientBuilder;
use kube::{Client, Config};
use prometheus::{IntCounterVec, Opts};
use std::sync::LazyLock;
use std::task::{Context, Poll};

/// The process's request counter.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "nflbet_kube_client_requests_total",
            "Requests the operator made to the Kubernetes API server, by verb, resource and status class",
        ),
        &["verb", "resource", "code"],
    )
    .expect("valid metric")
});

/// A client from the inferred configuration (in-cluster or `KUBECONFIG`), as
/// [`Client::try_default`] builds it, with every request counted.
pub async fn counted_client() -> Result<Client, kube::Error> {
    let config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    counted_client_from(config)
}

/// A client for `config` (same TLS, auth and timeouts as [`Client::try_from`]) with every request
/// counted, and at most [`MAX_IN_FLIGHT`] waiting for their response headers at once.
pub fn counted_client_from(config: Config) -> Result<Client, kube::Error> {
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&CountRequests)
        .with_layer(&tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
        .build())
}

/// Requests of the operator's client waiting for their response headers at once; more wait their
/// turn. Each one in flight holds an HTTP/1.1 connection of its own, kept in the pool afterwards
/// with about 28 KB of TLS and read buffers: a burst of reconciles (16 at a time, each applying
/// its children at once, up to 96 requests) had opened 127 connections. At 32, the burst of 1,000
/// books took 1.3–1.5 times as long as a plain client writing the same children 32 at a time (the
/// operator also writes each book's status), against 1.22 unlimited; 64 keeps two places for every
/// reconcile's children. A watch counts only until its headers: its stream of events does not
/// hold a place.
pub const MAX_IN_FLIGHT: usize = 64;

/// The tower layer that counts requests in [`REQUESTS`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CountRequests;

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner }
    }
}

/// A service whose requests are counted.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let apply = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/apply-patch"));
        let target = Target::of(req.method(), req.uri().path(), req.uri().query(), apply);
        self.inner
            .call(req)
            .map(move |result| {
                let code = match &result {
                    Ok(response) => code_class(response.status().as_u16()),
                    Err(_) => "error",
                };
                REQUESTS.with_label_values(&[target.verb, &target.resource, code]).inc();
                result
            })
            .boxed()
    }
}

fn code_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}

/// What a request does to what, as the counter labels it.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub verb: &'static str,
    pub resource: String,
}

impl Target {
    /// The labels of a request: its method, URL path and query, and whether its body is a
    /// server-side apply patch.
    pub fn of(method: &Method, path: &str, query: Option<&str>, apply_patch: bool) -> Target {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // After the group version: `/api/v1/...` or `/apis/<group>/<version>/...`.
        let rest = match segments.as_slice() {
            ["api", _version, rest @ ..] => rest,
            ["apis", _group, _version, rest @ ..] => rest,
            _ => &[][..],
        };
        let (resource, named) = match rest {
            [] if matches!(segments.first(), Some(&"api" | &"apis")) => ("discovery".to_string(), true),
            [] => ("other".to_string(), true),
            // A namespace's own subresources: `/api/v1/namespaces/<name>/status`.
            ["namespaces", _name, sub @ ("status" | "finalize")] => (format!("namespaces/{sub}"), true),
            ["namespaces", _, resource, tail @ ..] | [resource, tail @ ..] => match tail {
                [] => (resource.to_string(), false),
                [_name] => (resource.to_string(), true),
                [_name, sub, ..] => (format!("{resource}/{sub}"), true),
            },
        };
        let watch = query
            .is_some_and(|q| q.split('&').any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True")));
        let verb = match *method {
            Method::GET if watch => "watch",
            Method::GET if named => "get",
            Method::GET => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH if apply_patch => "apply",
            Method::PATCH => "patch",
            Method::DELETE if named => "delete",
            Method::DELETE => "deletecollection",
            _ => "other",
        };
        Target { verb, resource }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: Method, uri: &str, apply: bool) -> (&'static str, String) {
        let (path, query) = uri.split_once('?').map_or((uri, None), |(p, q)| (p, Some(q)));
        let t = Target::of(&method, path, query, apply);
        (t.verb, t.resource)
    }

    #[test]
    fn namespaces_and_names_are_stripped_from_the_resource() {
        let cases = [
            (Method::GET, "/api/v1/namespaces/betting/pods/p-1", false, "get", "pods"),
            (Method::GET, "/api/v1/namespaces/betting/pods", false, "list", "pods"),
            (Method::GET, "/api/v1/pods?limit=500", false, "list", "pods"),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/betting/deployments?watch=true&resourceVersion=12&timeoutSeconds=290",
                false,
                "watch",
                "deployments",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/betting/deployments/nflbet-scraper-fanduel?fieldManager=nflbet-operator&force=true",
                true,
                "apply",
                "deployments",
            ),
            (
                Method::PATCH,
                "/apis/betting.nflbet.dev/v1alpha1/namespaces/betting/sportsbooks/fanduel/status",
                false,
                "patch",
                "sportsbooks/status",
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ops/leases/nflbet",
                false,
                "update",
                "leases",
            ),
            (Method::POST, "/api/v1/namespaces/betting/events", false, "create", "events"),
            (Method::POST, "/apis/events.k8s.io/v1/namespaces/betting/events", false, "create", "events"),
            (Method::DELETE, "/api/v1/namespaces/betting/services/s", false, "delete", "services"),
            (Method::DELETE, "/api/v1/namespaces/betting/services", false, "deletecollection", "services"),
            // Namespaces themselves are cluster-scoped.
            (Method::GET, "/api/v1/namespaces/betting", false, "get", "namespaces"),
            (Method::GET, "/api/v1/namespaces", false, "list", "namespaces"),
            (Method::PUT, "/api/v1/namespaces/betting/finalize", false, "update", "namespaces/finalize"),
            // Cluster-scoped resources.
            (
                Method::GET,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y",
                false,
                "get",
                "customresourcedefinitions",
            ),
            (Method::GET, "/api/v1/nodes/kwok-node-0/proxy/metrics", false, "get", "nodes/proxy"),
            // Discovery and everything else.
            (Method::GET, "/apis", false, "get", "discovery"),
            (Method::GET, "/apis/monitoring.coreos.com/v1", false, "get", "discovery"),
            (Method::GET, "/api/v1", false, "get", "discovery"),
            (Method::GET, "/version", false, "get", "other"),
            (Method::OPTIONS, "/api/v1/pods", false, "other", "pods"),
        ];
        for (method, uri, apply, verb, resource) in cases {
            assert_eq!(target(method, uri, apply), (verb, resource.to_string()), "{uri}");
        }
    }

    #[test]
    fn a_watch_is_told_from_a_list_by_its_query_only() {
        assert_eq!(target(Method::GET, "/api/v1/pods?watch=1", false).0, "watch");
        assert_eq!(target(Method::GET, "/api/v1/pods?allowWatchBookmarks=true&watch=true", false).0, "watch");
        assert_eq!(target(Method::GET, "/api/v1/pods?watch=false", false).0, "list");
        assert_eq!(
            target(Method::GET, "/api/v1/pods?resourceVersion=1&labelSelector=watch%3Dtrue", false).0,
            "list"
        );
    }

    #[tokio::test]
    async fn the_layer_counts_each_response_by_its_status_class_and_each_failure() {
        use tower::{Layer, Service};
        // A stand-in for the API server: 404 for `missing`, an error for `down`, 200 otherwise.
        let server = tower::service_fn(|req: Request<()>| async move {
            let path = req.uri().path().to_string();
            if path.ends_with("/down") {
                return Err("connection refused");
            }
            let status = if path.ends_with("/missing") { 404 } else { 200 };
            Ok(Response::builder().status(status).body(()).unwrap())
        });
        let mut svc = CountRequests.layer(server);
        let count =
            |verb: &str, code: &str| REQUESTS.with_label_values(&[verb, "configmaps-layer-test", code]).get();
        let before = (count("get", "2xx"), count("get", "4xx"), count("get", "error"), count("apply", "2xx"));
        let call = |uri: &str, apply: bool| {
            let mut req = Request::builder().uri(uri);
            if apply {
                req = req.method(Method::PATCH).header(header::CONTENT_TYPE, "application/apply-patch+yaml");
            }
            req.body(()).unwrap()
        };
        let base = "/api/v1/namespaces/t/configmaps-layer-test";
        assert!(svc.call(call(&format!("{base}/a"), false)).await.is_ok());
        assert!(svc.call(call(&format!("{base}/b"), false)).await.is_ok());
        assert_eq!(svc.call(call(&format!("{base}/missing"), false)).await.unwrap().status(), 404);
        assert!(svc.call(call(&format!("{base}/down"), false)).await.is_err());
        assert!(svc.call(call(&format!("{base}/a"), true)).await.is_ok());
        let after = (count("get", "2xx"), count("get", "4xx"), count("get", "error"), count("apply", "2xx"));
        assert_eq!(
            (after.0 - before.0, after.1 - before.1, after.2 - before.2, after.3 - before.3),
            (2, 1, 1, 1)
        );
    }

    /// A loopback server that holds every request until `release` fires, counting how many it
    /// holds at once: the client sends no more than [`MAX_IN_FLIGHT`] however many are asked for.
    #[tokio::test]
    async fn no_more_than_the_limit_wait_for_headers_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let held = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let (h, m, r) = (held.clone(), most.clone(), release.clone());
        let app = axum::Router::new().fallback(move || {
            let (h, m, r) = (h.clone(), m.clone(), r.clone());
            async move {
                m.fetch_max(h.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                r.notified().await;
                h.fetch_sub(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = counted_client_from(Config::new(url.parse().unwrap())).unwrap();
        let asked = MAX_IN_FLIGHT + 8;
        let requests = (0..asked).map(|i| {
            let client = client.clone();
            async move {
                let req =
                    Request::get(format!("/api/v1/namespaces/n/configmaps/c{i}")).body(Vec::new()).unwrap();
                client.request_text(req).await
            }
        });
        let all = tokio::spawn(futures::future::join_all(requests));
        // Wait (bounded) until the server holds as many as it will get.
        for _ in 0..200 {
            if held.load(Ordering::SeqCst) >= MAX_IN_FLIGHT {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(held.load(Ordering::SeqCst), MAX_IN_FLIGHT, "the rest wait in the client");
        // Let them all through: the ones waiting are sent as places free up.
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !all.is_finished() {
                release.notify_waiters();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(done.is_ok(), "every request was answered");
        let results = all.await.unwrap();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), asked);
        assert_eq!(most.load(Ordering::SeqCst), MAX_IN_FLIGHT);
    }
}
