//! `nflbet status` on the real local control plane. Statuses are written directly with
//! `patch_status` (no operator), to set up healthy, stopped, suspended, broken and stale
//! resources; the built binary is run against them and its table, JSON and exit codes checked.

use crate::support;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::Api;
use nflbet::crd::{AlertRoute, Model, Sportsbook};
use serde_json::{Value, json};
use std::process::{Command, Output};

fn ago(secs: i64) -> String {
    (Timestamp::now() - SignedDuration::from_secs(secs)).to_string()
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": ago(600), "observedGeneration": 1})
}

fn book(name: &str, extra: Value) -> Value {
    let mut spec = json!({"provider": "genericJson", "endpoint": "http://127.0.0.1:9/odds", "markets": [{"name": "moneyline"}], "alerts": {"staleAfter": "10m"}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": name}, "spec": spec})
}

fn model(name: &str, extra: Value) -> Value {
    let mut spec = json!({"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fanduel"]}, "staking": {"bankroll": 1000.0, "kellyFraction": 0.25}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model", "metadata": {"name": name}, "spec": spec})
}

fn status_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .arg("status")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("nflbet runs")
}

fn run_status(ns: &str, output: &str) -> (i32, String, String) {
    let kubeconfig = support::kubeconfig_path();
    let out = status_cmd(&["--kubeconfig", kubeconfig.to_str().unwrap(), "-n", ns, "--output", output]);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The table line of a resource: the first line starting with its name.
fn line<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{table}"))
}

/// The cell of row `name` under `column`, by the column's position in the header line above the
/// row (cells hold single spaces, columns are aligned as `kubectl get` aligns them).
fn cell(table: &str, name: &str, column: &str) -> String {
    let lines: Vec<&str> = table.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{table}"));
    let header = lines[..row]
        .iter()
        .rev()
        .find(|l| l.starts_with("NAME"))
        .unwrap_or_else(|| panic!("no header above {name} in:\n{table}"));
    let start = header.find(column).unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    let end = header[start + column.len()..]
        .find(|c: char| !c.is_whitespace())
        .map_or(usize::MAX, |next| start + column.len() + next);
    let text = lines[row];
    text.get(start..end.min(text.len())).unwrap_or("").trim().to_string()
}

#[tokio::test]
async fn healthy_stopped_and_suspended_resources_exit_0() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-status-healthy").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let routes: Api<AlertRoute> = Api::namespaced(client.clone(), &ns);

    support::create_with_status(
        &books,
        book("fanduel", json!({})),
        json!({
            "observedGeneration": 1,
            "conditions": [condition("Ready", "True", "Succeeded", "scraper available")],
            "readyReplicas": 1,
            "ingestion": {"lastSnapshotTime": ago(30), "quotes": 96, "consecutiveFailures": 0},
        }),
    )
    .await;
    // Stopped on purpose: old data and no Ready=True, yet healthy.
    support::create_with_status(&books, book("closed", json!({"disabled": true})), json!({
        "conditions": [condition("Ready", "False", "Stopped", "spec.disabled is true"), condition("Stopped", "True", "Disabled", "")],
        "ingestion": {"lastSnapshotTime": ago(7200)},
    })).await;
    support::create_with_status(&models, model("elo", json!({})), json!({
        "conditions": [condition("Ready", "True", "Succeeded", "")],
        "currentVersion": "1.0.0",
        "rolloutPhase": "Stable",
        "summary": {"totalStake": 42.5, "marketsPriced": 16, "topEdges": [
            {"event": "2025_01_KC_BAL", "market": "moneyline", "selection": "KC", "book": "fanduel", "american": 120, "expectedValue": 0.031, "stake": 12.5},
            {"event": "2025_01_BUF_NYJ", "market": "spread", "selection": "BUF", "book": "fanduel", "american": -110, "expectedValue": 0.052, "stake": 30.0}
        ]},
        "calibration": {"stable": {"version": "1.0.0", "brier": 0.2113, "logLoss": 0.61, "samples": 340}},
    })).await;
    // Suspended: reported with its problem, not counted.
    support::create_with_status(
        &models,
        model("paused", json!({"suspend": true})),
        json!({
            "conditions": [condition("Ready", "False", "Suspended", "reconciliation is suspended")],
        }),
    )
    .await;
    support::create_with_status(&routes, json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute", "metadata": {"name": "trading"},
        "spec": {"minSeverity": "critical", "pagerDuty": {"routingKey": {"name": "pd", "key": "key"}}},
    }), json!({"conditions": [condition("Ready", "True", "Succeeded", "")], "receivers": "pagerduty"})).await;

    let (code, table, stderr) = run_status(&ns, "table");
    assert_eq!(code, 0, "table:\n{table}\nstderr: {stderr}");
    assert!(table.starts_with("SPORTSBOOKS\nNAME"), "{table}");
    let fanduel = |column| cell(&table, "fanduel", column);
    assert_eq!(fanduel("READY"), "True", "{table}");
    assert_eq!(fanduel("STATE"), "running", "{table}");
    assert!(fanduel("LAST SNAPSHOT").ends_with("s ago"), "{table}");
    assert_eq!(fanduel("QUOTES"), "96", "{table}");
    assert_eq!(fanduel("FAILURES"), "0", "{table}");
    assert_eq!(fanduel("LAST ERROR"), "-", "{table}");
    let closed = line(&table, "closed");
    assert!(closed.contains("stopped") && closed.contains("2h ago"), "{closed:?}");
    for (column, want) in [
        ("READY", "True"),
        ("STATE", "running"),
        ("VERSION", "1.0.0"),
        ("ROLLOUT", "Stable"),
        ("TOP EDGE", "+5.2% BUF spread -110 @fanduel (2025_01_BUF_NYJ)"),
        ("TOTAL STAKE", "42.50"),
        ("BRIER (STABLE)", "0.211 (n=340)"),
    ] {
        assert_eq!(cell(&table, "elo", column), want, "column {column}:\n{table}");
    }
    assert!(line(&table, "paused").contains("suspended"), "{table}");
    let trading = line(&table, "trading");
    assert!(trading.contains("critical") && trading.contains("pagerduty"), "{trading:?}");
    assert!(
        table.contains(
            "Model paused (suspended, not counted): Ready is False (Suspended): reconciliation is suspended"
        ),
        "{table}"
    );
    assert!(
        table.ends_with(&format!(
            "healthy: 5 resources in namespace {ns}: 3 healthy, 0 unhealthy, 1 stopped, 1 suspended\n"
        )),
        "{table}"
    );

    let (code, json_text, _) = run_status(&ns, "json");
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json_text).expect("JSON");
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["namespace"], ns.as_str());
    assert_eq!(v["healthy"], true);
    assert_eq!(v["counts"], json!({"total": 5, "healthy": 3, "unhealthy": 0, "stopped": 1, "suspended": 1}));
    let names = |k: &str| -> Vec<String> {
        v[k].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("sportsbooks"), ["closed", "fanduel"]);
    assert_eq!(names("models"), ["elo", "paused"]);
    assert_eq!(names("alertRoutes"), ["trading"]);
    let fd = &v["sportsbooks"][1];
    assert_eq!(fd["ready"]["status"], "True");
    assert_eq!(fd["state"], "running");
    assert_eq!(fd["stale"], false);
    assert_eq!(fd["staleAfterSeconds"], 600);
    assert!(fd["lastSnapshotAgeSeconds"].as_i64().is_some_and(|a| (29..120).contains(&a)), "{fd}");
    assert_eq!(v["sportsbooks"][0]["state"], "stopped");
    assert_eq!(v["models"][0]["topEdge"]["selection"], "BUF");
    assert_eq!(v["models"][0]["totalStake"], 42.5);
    assert_eq!(v["models"][0]["calibration"]["stable"]["samples"], 340);
    assert_eq!(v["models"][1]["state"], "suspended");
    assert_eq!(v["models"][1]["healthy"], true);

    let (code, yaml_text, _) = run_status(&ns, "yaml");
    assert_eq!(code, 0);
    let y: Value = serde_saphyr::from_str(&yaml_text).expect("YAML");
    assert_eq!(y["counts"], v["counts"]);
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn broken_or_stale_resources_exit_1_and_say_why() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-status-broken").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);

    support::create_with_status(&books, book("broken", json!({})), json!({
        "conditions": [condition("Ready", "False", "FeedFailing", "5 polls failed in a row")],
        "ingestion": {"lastSnapshotTime": ago(120), "consecutiveFailures": 5, "lastError": "connect: connection refused (http://127.0.0.1:9/odds)", "lastErrorTime": ago(20)},
    })).await;
    support::create_with_status(
        &books,
        book("stale", json!({})),
        json!({
            "conditions": [condition("Ready", "True", "Succeeded", "")],
            "ingestion": {"lastSnapshotTime": ago(3600)},
        }),
    )
    .await;
    // No status at all: nobody has reconciled it.
    support::create_with_status(&models, model("orphan", json!({})), json!({})).await;

    let (code, table, stderr) = run_status(&ns, "table");
    assert_eq!(code, 1, "table:\n{table}\nstderr: {stderr}");
    let broken = line(&table, "broken");
    for want in ["False", "running", "2m ago", "5", "connect: connection refused"] {
        assert!(broken.contains(want), "{want:?} missing from {broken:?}");
    }
    assert!(line(&table, "stale").contains("1h ago"), "{table}");
    assert!(table.contains("PROBLEMS\n"), "{table}");
    assert!(
        table.contains("  Sportsbook broken: Ready is False (FeedFailing): 5 polls failed in a row\n"),
        "{table}"
    );
    assert!(
        table.contains("  Sportsbook stale: stale: last snapshot 1h ago, older than its threshold of 10m\n"),
        "{table}"
    );
    assert!(table.contains("  Model orphan: Ready is Unknown (NoStatus): no Ready condition yet"), "{table}");
    assert!(
        table.ends_with(&format!(
            "UNHEALTHY: 3 resources in namespace {ns}: 0 healthy, 3 unhealthy, 0 stopped, 0 suspended\n"
        )),
        "{table}"
    );

    let (code, json_text, _) = run_status(&ns, "json");
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&json_text).expect("JSON");
    assert_eq!(v["healthy"], false);
    let stale = &v["sportsbooks"][1];
    assert_eq!(
        (stale["name"].as_str(), stale["stale"].as_bool(), stale["healthy"].as_bool()),
        (Some("stale"), Some(true), Some(false))
    );
    assert_eq!(v["sportsbooks"][0]["consecutiveFailures"], 5);
    assert_eq!(v["sportsbooks"][0]["lastError"], "connect: connection refused (http://127.0.0.1:9/odds)");
    support::delete_namespace(&client, &ns).await;
}

#[test]
fn an_unreachable_cluster_exits_2_with_a_clear_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u, namespace: betting}}\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let out = status_cmd(&["--kubeconfig", kubeconfig.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach the cluster at https://127.0.0.1:{port}/: Connection refused"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one clear line, no client logs: {stderr}");
    assert!(out.stdout.is_empty());

    // Usage errors are 2 as well (clap), e.g. -n with -A.
    let out = status_cmd(&["-n", "x", "-A"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Read table frames of `nflbet status --watch` (each ends with its verdict line) until one
/// satisfies `done`, within a deadline.
async fn frame_until(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let read = async {
        let mut frame = String::new();
        while let Some(l) = lines.next_line().await.expect("stdout readable") {
            frame.push_str(&l);
            frame.push('\n');
            if l.starts_with("healthy:") || l.starts_with("UNHEALTHY:") {
                if done(&frame) {
                    return frame;
                }
                frame.clear();
            }
        }
        panic!("nflbet status --watch ended before {what}; last frame:\n{frame}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no frame with {what} within 60 s"))
}

/// `nflbet status --watch` on namespace `ns` as a child process, its standard output piped.
fn watch_child(ns: &str, args: &[&str]) -> tokio::process::Child {
    let kubeconfig = support::kubeconfig_path();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["status", "--watch", "-n", ns, "--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(args)
        .env("NO_COLOR", "1")
        .env("LANG", "en_US.UTF-8")
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nflbet runs")
}

/// Ctrl-C (SIGINT) ends the watch with the exit status of the last report.
async fn interrupt(mut child: tokio::process::Child, code: i32) {
    let pid = child.id().expect("still running").to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(code));
}

#[tokio::test]
async fn watch_redraws_on_change_with_freshness_bars_and_stops_on_ctrl_c() {
    use tokio::io::AsyncBufReadExt;
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-status-watch").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let fresh = json!({
        "conditions": [condition("Ready", "True", "Succeeded", "")],
        "ingestion": {"lastSnapshotTime": ago(30), "quotes": 12},
    });
    support::create_with_status(&books, book("fanduel", json!({})), fresh).await;

    let mut child = watch_child(&ns, &[]);
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();

    let first = frame_until(&mut lines, "the first report", |_| true).await;
    // Not a terminal: an ASCII bar, one fifth used (30 s of 10 m).
    let bar = cell(&first, "fanduel", "FRESHNESS");
    assert!(bar.starts_with("#.... ") && bar.ends_with("/10m"), "{bar:?} in\n{first}");
    assert!(
        first.ends_with(&format!(
            "healthy: 1 resources in namespace {ns}: 1 healthy, 0 unhealthy, 0 stopped, 0 suspended\n"
        )),
        "{first}"
    );

    // A change is drawn without asking again: a book whose data is an hour old.
    let stale = json!({
        "conditions": [condition("Ready", "True", "Succeeded", "")],
        "ingestion": {"lastSnapshotTime": ago(3600)},
    });
    support::create_with_status(&books, book("stale", json!({})), stale).await;
    // The book is created, then its status written: the watch may draw the first alone.
    let second = frame_until(&mut lines, "the stale book's status", |f| {
        f.contains("\nstale ") && cell(f, "stale", "LAST SNAPSHOT") != "never"
    })
    .await;
    assert_eq!(cell(&second, "stale", "FRESHNESS"), "##### 1h/10m", "{second}");
    assert!(second.contains("UNHEALTHY: 2 resources"), "{second}");

    // The last report was unhealthy.
    interrupt(child, 1).await;
    support::delete_namespace(&client, &ns).await;
}

/// `--watch -o json`: one JSON document per change of a resource, none for the clock alone.
#[tokio::test]
async fn watch_prints_one_json_document_per_change() {
    use kube::api::{Patch, PatchParams};
    use tokio::io::AsyncReadExt;
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-status-watch-json").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let status = json!({
        "conditions": [condition("Ready", "True", "Succeeded", "")],
        "ingestion": {"lastSnapshotTime": ago(30), "consecutiveFailures": 0},
    });
    support::create_with_status(&books, book("fanduel", json!({})), status).await;

    let mut child = watch_child(&ns, &["-o", "json"]);
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    // Complete documents so far, once `enough` of them are there.
    let mut documents_until = async |enough: usize| -> Vec<Value> {
        let read = async {
            let mut buf = [0u8; 8192];
            loop {
                let docs: Vec<Value> = serde_json::Deserializer::from_str(&text)
                    .into_iter::<Value>()
                    .map_while(Result::ok)
                    .collect();
                if docs.len() >= enough {
                    return docs;
                }
                let n = stdout.read(&mut buf).await.expect("stdout readable");
                assert!(n > 0, "nflbet status --watch ended early:\n{text}");
                text.push_str(std::str::from_utf8(&buf[..n]).expect("UTF-8"));
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .unwrap_or_else(|_| panic!("fewer than {enough} documents within 60 s"))
    };
    let first = documents_until(1).await;
    assert_eq!(first[0]["sportsbooks"][0]["consecutiveFailures"], 0);

    let patch = json!({"status": {"ingestion": {"consecutiveFailures": 3}}});
    books.patch_status("fanduel", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    let docs = documents_until(2).await;
    // The second document is the change: the watches' own start-up drew nothing new.
    assert_eq!(docs[1]["sportsbooks"][0]["consecutiveFailures"], 3, "{text}");
    assert_eq!(docs.len(), 2, "{text}");
    // Healthy at the end.
    interrupt(child, 0).await;
    support::delete_namespace(&client, &ns).await;
}
