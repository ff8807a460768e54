//! Types shared by the three custom resources: secret references, workload settings, status
//! conditions and the schema helpers that make server-side apply merge lists correctly.

use crate::crd::condition::Condition;
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::KubeSchema;
use schemars::JsonSchema;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key in a Secret in the resource's own namespace.
///
/// The operator never reads the value: it only wires the reference into the workload's pod
/// (as an environment variable), so the operator needs no access to Secrets at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Pod-level settings of a workload the operator runs (scraper, model).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSettings {
    /// Container image. Defaults to the image the operator itself was started with
    /// (`--workload-image`), so one chart value upgrades every workload. Another image must be
    /// allowed by the operator's pod policy (docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy (Always, IfNotPresent, Never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Always", "IfNotPresent", "Never"]))]
    pub image_pull_policy: Option<String>,
    /// Compute resources of the container. Defaults: requests 50m CPU, 64Mi memory and 64Mi
    /// ephemeral storage; limits 256Mi memory and 2Gi ephemeral storage (the data emptyDir has a
    /// 1Gi sizeLimit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node selector of the pod. Each entry must be allowed by the operator's pod policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pod. Each must be allowed by the operator's pod policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Extra annotations on the pod template (e.g. for a service mesh). Each key must be
    /// allowed by the operator's pod policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Run the pod as this existing ServiceAccount instead of the one the operator creates.
    /// The operator still binds the heartbeat permission to it. The ServiceAccount must carry
    /// the operator's label for workload identities (default
    /// `betting.nflbet.dev/workload-identity: "true"`; docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// How often Prometheus scrapes the workload's `/metrics`: the `interval` of its generated
    /// ServiceMonitor, whose `scrapeTimeout` becomes the shorter of this and 10s. Default 30s.
    /// Between 5s and 2m: Prometheus drops a series 5m after its last sample, and `rate()` over
    /// the dashboards' 5m windows needs two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('5s') && duration(self) <= duration('2m')")
        .message("workload.scrapeInterval must be between 5s and 2m"))]
    pub scrape_interval: Option<String>,
}

impl WorkloadSettings {
    /// `scrapeInterval` as a duration; None when unset (or, past admission, never, malformed).
    pub fn scrape_interval(&self) -> Option<std::time::Duration> {
        self.scrape_interval.as_deref().and_then(|s| crate::domain::duration::parse(s).ok())
    }
}

/// Schema of a `metav1.Condition` list as a list-map keyed by `type`, so that server-side apply
/// merges conditions by type instead of replacing the whole list.
pub fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "properties": {
                "lastTransitionTime": { "format": "date-time", "type": "string" },
                "message": { "type": "string" },
                "observedGeneration": { "type": "integer", "format": "int64", "minimum": 0 },
                "reason": { "type": "string" },
                "status": { "type": "string", "enum": ["True", "False", "Unknown"] },
                "type": { "type": "string" }
            },
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        },
    })
}

/// Schema of every duration field of the three kinds: the one syntax of
/// [`crate::domain::duration::PATTERN`], checked by a CEL rule so that admission and
/// `nflbet validate-config` say [`crate::domain::duration::MESSAGE`] rather than a regular
/// expression. A field's bounds are further rules, guarded so a malformed value gets that one
/// message and no CEL evaluation error on top.
pub fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    use crate::domain::duration::{MESSAGE, PATTERN};
    json_schema!({
        "type": "string",
        "nullable": true,
        "maxLength": 64,
        "x-kubernetes-validations": [
            { "rule": format!("self.matches('{PATTERN}')"), "message": MESSAGE }
        ],
    })
}

/// Schema of a `map[string]string` of extra labels, with Kubernetes' label-value limits.
pub fn labels_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string", "maxLength": 63 },
        "maxProperties": 32,
    })
}

/// Convenience: find a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Alert severity, ordered from least to most urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Kubernetes-style label selector (matchLabels only; enough to pick Sportsbooks).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchLabels {
    /// Labels the selected objects must all carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}
