//! The user's story, end to end, on a cluster with a real node (`make test` starts it with
//! `hack/testenv/testenv.sh up --real-node`): kubelet + containerd + runc + CNI + kube-proxy, and
//! the monitoring stack as kube-prometheus-stack sets it up (prometheus-operator, Prometheus and
//! Alertmanager as real pods selecting `release: kube-prometheus-stack`).
//!
//! Nothing here runs in the test process but the test: the operator is installed with `helm
//! install` from the project's own image (`make image`), the odds feed and the Slack-compatible
//! receiver are pods, every object is applied with `kubectl`, and the alert travels
//! Prometheus → Alertmanager → the AlertmanagerConfig of the AlertRoute → the receiver pod.
//! Every wait has a deadline; a failure prints the pods, events and logs of the namespaces
//! involved.
//!
//! This binary is not part of a plain `cargo test` (`test = false` in Cargo.toml): it needs the
//! real-node cluster. Run it with `cargo test --test e2e` against `NFLBET_TEST_KUBECONFIG`.

#[path = "../support/mod.rs"]
mod support;

mod cluster;

use cluster::{Diagnostics, Prometheus, kubectl, kubectl_apply, pod_ip, wait_pods_ready};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use std::time::Duration;
use support::wait_for;

const OPERATOR_NS: &str = "nflbet-system";
const RELEASE: &str = "nflbet";
const BOOKS: [&str; 3] = ["pinnacle", "fanduel", "draftkings"];
const FAILING_BOOK: &str = "draftkings";

/// The image the chart runs by default: `image.repository` of values.yaml and the chart's
/// appVersion. `make image` builds exactly this reference, and `make test` loads it into the node,
/// so the chart is installed with no image settings at all, as a user who built it would.
fn chart_default_image() -> String {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/nflbet-operator");
    let read = |f: &str| -> serde_json::Value {
        serde_saphyr::from_str(&std::fs::read_to_string(chart.join(f)).unwrap()).unwrap()
    };
    let repository = read("values.yaml")["image"]["repository"].as_str().unwrap().to_string();
    let version = read("Chart.yaml")["appVersion"].as_str().unwrap().to_string();
    format!("{repository}:{version}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_story_on_a_real_node() {
    let client = support::client().await;
    // The books' namespace is new on every run: Alertmanager remembers what it notified (for
    // repeatInterval), so a rerun on the same cluster must not reuse the same alert labels.
    let ns = format!("trading-{:05}", rand::random::<u32>() % 100_000);
    let ns = ns.as_str();
    let diag = Diagnostics::new(&[OPERATOR_NS, ns, "monitoring"]);
    // A previous failed run on this cluster leaves its release behind (for inspection).
    let _ = cluster::helm(&["uninstall", RELEASE, "-n", OPERATOR_NS, "--wait"]);
    kubectl(&["delete", "namespace", OPERATOR_NS, "--ignore-not-found", "--wait=true"]);

    // ---- The cluster's one node is a real kubelet, not kwok.
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(node.len(), 1, "one node");
    let node = &node[0];
    assert!(
        node.metadata.annotations.as_ref().is_none_or(|a| !a.contains_key("kwok.x-k8s.io/node")),
        "the node must be a real kubelet, not kwok"
    );
    let image = chart_default_image();

    // ---- helm install, from the chart and the built image, configured for kube-prometheus-stack.
    kubectl(&["create", "namespace", OPERATOR_NS]);
    kubectl(&["create", "namespace", ns]);
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/nflbet-operator");
    // What a kube-prometheus-stack user sets: its release label on every monitoring object, and
    // the operator's own ServiceMonitor on. The image is the chart's default. The books' feed is
    // a pod behind a Service, over plain http, and gets The Odds API key: the administrator allows
    // that explicitly (the default sends feed keys only to api.the-odds-api.com over https).
    let (ok, out) = cluster::helm(&[
        "install",
        RELEASE,
        chart,
        "-n",
        OPERATOR_NS,
        "--wait",
        "--timeout",
        "3m",
        "--set",
        "monitoring.labels.release=kube-prometheus-stack",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "egress.feedCredentialHosts={api.the-odds-api.com,http://*.svc.cluster.local}",
    ]);
    assert!(ok, "helm install failed:\n{out}");
    // The operator runs from the chart's default image, which came from `make image`: nothing can be
    // pulled here, so a Running container with an image ID proves the image is the one built.
    let operator_pods =
        wait_pods_ready(&client, OPERATOR_NS, "app.kubernetes.io/name=nflbet-operator", 1).await;
    let status = &operator_pods[0].status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
    assert_eq!(operator_pods[0].spec.as_ref().unwrap().containers[0].image.as_deref(), Some(image.as_str()));
    assert!(!status.image_id.is_empty(), "{status:?}");

    // ---- The odds feed and the Slack-compatible receiver, as pods.
    kubectl_apply(ns, &cluster::test_servers_yaml());
    let feed = pod_ip(&wait_pods_ready(&client, ns, "app=odds-feed", 1).await[0]);
    let sink = pod_ip(&wait_pods_ready(&client, ns, "app=webhook-sink", 1).await[0]);

    // ---- Secrets, the shared snapshot store, three books, the consensus model, the route.
    let store = cluster::snapshot_volume_dir(ns);
    kubectl_apply(ns, &cluster::store_yaml(ns, &store));
    // The workloads use cluster DNS names, as on a user's cluster; the test itself, outside the
    // cluster, talks to the pods' addresses.
    kubectl_apply(
        ns,
        &cluster::secrets_yaml(&format!("http://webhook-sink.{ns}.svc.cluster.local:8080/services/E2E/TEST")),
    );
    for book in BOOKS {
        kubectl_apply(
            ns,
            &cluster::sportsbook_yaml(book, &format!("http://odds-feed.{ns}.svc.cluster.local:8080")),
        );
    }
    kubectl_apply(ns, &cluster::model_yaml(&BOOKS, "pinnacle"));
    kubectl_apply(ns, &cluster::alert_route_yaml());

    // Scraper pods Running from the built image, one per book, writing snapshots.
    for book in BOOKS {
        let pods = wait_pods_ready(
            &client,
            ns,
            &format!("app.kubernetes.io/name=nflbet-scraper,app.kubernetes.io/instance={book}"),
            1,
        )
        .await;
        let spec = pods[0].spec.as_ref().unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some(image.as_str()), "scraper image");
    }
    // Each scraper writes its snapshots to the shared volume (the PVC is mounted at
    // /var/lib/nflbet; the store URL is file:///var/lib/nflbet/snapshots).
    for book in BOOKS {
        let dir = store.join("snapshots/v1").join(book);
        wait_for(&format!("snapshots of {book} on the shared volume"), Duration::from_secs(60), || async {
            let n = cluster::files_under(&dir);
            if n > 0 { Ok(()) } else { Err(format!("no file under {}", dir.display())) }
        })
        .await;
    }
    // The model prices edges from what the books wrote.
    let model_api = dynamic(&client, ns, "Model");
    let summary =
        wait_for("the consensus model's status.summary with edges", Duration::from_secs(180), || async {
            let m = model_api.get("consensus").await.map_err(|e| e.to_string())?;
            let summary = m.data["status"]["summary"].clone();
            match summary["topEdges"].as_array() {
                Some(edges) if !edges.is_empty() => Ok(summary),
                _ => Err(format!("status: {}", m.data["status"])),
            }
        })
        .await;
    assert!(summary["marketsPriced"].as_i64().unwrap_or(0) > 0, "{summary}");

    // ---- Prometheus scrapes the scrapers, the model and the operator.
    let prom_pod = wait_pods_ready(&client, "monitoring", "app.kubernetes.io/name=prometheus", 1).await;
    let prometheus = Prometheus::new(&pod_ip(&prom_pod[0]));
    for (what, expected) in [("scrapers", BOOKS.len()), ("model", 1), ("operator", 1)] {
        let namespace = if what == "operator" { OPERATOR_NS } else { ns };
        let container_hint = match what {
            "scrapers" => "nflbet-scraper",
            "model" => "nflbet-model",
            _ => "nflbet-operator",
        };
        wait_for(&format!("Prometheus targets for the {what} up"), Duration::from_secs(120), || async {
            let up = prometheus
                .query(&format!("up{{namespace=\"{namespace}\",service=~\".*{container_hint}.*\"}} == 1"))
                .await?;
            if up.len() >= expected {
                Ok(())
            } else {
                Err(format!("{} of {expected} up; targets: {}", up.len(), prometheus.targets_summary().await))
            }
        })
        .await;
    }

    // The operator re-exports each book's last snapshot time for the stale-data rule's fallback;
    // with honorLabels its `namespace` label is the book's, not the operator pod's.
    wait_for("the operator's last-snapshot series keeps the book's namespace", Duration::from_secs(60), || async {
        let q = format!(
            "nflreadpy_sportsbook_last_snapshot_timestamp_seconds{{namespace=\"{ns}\",sportsbook=\"fanduel\",service=~\".*nflbet-operator.*\"}}"
        );
        let series = prometheus.query(&q).await?;
        if series.len() == 1 { Ok(()) } else { Err(format!("{q} gave {series:?}")) }
    })
    .await;
    // Every book the model reads writes where it reads.
    support::wait_condition(&model_api, "consensus", "StorageShared", "True", None).await;

    // ---- The chart's Grafana dashboards: a sidecar ConfigMap each, every query of every panel
    // and variable accepted by this Prometheus (variables as "All"), and data in the panels
    // whose metrics this story produces.
    let dashboards = support::dashboards::load();
    let maps = kubectl(&["get", "configmaps", "-n", OPERATOR_NS, "-l", "grafana_dashboard=1", "-o", "name"]);
    assert_eq!(maps.lines().count(), dashboards.len(), "one sidecar ConfigMap per dashboard: {maps}");
    let queries: Vec<support::dashboards::Query> = dashboards
        .iter()
        .flat_map(|(file, d)| support::dashboards::queries(file, d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for q in &queries {
        if let Err(e) = prometheus.query(&q.expr).await {
            panic!("{} / {} / {}: Prometheus refused {}: {e}", q.dashboard, q.panel, q.ref_id, q.expr);
        }
    }
    for (dashboard, panel) in support::dashboards::PANELS_WITH_DATA_IN_E2E {
        let q = queries
            .iter()
            .find(|q| q.dashboard == dashboard && q.panel == panel)
            .unwrap_or_else(|| panic!("no panel {panel:?} in {dashboard}"));
        wait_for(&format!("data in {dashboard} / {panel}"), Duration::from_secs(180), || async {
            let series = prometheus.query(&q.expr).await?;
            if series.is_empty() { Err(format!("no series from {}", q.expr)) } else { Ok(()) }
        })
        .await;
    }
    // ---- The chart's PrometheusRule on the operator is loaded, and its job selector is the
    // operator's real target (else NflbetOperatorDown would fire for a healthy operator).
    wait_for("the operator's own rule group loaded in Prometheus", Duration::from_secs(120), || async {
        let loaded = prometheus.has_rule_group_of(&format!("{RELEASE}-nflbet-operator")).await?;
        if loaded { Ok(()) } else { Err("not loaded".to_string()) }
    })
    .await;
    let up = prometheus
        .query(&format!("up{{job=\"{RELEASE}-nflbet-operator\",namespace=\"{OPERATOR_NS}\"}} == 1"))
        .await
        .unwrap();
    assert_eq!(up.len(), 1, "the operator rules' job selector matches its target: {up:?}");

    // ---- The feed fails for one book: its ingestion-error alert fires in Prometheus, and
    // Alertmanager routes it through the AlertRoute's AlertmanagerConfig to the receiver pod.
    cluster::http_post(&format!("http://{feed}:8080/control/fail?books={FAILING_BOOK}")).await;
    let alert = "NflbetSportsbookIngestionErrors";
    wait_for(&format!("{alert} firing for {FAILING_BOOK}"), Duration::from_secs(240), || async {
        let alerts = prometheus.alerts().await?;
        let firing = alerts.iter().find(|a| {
            a["labels"]["alertname"] == alert
                && a["labels"]["sportsbook"] == FAILING_BOOK
                && a["state"] == "firing"
        });
        match firing {
            Some(a) => {
                assert_eq!(a["labels"]["namespace"], ns, "{a}");
                Ok(())
            }
            None => Err(format!("alerts: {alerts:?}")),
        }
    })
    .await;
    let message = wait_for("the Slack message for the failing book", Duration::from_secs(180), || async {
        let msgs = cluster::http_get_json(&format!("http://{sink}:8080/messages")).await?;
        msgs.as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                let body = m["body"].to_string();
                body.contains(alert) && body.contains(FAILING_BOOK)
            })
            .cloned()
            .ok_or_else(|| format!("messages: {msgs}"))
    })
    .await;
    assert_eq!(message["path"], "/services/E2E/TEST", "{message}");
    let text = message["body"].to_string();
    assert!(text.contains(ns), "the message names the namespace: {text}");
    for other in BOOKS.iter().filter(|b| **b != FAILING_BOOK) {
        assert!(
            !text.contains(&format!("sportsbook={other}")) && !text.contains(&format!("Sportsbook {other} ")),
            "only {FAILING_BOOK} fails: {text}"
        );
    }

    // ---- Disable the book the way the runbook says: its scraper goes, its rules go, nothing fires.
    cluster::set_disabled(ns, FAILING_BOOK, true);
    let book_pods =
        format!("app.kubernetes.io/name=nflbet-scraper,app.kubernetes.io/instance={FAILING_BOOK}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait_for("the disabled book's scraper pod gone", Duration::from_secs(90), || async {
        let left =
            pods.list(&ListParams::default().labels(&book_pods)).await.map_err(|e| e.to_string())?.items;
        if left.is_empty() { Ok(()) } else { Err(format!("{} pods left", left.len())) }
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = deployments.get(&format!("nflbet-scraper-{FAILING_BOOK}")).await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(0), "disabled: the Deployment stays, scaled to zero");
    support::wait_condition(&dynamic(&client, ns, "Sportsbook"), FAILING_BOOK, "Stopped", "True", None).await;
    wait_for(
        "the disabled book's rules gone from Prometheus and nothing firing for it",
        Duration::from_secs(120),
        || async {
            let has_rules = prometheus.has_rule_group_of(FAILING_BOOK).await?;
            let alerts = prometheus.alerts().await?;
            let firing = alerts.iter().any(|a| a["labels"]["sportsbook"] == FAILING_BOOK);
            if !has_rules && !firing {
                Ok(())
            } else {
                Err(format!("rules present: {has_rules}; alerts: {alerts:?}"))
            }
        },
    )
    .await;
    // The other books keep running and stay scraped.
    // Its target leaves Prometheus once service discovery sees the pod gone; the other books
    // stay scraped.
    wait_for("only the enabled books' scrapers are Prometheus targets", Duration::from_secs(60), || async {
        let up = prometheus.query(&format!("up{{namespace=\"{ns}\",service=~\"nflbet-scraper.*\"}}")).await?;
        let mut books: Vec<&str> = up
            .iter()
            .filter(|s| s["value"][1] == "1")
            .filter_map(|s| s["metric"]["service"].as_str())
            .collect();
        books.sort();
        let mut expected: Vec<String> =
            BOOKS.iter().filter(|b| **b != FAILING_BOOK).map(|b| format!("nflbet-scraper-{b}")).collect();
        expected.sort();
        if books == expected && up.len() == expected.len() { Ok(()) } else { Err(format!("up: {up:?}")) }
    })
    .await;

    // ---- Re-enable it (the feed has recovered): scraper back, rules back, scraped again.
    cluster::http_post(&format!("http://{feed}:8080/control/fail?books=")).await;
    cluster::set_disabled(ns, FAILING_BOOK, false);
    wait_pods_ready(&client, ns, &book_pods, 1).await;
    support::wait_condition(&dynamic(&client, ns, "Sportsbook"), FAILING_BOOK, "Stopped", "False", None)
        .await;
    wait_for(
        "the re-enabled book's rules and target back in Prometheus",
        Duration::from_secs(120),
        || async {
            let has_rules = prometheus.has_rule_group_of(FAILING_BOOK).await?;
            let up = prometheus
                .query(&format!("up{{namespace=\"{ns}\",service=\"nflbet-scraper-{FAILING_BOOK}\"}} == 1"))
                .await?;
            if has_rules && up.len() == 1 {
                Ok(())
            } else {
                Err(format!("rules present: {has_rules}; up: {up:?}"))
            }
        },
    )
    .await;

    // ---- Roll out a candidate the way the runbook says (kubectl patch): before it stakes
    // anything, the replay gate's Job runs the project's image on this node, both sides replaying
    // the snapshots the books wrote to the shared volume and settling with the games file put
    // there; the operator reads both reports from the real kubelet's termination messages. The
    // story's games have no results yet, so too little history is settled to judge: the rollout
    // starts and the candidate's pod runs.
    let games = store.join("games.csv");
    std::fs::copy(support::games_file(), &games).expect("the games file onto the shared volume");
    std::os::unix::fs::chown(&games, Some(65532), Some(65532)).expect("chown the games file");
    kubectl(&[
        "patch",
        "model",
        "consensus",
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"games":"/var/lib/nflbet/games.csv","rollout":{"candidate":{"version":"1.1.0","trafficShare":0.2,"overrides":{"staking":{"kellyFraction":0.1}}},"gate":{"weeks":1}}}}"#,
    ]);
    let gate =
        wait_for("the replay gate's result in status.replayGate", Duration::from_secs(240), || async {
            let m = model_api.get("consensus").await.map_err(|e| e.to_string())?;
            let gate = m.data["status"]["replayGate"].clone();
            match gate["result"].as_str() {
                Some("InsufficientHistory" | "Passed") => Ok(gate),
                _ => Err(format!("status: {}", m.data["status"])),
            }
        })
        .await;
    assert_eq!(gate["stable"]["version"], "1.0.0", "{gate}");
    assert_eq!(gate["candidate"]["version"], "1.1.0", "{gate}");
    assert_ne!(gate["stable"]["parameters"], gate["candidate"]["parameters"], "{gate}");
    assert!(gate["message"].as_str().unwrap_or("").contains("candidate 1.1.0"), "{gate}");
    let job = gate["jobName"].as_str().expect("the gate's Job name").to_string();
    wait_for("the candidate model running after the gate", Duration::from_secs(120), || async {
        let m = model_api.get("consensus").await.map_err(|e| e.to_string())?;
        let phase = m.data["status"]["rolloutPhase"].clone();
        let d = deployments.get_opt("nflbet-model-consensus-candidate").await.map_err(|e| e.to_string())?;
        let ready = d.and_then(|d| d.status).and_then(|s| s.ready_replicas).unwrap_or(0);
        if phase == "Progressing" && ready == 1 {
            Ok(())
        } else {
            Err(format!("phase {phase}, ready {ready}"))
        }
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    wait_for("the gate's Job removed once its result is recorded", Duration::from_secs(60), || async {
        match jobs.get_opt(&job).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err(format!("Job {job} still there")),
        }
    })
    .await;

    diag.passed();
    // Passed: leave the cluster as it was found (a failure keeps everything for inspection).
    let (ok, out) = cluster::helm(&["uninstall", RELEASE, "-n", OPERATOR_NS, "--wait"]);
    assert!(ok, "helm uninstall: {out}");
    kubectl(&["delete", "namespace", ns, OPERATOR_NS, "--wait=true"]);
    kubectl(&["delete", "persistentvolume", &format!("{ns}-snapshots")]);
}

fn dynamic(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("betting.nflbet.dev", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}
