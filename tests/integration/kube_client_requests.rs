//! The operator counts its own requests to the API server (`nflbet_kube_client_requests_total`
//! on its `/metrics`), with bounded labels. The operator runs as the binary users run, so the
//! counted client is the one `nflbet operator` builds.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use nflbet::crd::Sportsbook;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FAMILY: &str = "nflbet_kube_client_requests_total";

struct OperatorProcess(Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The counter's samples by (verb, resource, code).
fn requests(exposition: &str) -> BTreeMap<(String, String, String), u64> {
    let mut out = BTreeMap::new();
    for line in exposition.lines().filter(|l| l.starts_with(&format!("{FAMILY}{{"))) {
        let (labels, value) = line[FAMILY.len() + 1..].split_once("} ").expect("sample line");
        let labels: BTreeMap<&str, &str> = labels
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("label");
                (k, v.trim_matches('"'))
            })
            .collect();
        assert_eq!(labels.len(), 3, "exactly verb, resource and code: {line}");
        let key = (labels["verb"].to_string(), labels["resource"].to_string(), labels["code"].to_string());
        out.insert(key, value.parse().expect("integer count"));
    }
    out
}

async fn scrape(url: &str) -> Result<BTreeMap<(String, String, String), u64>, String> {
    let resp = reqwest::get(url).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("/metrics answered {}", resp.status()));
    }
    Ok(requests(&resp.text().await.map_err(|e| e.to_string())?))
}

fn count(samples: &BTreeMap<(String, String, String), u64>, verb: &str, resource: &str) -> u64 {
    samples.get(&(verb.into(), resource.into(), "2xx".into())).copied().unwrap_or(0)
}

async fn create_book(books: &Api<Sportsbook>, name: &str) {
    let sb: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": name},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &sb).await.expect("create Sportsbook");
}

async fn wait_deployment(deployments: &Api<Deployment>, name: &str) {
    support::wait_for(&format!("the scraper Deployment of {name}"), Duration::from_secs(60), || async {
        match deployments.get_opt(&format!("nflbet-scraper-{name}")).await {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn the_operator_counts_its_api_requests_by_verb_resource_and_status_class() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "kube-client-requests").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::env::temp_dir().join(format!("nflbet-{ns}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["operator", "--watch-namespace", &ns, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--workload-image", "example.invalid/nflbet:test"])
        .args(["--pagerduty-events-url", "http://127.0.0.1:9/v2/enqueue"])
        .args(["--allow-addresses", "127.0.0.0/8"])
        .env("KUBECONFIG", support::kubeconfig_path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run nflbet operator");
    let _operator = OperatorProcess(child);
    let url = format!("http://127.0.0.1:{port}/metrics");

    // Before any book: the operator has listed and is watching its Sportsbooks.
    let idle = support::wait_for("the Sportsbook watch counted", Duration::from_secs(60), || async {
        let s = scrape(&url).await?;
        if count(&s, "list", "sportsbooks") >= 1 && count(&s, "watch", "sportsbooks") >= 1 {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert_eq!(count(&idle, "apply", "deployments"), 0, "no book, no Deployment written: {idle:?}");

    create_book(&books, "fanduel").await;
    wait_deployment(&deployments, "fanduel").await;
    // The apply's response is counted before the Deployment is visible to us; the status write
    // follows the children.
    let one = support::wait_for("the first book's writes counted", Duration::from_secs(60), || async {
        let s = scrape(&url).await?;
        let status = s.keys().any(|(_, resource, code)| resource == "sportsbooks/status" && code == "2xx");
        if count(&s, "apply", "deployments") >= 1 && status { Ok(s) } else { Err(format!("{s:?}")) }
    })
    .await;

    create_book(&books, "draftkings").await;
    wait_deployment(&deployments, "draftkings").await;
    let two = scrape(&url).await.expect("scrape /metrics");
    assert!(
        count(&two, "apply", "deployments") > count(&one, "apply", "deployments"),
        "a second book's Deployment is another apply: {one:?} then {two:?}"
    );

    // Bounded labels: no namespace, no object name, only known verbs and status classes.
    let verbs =
        ["get", "list", "watch", "create", "update", "patch", "apply", "delete", "deletecollection", "other"];
    for (verb, resource, code) in two.keys() {
        assert!(verbs.contains(&verb.as_str()), "verb {verb}");
        assert!(["1xx", "2xx", "3xx", "4xx", "5xx", "error"].contains(&code.as_str()), "code {code}");
        for leaked in [ns.as_str(), "fanduel", "draftkings", "127.0.0.1"] {
            assert!(!resource.contains(leaked), "resource label {resource} carries {leaked}");
        }
        assert!(
            resource.chars().all(|c| c.is_ascii_lowercase() || c == '/' || c == '.'),
            "resource label {resource} is a plural, not a path"
        );
    }
    support::delete_namespace(&client, &ns).await;
}
