//! The routing AlertRoutes produce, as the real prometheus-operator merges their
//! AlertmanagerConfigs into Alertmanager's configuration, checked with Debian's real `amtool`.
//!
//! Nothing here imitates prometheus-operator: the nflbet operator (in process) generates the
//! AlertmanagerConfigs from AlertRoutes, the real prometheus-operator (built from its Go module by
//! `testenv.sh build monitoring`) runs beside the control plane and writes the merged
//! configuration into the Alertmanager's `-generated` Secret, and `amtool config routes test`
//! routes alerts through exactly that file. The Alertmanager and its base configuration are the
//! ones the real-node stack uses (`hack/testenv/monitoring.yaml`: kube-prometheus-stack's defaults,
//! every namespace's AlertmanagerConfigs, the default `OnNamespace` matcher strategy).
//!
//! The email receiver is then delivered for real: the stack's Alertmanager binary runs on that
//! same file and sends an alert to a one-message SMTP server on 127.0.0.1 ([`SmtpSink`]), which
//! sees the password prometheus-operator read from the Secret.

use crate::support;

use flate2::read::GzDecoder;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use nflbet::crd::AlertRoute;
use nflbet::monitoring::AlertmanagerConfig;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The Alertmanager of `hack/testenv/monitoring.yaml`.
const ALERTMANAGER: &str = "kube-prometheus-stack-alertmanager";

fn route(name: &str, spec: Value) -> AlertRoute {
    serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "AlertRoute",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("AlertRoute fixture")
}

/// The Slack webhook, PagerDuty routing key and SMTP password Secrets an AlertRoute names. The
/// Slack and PagerDuty values are placeholders (a closed port on loopback); nothing is sent
/// there.
async fn receiver_secrets(client: &kube::Client, ns: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (name, key, value) in [
        ("slack-webhook", "url", format!("http://127.0.0.1:9/slack/{ns}")),
        ("pagerduty", "routingKey", format!("routing-key-{ns}")),
        ("smtp", "password", smtp_password(ns)),
    ] {
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": name}, "stringData": {key: value}
        }))
        .unwrap();
        secrets.create(&PostParams::default(), &s).await.expect("create receiver Secret");
    }
}

fn smtp_password(ns: &str) -> String {
    format!("smtp-password-{ns}")
}

/// What the SMTP client said in one session.
#[derive(Debug, Default)]
struct SmtpSession {
    /// `AUTH PLAIN` credentials, decoded: (username, password).
    auth: Option<(String, String)>,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// An SMTP server on 127.0.0.1 that offers `AUTH PLAIN` (Go's client sends it unencrypted only
/// to localhost, which this is), accepts every message, and reports each session.
struct SmtpSink {
    addr: std::net::SocketAddr,
    sessions: tokio::sync::mpsc::UnboundedReceiver<SmtpSession>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, sessions) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(session) = Self::serve(stream).await {
                        let _ = tx.send(session);
                    }
                });
            }
        });
        SmtpSink { addr, sessions, task }
    }

    async fn serve(stream: tokio::net::TcpStream) -> std::io::Result<SmtpSession> {
        use base64::Engine;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut session = SmtpSession::default();
        write.write_all(b"220 127.0.0.1 ESMTP test sink\r\n").await?;
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-127.0.0.1\r\n250 AUTH PLAIN\r\n"
            } else if let Some(b64) = line.strip_prefix("AUTH PLAIN ") {
                let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap_or_default();
                let parts: Vec<String> =
                    raw.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                if let [_, user, password] = parts.as_slice() {
                    session.auth = Some((user.clone(), password.clone()));
                }
                b"235 2.7.0 authenticated\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                session.mail_from = line[10..].trim().to_string();
                b"250 2.1.0 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                session.rcpt_to.push(line[8..].trim().to_string());
                b"250 2.1.5 ok\r\n"
            } else if upper == "DATA" {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    session.data.push_str(&l);
                    session.data.push('\n');
                }
                b"250 2.0.0 queued\r\n"
            } else if upper == "QUIT" {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                break;
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await?;
        }
        Ok(session)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Alertmanager (the stack's version, built by the testenv) on `config`, on a loopback port,
/// without clustering; killed when the test ends.
struct Alertmanager {
    _process: Process,
    url: String,
}

impl Alertmanager {
    fn start(dir: &Path, config: &str) -> Alertmanager {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(support::testenv_bin("alertmanager"));
        command
            .arg(format!("--config.file={config}"))
            .arg(format!("--storage.path={}", dir.join("alertmanager-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .current_dir(dir);
        let process = Process::spawn("alertmanager", command, dir.join("alertmanager.log"));
        Alertmanager { _process: process, url: format!("http://127.0.0.1:{port}") }
    }
}

/// The base configuration Secret and the Alertmanager of the real-node stack, created in `ns`.
async fn kube_prometheus_stack_alertmanager(client: &kube::Client, ns: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/testenv");
    let versions = std::fs::read_to_string(root.join("versions.env")).expect("versions.env");
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix("ALERTMANAGER_VERSION="))
        .expect("ALERTMANAGER_VERSION in versions.env");
    let text = std::fs::read_to_string(root.join("monitoring.yaml"))
        .expect("monitoring.yaml")
        .replace("@ALERTMANAGER_VERSION@", version)
        .replace("@ALERTMANAGER_IMAGE@", &format!("nflbet.dev/testenv/alertmanager:{version}"));
    // The Prometheus documents are not used here; their placeholders only need to be YAML.
    let text = regex::Regex::new("@[A-Z_]+@").unwrap().replace_all(&text, "unused");
    let mut created = Vec::new();
    for v in serde_saphyr::from_multiple::<Value>(&text).expect("monitoring.yaml documents") {
        let (Some(kind), Some(api_version)) = (v["kind"].as_str(), v["apiVersion"].as_str()) else {
            continue;
        };
        let (kind, api_version) = (kind.to_string(), api_version.to_string());
        if !matches!(kind.as_str(), "Alertmanager" | "Secret") {
            continue;
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let mut obj: DynamicObject = serde_json::from_value(v).unwrap();
        obj.metadata.namespace = Some(ns.into());
        api.create(&PostParams::default(), &obj).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
        created.push(kind);
    }
    created.sort();
    assert_eq!(
        created,
        ["Alertmanager", "Secret"],
        "monitoring.yaml defines the Alertmanager and its base config"
    );
}

/// A program the test runs, its output in `log`. It is killed when the test ends however it
/// ends, and its log is printed when the test failed.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Process {
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        Process { name, child, log }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("{} log ({}):\n{log}", self.name, self.log.display());
        }
    }
}

/// The real prometheus-operator beside the control plane, scoped to the test's namespaces.
fn prometheus_operator(namespaces: &[&str], log: PathBuf) -> Process {
    let mut command = Command::new(support::testenv_bin("prometheus-operator"));
    command
        .env("KUBECONFIG", support::kubeconfig_path())
        .arg(format!("--namespaces={}", namespaces.join(",")))
        .args(["--web.listen-address=127.0.0.1:0", "--log-level=info"]);
    Process::spawn("prometheus-operator", command, log)
}

/// The configuration prometheus-operator generated, once it holds every receiver `wanted`.
async fn generated_config(client: &kube::Client, ns: &str, wanted: &[String]) -> String {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let name = format!("alertmanager-{ALERTMANAGER}-generated");
    let what = format!("{ns}/{name} with receivers {wanted:?}");
    support::wait_for(&what, Duration::from_secs(90), || async {
        let s = secrets.get_opt(&name).await.map_err(|e| e.to_string())?.ok_or("no Secret yet")?;
        let gz =
            s.data.and_then(|d| d.get("alertmanager.yaml.gz").cloned()).ok_or("no alertmanager.yaml.gz")?;
        let mut config = String::new();
        GzDecoder::new(&gz.0[..]).read_to_string(&mut config).map_err(|e| format!("not gzip: {e}"))?;
        let parsed: Value = serde_saphyr::from_str(&config).map_err(|e| format!("not YAML: {e}"))?;
        let names: Vec<&str> =
            parsed["receivers"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).collect();
        match wanted.iter().find(|w| !names.contains(&w.as_str())) {
            None => Ok(config),
            Some(missing) => Err(format!("{missing} missing; receivers: {names:?}")),
        }
    })
    .await
}

/// `amtool config routes test` exits 0 only when the alert reaches exactly `receivers`
/// (comma-separated, in routing order).
fn routes_to(dir: &Path, receivers: &str, labels: &[String]) -> (bool, String) {
    let verify = format!("--verify.receivers={receivers}");
    let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yaml", &verify];
    args.extend(labels.iter().map(String::as_str));
    support::prometheus_tool("amtool", dir, &args)
}

/// The four prometheus-operator CRDs other tests install (the shared subset), by name, with
/// their generation: applying the full set must leave them as they are.
async fn shared_subset_generations(client: &kube::Client) -> Vec<(String, Option<i64>)> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut out = Vec::new();
    for k in ["prometheusrules", "servicemonitors", "podmonitors", "alertmanagerconfigs"] {
        let name = format!("{k}.monitoring.coreos.com");
        out.push((name.clone(), crds.get(&name).await.expect("shared CRD installed").metadata.generation));
    }
    out
}

#[tokio::test]
async fn prometheus_operator_merges_alert_routes_and_amtool_routes_by_namespace_and_book() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let before = shared_subset_generations(&client).await;
    support::install_full_monitoring_crds(&client).await;
    assert_eq!(
        shared_subset_generations(&client).await,
        before,
        "the full set changes none of the shared CRDs"
    );

    let mon = support::namespace(&client, "am-routing-monitoring").await;
    let a = support::namespace(&client, "am-routing-a").await;
    let b = support::namespace(&client, "am-routing-b").await;

    // Namespace a: critical alerts of two books to Slack and PagerDuty. Namespace b: every
    // alert of warning and above to Slack and by email, with no book or model selection.
    let smtp = SmtpSink::start().await;
    let _op_a = support::start_operator(&client, &a).await;
    let _op_b = support::start_operator(&client, &b).await;
    receiver_secrets(&client, &a).await;
    receiver_secrets(&client, &b).await;
    let slack = json!({"apiURL": {"name": "slack-webhook", "key": "url"}, "channel": "#odds-alerts"});
    let trading = route(
        "trading",
        json!({
            "minSeverity": "critical", "sportsbooks": ["fanduel", "draftkings"], "slack": slack,
            "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "routingKey"}}
        }),
    );
    Api::<AlertRoute>::namespaced(client.clone(), &a).create(&PostParams::default(), &trading).await.unwrap();
    let email = json!({
        "to": ["oncall@example.com", "trading@example.com"], "from": "nflbet@example.com",
        "smarthost": smtp.addr.to_string(), "requireTLS": false,
        "auth": {"username": "nflbet", "password": {"name": "smtp", "key": "password"}}
    });
    let all = route("all", json!({"slack": slack, "email": email, "groupWait": "1s"}));
    Api::<AlertRoute>::namespaced(client.clone(), &b).create(&PostParams::default(), &all).await.unwrap();
    for (ns, name) in [(&a, "trading"), (&b, "all")] {
        let routes: Api<AlertRoute> = Api::namespaced(client.clone(), ns);
        support::wait_condition(&routes, name, "Ready", "True", Some("Succeeded")).await;
        let configs: Api<AlertmanagerConfig> = Api::namespaced(client.clone(), ns);
        configs.get(&format!("nflbet-{name}")).await.expect("the operator applied the AlertmanagerConfig");
    }

    kube_prometheus_stack_alertmanager(&client, &mon).await;
    let dir = tempfile::tempdir().unwrap();
    let _prometheus_operator =
        prometheus_operator(&[&mon, &a, &b], dir.path().join("prometheus-operator.log"));

    let deliver_a = format!("{a}/nflbet-trading/deliver");
    let drop_a = format!("{a}/nflbet-trading/drop");
    let deliver_b = format!("{b}/nflbet-all/deliver");
    let config = generated_config(&client, &mon, &[deliver_a.clone(), deliver_b.clone()]).await;
    std::fs::write(dir.path().join("alertmanager.yaml"), &config).unwrap();

    let (ok, text) = support::prometheus_tool("amtool", dir.path(), &["check-config", "alertmanager.yaml"]);
    assert!(
        ok && text.contains("SUCCESS"),
        "amtool check-config refused prometheus-operator's config:\n{text}\n{config}"
    );
    // The Secrets were resolved into the receivers: these are the ones of namespace a.
    assert!(config.contains(&format!("http://127.0.0.1:9/slack/{a}")), "{config}");
    assert!(config.contains(&format!("routing-key-{a}")), "{config}");
    let parsed: Value = serde_saphyr::from_str(&config).unwrap();
    let email_b = parsed["receivers"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"].as_str() == Some(deliver_b.as_str())))
        .map(|r| r["email_configs"][0].clone())
        .unwrap_or_default();
    assert_eq!(email_b["to"], "oncall@example.com, trading@example.com", "{config}");
    assert_eq!(email_b["smarthost"], smtp.addr.to_string(), "{config}");
    assert_eq!(email_b["require_tls"], false, "{config}");
    assert_eq!(
        email_b["auth_password"],
        smtp_password(&b),
        "the password, resolved from b's Secret: {config}"
    );

    let alert = |ns: &str, severity: &str, extra: &str| -> Vec<String> {
        let mut labels =
            vec!["alertname=NflbetSportsbookScraperDown".to_string(), format!("severity={severity}")];
        if !ns.is_empty() {
            labels.push(format!("namespace={ns}"));
        }
        labels.push(extra.to_string());
        labels
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("a critical alert of a selected book", alert(&a, "critical", "sportsbook=fanduel"), &deliver_a),
        ("the other selected book", alert(&a, "critical", "sportsbook=draftkings"), &deliver_a),
        ("a warning, below the route's threshold", alert(&a, "warning", "sportsbook=fanduel"), "null"),
        (
            "a book the route does not take, kept from the root",
            alert(&a, "critical", "sportsbook=pinnacle"),
            &drop_a,
        ),
        ("the same alert of another namespace", alert(&b, "critical", "sportsbook=fanduel"), &deliver_b),
        ("a model's warning in b (no selection there)", alert(&b, "warning", "model=elo"), &deliver_b),
        ("info, below b's default threshold", alert(&b, "info", "sportsbook=fanduel"), "null"),
        ("a namespace without AlertRoutes", alert("other", "critical", "sportsbook=fanduel"), "null"),
        ("an alert without a namespace label", alert("", "critical", "sportsbook=fanduel"), "null"),
    ];
    let mut failures = Vec::new();
    for (what, labels, expected) in &cases {
        let (ok, out) = routes_to(dir.path(), expected, labels);
        if !ok {
            failures.push(format!("{what} ({}): expected {expected}, amtool said: {out}", labels.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\nconfiguration:\n{config}");
    // The verification can fail: namespace b's alert is not namespace a's.
    let (ok, _) = routes_to(dir.path(), &deliver_a, &alert(&b, "critical", "sportsbook=fanduel"));
    assert!(!ok, "amtool must refuse a wrong receiver");

    // Inhibition stays inside a namespace: prometheus-operator scopes each rule to its config's.
    let rules = parsed["inhibit_rules"].as_array().cloned().unwrap_or_default();
    for ns in [&a, &b] {
        let scope = format!("namespace=\"{ns}\"");
        let scoped = rules.iter().any(|r| {
            ["source_matchers", "target_matchers"].iter().all(|k| {
                r[k].as_array().is_some_and(|m| m.iter().any(|m| m.as_str() == Some(scope.as_str())))
            })
        });
        assert!(scoped, "no inhibit rule scoped to {ns}: {rules:?}");
    }

    email_is_delivered(dir.path(), smtp, &b).await;

    for ns in [&mon, &a, &b] {
        support::delete_namespace(&client, ns).await;
    }
}

/// Alertmanager on prometheus-operator's configuration (in `dir`) sends namespace `ns`'s alert
/// by email: one message to both recipients, authenticated with the Secret's password.
async fn email_is_delivered(dir: &Path, mut smtp: SmtpSink, ns: &str) {
    let am = Alertmanager::start(dir, "alertmanager.yaml");
    let http = reqwest::Client::new();
    let alert = json!([{
        "labels": {
            "alertname": "NflbetModelEventExposureAboveCap", "severity": "warning",
            "namespace": ns, "model": "elo", "event": "2025_14_KC_BUF"
        },
        "annotations": {"summary": "Model elo exposure on one event is above maxEventExposure"}
    }]);
    support::wait_for("Alertmanager takes the alert", Duration::from_secs(30), || async {
        let r = http
            .post(format!("{}/api/v2/alerts", am.url))
            .json(&alert)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", r.status())) }
    })
    .await;
    let session = tokio::time::timeout(Duration::from_secs(60), smtp.sessions.recv())
        .await
        .expect("an email within 60 s")
        .expect("the SMTP sink runs");
    assert_eq!(session.auth, Some(("nflbet".to_string(), smtp_password(ns))), "{session:?}");
    assert_eq!(session.mail_from, "<nflbet@example.com>", "{session:?}");
    assert_eq!(session.rcpt_to, ["<oncall@example.com>", "<trading@example.com>"], "{session:?}");
    assert!(session.data.contains("NflbetModelEventExposureAboveCap"), "{session:?}");
}
