//! The operator killed with SIGKILL in the middle of a bulk apply (a GitOps sync of 300 books,
//! say), then started again: the new process converges every book, with exactly one child of
//! each kind per book and nothing left half-made. The operator runs as its own process, the
//! binary users run (`nflbet operator`), so the kill is a real one.

use crate::support;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use kube::{Resource, ResourceExt};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOOKS: usize = 300;

/// `nflbet operator` for `ns`, as a child process (killed on drop).
struct OperatorProcess(Child);

impl OperatorProcess {
    fn start(ns: &str, log: &std::path::Path) -> OperatorProcess {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
            .args(["operator", "--watch-namespace", ns, "--listen", "127.0.0.1:0"])
            .args(["--workload-image", "example.invalid/nflbet:test", "--concurrency", "8"])
            .args(["--pagerduty-events-url", "http://127.0.0.1:9/v2/enqueue"])
            // The books' feed URL is on loopback: allowed explicitly, as in tests/support.
            .args(["--allow-addresses", "127.0.0.0/8"])
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run nflbet operator");
        OperatorProcess(child)
    }

    /// SIGKILL: no graceful shutdown, no lease release, requests cut mid-flight.
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL the operator");
        self.0.wait().unwrap();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn book(i: usize) -> Sportsbook {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": format!("book-{i:03}")},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap()
}

/// Books whose Ready condition is True for their current generation.
async fn ready_books(books: &Api<Sportsbook>) -> Result<usize, String> {
    let list = books.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
    Ok(list
        .items
        .iter()
        .filter(|b| {
            let status = b.status.as_ref();
            status.is_some_and(|s| {
                s.observed_generation == b.metadata.generation
                    && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
        .count())
}

/// Children of kind `K` in `ns` made by the operator, by name, with their owners' uids.
async fn children<K>(api: &Api<K>) -> BTreeMap<String, Vec<String>>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=nflbet-operator");
    let list = api.list(&lp).await.unwrap();
    list.items
        .iter()
        .map(|o| (o.name_any(), o.owner_references().iter().map(|r| r.uid.clone()).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_operator_converges_a_bulk_apply_after_restart() {
    let _serial = crate::serial().await;
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "op-killed").await;
    let logs = tempfile::tempdir().unwrap();
    let mut first = OperatorProcess::start(&ns, &logs.path().join("first.log"));

    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    let apply = {
        let books = books.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..BOOKS)
                .for_each_concurrent(16, |i| {
                    let books = books.clone();
                    async move {
                        books.create(&PostParams::default(), &book(i)).await.expect("create Sportsbook");
                    }
                })
                .await
        })
    };
    // Kill it once it has made some scrapers, but far from all: in the middle of the work.
    support::wait_for("the first operator made 30 scrapers", Duration::from_secs(120), || async {
        let n =
            deployments.list_metadata(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len();
        if n >= 30 { Ok(()) } else { Err(format!("{n} Deployments")) }
    })
    .await;
    first.kill();
    let made_before_kill = deployments.list_metadata(&ListParams::default()).await.unwrap().items.len();
    assert!(
        made_before_kill < BOOKS,
        "killed after the work was done ({made_before_kill}); not a mid-apply kill"
    );
    apply.await.unwrap();

    let restarted = Instant::now();
    let _second = OperatorProcess::start(&ns, &logs.path().join("second.log"));
    support::wait_for(&format!("all {BOOKS} books Ready"), Duration::from_secs(300), || async {
        let n = ready_books(&books).await?;
        if n == BOOKS { Ok(()) } else { Err(format!("{n} Ready")) }
    })
    .await;
    let converged = restarted.elapsed();

    // Exactly one child of each kind per book, owned by that book alone.
    let uids: BTreeMap<String, String> = books
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| (b.name_any(), b.uid().unwrap()))
        .collect();
    let expected: BTreeSet<String> = uids.keys().map(|b| format!("nflbet-scraper-{b}")).collect();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for (kind, found) in
        [("Deployment", children(&deployments).await), ("Service", children(&services).await)]
    {
        assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), expected, "{kind}s: one per book");
        for (name, owners) in &found {
            let book = name.trim_start_matches("nflbet-scraper-");
            assert_eq!(owners, &vec![uids[book].clone()], "{kind} {name} owned by its book only");
        }
    }
    eprintln!(
        "operator killed after {made_before_kill} of {BOOKS} scrapers ({:?} into the apply); \
         the new process converged all {BOOKS} in {converged:?}",
        restarted - started
    );
    support::delete_namespace(&client, &ns).await;
}
