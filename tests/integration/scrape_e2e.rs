//! End to end with the operator (issue 4): take the scraper's command, args and environment from
//! the Deployment the operator generated, run that `nflbet scrape` here against a feed on
//! 127.0.0.1 with a token of the scraper's own ServiceAccount, and see a snapshot written and the
//! Sportsbook's status — and `kubectl get sportsbooks` — show the heartbeat.

use crate::support;

use axum::Router;
use axum::routing::get;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A generic-format feed with fresh timestamps: one game, three markets.
async fn feed() -> String {
    let app = Router::new().route(
        "/feed",
        get(|| async {
            let now = k8s_openapi::jiff::Timestamp::now();
            let kickoff = now + k8s_openapi::jiff::SignedDuration::from_hours(30);
            axum::Json(json!({
                "version": 1,
                "book": "desk",
                "generatedAt": now.to_string(),
                "events": [{
                    "id": "desk-kc-buf",
                    "home": "Kansas City Chiefs",
                    "away": "BUF",
                    "kickoff": kickoff.to_string(),
                    "quotes": [
                        {"market": "moneyline", "selection": "KC", "american": -130},
                        {"market": "moneyline", "selection": "BUF", "american": 110},
                        {"market": "spread", "selection": "KC", "line": -2.5, "american": -110},
                        {"market": "spread", "selection": "BUF", "line": 2.5, "american": -110},
                        {"market": "total", "selection": "over", "line": 47.5, "american": -108},
                        {"market": "total", "selection": "under", "line": 47.5, "american": -112},
                        {"market": "moneyline", "selection": "KC", "american": 0}
                    ]
                }]
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/feed")
}

fn kubectl() -> Command {
    let mut c = Command::new(support::testenv_bin("kubectl"));
    c.arg("--kubeconfig").arg(support::kubeconfig_path());
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().expect("run");
    assert!(out.status.success(), "{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A kubeconfig that authenticates as the scraper's ServiceAccount.
fn scraper_kubeconfig(dir: &Path, ns: &str, sa: &str) -> std::path::PathBuf {
    let mut t = kubectl();
    t.args(["create", "token", sa, "-n", ns, "--duration", "10m"]);
    let token = run_ok(t);
    let mut v = kubectl();
    v.args([
        "config",
        "view",
        "--minify",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server} {.clusters[0].cluster.certificate-authority-data}",
    ]);
    let view = run_ok(v);
    let (server, ca) = view.split_once(' ').unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {server:?}, certificate-authority-data: {ca:?}}}\n\
             users:\n- name: u\n  user: {{token: {:?}}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: {ns}}}\ncurrent-context: c\n",
            token.trim()
        ),
    )
    .unwrap();
    path
}

// Multi-threaded: the feed server keeps serving while this thread waits for the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraper_from_the_generated_deployment_writes_snapshots_and_heartbeat() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "scrape-e2e").await;
    let _op = support::start_operator(&client, &ns).await;
    let url = feed().await;

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "desk"},
        "spec": {
            "provider": "genericJson", "endpoint": url,
            "markets": [{"name": "moneyline"}, {"name": "spread"}, {"name": "total"}],
            "polling": {"interval": "10s", "timeout": "2s"}
        }
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
    support::wait_condition(&books, "desk", "Ready", "True", None).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = deployments.get("nflbet-scraper-desk").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let sa = pod.service_account_name.clone().unwrap();
    let mut args = container.args.clone().unwrap();

    // What differs from a pod: the volume path and the listening port.
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("snapshots").display());
    for (flag, value) in [("--store", store.as_str()), ("--listen", "127.0.0.1:0")] {
        let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} rendered"));
        args[i + 1] = value.to_string();
    }
    args.push("--once".into());
    let kubeconfig = scraper_kubeconfig(dir.path(), &ns, &sa);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nflbet"));
    cmd.args(&args).env_clear().env("KUBECONFIG", &kubeconfig).env("PATH", std::env::var("PATH").unwrap());
    for e in container.env.clone().unwrap_or_default() {
        if let Some(v) = e.value {
            cmd.env(e.name, v);
        }
    }
    let out = cmd.output().expect("run nflbet scrape");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scrape --once failed:\n{stdout}\n{stderr}");
    assert!(
        !stderr.contains("heartbeat disabled") && !stderr.contains("forbidden"),
        "heartbeat must work with the scraper's own token:\n{stderr}"
    );

    // A snapshot object exists under the book's prefix.
    let snapshots: Vec<_> = walk(&dir.path().join("snapshots"));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}\n{stdout}");
    assert!(
        snapshots[0].to_string_lossy().contains("/desk/")
            && snapshots[0].to_string_lossy().ends_with(".json.gz")
    );

    // The heartbeat reached the Sportsbook's status, next to the operator's conditions.
    let sb = support::wait_for("heartbeat in status", Duration::from_secs(20), || async {
        let sb = books.get("desk").await.map_err(|e| e.to_string())?;
        match sb
            .status
            .as_ref()
            .and_then(|s| s.ingestion.as_ref())
            .and_then(|i| i.last_snapshot_time.as_ref())
        {
            Some(_) => Ok(sb),
            None => Err("no ingestion status yet".into()),
        }
    })
    .await;
    let status = sb.status.unwrap();
    let ingestion = status.ingestion.unwrap();
    assert_eq!(ingestion.quotes, Some(6));
    assert_eq!(ingestion.rejected_quotes, Some(1), "the price of 0 is rejected");
    assert_eq!(ingestion.consecutive_failures.unwrap_or(0), 0);
    assert!(status.conditions.iter().any(|c| c.type_ == "Ready"), "operator's conditions kept");

    let table = run_ok({
        let mut c = kubectl();
        c.args(["get", "sportsbooks", "-n", &ns]);
        c
    });
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("LAST SNAPSHOT") && header.contains("PROVIDER") && header.contains("MARKETS"),
        "{table}"
    );
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains("genericJson") && row.contains("moneyline"), "{table}");
    assert!(
        row.split_whitespace().any(|w| w.ends_with('s') && w[..w.len() - 1].parse::<u32>().is_ok()),
        "an age in seconds: {table}"
    );

    // The scraper's token may patch its own book's status and nothing else.
    let can = |resource: &str| {
        let mut c = kubectl();
        c.args([
            "auth",
            "can-i",
            "patch",
            resource,
            "--subresource=status",
            "-n",
            &ns,
            "--as",
            &format!("system:serviceaccount:{ns}:{sa}"),
        ]);
        String::from_utf8(c.output().unwrap().stdout).unwrap().trim().to_string()
    };
    assert_eq!(can("sportsbooks/desk"), "yes");
    assert_eq!(can("sportsbooks/other"), "no");
    assert_eq!(can("models/desk"), "no");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}
