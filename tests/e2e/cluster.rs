//! What the end-to-end story needs from the real-node cluster: kubectl as a user runs it, pods
//! waited for with deadlines, Prometheus' HTTP API on its pod address, the manifests of the
//! story, and diagnostics printed when it fails.

use crate::support;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs kubectl against the test cluster and returns its output; a failure fails the test.
pub fn kubectl(args: &[&str]) -> String {
    kubectl_with_input(args, None)
}

/// `kubectl apply -n NS -f -` of a YAML document stream.
pub fn kubectl_apply(ns: &str, yaml: &str) -> String {
    kubectl_with_input(&["apply", "-n", ns, "-f", "-"], Some(yaml))
}

fn kubectl_with_input(args: &[&str], input: Option<&str>) -> String {
    let (ok, out) = kubectl_try(args, input);
    assert!(ok, "kubectl {} failed:\n{out}", args.join(" "));
    out
}

fn kubectl_try(args: &[&str], input: Option<&str>) -> (bool, String) {
    let kubectl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/testenv/kubectl");
    let mut child = match Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args(["--request-timeout", "30s"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        // Never panic here: Diagnostics calls this while the test is already panicking.
        Err(e) => {
            return (false, format!("{} could not run: {e} (`make test` builds it)", kubectl.display()));
        }
    };
    {
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// What the runbook tells a person to type: `kubectl patch sportsbook BOOK --type merge -p
/// '{"spec":{"disabled":…}}'`.
pub fn set_disabled(ns: &str, book: &str, disabled: bool) {
    let patch = format!(r#"{{"spec":{{"disabled":{disabled}}}}}"#);
    kubectl(&["-n", ns, "patch", "sportsbook", book, "--type", "merge", "-p", &patch]);
}

/// Runs helm (built by the testenv) against the test cluster with a throwaway home; returns
/// whether it succeeded and what it printed.
pub fn helm(args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(support::testenv_bin("helm"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .env("KUBECONFIG", support::kubeconfig_path())
        .args(args)
        .output()
        .expect("helm runs");
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Waits until `count` pods match `selector` in `ns`, all Running and Ready; returns them.
pub async fn wait_pods_ready(client: &kube::Client, ns: &str, selector: &str, count: usize) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    support::wait_for(
        &format!("{count} Ready pod(s) {selector} in {ns}"),
        Duration::from_secs(180),
        || async {
            let pods =
                api.list(&ListParams::default().labels(selector)).await.map_err(|e| e.to_string())?.items;
            let ready: Vec<Pod> = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| {
                    let s = p.status.as_ref();
                    s.and_then(|s| s.phase.as_deref()) == Some("Running")
                        && s.and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .cloned()
                .collect();
            if ready.len() == count {
                Ok(ready)
            } else {
                let states: Vec<String> = pods
                    .iter()
                    .map(|p| {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let waiting: Vec<String> = p
                            .status
                            .as_ref()
                            .and_then(|s| s.container_statuses.clone())
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|c| {
                                c.state
                                    .and_then(|s| s.waiting)
                                    .map(|w| format!("{:?}: {:?}", w.reason, w.message))
                            })
                            .collect();
                        format!("{name} {:?} {waiting:?}", p.status.as_ref().and_then(|s| s.phase.clone()))
                    })
                    .collect();
                Err(format!("{} ready of {}: {states:?}", ready.len(), pods.len()))
            }
        },
    )
    .await
}

pub fn pod_ip(pod: &Pod) -> String {
    pod.status.as_ref().and_then(|s| s.pod_ip.clone()).expect("a Running pod has an IP")
}

fn http() -> reqwest::Client {
    // Plain HTTP to pod addresses on the test node's bridge; never any other address.
    reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap()
}

pub async fn http_post(url: &str) {
    let r = http().post(url).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
}

pub async fn http_get_json(url: &str) -> Result<Value, String> {
    let r = http().get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    r.json().await.map_err(|e| format!("GET {url}: {e}"))
}

/// Prometheus' HTTP API on the Prometheus pod's address.
pub struct Prometheus {
    base: String,
}

impl Prometheus {
    pub fn new(ip: &str) -> Prometheus {
        Prometheus { base: format!("http://{ip}:9090/api/v1") }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let r = http()
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if v["status"] != "success" {
            return Err(format!("{path}: {v}"));
        }
        Ok(v["data"].clone())
    }

    /// The instant vector of a PromQL query.
    pub async fn query(&self, q: &str) -> Result<Vec<Value>, String> {
        Ok(self.get("/query", &[("query", q)]).await?["result"].as_array().cloned().unwrap_or_default())
    }

    pub async fn alerts(&self) -> Result<Vec<Value>, String> {
        Ok(self.get("/alerts", &[]).await?["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Whether Prometheus has loaded the rule group of a Sportsbook (`nflbet.sportsbook.<ns>.<book>`).
    pub async fn has_rule_group_of(&self, book: &str) -> Result<bool, String> {
        let groups = self.get("/rules", &[]).await?["groups"].as_array().cloned().unwrap_or_default();
        let suffix = format!(".{book}");
        Ok(groups.iter().any(|g| g["name"].as_str().is_some_and(|n| n.ends_with(&suffix))))
    }

    /// One line per active target: its job, health and last error.
    pub async fn targets_summary(&self) -> String {
        match self.get("/targets", &[("state", "active")]).await {
            Ok(v) => v["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| format!("{} {} {}", t["labels"]["job"], t["health"], t["lastError"]))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => e,
        }
    }
}

/// Prints the cluster's state for the namespaces involved when the test fails (pods, events,
/// every container's log), so a red run says why.
pub struct Diagnostics {
    namespaces: Vec<String>,
    passed: bool,
}

impl Diagnostics {
    pub fn new(namespaces: &[&str]) -> Diagnostics {
        Diagnostics { namespaces: namespaces.iter().map(|s| s.to_string()).collect(), passed: false }
    }

    pub fn passed(mut self) {
        self.passed = true;
    }
}

impl Drop for Diagnostics {
    fn drop(&mut self) {
        if self.passed {
            return;
        }
        eprintln!("==== end-to-end test failed: cluster state ====");
        for args in [vec!["get", "nodes", "-o", "wide"], vec!["get", "pods", "-A", "-o", "wide"]] {
            eprintln!("--- kubectl {}\n{}", args.join(" "), kubectl_try(&args, None).1);
        }
        for ns in &self.namespaces {
            for args in [
                vec![
                    "-n",
                    ns,
                    "get",
                    "nflbet,deployments,services,prometheusrules,servicemonitors,alertmanagerconfigs",
                ],
                vec!["-n", ns, "get", "events", "--sort-by=.lastTimestamp"],
                vec!["-n", ns, "get", "sportsbooks,models,alertroutes", "-o", "yaml"],
            ] {
                eprintln!("--- kubectl {}\n{}", args.join(" "), kubectl_try(&args, None).1);
            }
            let pods = kubectl_try(&["-n", ns, "get", "pods", "-o", "name"], None).1;
            for pod in pods.lines().filter(|l| l.starts_with("pod/")) {
                let args = ["-n", ns.as_str(), "logs", pod, "--all-containers", "--tail", "80"];
                eprintln!("--- kubectl {}\n{}", args.join(" "), kubectl_try(&args, None).1);
            }
        }
    }
}

/// A directory of the host for the snapshot volume (a hostPath PersistentVolume: the test node
/// has no storage provisioner), writable by the workloads' user.
pub fn snapshot_volume_dir(ns: &str) -> PathBuf {
    let dir = support::kubeconfig_path().parent().unwrap().join(format!("{ns}-snapshots"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65532), Some(65532))
        .expect("chown the snapshot volume (the tests run as root)");
    dir
}

/// How many files are under `dir`, at any depth (0 when it does not exist).
pub fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
        })
        .unwrap_or(0)
}

const RESTRICTED: &str = r#"
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {type: RuntimeDefault}
      automountServiceAccountToken: false"#;

const CONTAINER_RESTRICTED: &str = r#"
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}"#;

/// The odds feed (The Odds API v4 shape) and the Slack-compatible receiver, as Deployments of
/// the testenv's own images, each behind a Service: the workloads reach them by DNS name.
pub fn test_servers_yaml() -> String {
    ["odds-feed:oddsfeed", "webhook-sink:webhooksink"]
        .iter()
        .map(|s| {
            let (app, bin) = s.split_once(':').unwrap();
            format!(
                r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:{RESTRICTED}
      containers:
        - name: {app}
          image: nflbet.dev/testenv/{bin}:e2e
          args: ["-listen", ":8080"]
          ports: [{{containerPort: 8080, name: http}}]
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}{CONTAINER_RESTRICTED}
---
apiVersion: v1
kind: Service
metadata: {{name: {app}}}
spec:
  selector: {{app: {app}}}
  ports: [{{name: http, port: 8080, targetPort: http}}]
---
"#
            )
        })
        .collect()
}

/// A ReadWriteMany volume shared by the scrapers (writers) and the model (reader).
/// The PersistentVolume is named after the namespace: a rerun on the same cluster finds the
/// previous run's volume Released, not Available.
pub fn store_yaml(ns: &str, dir: &std::path::Path) -> String {
    format!(
        r#"apiVersion: v1
kind: PersistentVolume
metadata: {{name: {ns}-snapshots}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  hostPath: {{path: {}, type: Directory}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: nflbet-snapshots}}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: {ns}-snapshots
  resources: {{requests: {{storage: 1Gi}}}}
"#,
        dir.display()
    )
}

/// The feed's API key and the Slack webhook URL (the receiver pod).
pub fn secrets_yaml(slack_url: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: the-odds-api}}
stringData: {{api-key: e2e-not-a-real-key}}
---
apiVersion: v1
kind: Secret
metadata: {{name: slack-webhook}}
stringData: {{url: "{slack_url}"}}
"#
    )
}

const STORAGE: &str = r#"
  storage:
    url: file:///var/lib/nflbet/snapshots
    persistentVolumeClaim: nflbet-snapshots"#;

pub fn sportsbook_yaml(book: &str, feed: &str) -> String {
    format!(
        r#"apiVersion: betting.nflbet.dev/v1alpha1
kind: Sportsbook
metadata: {{name: {book}}}
spec:
  provider: theOddsApi
  endpoint: {feed}
  theOddsApi: {{bookmaker: {book}, regions: [us]}}
  credentials: {{name: the-odds-api, key: api-key}}
  markets: [{{name: moneyline}}, {{name: spread}}, {{name: total}}]
  polling: {{interval: 5s, timeout: 3s, maxRetries: 0}}{STORAGE}
  alerts: {{staleAfter: 5m, errorThreshold: 2, errorWindow: 1m, severity: warning}}
"#
    )
}

pub fn model_yaml(books: &[&str], reference: &str) -> String {
    format!(
        r#"apiVersion: betting.nflbet.dev/v1alpha1
kind: Model
metadata: {{name: consensus}}
spec:
  algorithm: marketConsensus
  version: 1.0.0
  sportsbooks: {{names: [{}]}}
  markets: [moneyline, spread, total]
  consensus: {{referenceBooks: [{reference}], marginMethod: shin}}
  staking: {{bankroll: 10000, kellyFraction: 0.25, maxStakePerBet: 0.02, maxEventExposure: 0.05, valueThreshold: 0.01}}
  interval: 10s{STORAGE}
"#,
        books.join(", ")
    )
}

pub fn alert_route_yaml() -> String {
    r##"apiVersion: betting.nflbet.dev/v1alpha1
kind: AlertRoute
metadata: {name: odds-slack}
spec:
  minSeverity: warning
  slack:
    apiURL: {name: slack-webhook, key: url}
    channel: "#odds-alerts"
    sendResolved: false
  groupWait: 5s
  groupInterval: 1m
  repeatInterval: 1h
"##
    .to_string()
}
