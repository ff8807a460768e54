//! Operator benchmark on the local control plane (`make bench` starts it).
//!
//! For each kind (Sportsbook, Model, AlertRoute) and each N, N objects applied at once to a fresh
//! namespace watched by one `nflbet operator` process:
//! - time until every object's children exist, and until every object is Ready for its current
//!   generation (kwok runs the pods);
//! - API requests per object until every object is Ready, from the operator's own counter
//!   (`nflbet_kube_client_requests_total` on its `/metrics`, read before the first create and at
//!   convergence), in total and by verb and resource;
//! - the operator process's peak RSS (VmHWM) over its whole run, the disables included;
//! - the time the API server needs for the same child writes made directly by a plain client
//!   (server-side apply of the same built objects, same concurrency), and the ratio;
//! - Sportsbooks only: latency from a `disabled: true` patch to the Deployment showing 0
//!   replicas (seen by a watch on it), median and p99 over 100 patches, and how soon a watch on
//!   the book sees the patch (what the operator's own watch waits for); and the same disable by
//!   a plain client (the patch, the scaled Deployment applied, one GET), the floor on this
//!   machine, with the API server's own mean time for each of those requests (its
//!   `apiserver_request_duration_seconds`).
//!
//! Sizes: `NFLBET_BENCH_BOOKS`, `NFLBET_BENCH_MODELS`, `NFLBET_BENCH_ROUTES` (comma-separated,
//! default `100,1000`; `0` or empty skips the kind). Figures are printed, never asserted.

use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::NamespaceResourceScope;
use kube::{Client, Config, Resource, ResourceExt};
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::workload_objects::WorkloadChildren;
use nflbet::controller::{alert_route, model, sportsbook};
use nflbet::crd::{AlertRoute, Model, Sportsbook};
use nflbet::monitoring::{AlertmanagerConfig, Capabilities};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;
/// Request counts by (verb, resource, code).
type Requests = BTreeMap<(String, String, String), u64>;
const REQUESTS: &str = "nflbet_kube_client_requests_total";
/// The book every benchmarked Model prices (it exists, so the Models can become Ready).
const MODEL_BOOK: &str = "fanduel";
/// Where that book writes and the Models read (the same store, or a Model is not Ready).
const MODEL_STORE: &str = "s3://snapshots/nfl";

fn kubeconfig() -> String {
    std::env::var("NFLBET_TEST_KUBECONFIG")
        .unwrap_or_else(|_| format!("{}/target/testenv/kubeconfig", env!("CARGO_MANIFEST_DIR")))
}

async fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = kubeconfig();
    let kc = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("{path}: {e}; run `make bench`"));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
    nodelay_client(config)
}

/// A client like kube's own (TLS, auth, base URI), whose connections send at once
/// (`TCP_NODELAY`), as kubectl's do: Go sets it on every TCP connection, kube's client does not.
/// Without it, the patch of a disable waited a median 33 ms more before any watch saw it
/// (docs/benchmarks.md, runs 19-20): the request left in two segments, the second held back until
/// the API server acknowledged the first, which it delays (Nagle's algorithm against delayed
/// acknowledgement).
fn nodelay_client(config: Config) -> Client {
    use kube::client::ConfigExt;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http).unwrap();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, kube::client::Body>(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().unwrap())
        .layer(config.extra_headers_layer().unwrap())
        .map_err(tower::BoxError::from)
        // Until the response headers (a watch's stream goes on after them), as kube's client
        // bounds its reads.
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(120)))
        .service(hyper);
    Client::new(service, config.default_namespace)
}

fn book(name: &str) -> Sportsbook {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": name},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap()
}

/// The operator's settings for the plain-client baseline: those of the process under test (the
/// books' loopback feed URL allowed).
fn operator_config() -> OperatorConfig {
    let egress = nflbet::egress::EgressArgs {
        feed_credential_hosts: vec![],
        s3_credential_hosts: vec![],
        allow_addresses: vec!["127.0.0.0/8".into()],
        deny_addresses: vec![],
    };
    OperatorConfig { egress: egress.policy(vec![]).expect("valid policy"), ..OperatorConfig::default() }
}

/// One benchmarked kind: its objects, the child that shows an object was handled, and the same
/// child writes made by a plain client.
trait Kind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const NAME: &'static str;
    const SIZES: &'static str;
    /// The child whose existence shows the object was handled.
    type Child: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static;

    fn object(i: usize) -> Self;
    fn child_name(object: &str) -> String;
    /// Write the children the operator builds for `object`, server-side apply.
    fn write_children(
        client: &Client,
        object: &Self,
        cfg: &OperatorConfig,
        caps: Capabilities,
    ) -> impl Future<Output = ()> + Send;
}

/// Server-side apply of one object with the baseline's field manager.
async fn put<K>(client: &Client, object: &K)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), object.meta().namespace.as_deref().unwrap());
    let pp = PatchParams::apply("bench-direct").force();
    api.patch(object.meta().name.as_deref().unwrap(), &pp, &Patch::Apply(object)).await.unwrap();
}

/// Server-side apply of a workload resource's children, one at a time, referents first.
async fn put_workload(client: &Client, shared: &WorkloadChildren, deployments: &[&Deployment]) {
    if let Some(sa) = &shared.service_account {
        put(client, sa).await;
    }
    put(client, &shared.role).await;
    put(client, &shared.role_binding).await;
    put(client, &shared.service).await;
    for d in deployments {
        put(client, *d).await;
    }
    if let Some(m) = &shared.service_monitor {
        put(client, m).await;
    }
    if let Some(r) = &shared.prometheus_rule {
        put(client, r).await;
    }
}

impl Kind for Sportsbook {
    const NAME: &'static str = "Sportsbook";
    const SIZES: &'static str = "NFLBET_BENCH_BOOKS";
    type Child = Deployment;

    fn object(i: usize) -> Self {
        book(&format!("book-{i:05}"))
    }

    fn child_name(object: &str) -> String {
        sportsbook::build::child_name(object)
    }

    async fn write_children(client: &Client, sb: &Self, cfg: &OperatorConfig, caps: Capabilities) {
        let c = sportsbook::build::build(sb, cfg, caps).unwrap();
        put_workload(client, &c.shared, &[&c.deployment]).await;
    }
}

impl Kind for Model {
    const NAME: &'static str = "Model";
    const SIZES: &'static str = "NFLBET_BENCH_MODELS";
    type Child = Deployment;

    fn object(i: usize) -> Self {
        serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": format!("model-{i:05}")},
            "spec": {
                "algorithm": "elo",
                "version": "1.0.0",
                "sportsbooks": {"names": [MODEL_BOOK]},
                "staking": {"bankroll": 10000.0, "kellyFraction": 0.25, "exposureCaps": {"team": 0.1}},
                "calibration": {"baselineBrier": 0.22, "baselineLogLoss": 0.63, "tolerance": 0.01, "minSamples": 50},
                "storage": {"url": MODEL_STORE}
            }
        }))
        .unwrap()
    }

    fn child_name(object: &str) -> String {
        model::build::child_name(object)
    }

    async fn write_children(client: &Client, m: &Self, cfg: &OperatorConfig, caps: Capabilities) {
        let decision =
            model::rollout::decide(&m.spec, &Default::default(), k8s_openapi::jiff::Timestamp::now());
        let c = model::build::build(m, &[MODEL_BOOK.to_string()], &decision, cfg, caps).unwrap();
        let deployments: Vec<&Deployment> = std::iter::once(&c.stable).chain(c.candidate.as_ref()).collect();
        put_workload(client, &c.shared, &deployments).await;
    }
}

impl Kind for AlertRoute {
    const NAME: &'static str = "AlertRoute";
    const SIZES: &'static str = "NFLBET_BENCH_ROUTES";
    type Child = AlertmanagerConfig;

    fn object(i: usize) -> Self {
        serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute",
            "metadata": {"name": format!("route-{i:05}")},
            "spec": {
                "minSeverity": "warning",
                "sportsbooks": ["fanduel", "draftkings"],
                "models": ["elo"],
                "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}},
                "repeatInterval": "2h"
            }
        }))
        .unwrap()
    }

    fn child_name(object: &str) -> String {
        alert_route::build::config_name(object)
    }

    async fn write_children(client: &Client, ar: &Self, _cfg: &OperatorConfig, _caps: Capabilities) {
        put(client, &alert_route::build::build(ar)).await;
    }
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Deletes the namespaces and waits (at most 30 minutes) until they are gone, so that the next
/// run starts on a control plane that is not still deleting this one's objects: after 10,000
/// books and their children, the Model benchmark's first book was not Ready in 120 s.
async fn delete_namespaces(client: &Client, names: &[&str]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let _ = api.delete(name, &DeleteParams::default()).await;
    }
    let gone = wait_until(Duration::from_secs(1800), Duration::from_secs(2), || async {
        for name in names {
            if !matches!(api.get_opt(name).await, Ok(None)) {
                return false;
            }
        }
        true
    })
    .await;
    match gone {
        Some(took) => eprintln!("  namespaces {names:?} deleted in {:.0} s", took.as_secs_f64()),
        None => eprintln!("  namespaces {names:?} still terminating after 30 minutes"),
    }
}

/// The requests of one disable by the plain client: the user's patch, the scaled Deployment's
/// apply, the GET that sees it.
const FLOOR_REQUESTS: &[(&str, &str)] =
    &[("PATCH", "sportsbooks"), ("APPLY", "deployments"), ("GET", "deployments")];

/// The API server's own `apiserver_request_duration_seconds` so far, by verb and resource (no
/// subresource): the sum of seconds and the count.
async fn server_times(client: &Client) -> BTreeMap<(String, String), (f64, u64)> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap_or_default();
    let mut times: BTreeMap<(String, String), (f64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (is_sum, labels) = if let Some(l) = series.strip_prefix("apiserver_request_duration_seconds_sum{")
        {
            (true, l)
        } else if let Some(l) = series.strip_prefix("apiserver_request_duration_seconds_count{") {
            (false, l)
        } else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")).map(|v| v.trim_end_matches(['"', '}'])))
        };
        let (Some(verb), Some(resource)) = (label("verb"), label("resource")) else { continue };
        if label("subresource").is_some_and(|s| !s.is_empty()) {
            continue;
        }
        let Ok(v) = value.parse::<f64>() else { continue };
        let entry = times.entry((verb.to_string(), resource.to_string())).or_default();
        if is_sum {
            entry.0 += v;
        } else {
            entry.1 += v as u64;
        }
    }
    times
}

/// Mean server time per request between two readings of [`server_times`], for `wanted`.
fn server_means(
    before: &BTreeMap<(String, String), (f64, u64)>,
    after: &BTreeMap<(String, String), (f64, u64)>,
    wanted: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str, Duration)> {
    wanted
        .iter()
        .filter_map(|&(verb, resource)| {
            let key = (verb.to_string(), resource.to_string());
            let (s0, c0) = before.get(&key).copied().unwrap_or_default();
            let (s1, c1) = after.get(&key).copied()?;
            (c1 > c0).then(|| (verb, resource, Duration::from_secs_f64((s1 - s0) / (c1 - c0) as f64)))
        })
        .collect()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

/// `nflbet operator` as a process of its own (its RSS is its own), killed on drop.
struct Operator {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    async fn start(ns: &str, log: &Path) -> Operator {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
            .args(["operator", "--listen", &format!("127.0.0.1:{port}"), "--concurrency", "16"])
            .args(["--workload-image", "example.invalid/nflbet:bench"])
            .args(["--pagerduty-events-url", "http://127.0.0.1:9/v2/enqueue"])
            // The books' feed URL is on loopback: allowed explicitly (egress policy).
            .args(["--allow-addresses", "127.0.0.0/8"])
            .env("KUBECONFIG", kubeconfig())
            .env("WATCH_NAMESPACE", ns)
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start nflbet operator");
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
        let op = Operator { child, base: format!("http://127.0.0.1:{port}"), http };
        let ready = wait_until(Duration::from_secs(120), Duration::from_millis(100), || async {
            let r = op.http.get(format!("{}/readyz", op.base)).send().await;
            r.is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready.is_some(), "the operator did not become ready in 120 s; see {}", log.display());
        op
    }

    /// The operator's request counter by (verb, resource, code).
    async fn requests(&self) -> Requests {
        let text =
            self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        let mut out = BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with(REQUESTS)) {
            let (labels, value) = line.rsplit_once(' ').unwrap();
            let label = |name: &str| {
                let start = labels.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                labels[start..].split('"').next().unwrap().to_string()
            };
            out.insert((label("verb"), label("resource"), label("code")), value.parse::<u64>().unwrap());
        }
        out
    }
}

async fn wait_until<F, Fut>(timeout: Duration, every: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(every).await;
    }
    None
}

/// Ready=True for the object's current generation.
fn ready<K: Serialize + Resource>(object: &K) -> bool {
    let status = serde_json::to_value(object).unwrap().get("status").cloned().unwrap_or(Value::Null);
    let generation = object.meta().generation;
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == "Ready" && c["status"] == "True" && c["observedGeneration"].as_i64() == generation
        })
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn create_all<K: Kind>(api: &Api<K>, n: usize) -> Vec<K> {
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &K::object(i)).await.unwrap() }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// One row of a kind's table.
#[derive(Default)]
struct Row {
    n: usize,
    children: Option<Duration>,
    ready: Option<Duration>,
    direct: Duration,
    requests: Requests,
    rss_mib: f64,
    disable: Option<(Duration, Duration, usize)>,
    disable_floor: Option<(Duration, Duration, usize)>,
    /// From the start of each disable's patch until a watch on the book sees it.
    patch_seen: Option<(Duration, Duration, usize)>,
    /// The API server's own mean time for each request of the disables: the operator's, the
    /// plain client's.
    disable_server: Vec<(&'static str, &'static str, Duration)>,
    floor_server: Vec<(&'static str, &'static str, Duration)>,
}

/// The user's disable: `kubectl patch sportsbook NAME --type merge -p '{"spec":{"disabled":true}}'`.
async fn disable(books: &Api<Sportsbook>, name: &str) -> Sportsbook {
    books
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
        .await
        .unwrap()
}

/// Median, p99 and count of `latencies`; `None` when there are none.
fn median_p99(mut latencies: Vec<Duration>) -> Option<(Duration, Duration, usize)> {
    latencies.sort();
    (!latencies.is_empty()).then(|| (pct(&latencies, 0.5), pct(&latencies, 0.99), latencies.len()))
}

/// Median and p99 of `disable` over the first (at most) 100 books, one at a time: each call
/// disables the named book and returns how long the Deployment took to show 0 replicas (`None`:
/// it never did).
async fn timed_disables(
    n: usize,
    disable: impl AsyncFn(String) -> Option<Duration>,
) -> Option<(Duration, Duration, usize)> {
    let mut latencies = Vec::new();
    for i in 0..n.min(100) {
        latencies.extend(disable(Sportsbook::object(i).name_any()).await);
    }
    median_p99(latencies)
}

/// Sportsbooks: a `disabled: true` patch until the Deployment shows 0 replicas, seen the way
/// `kubectl get deployment -w` sees it: by a watch opened before the patch, so the figure is
/// the operator's latency and not a polling interval's.
async fn disable_latency(
    client: &Client,
    ns: &str,
    n: usize,
    patch_seen: &std::sync::Mutex<Vec<Duration>>,
) -> Option<(Duration, Duration, usize)> {
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    timed_disables(n, async |name| {
        let scaled = watch_one(&deployments, &sportsbook::build::child_name(&name)).await?;
        // The book watched too: when a watch sees the patch is when the operator's own watch
        // can, the first part of its latency.
        let book = watch_one(&books, &name).await?;
        let t = Instant::now();
        let (_, book_seen, scaled) = tokio::join!(
            disable(&books, &name),
            first_modified(book, t, |b: &Sportsbook| b.spec.disabled),
            first_modified(scaled, t, |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas) == Some(0)),
        );
        patch_seen.lock().unwrap().extend(book_seen);
        scaled
    })
    .await
}

/// Events of the object `name`, from now on. From the list's resource version (now), not the
/// object's: an object unchanged for minutes can be older than the API server's watch window
/// (410 Gone at 10,000 books).
async fn watch_one<K>(api: &Api<K>, name: &str) -> Option<BoxStream<'static, kube::Result<WatchEvent<K>>>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    let selector = format!("metadata.name={name}");
    let list = api.list_metadata(&ListParams::default().fields(&selector)).await.ok()?;
    let version = list.metadata.resource_version?;
    let params = WatchParams::default().fields(&selector).timeout(60);
    Some(api.watch(&params, &version).await.ok()?.boxed())
}

/// Time from `t` until `events` shows the object modified so that `done` holds (`None`: the
/// watch ended first).
async fn first_modified<K>(
    mut events: BoxStream<'static, kube::Result<WatchEvent<K>>>,
    t: Instant,
    done: impl Fn(&K) -> bool,
) -> Option<Duration> {
    while let Some(event) = events.next().await {
        if let Ok(WatchEvent::Modified(o)) = event
            && done(&o)
        {
            return Some(t.elapsed());
        }
    }
    None
}

/// The same disable made by a plain client: the merge patch, the scaled Deployment applied
/// (what the operator's one apply round sends for it), one GET that sees it. The floor under
/// the operator's disable latency on this machine.
async fn disable_floor(
    client: &Client,
    ns: &str,
    n: usize,
    cfg: &OperatorConfig,
    caps: Capabilities,
) -> Option<(Duration, Duration, usize)> {
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    timed_disables(n, async |name| {
        let t = Instant::now();
        let patched = disable(&books, &name).await;
        let c = sportsbook::build::build(&patched, cfg, caps).unwrap();
        put(client, &c.deployment).await;
        let seen = deployments.get(&sportsbook::build::child_name(&name)).await.unwrap();
        (seen.spec.and_then(|s| s.replicas) == Some(0)).then(|| t.elapsed())
    })
    .await
}

/// One row, and the two namespaces it used (deleted by the caller once the row is printed).
async fn run<K: Kind>(client: &Client, n: usize) -> (Row, [String; 2]) {
    let stamp = std::process::id();
    let kind = K::NAME.to_lowercase();
    let ns = format!("bench-{kind}-{n}-{stamp}");
    namespace(client, &ns).await;
    let objects: Api<K> = Api::namespaced(client.clone(), &ns);
    let children: Api<K::Child> = Api::namespaced(client.clone(), &ns);
    let log = std::env::temp_dir().join(format!("nflbet-bench-{kind}-{n}.log"));
    let op = Operator::start(&ns, &log).await;
    // Large N: poll less often, wait longer (10,000 books take tens of minutes on two cores).
    let every = Duration::from_millis(250.max(n as u64 / 4));
    let timeout = Duration::from_secs(1800.max(n as u64 / 2));

    if K::NAME == "Model" {
        // The book the Models price, Ready before the clock starts (its requests are not counted).
        let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
        let mut sb = book(MODEL_BOOK);
        sb.spec.storage = Some(serde_json::from_value(json!({"url": MODEL_STORE})).unwrap());
        books.create(&PostParams::default(), &sb).await.unwrap();
        let got = wait_until(Duration::from_secs(120), Duration::from_millis(250), || async {
            books.get(MODEL_BOOK).await.is_ok_and(|b| ready(&b))
        })
        .await;
        assert!(got.is_some(), "book {MODEL_BOOK} not Ready in 120 s; see {}", log.display());
    }

    let before = op.requests().await;
    let start = Instant::now();
    let made = create_all(&objects, n).await;
    let wanted: BTreeSet<String> = made.iter().map(|o| K::child_name(&o.name_any())).collect();
    let children_done = wait_until(timeout, every, || async {
        children
            .list_metadata(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.iter().filter(|c| wanted.contains(&c.name_any())).count() >= n)
    })
    .await
    .map(|_| start.elapsed());
    let all_ready = wait_until(timeout, every, || async {
        objects
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.iter().filter(|o| ready(*o)).count() >= n)
    })
    .await
    .map(|_| start.elapsed());
    if all_ready.is_none() {
        let stuck = objects.list(&ListParams::default()).await.unwrap().items.into_iter().find(|o| !ready(o));
        let status = stuck.map(|o| serde_json::to_value(&o).unwrap()["status"].clone());
        println!("{} N = {n}: not all Ready in {timeout:?}; one that is not: {status:?}", K::NAME);
    }
    let after = op.requests().await;
    let requests = after
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    let server_before = server_times(client).await;
    let patch_seen = std::sync::Mutex::new(Vec::new());
    let disable =
        if K::NAME == "Sportsbook" { disable_latency(client, &ns, n, &patch_seen).await } else { None };
    let patch_seen = median_p99(patch_seen.into_inner().unwrap());
    let disable_server = if disable.is_some() {
        server_means(&server_before, &server_times(client).await, &FLOOR_REQUESTS[..2])
    } else {
        Vec::new()
    };
    // The peak over the operator's whole run, its disables included.
    let rss_mib = vm_hwm_kib(op.child.id()) as f64 / 1024.0;
    drop(op);

    // Baseline: the same children written directly (server-side apply, same concurrency).
    let direct_ns = format!("bench-direct-{kind}-{n}-{stamp}");
    namespace(client, &direct_ns).await;
    let made = create_all(&Api::<K>::namespaced(client.clone(), &direct_ns), n).await;
    let caps = Capabilities::discover(client).await.expect("discover the monitoring CRDs");
    let cfg = operator_config();
    let t = Instant::now();
    stream::iter(made.iter())
        .for_each_concurrent(CONCURRENCY, |o| K::write_children(client, o, &cfg, caps))
        .await;
    let direct = t.elapsed();
    let server_before = server_times(client).await;
    let disable_floor =
        if K::NAME == "Sportsbook" { disable_floor(client, &direct_ns, n, &cfg, caps).await } else { None };
    let floor_server = if disable_floor.is_some() {
        server_means(&server_before, &server_times(client).await, FLOOR_REQUESTS)
    } else {
        Vec::new()
    };

    let row = Row {
        n,
        children: children_done,
        ready: all_ready,
        direct,
        requests,
        rss_mib,
        disable,
        disable_floor,
        patch_seen,
        disable_server,
        floor_server,
    };
    (row, [ns, direct_ns])
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("timed out".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn print_table(kind: &str, rows: &[Row]) {
    println!("\n{kind}s (one operator process, --concurrency 16; {CONCURRENCY} concurrent creates)");
    println!(
        "| N | children exist | all Ready | plain client | ratio | API requests / object | peak RSS | disable → 0 replicas |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio =
            r.children.map_or("-".into(), |c| format!("{:.2}", c.as_secs_f64() / r.direct.as_secs_f64()));
        let total: u64 = r.requests.values().sum();
        let ms = |(median, p99, count): (Duration, Duration, usize)| {
            format!(
                "median {:.0} ms, p99 {:.0} ms ({count})",
                median.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            )
        };
        let disable = match (r.disable, r.disable_floor) {
            (Some(d), Some(f)) => format!("{}; plain client {}", ms(d), ms(f)),
            (Some(d), None) => ms(d),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {:.2} s | {ratio} | {:.2} | {:.1} MiB | {disable} |",
            r.n,
            secs(r.children),
            secs(r.ready),
            r.direct.as_secs_f64(),
            total as f64 / r.n as f64,
            r.rss_mib
        );
    }
    for r in rows {
        let mut by: Vec<_> = r.requests.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1));
        let parts: Vec<String> = by
            .iter()
            .filter(|(_, v)| **v as f64 / r.n as f64 >= 0.05)
            .map(|((verb, resource, code), v)| {
                let code = if code == "2xx" { String::new() } else { format!(" ({code})") };
                format!("{verb} {resource}{code} {:.2}", **v as f64 / r.n as f64)
            })
            .collect();
        println!("  N = {}: requests / object by verb and resource: {}", r.n, parts.join(", "));
        let ms = |times: &[(&str, &str, Duration)]| {
            let parts: Vec<String> = times
                .iter()
                .map(|(verb, resource, d)| format!("{verb} {resource} {:.1} ms", d.as_secs_f64() * 1e3))
                .collect();
            parts.join(", ")
        };
        if let Some((median, p99, count)) = r.patch_seen {
            println!(
                "  N = {}: the disable's patch seen by a watch on the book: median {:.0} ms, p99 {:.0} ms ({count})",
                r.n,
                median.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
        if !r.disable_server.is_empty() {
            println!(
                "  N = {}: the API server's own time per request (mean), the operator's disables: {}; the plain client's: {}",
                r.n,
                ms(&r.disable_server),
                ms(&r.floor_server)
            );
        }
    }
}

fn sizes(var: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{var}: comma-separated numbers, got {s:?}")))
        .filter(|n| *n > 0)
        .collect()
}

async fn bench<K: Kind>(client: &Client) {
    let mut rows = Vec::new();
    for n in sizes(K::SIZES) {
        let (row, [ns, direct_ns]) = run::<K>(client, n).await;
        // Each row as soon as it is measured (a long run shows progress; deleting 10,000 books
        // takes longer than measuring them), the table at the end.
        print_table(K::NAME, std::slice::from_ref(&row));
        rows.push(row);
        delete_namespaces(client, &[&ns, &direct_ns]).await;
    }
    if rows.len() > 1 {
        print_table(K::NAME, &rows);
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let client = client().await;
    bench::<Sportsbook>(&client).await;
    bench::<Model>(&client).await;
    bench::<AlertRoute>(&client).await;
}
