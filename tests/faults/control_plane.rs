//! The operator keeps working through control-plane restarts (issue 11, "watches that recover"):
//! after kube-apiserver or etcd is killed with SIGKILL and started again with the same flags, a
//! disable patch made once the API server is ready scales the scraper to zero within seconds,
//! with no restart of the operator.
//!
//! Before the fix this took minutes: kube-runtime's watcher retried resuming its watches from a
//! resourceVersion the restarted API server answered with 410, instead of listing again
//! (`src/controller/watch.rs`).
//!
//! While the API server is away the operator's `/readyz` answers 503 (its watches are not
//! synced), and 200 again once every watch has listed anew.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support;

/// `/readyz` of the operator sampled every 50 ms: (when, ready).
fn sample_readiness(listen: std::net::SocketAddr) -> Arc<Mutex<Vec<(Instant, bool)>>> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let s = samples.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
        loop {
            let ok =
                http.get(format!("http://{listen}/readyz")).send().await.is_ok_and(|r| r.status() == 200);
            s.lock().unwrap().push((Instant::now(), ok));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    samples
}

/// `testenv.sh restart NAME` on the control plane the tests run against.
fn restart(name: &str) {
    let run_dir = support::kubeconfig_path().parent().unwrap().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/testenv/testenv.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["restart", name])
        .env("TESTENV_DIR", &run_dir)
        .output()
        .expect("testenv.sh runs");
    assert!(out.status.success(), "restart {name}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn replicas(deployments: &Api<Deployment>, name: &str) -> Result<i32, String> {
    let d = deployments.get(name).await.map_err(|e| e.to_string())?;
    Ok(d.spec.and_then(|s| s.replicas).unwrap_or(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_works_within_seconds_after_api_server_and_etcd_restarts() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let _serial = crate::serial().await;
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "cp-restart").await;
    let op = support::start_operator(&client, &ns).await;
    let readiness = sample_readiness(op.listen);
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": "fanduel"},
        "spec": {
            "provider": "theOddsApi",
            "theOddsApi": {"bookmaker": "fanduel", "regions": ["us"]},
            "credentials": {"name": "odds-api", "key": "apiKey"},
            "markets": [{"name": "moneyline"}],
            "polling": {"interval": "30s"}
        }
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.expect("create Sportsbook");
    support::wait_condition(&books, "fanduel", "Ready", "True", None).await;
    let http = reqwest::Client::new();
    let ready_now = || async {
        let r = http.get(format!("http://{}/readyz", op.listen)).send().await.map_err(|e| e.to_string())?;
        if r.status() == 200 { Ok(()) } else { Err(r.text().await.unwrap_or_default()) }
    };
    support::wait_for("the operator ready", Duration::from_secs(30), ready_now).await;

    let mut took = Vec::new();
    let mut ready_again = Vec::new();
    let mut disabled = false;
    for (i, part) in
        ["kube-apiserver", "etcd", "kube-apiserver", "kube-apiserver", "etcd"].into_iter().enumerate()
    {
        // Writes between the restarts move the revision on, so the operator's watches resume from
        // versions the restarted watch cache no longer has.
        let killed = Instant::now();
        restart(part);
        let back = Instant::now();
        support::wait_for(
            &format!("restart {i} ({part}): the operator ready again"),
            Duration::from_secs(15),
            ready_now,
        )
        .await;
        ready_again.push((part, back.elapsed()));
        if part == "kube-apiserver" {
            let samples = readiness.lock().unwrap().clone();
            assert!(
                samples.iter().any(|(t, ok)| *t >= killed && !ok),
                "restart {i}: /readyz never answered 503 while the API server was away"
            );
        }
        disabled = !disabled;
        let want = if disabled { 0 } else { 1 };
        // The API server is ready (restart waits for /readyz); the patch may still meet a
        // connection the client pooled before the restart, as a person's kubectl would not.
        let patch = Patch::Merge(json!({"spec": {"disabled": disabled}}));
        support::wait_for("the patch accepted", Duration::from_secs(20), || async {
            books
                .patch("fanduel", &PatchParams::default(), &patch)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        let started = Instant::now();
        support::wait_for(
            &format!("restart {i} ({part}): scraper at {want} replicas"),
            Duration::from_secs(15),
            || async {
                let r = replicas(&deployments, "nflbet-scraper-fanduel").await?;
                if r == want { Ok(()) } else { Err(format!("{r} replicas")) }
            },
        )
        .await;
        took.push((part, started.elapsed()));
    }
    eprintln!("API server ready → operator /readyz 200 after each restart: {ready_again:?}");
    eprintln!("patch → replicas after each restart: {took:?}");
    support::delete_namespace(&client, &ns).await;
}
