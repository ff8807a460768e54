//! Operator-wide settings that shape every generated child. Pure data: the build steps take it
//! by reference so they stay testable without a cluster.

use super::pod_policy::PodPolicy;
use std::collections::BTreeMap;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "nflbet-operator";

/// Field manager the scraper uses for its heartbeat (`status.ingestion`).
pub const SCRAPER_FIELD_MANAGER: &str = "nflbet-scraper";

/// Value of `app.kubernetes.io/managed-by` on every child.
pub const MANAGED_BY: &str = "nflbet-operator";

#[derive(Clone, Debug, PartialEq)]
pub struct OperatorConfig {
    /// Image of the workloads (scraper, model) when a resource does not name one.
    pub workload_image: String,
    /// Pull policy of the workloads when a resource does not name one.
    pub image_pull_policy: String,
    /// Secrets (by name, in each resource's namespace) every workload pod pulls its image with,
    /// for a private registry. Empty: none.
    pub image_pull_secrets: Vec<String>,
    /// Prefix of metric names, `nflreadpy` by default (the names users' dashboards use).
    pub metrics_namespace: String,
    /// Extra labels on every PrometheusRule, e.g. `release: kube-prometheus-stack`, which
    /// kube-prometheus-stack requires before it loads a rule.
    pub rule_labels: BTreeMap<String, String>,
    /// Extra labels on every ServiceMonitor of a scraper or model, e.g.
    /// `release: kube-prometheus-stack`, which kube-prometheus-stack requires before it scrapes
    /// them.
    pub monitor_labels: BTreeMap<String, String>,
    /// Base of the `runbook_url` annotation; the alert name is appended as an anchor.
    pub runbook_base_url: String,
    /// Where workloads may send credentials and connect (`crate::egress`): specs that break it
    /// are refused, and every workload gets it as flags and enforces it itself.
    pub egress: crate::egress::Egress,
    /// What a spec may ask for in its pod (images, ServiceAccount, placement, annotations).
    pub pod_policy: PodPolicy,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            // The chart's default image, the name `make image` gives the image it builds.
            workload_image: format!("localhost/nflbet:{}", env!("CARGO_PKG_VERSION")),
            image_pull_policy: "IfNotPresent".into(),
            image_pull_secrets: Vec::new(),
            metrics_namespace: "nflreadpy".into(),
            rule_labels: BTreeMap::new(),
            monitor_labels: BTreeMap::new(),
            runbook_base_url: "https://github.com/nflbet/nflbet/blob/main/docs/runbooks.md".into(),
            egress: crate::egress::Egress::default(),
            pod_policy: PodPolicy::default(),
        }
    }
}

impl OperatorConfig {
    /// Full metric name under the configured prefix.
    pub fn metric(&self, suffix: &str) -> String {
        format!("{}_{}", self.metrics_namespace, suffix)
    }

    pub fn runbook(&self, alert: &str) -> String {
        format!("{}#{}", self.runbook_base_url, alert.to_lowercase())
    }
}
