//! The Helm chart `charts/nflbet-operator`, checked with real helm (built from its Go module by
//! `hack/testenv/testenv.sh build`) and, where a cluster is needed, the local control plane.
//!
//! - offline: CRD templates match the Rust types, `helm lint --strict`, golden renders
//!   (`UPDATE_GOLDEN=1` rewrites `tests/golden/chart/`), schema rejects typos;
//! - on the control plane: every rendered manifest passes `kubectl apply --dry-run=server`, the
//!   examples are accepted, `helm install` makes the operator Deployment Available (kwok runs the
//!   pod) with the RBAC it needs and no more, and `helm uninstall` keeps the CRDs.
//!
//! Tests in this file run in parallel with each other and with other engineers' tests on the same
//! control plane: every release and namespace name is unique, cluster-scoped names carry the
//! release name, and only one test touches the shared CRDs (and only to adopt and keep them).

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const KUBE_VERSION: &str = "1.36.0";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join("charts/nflbet-operator")
}

/// Helm with its state in a private directory, talking to the local control plane.
fn helm() -> Command {
    let home = std::env::temp_dir().join(format!("nflbet-chart-tests-helm-{}", std::process::id()));
    let mut c = Command::new(support::testenv_bin("helm"));
    c.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", support::kubeconfig_path())
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_KUBECONTEXT");
    c
}

fn kubectl() -> Command {
    let mut c = Command::new(support::testenv_bin("kubectl"));
    c.arg("--kubeconfig").arg(support::kubeconfig_path());
    c
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn run_ok(cmd: Command) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Run `cmd` with `input` on stdin.
fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Each value as `--set`, and a flag (`--api-versions=...`) as itself.
fn set_args(c: &mut Command, set: &[&str]) {
    for s in set {
        if s.starts_with("--") {
            c.arg(s);
        } else {
            c.args(["--set", s]);
        }
    }
}

/// `helm template` of the chart with fixed names, so the output is reproducible.
fn template(release: &str, namespace: &str, set: &[&str]) -> Output {
    let mut c = helm();
    c.args(["template", release]).arg(chart_dir()).args([
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]);
    set_args(&mut c, set);
    run(c)
}

/// What `helm template` needs to render as on a cluster with the prometheus-operator CRDs.
pub(crate) const WITH_MONITORING_CRDS: &str = "--api-versions=monitoring.coreos.com/v1/PrometheusRule";

pub(crate) fn template_ok(release: &str, namespace: &str, set: &[&str]) -> String {
    let out = template(release, namespace, set);
    assert!(out.status.success(), "helm template {set:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The rendered stream without the CRD documents: those are generated from the Rust types and
/// checked by `chart_crd_templates_match_the_rust_types`, so goldens stay stable when a CRD (or a
/// new kind) changes.
fn without_crds(rendered: &str) -> String {
    let mut out = String::new();
    for doc in rendered.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        if doc.trim().is_empty() {
            continue;
        }
        if doc.contains("# Source: nflbet-operator/templates/crds/") {
            continue;
        }
        out.push_str("---\n");
        out.push_str(doc.trim_end());
        out.push('\n');
    }
    out
}

/// The rendered stream with each dashboard ConfigMap's JSON replaced by the name of the file it
/// must be (checked here): the dashboards are reviewed as files, not a second time in goldens.
fn dashboards_by_reference(rendered: &str) -> String {
    let mut out = String::new();
    let mut lines = rendered.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let Some(file) = line.strip_prefix("  nflbet-").and_then(|l| l.strip_suffix(".json: |-")) else {
            continue;
        };
        let mut json = String::new();
        while let Some(l) = lines.next_if(|l| l.starts_with("    ")) {
            json.push_str(&l[4..]);
            json.push('\n');
        }
        let path = chart_dir().join("dashboards").join(format!("{file}.json"));
        let expected = std::fs::read_to_string(&path).unwrap();
        assert!(
            json.trim_end() == expected.trim_end(),
            "the ConfigMap's {file}.json differs from {}",
            path.display()
        );
        out.push_str(&format!("    <charts/nflbet-operator/dashboards/{file}.json>\n"));
    }
    out
}

fn check_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden/chart").join(name);
    match std::env::var("UPDATE_GOLDEN").ok().as_deref() {
        None => {}
        Some("1") => {
            assert!(
                std::env::var_os("CI").is_none(),
                "UPDATE_GOLDEN=1 is refused under CI: goldens are reviewed, not rewritten"
            );
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::write(&path, actual).unwrap();
            panic!(
                "{} rewritten ({}); review `git diff tests/golden/chart`, then run again without UPDATE_GOLDEN",
                path.display(),
                if old == actual { "unchanged" } else { "changed" }
            );
        }
        Some(other) => panic!("UPDATE_GOLDEN={other:?}: only UPDATE_GOLDEN=1 rewrites the goldens"),
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1 to create it", path.display()));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  golden: {e}\n  actual: {a}", i + 1))
            .collect();
        panic!(
            "helm template output differs from {} ({} vs {} lines); first differences:\n{}\n\
             If the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff.",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

const VARIANT: &[&str] = &[
    "watchNamespaces={books-a,books-b}",
    "leaderElection.enabled=true",
    "replicaCount=2",
    "serviceMonitor.enabled=true",
    "serviceMonitor.labels.team=platform",
    "monitoring.labels.release=kube-prometheus-stack",
    "prometheusRule.extraLabels.team=trading",
    "podDisruptionBudget.enabled=true",
    "networkPolicy.enabled=true",
    "networkPolicy.apiServerCIDRs={10.0.0.10/32,10.96.0.1/32}",
    "workloads.imagePullSecrets={ghcr}",
    "notifications.secretNames={slack-webhook,pagerduty}",
    "podPolicy.images={registry.example.com/nflbet/*}",
    "podPolicy.tolerations={dedicated=betting}",
    "podPolicy.podAnnotations={prometheus.io/*}",
    "dashboards.annotations.grafana_folder=nflbet",
    WITH_MONITORING_CRDS,
];

// ---------------------------------------------------------------------------------------------
// Offline

#[test]
fn chart_crd_templates_match_the_rust_types() {
    let dir = chart_dir().join("templates/crds");
    let mut stale = Vec::new();
    for (file, crd) in nflbet::crd::all() {
        let want = nflbet::cli::crds::chart_template(&crd);
        if std::fs::read_to_string(dir.join(file)).unwrap_or_default() != want {
            stale.push(file);
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("templates/crds exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut expected: Vec<String> = nflbet::crd::all().into_iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(committed, expected, "the chart holds exactly one template per CRD; run `make chart-crds`");
    assert!(stale.is_empty(), "chart CRD templates {stale:?} are stale; run `make chart-crds` and commit");
}

#[test]
fn chart_version_follows_the_crate() {
    let chart: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["appVersion"].as_str(), Some(env!("CARGO_PKG_VERSION")), "appVersion = crate version");
    assert_eq!(chart["version"].as_str(), Some(env!("CARGO_PKG_VERSION")), "chart version = crate version");
}

/// `nflbet telemetry` with its ServiceMonitor and NetworkPolicy.
const TELEMETRY: &[&str] = &[
    "telemetry.enabled=true",
    "serviceMonitor.enabled=true",
    "monitoring.labels.release=kube-prometheus-stack",
    "networkPolicy.enabled=true",
    "networkPolicy.apiServerCIDRs={10.0.0.10/32}",
    WITH_MONITORING_CRDS,
];

#[test]
fn helm_lint_strict_passes() {
    for set in [&[][..], VARIANT, TELEMETRY] {
        let mut c = helm();
        c.args(["lint", "--strict", "--kube-version", KUBE_VERSION]).arg(chart_dir());
        // helm lint takes no --api-versions: values only.
        for s in set.iter().filter(|s| !s.starts_with("--")) {
            c.args(["--set", s]);
        }
        let out = run_ok(c);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn default_render_matches_golden() {
    let rendered = template_ok("nflbet", "nflbet-system", &[]);
    check_golden("default.yaml", &dashboards_by_reference(&without_crds(&rendered)));
}

#[test]
fn variant_render_matches_golden() {
    let rendered = template_ok("nflbet", "nflbet-system", VARIANT);
    check_golden("namespaced-ha-monitoring.yaml", &dashboards_by_reference(&without_crds(&rendered)));
}

#[test]
fn secret_access_is_granted_only_by_name_and_only_when_asked() {
    let default = template_ok("nflbet", "nflbet-system", &[]);
    assert!(!default.contains(r#"resources: ["secrets"]"#), "no Secret rule by default");
    let granted =
        template_ok("nflbet", "nflbet-system", &["notifications.secretNames={slack-webhook,pagerduty}"]);
    let rule = "resources: [\"secrets\"]\n    resourceNames: [\"slack-webhook\",\"pagerduty\"]\n    verbs: [\"get\"]\n";
    assert!(granted.contains(rule), "expected the named, get-only rule:\n{granted}");
    assert_eq!(granted.matches("resources: [\"secrets\"]").count(), 1, "exactly one Secret rule");
}

/// The rendered documents, parsed.
pub(crate) fn documents(rendered: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(rendered)
        .expect("helm renders YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The value of the operator container's environment variable `name`, if it is set.
fn operator_env(docs: &[serde_json::Value], name: &str) -> Option<String> {
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment");
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    env.iter().find(|e| e["name"] == name).map(|e| e["value"].as_str().unwrap().to_string())
}

#[test]
fn defaults_are_secure_and_wired() {
    let rendered = template_ok("nflbet", "nflbet-system", &[]);
    let docs = documents(&rendered);
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for k in [
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    for k in ["Role", "RoleBinding", "ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
        assert!(!kinds.contains(&k), "{k} rendered by default");
    }
    let crd = docs.iter().find(|d| d["kind"] == "CustomResourceDefinition").unwrap();
    assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(), Some("keep"));

    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"].as_str(), Some("RuntimeDefault"));
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    let image = format!("localhost/nflbet:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(c["image"].as_str(), Some(image.as_str()));
    let env = |name: &str| c["env"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned();
    assert_eq!(env("NFLBET_WORKLOAD_IMAGE").unwrap()["value"].as_str(), Some(image.as_str()));
    assert_eq!(env("WATCH_NAMESPACE").unwrap()["value"].as_str(), Some(""));
    assert_eq!(env("NFLBET_METRICS_NAMESPACE").unwrap()["value"].as_str(), Some("nflreadpy"));
    assert_eq!(
        env("POD_NAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.name")
    );
    assert_eq!(
        env("POD_NAMESPACE").unwrap()["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.namespace")
    );
    assert_eq!(
        env("NFLBET_FEED_CREDENTIAL_HOSTS").unwrap()["value"].as_str(),
        Some("api.the-odds-api.com"),
        "feed keys go only to The Odds API by default"
    );
    for name in ["NFLBET_S3_CREDENTIAL_HOSTS", "NFLBET_ALLOW_ADDRESSES", "NFLBET_DENY_ADDRESSES"] {
        assert!(env(name).is_none(), "{name}: nothing allowed or added unless asked");
    }
    assert!(env("NFLBET_RULE_LABELS").is_none(), "no rule labels unless asked");
    assert!(env("NFLBET_MONITOR_LABELS").is_none(), "no monitor labels unless asked");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));

    // Least privilege: nothing on Secrets, no wildcards.
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    for rule in role["rules"].as_array().unwrap() {
        for field in ["apiGroups", "resources", "verbs"] {
            for v in rule[field].as_array().unwrap() {
                assert_ne!(v.as_str(), Some("*"), "wildcard in {rule:?}");
                assert_ne!(v.as_str(), Some("secrets"), "Secret access in {rule:?}");
            }
        }
    }
}

#[test]
fn variant_renders_rule_labels_and_per_namespace_operators() {
    let rendered = template_ok("nflbet", "nflbet-system", VARIANT);
    assert!(rendered.contains("value: \"release=kube-prometheus-stack,team=trading\""), "{rendered}");
    assert!(!rendered.contains("kind: ClusterRole"), "namespace-scoped install renders no ClusterRole");
    for ns in ["books-a", "books-b"] {
        assert!(rendered.contains(&format!("name: nflbet-nflbet-operator-{ns}\n")), "Deployment for {ns}");
        assert!(rendered.contains(&format!("--lease-name=nflbet-nflbet-operator-{ns}")), "lease for {ns}");
    }
}

#[test]
fn monitoring_labels_reach_every_rule_and_service_monitor() {
    let docs = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &["monitoring.labels.release=kube-prometheus-stack", "serviceMonitor.enabled=true"],
    ));
    assert_eq!(operator_env(&docs, "NFLBET_RULE_LABELS").as_deref(), Some("release=kube-prometheus-stack"));
    assert_eq!(
        operator_env(&docs, "NFLBET_MONITOR_LABELS").as_deref(),
        Some("release=kube-prometheus-stack"),
        "the scrapers' and models' ServiceMonitors get the release label too"
    );
    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").expect("the operator's ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"].as_str(), Some("kube-prometheus-stack"));
}

#[test]
fn prometheus_rule_extra_labels_keep_working_and_win_over_monitoring_labels() {
    let old = documents(&template_ok("nflbet", "nflbet-system", &["prometheusRule.extraLabels.release=kps"]));
    assert_eq!(operator_env(&old, "NFLBET_RULE_LABELS").as_deref(), Some("release=kps"));
    assert_eq!(operator_env(&old, "NFLBET_MONITOR_LABELS"), None);

    let both = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &[
            "monitoring.labels.release=kps",
            "monitoring.labels.team=trading",
            "prometheusRule.extraLabels.release=rules",
            "serviceMonitor.enabled=true",
            "serviceMonitor.labels.team=platform",
        ],
    ));
    assert_eq!(operator_env(&both, "NFLBET_RULE_LABELS").as_deref(), Some("release=rules,team=trading"));
    assert_eq!(operator_env(&both, "NFLBET_MONITOR_LABELS").as_deref(), Some("release=kps,team=trading"));
    let monitor = both.iter().find(|d| d["kind"] == "ServiceMonitor").unwrap();
    assert_eq!(monitor["metadata"]["labels"]["release"].as_str(), Some("kps"));
    assert_eq!(monitor["metadata"]["labels"]["team"].as_str(), Some("platform"));
}

fn dashboard_maps(docs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    docs.iter()
        .filter(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"].as_str().is_some_and(|n| n.contains("-dashboard-"))
        })
        .collect()
}

#[test]
fn dashboards_are_config_maps_for_the_grafana_sidecar() {
    let default = documents(&template_ok("nflbet", "nflbet-system", &[]));
    let maps = dashboard_maps(&default);
    let names: Vec<&str> = maps.iter().map(|m| m["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "nflbet-nflbet-operator-dashboard-ingestion",
            "nflbet-nflbet-operator-dashboard-models",
            "nflbet-nflbet-operator-dashboard-operator"
        ]
    );
    for m in &maps {
        assert_eq!(
            m["metadata"]["labels"]["grafana_dashboard"].as_str(),
            Some("1"),
            "the sidecar's default label"
        );
        assert_eq!(m["metadata"]["namespace"].as_str(), Some("nflbet-system"));
    }

    let set = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &[
            "metricsNamespace=betting",
            "dashboards.label=example.com/dashboard",
            "dashboards.labelValue=nflbet",
            "dashboards.namespace=monitoring",
            "dashboards.labels.team=trading",
            "dashboards.annotations.grafana_folder=Betting",
        ],
    ));
    let maps = dashboard_maps(&set);
    assert_eq!(maps.len(), 3);
    for m in maps {
        let meta = &m["metadata"];
        assert_eq!(meta["labels"]["example.com/dashboard"].as_str(), Some("nflbet"), "{meta:?}");
        assert!(meta["labels"]["grafana_dashboard"].is_null(), "the configured label replaces the default");
        assert_eq!(meta["labels"]["team"].as_str(), Some("trading"));
        assert_eq!(meta["annotations"]["grafana_folder"].as_str(), Some("Betting"));
        assert_eq!(meta["namespace"].as_str(), Some("monitoring"));
        let data = m["data"].as_object().unwrap();
        assert_eq!(data.len(), 1);
        let (key, json) = data.iter().next().unwrap();
        assert!(key.ends_with(".json"), "{key:?}");
        let json = json.as_str().unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(json).expect("the dashboard is JSON");
        assert!(dashboard["uid"].as_str().is_some_and(|u| u.starts_with("nflbet-")));
        assert!(!json.contains("nflreadpy_"), "metricsNamespace replaces the prefix in {key:?}");
        assert!(json.contains("betting_") || key == "nflbet-operator.json", "{key:?}");
    }

    let off = documents(&template_ok("nflbet", "nflbet-system", &["dashboards.enabled=false"]));
    assert!(dashboard_maps(&off).is_empty(), "dashboards.enabled=false renders none");
}

#[test]
fn pod_policy_values_reach_the_operator_env() {
    let default = documents(&template_ok("nflbet", "nflbet-system", &[]));
    assert_eq!(
        operator_env(&default, "NFLBET_SERVICE_ACCOUNT_LABEL").as_deref(),
        Some("betting.nflbet.dev/workload-identity=true")
    );
    for name in [
        "NFLBET_ALLOWED_IMAGES",
        "NFLBET_ALLOWED_TOLERATIONS",
        "NFLBET_ALLOWED_NODE_SELECTORS",
        "NFLBET_ALLOWED_POD_ANNOTATIONS",
    ] {
        assert_eq!(
            operator_env(&default, name),
            None,
            "{name}: nothing beyond the workload image by default"
        );
    }
    let set = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &[
            "podPolicy.images={registry.example.com/nflbet/*,ghcr.io/acme/nflbet:2}",
            "podPolicy.serviceAccountLabel=team=trading",
            "podPolicy.tolerations={dedicated=betting}",
            "podPolicy.nodeSelectors={kubernetes.io/arch,pool=betting}",
            "podPolicy.podAnnotations={prometheus.io/*}",
        ],
    ));
    for (name, want) in [
        ("NFLBET_ALLOWED_IMAGES", "registry.example.com/nflbet/*,ghcr.io/acme/nflbet:2"),
        ("NFLBET_SERVICE_ACCOUNT_LABEL", "team=trading"),
        ("NFLBET_ALLOWED_TOLERATIONS", "dedicated=betting"),
        ("NFLBET_ALLOWED_NODE_SELECTORS", "kubernetes.io/arch,pool=betting"),
        ("NFLBET_ALLOWED_POD_ANNOTATIONS", "prometheus.io/*"),
    ] {
        assert_eq!(operator_env(&set, name).as_deref(), Some(want), "{name}");
    }
}

/// The operator re-exports series of other namespaces (`namespace` = the Sportsbook's); without
/// honorLabels Prometheus would rename that label `exported_namespace` and the stale-data rule's
/// operator-side fallback would never match.
#[test]
fn the_operator_service_monitor_honors_the_labels_it_exports() {
    let docs = documents(&template_ok("nflbet", "nflbet-system", &["serviceMonitor.enabled=true"]));
    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").unwrap();
    let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["honorLabels"].as_bool(), Some(true), "{monitor:?}");
}

#[test]
fn egress_values_reach_the_operator_as_its_flags() {
    let rendered = template_ok(
        "nflbet",
        "nflbet-system",
        &[
            "egress.feedCredentialHosts={api.the-odds-api.com,http://*.trading.svc.cluster.local}",
            "egress.s3CredentialHosts={http://minio.storage.svc.cluster.local}",
            "egress.allowAddresses={169.254.169.254/32}",
            "egress.denyAddresses={192.168.0.0/16,10.0.0.1}",
        ],
    );
    let docs = documents(&rendered);
    let env = |name: &str| operator_env(&docs, name).unwrap_or_else(|| panic!("{name} not set"));
    // The values as the operator parses them: its own flags, from the same environment.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        egress: nflbet::egress::EgressArgs,
    }
    let argv = [
        ("feed-credential-hosts", env("NFLBET_FEED_CREDENTIAL_HOSTS")),
        ("s3-credential-hosts", env("NFLBET_S3_CREDENTIAL_HOSTS")),
        ("allow-addresses", env("NFLBET_ALLOW_ADDRESSES")),
        ("deny-addresses", env("NFLBET_DENY_ADDRESSES")),
    ]
    .map(|(flag, value)| format!("--{flag}={value}"));
    let policy = <Cli as clap::Parser>::try_parse_from(std::iter::once("operator".to_string()).chain(argv))
        .unwrap()
        .egress
        .policy(vec![])
        .expect("the chart renders a policy the operator accepts");
    assert_eq!(
        policy.feed_credentials.to_string(),
        "api.the-odds-api.com, http://*.trading.svc.cluster.local"
    );
    assert_eq!(policy.s3_credentials.to_string(), "http://minio.storage.svc.cluster.local");
    assert_eq!(policy.addresses.allow.len(), 1);
    assert_eq!(policy.addresses.deny.len(), 2);
}

#[test]
fn schema_rejects_typos_and_bad_values() {
    for (set, needle) in [
        ("foo=bar", "'foo'"),
        ("image.tga=v1", "'tga'"),
        ("serviceMonitor.enable=true", "'enable'"),
        ("leaderElection.enabeld=true", "'enabeld'"),
        ("crds.kep=false", "'kep'"),
        ("replicaCount=two", "/replicaCount"),
        ("watchNamespaces={Books}", "/watchNamespaces"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("monitoring.lables.release=kps", "'lables'"),
        ("monitoring.labels.release=not a label value", "/monitoring/labels/release"),
        ("egress.allowAdresses={127.0.0.1/32}", "'allowAdresses'"),
        ("egress.feedCredentialHosts={ftp://feeds.example.com}", "/egress/feedCredentialHosts/0"),
        ("egress.allowAddresses={localhost}", "/egress/allowAddresses/0"),
        ("podPolicy.imgs={x}", "'imgs'"),
        ("podPolicy.images={reg*/x}", "/podPolicy/images/0"),
        ("podPolicy.serviceAccountLabel=trusted", "/podPolicy/serviceAccountLabel"),
        ("workloads.imagePullSecrets={Not_A_Secret}", "/workloads/imagePullSecrets/0"),
        ("workloads.imagePullSecret={ghcr}", "'imagePullSecret'"),
        ("networkPolicy.apiServerCIDRs={10.0.0.1}", "/networkPolicy/apiServerCIDRs/0"),
        ("strategy.type=BlueGreen", "/strategy/type"),
        ("topologySpreadConstraints[0].maxSkew=1", "topologySpreadConstraints/0"),
    ] {
        let out = template("nflbet", "nflbet-system", &[set]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--set {set} was accepted");
        assert!(stderr.contains("schema"), "--set {set}: {stderr}");
        assert!(stderr.contains(needle), "--set {set}: error does not name {needle}: {stderr}");
    }
}

#[test]
fn several_replicas_need_leader_election() {
    let out = template("nflbet", "nflbet-system", &["replicaCount=2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("leaderElection.enabled"));
    template_ok("nflbet", "nflbet-system", &["replicaCount=2", "leaderElection.enabled=true"]);
}

/// The operator Deployments of a render (one per watched namespace).
fn operator_deployments(docs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == "Deployment").collect()
}

#[test]
fn workload_image_pull_secrets_reach_the_operator_as_its_flag() {
    let docs = documents(&template_ok("nflbet", "nflbet-system", &[]));
    assert_eq!(operator_env(&docs, "NFLBET_WORKLOAD_IMAGE_PULL_SECRETS"), None, "none by default");
    let docs =
        documents(&template_ok("nflbet", "nflbet-system", &["workloads.imagePullSecrets={ghcr,mirror}"]));
    assert_eq!(operator_env(&docs, "NFLBET_WORKLOAD_IMAGE_PULL_SECRETS").as_deref(), Some("ghcr,mirror"));
    // The operator's own pod keeps its own setting.
    let pod = &operator_deployments(&docs)[0]["spec"]["template"]["spec"];
    assert!(pod["imagePullSecrets"].is_null(), "workloads' secrets are not the operator's: {pod:?}");
    // The flag the chart sets is one the operator parses.
    let value = operator_env(&docs, "NFLBET_WORKLOAD_IMAGE_PULL_SECRETS").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["operator", "--workload-image-pull-secret", &value, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NFLBET_WORKLOAD_IMAGE_PULL_SECRETS"));
}

#[test]
fn two_operators_never_overlap_without_leader_election() {
    let strategy = |set: &[&str]| {
        let docs = documents(&template_ok("nflbet", "nflbet-system", set));
        operator_deployments(&docs)[0]["spec"]["strategy"].clone()
    };
    let single = strategy(&[]);
    assert_eq!(single["type"].as_str(), Some("Recreate"), "{single:?}");
    let ha = strategy(&["leaderElection.enabled=true", "replicaCount=2"]);
    assert_eq!(ha["type"].as_str(), Some("RollingUpdate"), "{ha:?}");
    assert_eq!(ha["rollingUpdate"]["maxUnavailable"].as_u64(), Some(0), "{ha:?}");
    let custom = strategy(&["leaderElection.enabled=true", "strategy.type=Recreate"]);
    assert_eq!(custom["type"].as_str(), Some("Recreate"), "an explicit strategy wins: {custom:?}");
}

#[test]
fn a_disruption_budget_never_blocks_a_drain_of_a_single_replica() {
    let kinds = |set: &[&str]| -> Vec<String> {
        documents(&template_ok("nflbet", "nflbet-system", set))
            .iter()
            .filter_map(|d| d["kind"].as_str().map(str::to_string))
            .collect()
    };
    assert!(!kinds(&["podDisruptionBudget.enabled=true"]).contains(&"PodDisruptionBudget".to_string()));
    let ha = ["podDisruptionBudget.enabled=true", "leaderElection.enabled=true", "replicaCount=2"];
    assert!(kinds(&ha).contains(&"PodDisruptionBudget".to_string()));
}

#[test]
fn replicas_spread_across_nodes() {
    let constraints = |set: &[&str]| {
        let docs = documents(&template_ok("nflbet", "nflbet-system", set));
        operator_deployments(&docs)[0]["spec"]["template"]["spec"]["topologySpreadConstraints"].clone()
    };
    assert!(constraints(&[]).is_null(), "one replica: nothing to spread");
    let ha = constraints(&["leaderElection.enabled=true", "replicaCount=2"]);
    let c = &ha[0];
    assert_eq!(c["topologyKey"].as_str(), Some("kubernetes.io/hostname"), "{ha:?}");
    assert_eq!(c["whenUnsatisfiable"].as_str(), Some("ScheduleAnyway"));
    assert_eq!(c["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"].as_str(), Some("nflbet"));
    // Per watched namespace, the selector is that Deployment's own.
    let scoped = constraints(&["leaderElection.enabled=true", "replicaCount=2", "watchNamespaces={books}"]);
    assert_eq!(
        scoped[0]["labelSelector"]["matchLabels"]["nflbet.dev/watch-namespace"].as_str(),
        Some("books")
    );
    // A constraint of one's own, completed with the pods' selector.
    let own = constraints(&[
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
    ]);
    assert_eq!(own[0]["topologyKey"].as_str(), Some("topology.kubernetes.io/zone"), "{own:?}");
    assert_eq!(
        own[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
        Some("nflbet-operator")
    );
    assert!(own[1].is_null(), "no default added to one's own: {own:?}");
}

#[test]
fn the_network_policy_allows_the_api_server_ports_only_to_the_api_server() {
    let out = template("nflbet", "nflbet-system", &["networkPolicy.enabled=true"]);
    assert!(!out.status.success(), "a policy without the API server's addresses would allow any host");
    assert!(String::from_utf8_lossy(&out.stderr).contains("networkPolicy.apiServerCIDRs"));

    let docs = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &["networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={10.0.0.10/32,10.96.0.1/32}"],
    ));
    let policy = docs.iter().find(|d| d["kind"] == "NetworkPolicy").expect("a NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "DNS and the API server only: {egress:?}");
    for rule in egress {
        let ports: Vec<u64> =
            rule["ports"].as_array().unwrap().iter().filter_map(|p| p["port"].as_u64()).collect();
        if ports.contains(&53) {
            assert_eq!(ports, [53, 53], "the DNS rule carries DNS only: {rule:?}");
            continue;
        }
        assert_eq!(ports, [443, 6443]);
        let to: Vec<&str> = rule["to"]
            .as_array()
            .expect("a `to:`")
            .iter()
            .map(|p| p["ipBlock"]["cidr"].as_str().unwrap())
            .collect();
        assert_eq!(to, ["10.0.0.10/32", "10.96.0.1/32"]);
    }
}

/// The chart's objects of `nflbet telemetry`: those labelled with its component.
fn telemetry_objects(docs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    docs.iter().filter(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == "telemetry").collect()
}

/// Whether every label of `selector` is among `labels`.
fn selects(selector: &serde_json::Value, labels: &serde_json::Value) -> bool {
    let selector = selector.as_object().expect("a selector map");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels[k] == *v)
}

#[test]
fn telemetry_is_off_by_default() {
    for set in [&[][..], VARIANT] {
        let rendered = template_ok("nflbet", "nflbet-system", set);
        assert!(telemetry_objects(&documents(&rendered)).is_empty(), "{set:?}");
        assert!(!rendered.contains("- telemetry\n"), "{set:?}");
    }
}

#[test]
fn telemetry_renders_a_deployment_service_and_service_monitor_that_match() {
    let docs = documents(&template_ok("nflbet", "nflbet-system", TELEMETRY));
    let objects = telemetry_objects(&docs);
    let one = |kind: &str| {
        let found: Vec<_> = objects.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "one telemetry {kind}: {objects:?}");
        *found[0]
    };
    let (deploy, service, monitor) = (one("Deployment"), one("Service"), one("ServiceMonitor"));
    for d in [deploy, service, monitor] {
        assert_eq!(d["metadata"]["name"], "nflbet-nflbet-operator-telemetry");
        assert_eq!(d["metadata"]["namespace"], "nflbet-system");
    }
    let pod = &deploy["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["telemetry", "--bind=0.0.0.0", "--port=9100", "--all-namespaces"]);

    // Deployment selects its pods, the Service them, the ServiceMonitor the Service, by one port.
    assert!(selects(&deploy["spec"]["selector"]["matchLabels"], &pod["metadata"]["labels"]));
    assert!(selects(&service["spec"]["selector"], &pod["metadata"]["labels"]));
    assert!(selects(&monitor["spec"]["selector"]["matchLabels"], &service["metadata"]["labels"]));
    assert_eq!(monitor["spec"]["namespaceSelector"]["matchNames"][0], "nflbet-system");
    let port = &container["ports"][0];
    assert_eq!((port["name"].as_str(), port["containerPort"].as_u64()), (Some("metrics"), Some(9100)));
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["port"].as_u64(), Some(9100));
    assert_eq!(service_port["targetPort"], port["name"]);
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service_port["name"]);
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(
        endpoint["honorLabels"].as_bool(),
        Some(true),
        "telemetry's namespace label is the resource's"
    );
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(container[probe]["httpGet"]["port"], "metrics");
    }

    // The operator's security conventions; its objects never select telemetry's pod, nor the reverse.
    let operator = docs
        .iter()
        .find(|d| {
            d["kind"] == "Deployment" && d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
        })
        .unwrap();
    let operator_pod = &operator["spec"]["template"];
    assert_eq!(pod["spec"]["securityContext"], operator_pod["spec"]["securityContext"]);
    assert_eq!(container["securityContext"], operator_pod["spec"]["containers"][0]["securityContext"]);
    assert_eq!(container["image"], operator_pod["spec"]["containers"][0]["image"]);
    assert!(container["resources"]["limits"]["memory"].is_string(), "{container}");
    let mut checked = Vec::new();
    for other in docs.iter().filter(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator")
    {
        let selector = match other["kind"].as_str().unwrap() {
            "Deployment" | "PodDisruptionBudget" => &other["spec"]["selector"]["matchLabels"],
            "Service" => &other["spec"]["selector"],
            "NetworkPolicy" => &other["spec"]["podSelector"]["matchLabels"],
            _ => continue,
        };
        assert!(selects(selector, &operator_pod["metadata"]["labels"]), "{other}");
        assert!(
            !selects(selector, &pod["metadata"]["labels"]),
            "the operator's {} selects telemetry",
            other["kind"]
        );
        checked.push(other["kind"].as_str().unwrap());
    }
    assert_eq!(checked, ["NetworkPolicy", "Service", "Deployment"]);
    let policy = one("NetworkPolicy");
    assert!(selects(&policy["spec"]["podSelector"]["matchLabels"], &pod["metadata"]["labels"]));

    // Read-only on the three kinds, bound to its own ServiceAccount.
    let account = one("ServiceAccount");
    assert_eq!(pod["spec"]["serviceAccountName"], account["metadata"]["name"]);
    let role = one("ClusterRole");
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": ["betting.nflbet.dev"], "resources": ["sportsbooks", "models", "alertroutes"], "verbs": ["get", "list", "watch"]}])
    );
    let binding = one("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);

    // Without the chart's monitoring, no ServiceMonitor (as for the operator's); another port.
    let docs = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &["telemetry.enabled=true", "telemetry.port=9200"],
    ));
    let kinds: Vec<&str> = telemetry_objects(&docs).iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"]);
    let deploy = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "nflbet-nflbet-operator-telemetry" && d["kind"] == "Deployment")
        .unwrap();
    assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["args"][2], "--port=9200");
}

#[test]
fn telemetry_in_a_namespace_scoped_install_reads_one_namespace() {
    let out = template("nflbet", "nflbet-system", &["watchNamespaces={books-a}", "telemetry.enabled=true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs telemetry.namespace"), "{out:?}");

    let docs = documents(&template_ok(
        "nflbet",
        "nflbet-system",
        &["watchNamespaces={books-a}", "telemetry.enabled=true", "telemetry.namespace=books-a"],
    ));
    let objects = telemetry_objects(&docs);
    let kinds: Vec<&str> = objects.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert!(!kinds.contains(&"ClusterRole") && kinds.contains(&"Role"), "{kinds:?}");
    let role = objects.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(role["metadata"]["namespace"], "books-a");
    let deploy = objects.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["args"][3], "--namespace=books-a");
}

/// `crds/` (for `kubectl apply` and GitOps) and the chart's CRD templates carry the same
/// nflbet labels: a selector such as `app.kubernetes.io/part-of=nflbet` finds them either way.
#[test]
fn crds_dir_and_chart_crds_carry_the_same_labels() {
    let rendered = documents(&template_ok("nflbet", "nflbet-system", &[]));
    for (file, _) in nflbet::crd::all() {
        let text = std::fs::read_to_string(root().join("crds").join(file)).unwrap();
        let plain: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let name = plain["metadata"]["name"].as_str().unwrap();
        let chart = rendered
            .iter()
            .find(|d| d["kind"] == "CustomResourceDefinition" && d["metadata"]["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{name} not rendered by the chart"));
        let labels =
            plain["metadata"]["labels"].as_object().unwrap_or_else(|| panic!("crds/{file} has no labels"));
        assert_eq!(
            labels.get("app.kubernetes.io/part-of").and_then(|v| v.as_str()),
            Some("nflbet"),
            "crds/{file}"
        );
        for (k, v) in labels {
            assert_eq!(&chart["metadata"]["labels"][k], v, "label {k:?} of crds/{file} differs in the chart");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// On the local control plane

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:05}", rand::random::<u32>() % 100_000)
}

/// Every object the chart renders carries its namespace, so no `-n` here.
fn dry_run_apply(manifests: &str) {
    let mut c = kubectl();
    c.args([
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=nflbet-chart-tests",
        "--force-conflicts",
        "-f",
        "-",
    ]);
    let out = run_with_stdin(c, manifests);
    assert!(
        out.status.success(),
        "kubectl apply --dry-run=server refused the chart:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_rendered_manifest_passes_server_dry_run() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let release_ns = support::namespace(&client, "chart-dry-run").await;
    let a = support::namespace(&client, "chart-dry-run-a").await;
    let b = support::namespace(&client, "chart-dry-run-b").await;
    let release = unique("dry");
    let _cleanup =
        Cleanup { release: release.clone(), namespaces: vec![release_ns.clone(), a.clone(), b.clone()] };

    // Defaults: CRDs included (an update of the existing ones, in dry run only).
    dry_run_apply(&template_ok(&release, &release_ns, &[]));

    let watch = format!("watchNamespaces={{{a},{b}}}");
    let mut variant: Vec<&str> =
        VARIANT.iter().copied().filter(|s| !s.starts_with("watchNamespaces")).collect();
    variant.push(&watch);
    let telemetry_ns = format!("telemetry.namespace={a}");
    variant.extend(["telemetry.enabled=true", telemetry_ns.as_str()]);
    dry_run_apply(&template_ok(&release, &release_ns, &variant));
    // Telemetry reading every namespace, with its ClusterRole.
    dry_run_apply(&template_ok(&release, &release_ns, TELEMETRY));

    for ns in [&release_ns, &a, &b] {
        support::delete_namespace(&client, ns).await;
    }
}

#[tokio::test]
async fn examples_are_accepted_by_the_api_server() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "chart-examples").await;
    let mut c = kubectl();
    c.args(["apply", "--dry-run=server", "-n", &ns, "-f"]).arg(root().join("examples"));
    let out = run_ok(c);
    for name in [
        "secret/the-odds-api",
        "sportsbook.betting.nflbet.dev/fanduel",
        "sportsbook.betting.nflbet.dev/draftkings",
    ] {
        assert!(out.contains(name), "{name} not applied: {out}");
    }
    support::delete_namespace(&client, &ns).await;
}

async fn wait_available(client: &kube::Client, ns: &str, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    support::wait_for(&format!("Deployment {ns}/{name} Available"), Duration::from_secs(120), || async {
        let d = api.get(name).await.map_err(|e| e.to_string())?;
        let available = d
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "True"));
        if available { Ok(d) } else { Err(format!("{:?}", d.status)) }
    })
    .await
}

/// `kubectl auth can-i` as the operator's ServiceAccount.
/// `resource` may end in `#subresource` (e.g. `sportsbooks.betting.nflbet.dev#status`).
fn can_i(sa: &str, ns: &str, verb: &str, resource: &str, in_ns: Option<&str>) -> bool {
    let mut c = kubectl();
    let (resource, sub) = resource.split_once('#').map_or((resource, None), |(r, s)| (r, Some(s)));
    c.args(["auth", "can-i", verb, resource, "--as", &format!("system:serviceaccount:{ns}:{sa}")]);
    if let Some(sub) = sub {
        c.arg(format!("--subresource={sub}"));
    }
    match in_ns {
        Some(n) => c.args(["-n", n]),
        None => c.arg("--all-namespaces"),
    };
    let out = run(c);
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// Uninstalls the release and deletes the namespaces when a test ends, also when it fails, so a
/// failing run leaves no ClusterRole or namespace behind on the shared control plane.
struct Cleanup {
    release: String,
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(ns) = self.namespaces.first() {
            let mut c = helm();
            c.args(["uninstall", &self.release, "-n", ns, "--ignore-not-found"]);
            let _ = c.output();
        }
        for ns in &self.namespaces {
            let mut c = kubectl();
            c.args(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
            let _ = c.output();
        }
    }
}

fn helm_uninstall(release: &str, ns: &str) {
    let mut c = helm();
    c.args(["uninstall", release, "-n", ns, "--wait", "--timeout", "2m"]);
    run_ok(c);
}

#[tokio::test]
async fn helm_install_cluster_wide_runs_the_operator() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "chart-install").await;
    let release = unique("nflbet");
    let fullname = format!("{release}-nflbet-operator");
    let _cleanup = Cleanup { release: release.clone(), namespaces: vec![ns.clone()] };
    let mut c = helm();
    // The CRDs already exist cluster-wide (installed by other tests without Helm's ownership
    // metadata), so this release must not try to own them.
    c.args(["install", &release])
        .arg(chart_dir())
        .args(["-n", &ns, "--set", "crds.enabled=false", "--set", "image.repository=example.invalid/nflbet"])
        .args(["--set", "prometheusRule.extraLabels.release=kube-prometheus-stack", "--timeout", "2m"]);
    let notes = run_ok(c);
    assert!(notes.contains("STATUS: deployed"), "{notes}");
    assert!(notes.contains("kubectl wait --for=condition=Ready"), "NOTES tell what to do next: {notes}");

    let d = wait_available(&client, &ns, &fullname).await;
    assert_eq!(d.status.unwrap().available_replicas, Some(1));

    // The RBAC is what the operator needs, and no more.
    let sa = fullname.as_str();
    for (verb, res) in [
        ("watch", "sportsbooks.betting.nflbet.dev"),
        ("patch", "sportsbooks.betting.nflbet.dev#status"),
        ("get", "sportsbooks.betting.nflbet.dev#status"),
        ("create", "deployments.apps"),
        ("delete", "services"),
        ("create", "serviceaccounts"),
        // The pod policy reads the ServiceAccount a spec names, to check its label.
        ("get", "serviceaccounts"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("patch", "prometheusrules.monitoring.coreos.com"),
        ("create", "servicemonitors.monitoring.coreos.com"),
        ("create", "alertmanagerconfigs.monitoring.coreos.com"),
        ("patch", "events.events.k8s.io"),
        // A Model's replay gate: its Job, and reading the reports off the Job's pod.
        ("patch", "jobs.batch"),
        ("watch", "jobs.batch"),
        ("delete", "jobs.batch"),
        ("list", "pods"),
    ] {
        assert!(can_i(sa, &ns, verb, res, None), "operator cannot {verb} {res}");
    }
    for (verb, res) in [
        ("get", "secrets"),
        ("list", "secrets"),
        ("update", "sportsbooks.betting.nflbet.dev"),
        ("create", "pods"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "leases.coordination.k8s.io"),
    ] {
        assert!(!can_i(sa, &ns, verb, res, None), "operator may {verb} {res}");
    }

    helm_uninstall(&release, &ns);
    let roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt(&fullname).await.unwrap().is_none(), "uninstall removes the ClusterRole");
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn helm_install_namespace_scoped_with_leader_election() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "chart-scoped").await;
    let watched = support::namespace(&client, "chart-scoped-books").await;
    let other = support::namespace(&client, "chart-scoped-other").await;
    let release = unique("scoped");
    let fullname = format!("{release}-nflbet-operator");
    let _cleanup =
        Cleanup { release: release.clone(), namespaces: vec![ns.clone(), watched.clone(), other.clone()] };
    let mut c = helm();
    c.args(["install", &release])
        .arg(chart_dir())
        .args(["-n", &ns, "--set", "crds.enabled=false", "--set", "image.repository=example.invalid/nflbet"])
        .args(["--set", &format!("watchNamespaces={{{watched}}}")])
        .args(["--set", "leaderElection.enabled=true", "--set", "replicaCount=2"])
        .args(["--set", "podDisruptionBudget.enabled=true", "--set", "networkPolicy.enabled=true"])
        .args(["--set", "networkPolicy.apiServerCIDRs={10.0.0.10/32}"])
        .args(["--wait", "--timeout", "2m"]);
    run_ok(c);

    let name = format!("{fullname}-{watched}");
    let name = &name[..name.len().min(63)];
    let d = wait_available(&client, &ns, name.trim_end_matches('-')).await;
    let pod = d.spec.unwrap().template.spec.unwrap();
    let env = pod.containers[0].env.clone().unwrap();
    let watch = env.iter().find(|e| e.name == "WATCH_NAMESPACE").unwrap();
    assert_eq!(watch.value.as_deref(), Some(watched.as_str()));

    let sa = fullname.as_str();
    assert!(can_i(sa, &ns, "watch", "sportsbooks.betting.nflbet.dev", Some(&watched)));
    assert!(can_i(sa, &ns, "create", "deployments.apps", Some(&watched)));
    assert!(can_i(sa, &ns, "create", "events.events.k8s.io", Some(&watched)));
    assert!(
        !can_i(sa, &ns, "watch", "sportsbooks.betting.nflbet.dev", Some(&other)),
        "other namespaces are off limits"
    );
    assert!(!can_i(sa, &ns, "create", "deployments.apps", Some(&other)));
    assert!(!can_i(sa, &ns, "list", "sportsbooks.betting.nflbet.dev", None), "no cluster-wide access");
    assert!(!can_i(sa, &ns, "get", "secrets", Some(&watched)));
    // The Lease: create anywhere in its namespace, read and renew only its own.
    assert!(can_i(sa, &ns, "create", "leases.coordination.k8s.io", Some(&ns)));
    assert!(can_i(
        sa,
        &ns,
        "update",
        &format!("leases.coordination.k8s.io/{}", name.trim_end_matches('-')),
        Some(&ns)
    ));
    assert!(!can_i(sa, &ns, "update", "leases.coordination.k8s.io/someone-else", Some(&ns)));

    helm_uninstall(&release, &ns);
    for n in [&ns, &watched, &other] {
        support::delete_namespace(&client, n).await;
    }
}

/// CRDs that already exist (applied with `kubectl` or by `nflbet crds`) can be adopted by a
/// release after labelling them as docs/install.md says, and `crds.keep` keeps them on uninstall.
#[tokio::test]
async fn helm_adopts_existing_crds_and_keeps_them_on_uninstall() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "chart-crds").await;
    let release = unique("crds");
    let _cleanup = Cleanup { release: release.clone(), namespaces: vec![ns.clone()] };
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names: Vec<String> =
        nflbet::crd::all().into_iter().map(|(_, crd)| crd.metadata.name.unwrap()).collect();

    // Without ownership metadata Helm refuses, naming the problem.
    let mut c = helm();
    c.args(["install", &release]).arg(chart_dir()).args(["-n", &ns, "--set", "rbac.create=false"]);
    c.args(["--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"]);
    let out = run(c);
    assert!(!out.status.success(), "Helm must not silently take over CRDs it does not own");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid ownership metadata"), "{stderr}");
    let mut c = helm();
    c.args(["uninstall", &release, "-n", &ns]);
    let _ = run(c);

    // Adopt: the label and annotations Helm checks.
    let adopt = |release: &str| {
        serde_json::json!({"metadata": {
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns}
        }})
    };
    for name in &names {
        crds.patch(name, &PatchParams::default(), &Patch::Merge(adopt(&release))).await.unwrap();
    }
    let mut c = helm();
    c.args(["install", &release]).arg(chart_dir()).args(["-n", &ns, "--set", "rbac.create=false"]);
    c.args(["--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"]);
    c.args(["--set", "image.repository=example.invalid/nflbet"]);
    let installed = run(c);

    let mut c = helm();
    c.args(["uninstall", &release, "-n", &ns, "--wait"]);
    let uninstalled = run(c);

    // Whatever happened, give the shared CRDs back unowned (other tests apply them).
    let release_meta = serde_json::json!({"metadata": {"annotations": {
        "meta.helm.sh/release-name": null, "meta.helm.sh/release-namespace": null
    }}});
    for name in &names {
        let _ = crds.patch(name, &PatchParams::default(), &Patch::Merge(&release_meta)).await;
    }
    assert!(installed.status.success(), "adoption failed: {}", String::from_utf8_lossy(&installed.stderr));
    assert!(uninstalled.status.success(), "{}", String::from_utf8_lossy(&uninstalled.stderr));
    for name in &names {
        assert!(crds.get_opt(name).await.unwrap().is_some(), "crds.keep: {name} survives helm uninstall");
    }
    support::install_nflbet_crds(&client).await;
    support::delete_namespace(&client, &ns).await;
}

// ---------------------------------------------------------------------------------------------
// Argo CD health check (deploy/argocd)

#[test]
fn argocd_health_check_is_the_same_for_the_three_kinds() {
    let script = std::fs::read_to_string(root().join("deploy/argocd/health.lua")).unwrap();
    let cm: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("deploy/argocd/argocd-cm-health.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    for kind in ["Sportsbook", "Model", "AlertRoute"] {
        let key = format!("resource.customizations.health.betting.nflbet.dev_{kind}");
        assert_eq!(cm["data"][key.as_str()].as_str(), Some(script.as_str()), "{key} differs from health.lua");
    }
}

/// A JSON value as a Lua table constructor (Argo CD hands the script the object as a table).
fn lua_literal(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{k:?}] = {}", lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lua() -> Option<PathBuf> {
    ["lua5.4", "lua5.3", "lua5.1", "lua", "luajit"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
    })
}

#[test]
fn argocd_health_check_verdicts() {
    let lua = lua().expect("no Lua interpreter to run deploy/argocd/health.lua: run `make test` (hack/install-deps.sh installs lua5.4)");
    let script = std::fs::read_to_string(root().join("deploy/argocd/health.lua")).unwrap();
    let cond = |t: &str, s: &str, r: &str, g: i64| {
        serde_json::json!({"type": t, "status": s, "reason": r, "message": format!("{t} {r}"),
                           "observedGeneration": g, "lastTransitionTime": "2025-09-07T17:00:00Z"})
    };
    let book = |generation: i64, status: serde_json::Value| {
        serde_json::json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
                           "metadata": {"name": "fanduel", "generation": generation}, "status": status})
    };
    let cases = [
        ("no status yet", book(1, serde_json::Value::Null), "Progressing"),
        (
            "ready",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "True", "Succeeded", 2)]}),
            ),
            "Healthy",
        ),
        (
            "stopped by spec.disabled is healthy",
            book(
                3,
                serde_json::json!({"observedGeneration": 3, "conditions": [
                cond("Stopped", "True", "Disabled", 3), cond("Ready", "True", "Stopped", 3)]}),
            ),
            "Healthy",
        ),
        (
            "new generation not observed",
            book(
                3,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "True", "Succeeded", 2)]}),
            ),
            "Progressing",
        ),
        (
            "rolling out",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "Progressing", 2)]}),
            ),
            "Progressing",
        ),
        (
            "invalid spec",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "InvalidSpec", 2)]}),
            ),
            "Degraded",
        ),
        (
            "refused by the pod policy",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "PolicyViolation", 2)]}),
            ),
            "Degraded",
        ),
        (
            "apply failed",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "ReconcileFailed", 2)]}),
            ),
            "Degraded",
        ),
        (
            "a model blind to some of its books",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "BookStoreMismatch", 2)]}),
            ),
            "Degraded",
        ),
        (
            "rollout failed",
            book(
                2,
                serde_json::json!({"observedGeneration": 2, "conditions": [cond("Ready", "False", "Failed", 2)]}),
            ),
            "Degraded",
        ),
        (
            "suspended wins",
            book(
                4,
                serde_json::json!({"observedGeneration": 4, "conditions": [
                cond("Suspended", "True", "Suspended", 4), cond("Ready", "False", "Failed", 3)]}),
            ),
            "Suspended",
        ),
        (
            "not suspended",
            book(
                4,
                serde_json::json!({"observedGeneration": 4, "conditions": [
                cond("Suspended", "False", "Active", 4), cond("Ready", "True", "Succeeded", 4)]}),
            ),
            "Healthy",
        ),
    ];
    for (what, obj, want) in cases {
        let program = format!(
            "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, '\\n', hs.message or '')\n",
            lua_literal(&obj)
        );
        let mut c = Command::new(&lua);
        c.arg("-");
        let out = run_with_stdin(c, &program);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{what}: lua failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.lines().next(), Some(want), "{what}: {stdout}");
        assert!(
            stdout.lines().nth(1).is_some_and(|m| !m.is_empty()),
            "{what}: a message for the UI: {stdout}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The real operator with the chart's identity

/// Kills a spawned process (the operator here) even when an assertion fails.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A kubeconfig for the local control plane that authenticates with `token`.
fn token_kubeconfig(dir: &Path, token: &str) -> PathBuf {
    let view = |path: &str| {
        let mut c = kubectl();
        c.args(["config", "view", "--minify", "--raw", "-o", &format!("jsonpath={{{path}}}")]);
        run_ok(c)
    };
    let server = view(".clusters[0].cluster.server");
    let ca = view(".clusters[0].cluster.certificate-authority-data");
    let ca_file = view(".clusters[0].cluster.certificate-authority");
    let ca_line = if ca.is_empty() {
        format!("certificate-authority: {ca_file:?}")
    } else {
        format!("certificate-authority-data: {ca:?}")
    };
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server:?}\n    {ca_line}\n\
             users:\n- name: operator\n  user:\n    token: {token:?}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: operator\n\
             current-context: local\n"
        ),
    )
    .unwrap();
    path
}

/// Install the chart (namespace-scoped, leader election, rule labels), then run the real `nflbet`
/// binary with the args and environment of the rendered Deployment and a token of the chart's
/// ServiceAccount: a Sportsbook becomes Ready, which proves the RBAC is sufficient and the flags
/// and env vars the chart passes are the ones the operator understands (the book's image and pod
/// annotation are allowed only by the podPolicy values).
#[tokio::test]
async fn the_operator_works_with_the_charts_args_env_and_rbac() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "chart-operator").await;
    let release = unique("op");
    let fullname = format!("{release}-nflbet-operator");
    let _cleanup = Cleanup { release: release.clone(), namespaces: vec![ns.clone()] };
    let mut c = helm();
    c.args(["install", &release])
        .arg(chart_dir())
        .args(["-n", &ns, "--set", "crds.enabled=false", "--set", "image.repository=example.invalid/nflbet"])
        .args(["--set", &format!("watchNamespaces={{{ns}}}"), "--set", "leaderElection.enabled=true"])
        .args([
            "--set",
            "prometheusRule.extraLabels.release=kube-prometheus-stack",
            "--set",
            "logging.format=text",
        ])
        .args([
            "--set",
            "podPolicy.images={example.invalid/team/*}",
            "--set",
            "podPolicy.podAnnotations={prometheus.io/*}",
        ]);
    run_ok(c);

    let deployment_name = format!("{fullname}-{ns}");
    let d = Api::<Deployment>::namespaced(client.clone(), &ns).get(&deployment_name).await.unwrap();
    let container = d.spec.unwrap().template.spec.unwrap().containers.remove(0);
    let mut token = kubectl();
    token.args(["create", "token", &fullname, "-n", &ns, "--duration", "10m"]);
    let token = run_ok(token);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = token_kubeconfig(dir.path(), token.trim());

    let pod_name = format!("{deployment_name}-test");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nflbet"));
    for arg in container.args.unwrap() {
        // The pod's port is not free on a shared test machine.
        cmd.arg(if arg.starts_with("--listen=") { "--listen=127.0.0.1:0".to_string() } else { arg });
    }
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("KUBECONFIG", &kubeconfig);
    for e in container.env.unwrap() {
        match (e.value, e.value_from.and_then(|v| v.field_ref).map(|f| f.field_path)) {
            (Some(v), _) => cmd.env(&e.name, v),
            (None, Some(p)) if p == "metadata.name" => cmd.env(&e.name, &pod_name),
            (None, Some(p)) if p == "metadata.namespace" => cmd.env(&e.name, &ns),
            _ => panic!("unexpected env {}", e.name),
        };
    }
    let log = std::fs::File::create(dir.path().join("operator.log")).unwrap();
    cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let _operator = KillOnDrop(cmd.spawn().expect("spawn nflbet operator"));

    let books: Api<nflbet::crd::Sportsbook> = Api::namespaced(client.clone(), &ns);
    let text = std::fs::read_to_string(root().join("examples/sportsbook-inhouse-feed.yaml")).unwrap();
    let mut book: nflbet::crd::Sportsbook = serde_saphyr::from_str(&text).unwrap();
    // The example writes to the shared volume of examples/pvc-snapshots.yaml, which this
    // namespace does not have (its pod would never be scheduled); the RBAC is what is checked.
    book.spec.storage = None;
    // Allowed only by the chart's podPolicy values: Ready proves they reach the operator.
    book.spec.workload = Some(Box::new(nflbet::crd::common::WorkloadSettings {
        image: Some("example.invalid/team/nflbet:1".into()),
        pod_annotations: [("prometheus.io/scrape".to_string(), "true".to_string())].into(),
        ..Default::default()
    }));
    let name = book.metadata.name.clone().unwrap();
    books.create(&Default::default(), &book).await.unwrap();
    let ready = tokio::time::timeout(
        Duration::from_secs(90),
        support::wait_condition(&books, &name, "Ready", "True", Some("Succeeded")),
    )
    .await;
    let log = std::fs::read_to_string(dir.path().join("operator.log")).unwrap_or_default();
    assert!(ready.is_ok(), "Sportsbook not Ready under the chart's RBAC; operator log:\n{log}");
    assert!(!log.contains("Forbidden") && !log.contains("forbidden"), "permission errors:\n{log}");

    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &ns);
    let lease = leases.get(&deployment_name).await.expect("the Lease named by the chart");
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(pod_name.as_str()));
    let rules: Api<nflbet::monitoring::PrometheusRule> = Api::namespaced(client.clone(), &ns);
    let rule_name = nflbet::controller::sportsbook::build::rule_name(&name);
    let rule = support::wait_for("the book's PrometheusRule", Duration::from_secs(60), || async {
        rules.get_opt(&rule_name).await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(
        rule.metadata.labels.unwrap_or_default().get("release").map(String::as_str),
        Some("kube-prometheus-stack"),
        "prometheusRule.extraLabels reach the generated rules"
    );

    drop(_operator);
    books.delete(&name, &DeleteParams::default()).await.unwrap();
    helm_uninstall(&release, &ns);
    support::delete_namespace(&client, &ns).await;
}
