//! Test support for the real local control plane started by `make test`
//! (`hack/testenv/testenv.sh up`).
//!
//! One control plane per test run, shared by every test binary; one fresh namespace per test.
//! When the control plane is not reachable the tests fail with a message saying how to start
//! it; they never silently pass.
#![allow(dead_code)]

pub mod dashboards;
pub mod feed;
pub mod proxy;
pub mod s3;
pub mod scrape;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where `testenv.sh up` writes the kubeconfig (overridable with `NFLBET_TEST_KUBECONFIG`).
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os("NFLBET_TEST_KUBECONFIG") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/testenv/kubeconfig"),
    }
}

/// `../shared` beside the repository (the prometheus-operator CRDs, the games data).
pub fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("NFLBET_SHARED_DIR") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    assert!(
        dir.join("third_party/prometheus-operator-crds").is_dir(),
        "{} has no third_party/prometheus-operator-crds: set NFLBET_SHARED_DIR (see README, 'Test data')",
        dir.display()
    );
    dir
}

/// Runs a tool from Debian's Prometheus packages (`promtool`, `amtool`) in `dir` and returns
/// whether it succeeded and everything it printed. A missing tool fails the test with how
/// `make test` installs it, rather than passing vacuously.
pub fn prometheus_tool(tool: &str, dir: &Path, args: &[&str]) -> (bool, String) {
    let out = match std::process::Command::new(tool).args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "{tool} could not run ({e}): run `make test` (hack/install-deps.sh installs Debian's \
             prometheus and prometheus-alertmanager packages)"
        ),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Writes one generated rule group as a Prometheus rule file, `rules.yaml` in `dir`.
pub fn write_rule_file(dir: &Path, group: &impl serde::Serialize) {
    let file = serde_json::json!({ "groups": [group] });
    std::fs::write(dir.join("rules.yaml"), serde_saphyr::to_string(&file).unwrap()).unwrap();
}

/// The nflverse games file (`data/nfl_games.csv` under the shared directory).
pub fn games_file() -> PathBuf {
    let path = shared_dir().join("data/nfl_games.csv");
    assert!(
        path.is_file(),
        "the nflverse games file is missing at {}: it is nflverse/nfldata data/games.csv (see README, 'Test data')",
        path.display()
    );
    path
}

/// The egress policy of a workload in a test: its feed, S3 server or games file is a server on
/// 127.0.0.1 over plain http, which the secure default refuses. Allowed here explicitly, as an
/// administrator would for such a host (`http://127.0.0.1` credential hosts, 127.0.0.0/8).
pub fn loopback_egress() -> nflbet::egress::Egress {
    nflbet::egress::EgressArgs {
        feed_credential_hosts: vec!["http://127.0.0.1".into()],
        s3_credential_hosts: vec!["http://127.0.0.1".into()],
        allow_addresses: vec!["127.0.0.0/8".into()],
        deny_addresses: vec![],
    }
    .policy(vec![])
    .expect("valid policy")
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for the local control plane, or a panic that says how to get one.
pub async fn client() -> Client {
    let path = kubeconfig_path();
    let client = Client::try_from(config().await).expect("client from kubeconfig");
    if let Err(e) = client.apiserver_version().await {
        panic!(
            "the local control plane at {} does not answer ({e}). Run the tests with `make test`.",
            path.display()
        );
    }
    client
}

/// The local control plane's API server address (127.0.0.1 and a port).
pub async fn api_server_addr() -> std::net::SocketAddr {
    let url = config().await.cluster_url;
    let (host, port) = (url.host().expect("API server host"), url.port_u16().expect("API server port"));
    format!("{host}:{port}").parse().expect("the API server listens on an IP address")
}

/// A client for the local control plane that connects through `addr` (a [`proxy::Proxy`] on
/// 127.0.0.1); the API server's certificate, issued for 127.0.0.1, still verifies.
pub async fn client_via(addr: std::net::SocketAddr) -> Client {
    let mut config = config().await;
    config.cluster_url = format!("https://{addr}").parse().expect("proxy URL");
    Client::try_from(config).expect("client through the proxy")
}

/// The kubeconfig of the local control plane, or a panic that says how to get one.
async fn config() -> Config {
    install_crypto();
    let path = kubeconfig_path();
    let kc = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "no local control plane: cannot read {} ({e}). Run the tests with `make test`, \
             which builds and starts kube-apiserver, etcd, KCM, scheduler and kwok.",
            path.display()
        )
    });
    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig of the local control plane is valid")
}

/// A fresh namespace for one test, named after it.
pub async fn namespace(client: &Client, test: &str) -> String {
    let suffix: u32 = rand::random::<u32>() % 100_000;
    let mut name: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    name.truncate(40);
    let name = format!("{}-{suffix:05}", name.trim_matches('-'));
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns).await.expect("create test namespace");
    name
}

/// Delete a test's namespace once it passed (a failed test keeps it for inspection).
pub async fn delete_namespace(client: &Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(ns, &Default::default()).await;
}

/// Create an object from its JSON, then write its status as the operator and workloads would.
pub async fn create_with_status<K>(api: &Api<K>, object: serde_json::Value, status: serde_json::Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let obj: K = serde_json::from_value(object).expect("fixture object");
    let created = api.create(&PostParams::default(), &obj).await.expect("create");
    let name = created.meta().name.clone().expect("name");
    let status = serde_json::json!({ "status": status });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await.expect("patch status");
}

/// Poll `check` until it returns `Some`, or panic after `timeout` with `what` and the last value.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Server-side apply CRDs from YAML files and wait until they are Established.
pub async fn install_crd_files(client: &Client, files: &[PathBuf]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        for value in serde_saphyr::from_multiple::<serde_json::Value>(&text).expect("YAML documents") {
            if value.is_null() {
                continue;
            }
            let crd: CustomResourceDefinition = serde_json::from_value(value).expect("a CRD");
            let name = crd.metadata.name.clone().expect("CRD name");
            api.patch(&name, &PatchParams::apply("nflbet-tests").force(), &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
            names.push(name);
        }
    }
    for name in names {
        let api = api.clone();
        wait_for(&format!("CRD {name} Established"), Duration::from_secs(30), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established { Ok(()) } else { Err("not established".into()) }
            }
        })
        .await;
    }
}

/// The project's own CRDs from `crds/`.
pub async fn install_nflbet_crds(client: &Client) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    install_crd_files(client, &files).await;
}

/// The prometheus-operator CRDs from `../shared/third_party/prometheus-operator-crds/`.
pub async fn install_monitoring_crds(client: &Client) {
    let dir = shared_dir().join("third_party/prometheus-operator-crds");
    let files: Vec<PathBuf> = ["prometheusrules", "servicemonitors", "podmonitors", "alertmanagerconfigs"]
        .iter()
        .map(|k| dir.join(format!("monitoring.coreos.com_{k}.yaml")))
        .collect();
    install_crd_files(client, &files).await;
}

/// prometheus-operator's full CRD set (Alertmanager, Prometheus, ... besides the shared four), from
/// the Go module its binary is built from: `testenv.sh build monitoring` puts it at
/// `bin/testenv/prometheus-operator-crds`. It is a superset of [`install_monitoring_crds`]: the
/// four shared files must be byte-identical in it, so applying it beside tests that use the subset
/// changes none of their CRDs.
pub async fn install_full_monitoring_crds(client: &Client) {
    let full = testenv_bin("prometheus-operator-crds");
    let shared = shared_dir().join("third_party/prometheus-operator-crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for entry in std::fs::read_dir(&shared).expect("shared CRDs") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let twin = full.join(path.file_name().unwrap());
        assert!(
            std::fs::read(&twin).ok() == std::fs::read(&path).ok(),
            "{} differs from {} (or is missing there): the shared CRDs and the prometheus-operator \
             binary must be the same version (hack/testenv/versions.env)",
            path.display(),
            twin.display()
        );
    }
    install_crd_files(client, &files).await;
}

/// Path of a binary built by the testenv (kubectl, helm, ...).
pub fn testenv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/testenv").join(name);
    assert!(p.exists(), "{} missing: run `make test` (it builds the testenv binaries)", p.display());
    p
}

/// An operator running in this test process, watching only the test's namespace, so tests in
/// parallel never reconcile each other's objects.
pub async fn start_operator(client: &Client, ns: &str) -> nflbet::controller::OperatorHandle {
    start_operator_with(client, ns, |_| {}).await
}

/// Like [`start_operator`], with the arguments adjusted by `tweak`.
pub async fn start_operator_with(
    client: &Client,
    ns: &str,
    tweak: impl FnOnce(&mut nflbet::controller::OperatorArgs),
) -> nflbet::controller::OperatorHandle {
    let mut args = nflbet::controller::OperatorArgs {
        watch_namespace: ns.into(),
        workload_image: Some("example.invalid/nflbet:test".into()),
        workload_pull_policy: "IfNotPresent".into(),
        workload_image_pull_secrets: Vec::new(),
        metrics_namespace: "nflreadpy".into(),
        rule_labels: vec![("release".into(), "kube-prometheus-stack".into())],
        monitor_labels: vec![("release".into(), "kube-prometheus-stack".into())],
        runbook_base_url: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        concurrency: 4,
        leader_elect: false,
        lease_name: "nflbet-operator".into(),
        lease_namespace: ns.into(),
        pod_name: Some(format!("test-operator-{ns}")),
        leader_elect_lease_duration: Duration::from_secs(15),
        leader_elect_renew_deadline: Duration::from_secs(10),
        leader_elect_retry_period: Duration::from_secs(2),
        pagerduty_events_url: "http://127.0.0.1:9/v2/enqueue".into(),
        notify_timeout: "2s".into(),
        // The test feeds, stores and games files listen on loopback: the operator's policy must
        // allow it explicitly, as an administrator would (chart value egress.allowAddresses).
        egress: nflbet::egress::EgressArgs {
            allow_addresses: vec!["127.0.0.0/8".into()],
            ..nflbet::egress::EgressArgs::default()
        },
        pod_policy: Default::default(),
    };
    tweak(&mut args);
    nflbet::controller::start(client.clone(), args, tokio_util::sync::CancellationToken::new())
        .await
        .expect("operator starts")
}

/// Wait until the object's condition `type_` has `status` (and, if given, `reason`) for the
/// object's current generation. Returns the object.
pub async fn wait_condition<K>(api: &Api<K>, name: &str, type_: &str, status: &str, reason: Option<&str>) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let what = format!("{name}: condition {type_}={status} (reason {reason:?})");
    wait_for(&what, Duration::from_secs(60), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let v = serde_json::to_value(&obj).unwrap();
        let generation = v["metadata"]["generation"].as_i64();
        let conditions = v["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let c = conditions.iter().find(|c| c["type"] == type_);
        match c {
            Some(c)
                if c["status"] == status
                    && reason.is_none_or(|r| c["reason"] == r)
                    && c["observedGeneration"].as_i64() == generation =>
            {
                Ok(obj)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// What the runbook's `kubectl patch <kind> <name> --type merge -p '{"spec":{"disabled":…}}'` does.
pub async fn set_disabled<K>(api: &Api<K>, name: &str, disabled: bool)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let patch = Patch::Merge(serde_json::json!({"spec": {"disabled": disabled}}));
    api.patch(name, &PatchParams::default(), &patch).await.expect("patch spec.disabled");
}
