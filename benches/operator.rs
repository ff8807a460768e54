//! Operator benchmark on the local control plane (`make bench` starts it).
//!
//! For N Sportsbooks applied at once (N = 100 and 1,000 by default, `NFLBET_BENCH_BOOKS=100,1000`):
//! - time until every book's children exist, and until every book is Ready (kwok runs the pods);
//! - the operator process's peak RSS (VmHWM), run as a separate `nflbet operator` process;
//! - latency from a `disabled: true` patch to the Deployment showing 0 replicas, median and p99
//!   over 100 patches;
//! - the time the API server needs for the same child writes made directly by a simple client
//!   (server-side apply of the same built objects, same concurrency), and the ratio.
//!
//! Figures are printed, never asserted.

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::sportsbook::build;
use nflbet::crd::Sportsbook;
use nflbet::monitoring::Capabilities;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;

async fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = std::env::var("NFLBET_TEST_KUBECONFIG")
        .unwrap_or_else(|_| format!("{}/target/testenv/kubeconfig", env!("CARGO_MANIFEST_DIR")));
    let kc = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("{path}: {e}; run `make bench`"));
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
    config.read_timeout = Some(Duration::from_secs(120));
    Client::try_from(config).unwrap()
}

fn book(name: &str) -> Sportsbook {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": name},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap()
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
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

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_operator(ns: &str, log: &Path) -> Operator {
    let kubeconfig = std::env::var("NFLBET_TEST_KUBECONFIG")
        .unwrap_or_else(|_| format!("{}/target/testenv/kubeconfig", env!("CARGO_MANIFEST_DIR")));
    let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args([
            "operator",
            "--listen",
            "127.0.0.1:0",
            "--concurrency",
            "16",
            "--workload-image",
            "example.invalid/nflbet:bench",
            // The books' feed URL is on loopback: allowed explicitly (egress policy).
            "--allow-addresses",
            "127.0.0.0/8",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("WATCH_NAMESPACE", ns)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("start nflbet operator");
    Operator(child)
}

async fn wait_until<F, Fut>(timeout: Duration, every: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
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

fn ready(sb: &Sportsbook) -> bool {
    sb.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == "Ready" && c.status == "True" && c.observed_generation == sb.metadata.generation
        })
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(client: &Client, n: usize) {
    let stamp = std::process::id();
    let ns = format!("bench-op-{n}-{stamp}");
    namespace(client, &ns).await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let log = std::env::temp_dir().join(format!("nflbet-bench-operator-{n}.log"));
    let op = start_operator(&ns, &log);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(CONCURRENCY, |i| {
            let books = books.clone();
            async move {
                books.create(&PostParams::default(), &book(&format!("book-{i:04}"))).await.unwrap();
            }
        })
        .await;
    let created = start.elapsed();
    let children = wait_until(Duration::from_secs(1800), Duration::from_millis(250), || async {
        deployments.list_metadata(&ListParams::default()).await.map(|l| l.items.len() >= n).unwrap_or(false)
    })
    .await
    .map(|_| start.elapsed());
    let all_ready = wait_until(Duration::from_secs(1800), Duration::from_millis(250), || async {
        books
            .list(&ListParams::default())
            .await
            .map(|l| l.items.iter().filter(|b| ready(b)).count() >= n)
            .unwrap_or(false)
    })
    .await
    .map(|_| start.elapsed());
    let rss_mib = vm_hwm_kib(op.0.id()) as f64 / 1024.0;

    // Disable latency over 100 books, one patch at a time.
    let mut latencies = Vec::new();
    for i in 0..n.min(100) {
        let name = format!("book-{i:04}");
        let t = Instant::now();
        books
            .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"disabled": true}})))
            .await
            .unwrap();
        let dep = format!("nflbet-scraper-{name}");
        // Poll finely: the latency is a few hundred milliseconds at most.
        let got = wait_until(Duration::from_secs(60), Duration::from_millis(10), || async {
            deployments.get(&dep).await.map(|d| d.spec.and_then(|s| s.replicas) == Some(0)).unwrap_or(false)
        })
        .await;
        if got.is_some() {
            latencies.push(t.elapsed());
        }
    }
    latencies.sort();
    drop(op);

    // Baseline: the same children written directly (server-side apply, same concurrency).
    let direct_ns = format!("bench-direct-{n}-{stamp}");
    namespace(client, &direct_ns).await;
    let direct_books: Api<Sportsbook> = Api::namespaced(client.clone(), &direct_ns);
    let mut made = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let futs = chunk.iter().map(|i| {
            let api = direct_books.clone();
            let sb = book(&format!("book-{i:04}"));
            async move { api.create(&PostParams::default(), &sb).await }
        });
        for r in futures::future::join_all(futs).await {
            made.push(r.unwrap());
        }
    }
    let caps = Capabilities::discover(client).await.expect("discover the monitoring CRDs");
    // The same settings as the operator under test: the books' loopback feed URL allowed.
    let egress = nflbet::egress::EgressArgs {
        feed_credential_hosts: vec![],
        s3_credential_hosts: vec![],
        allow_addresses: vec!["127.0.0.0/8".into()],
        deny_addresses: vec![],
    };
    let cfg =
        OperatorConfig { egress: egress.policy(vec![]).expect("valid policy"), ..OperatorConfig::default() };
    let t = Instant::now();
    stream::iter(made.iter())
        .for_each_concurrent(CONCURRENCY, |sb| {
            let client = client.clone();
            let c = build::build(sb, &cfg, caps).unwrap();
            async move {
                let pp = PatchParams::apply("bench-direct").force();
                let ns = sb.metadata.namespace.clone().unwrap();
                macro_rules! put {
                    ($ty:ty, $obj:expr) => {{
                        let api: Api<$ty> = Api::namespaced(client.clone(), &ns);
                        let o = $obj;
                        api.patch(o.metadata.name.as_deref().unwrap(), &pp, &Patch::Apply(o)).await.unwrap();
                    }};
                }
                if let Some(sa) = &c.service_account {
                    put!(k8s_openapi::api::core::v1::ServiceAccount, sa);
                }
                put!(k8s_openapi::api::rbac::v1::Role, &c.role);
                put!(k8s_openapi::api::rbac::v1::RoleBinding, &c.role_binding);
                put!(k8s_openapi::api::core::v1::Service, &c.service);
                put!(Deployment, &c.deployment);
                if let Some(sm) = &c.service_monitor {
                    put!(nflbet::monitoring::ServiceMonitor, sm);
                }
                if let Some(r) = &c.prometheus_rule {
                    put!(nflbet::monitoring::PrometheusRule, r);
                }
            }
        })
        .await;
    let direct = t.elapsed();

    println!("N = {n}");
    println!("  create {n} Sportsbooks:                 {:>8.2} s", created.as_secs_f64());
    match children {
        Some(c) => println!("  all children exist (operator):        {:>8.2} s", c.as_secs_f64()),
        None => println!("  all children exist (operator):        timed out"),
    }
    match all_ready {
        Some(r) => println!("  all Ready (incl. kwok pods):           {:>8.2} s", r.as_secs_f64()),
        None => println!("  all Ready:                             timed out"),
    }
    println!("  same child writes, direct client:     {:>8.2} s", direct.as_secs_f64());
    if let Some(c) = children {
        println!("  ratio operator / direct (children):   {:>8.2}", c.as_secs_f64() / direct.as_secs_f64());
    }
    println!("  operator peak RSS (VmHWM):            {rss_mib:>8.1} MiB");
    if !latencies.is_empty() {
        println!(
            "  disable → 0 replicas, {} patches:     median {:.0} ms, p99 {:.0} ms",
            latencies.len(),
            pct(&latencies, 0.5).as_secs_f64() * 1000.0,
            pct(&latencies, 0.99).as_secs_f64() * 1000.0
        );
    }
    delete_namespace(client, &ns).await;
    delete_namespace(client, &direct_ns).await;
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery
    }
    let client = client().await;
    let sizes: Vec<usize> = std::env::var("NFLBET_BENCH_BOOKS")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("NFLBET_BENCH_BOOKS: comma-separated numbers"))
        .collect();
    for n in sizes {
        run(&client, n).await;
    }
}
