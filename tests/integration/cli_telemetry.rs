//! `nflbet telemetry` as a child process against the local control plane, scoped to the test's
//! namespace: it serves the seed's metric families from resource statuses, and follows status
//! changes through its watch.

use crate::support;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use nflbet::crd::{AlertRoute, Model, Sportsbook};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn condition(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2025-09-07T17:00:00Z"})
}

async fn get(url: &str) -> Result<(u16, String), String> {
    let resp = reqwest::get(url).await.map_err(|e| e.to_string())?;
    let code = resp.status().as_u16();
    Ok((code, resp.text().await.map_err(|e| e.to_string())?))
}

#[tokio::test]
async fn serves_the_seed_families_from_statuses_and_follows_changes() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-telemetry").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let routes: Api<AlertRoute> = Api::namespaced(client.clone(), &ns);

    let snapshot: Timestamp = "2025-09-07T17:59:00Z".parse().unwrap();
    support::create_with_status(&books, json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "fanduel"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/odds", "markets": [{"name": "moneyline"}]},
    }), json!({
        "conditions": [condition("Ready", "True", "Succeeded")],
        "ingestion": {"lastSnapshotTime": snapshot.to_string(), "consecutiveFailures": 2},
    })).await;
    support::create_with_status(&models, json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model", "metadata": {"name": "elo"},
        "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["fanduel"]}, "staking": {"bankroll": 1000.0, "kellyFraction": 0.25}},
    }), json!({
        "conditions": [condition("Ready", "True", "Succeeded")],
        "summary": {"totalStake": 42.5, "topEdges": [
            {"event": "2025_01_KC_BAL", "market": "moneyline", "selection": "KC", "book": "fanduel", "american": 120, "expectedValue": 0.031, "stake": 12.5}
        ]},
        "calibration": {
            "stable": {"version": "1.0.0", "brier": 0.2113, "logLoss": 0.61, "samples": 340},
            "candidate": {"version": "1.1.0", "brier": 0.2301, "logLoss": 0.65, "samples": 120}
        },
    })).await;
    support::create_with_status(&routes, json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute", "metadata": {"name": "trading"},
        "spec": {"pagerDuty": {"routingKey": {"name": "pd", "key": "key"}}},
    }), json!({"conditions": [condition("Ready", "False", "ConfigInvalid")]})).await;

    let port = free_port();
    let kubeconfig = support::kubeconfig_path();
    let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["telemetry", "--bind", "127.0.0.1", "--port", &port.to_string(), "-n", &ns])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nflbet telemetry starts");
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");

    support::wait_for("telemetry /readyz", Duration::from_secs(30), || async {
        match get(&format!("{base}/readyz")).await? {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(get(&format!("{base}/healthz")).await.unwrap(), (200, "ok\n".to_string()));

    let metrics = support::wait_for("all families", Duration::from_secs(30), || async {
        let (_, body) = get(&format!("{base}/metrics")).await?;
        if body.contains("nflbet_resource_status_condition{kind=\"AlertRoute\"") {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;
    let expected = [
        format!(
            r#"nflreadpy_sportsbook_status_last_snapshot_timestamp_seconds{{namespace="{ns}",sportsbook="fanduel"}} {}"#,
            snapshot.as_second()
        ),
        format!(
            r#"nflreadpy_sportsbook_status_consecutive_failures{{namespace="{ns}",sportsbook="fanduel"}} 2"#
        ),
        format!(
            r#"nflreadpy_model_status_top_edge{{book="fanduel",event="2025_01_KC_BAL",market="moneyline",model="elo",namespace="{ns}",selection="KC",which="ev"}} 0.031"#
        ),
        format!(
            r#"nflreadpy_model_status_top_edge{{book="fanduel",event="2025_01_KC_BAL",market="moneyline",model="elo",namespace="{ns}",selection="KC",which="kelly"}} 0.0125"#
        ),
        format!(r#"nflreadpy_model_status_total_stake{{model="elo",namespace="{ns}"}} 42.5"#),
        format!(
            r#"nflreadpy_model_status_brier_score{{model="elo",namespace="{ns}",role="stable",version="1.0.0"}} 0.2113"#
        ),
        format!(
            r#"nflreadpy_model_status_brier_score{{model="elo",namespace="{ns}",role="candidate",version="1.1.0"}} 0.2301"#
        ),
        format!(
            r#"nflreadpy_model_status_log_loss{{model="elo",namespace="{ns}",role="stable",version="1.0.0"}} 0.61"#
        ),
        format!(
            r#"nflreadpy_model_status_calibration_samples{{model="elo",namespace="{ns}",role="candidate",version="1.1.0"}} 120"#
        ),
        format!(
            r#"nflbet_resource_status_condition{{kind="Sportsbook",name="fanduel",namespace="{ns}",status="True",type="Ready"}} 1"#
        ),
        format!(
            r#"nflbet_resource_status_condition{{kind="AlertRoute",name="trading",namespace="{ns}",status="False",type="Ready"}} 1"#
        ),
        format!(r#"nflbet_resource_spec_suspend{{kind="Sportsbook",name="fanduel",namespace="{ns}"}} 0"#),
        "# TYPE nflreadpy_model_status_top_edge gauge".to_string(),
    ];
    for line in &expected {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }

    // A status change reaches the endpoint through the watch.
    books
        .patch_status(
            "fanduel",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ingestion": {"consecutiveFailures": 7}}})),
        )
        .await
        .expect("patch status");
    support::wait_for("consecutive failures 7", Duration::from_secs(30), || async {
        let (_, body) = get(&format!("{base}/metrics")).await?;
        let want = format!(
            r#"nflreadpy_sportsbook_status_consecutive_failures{{namespace="{ns}",sportsbook="fanduel"}} 7"#
        );
        if body.lines().any(|l| l == want) { Ok(()) } else { Err(body) }
    })
    .await;

    // A deleted resource's series go with it.
    models.delete("elo", &Default::default()).await.expect("delete model");
    support::wait_for("model series gone", Duration::from_secs(30), || async {
        let (code, body) = get(&format!("{base}/metrics")).await?;
        match (code, body.contains("model=\"elo\"")) {
            (200, false) => Ok(()),
            (200, true) => Err("still there".into()),
            (code, _) => Err(format!("/metrics answered {code}: {body}")),
        }
    })
    .await;
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn another_prefix_and_no_cluster() {
    // --metrics-namespace changes the prefix of the seed families, not nflbet_*.
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "cli-telemetry-prefix").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    support::create_with_status(&books, json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "dk"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/odds", "markets": [{"name": "total"}]},
    }), json!({"ingestion": {"consecutiveFailures": 0}})).await;
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args([
            "telemetry",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-n",
            &ns,
            "--metrics-namespace",
            "odds",
        ])
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .stdout(Stdio::null())
        .spawn()
        .expect("nflbet telemetry starts");
    let _server = Server(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    support::wait_for("prefixed family", Duration::from_secs(30), || async {
        let (_, body) = get(&url).await?;
        let want =
            format!(r#"odds_sportsbook_status_consecutive_failures{{namespace="{ns}",sportsbook="dk"}} 0"#);
        if body.lines().any(|l| l == want) && !body.contains("nflreadpy_") { Ok(()) } else { Err(body) }
    })
    .await;
    support::delete_namespace(&client, &ns).await;

    // No cluster: exit 2 at once, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let closed = free_port();
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:{closed}'}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["telemetry", "--bind", "127.0.0.1", "--port", &free_port().to_string()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("cannot reach the cluster at https://127.0.0.1:{closed}/"))
    );
}
