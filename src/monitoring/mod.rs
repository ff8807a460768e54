//! Typed views of the prometheus-operator resources nflbet generates.
//!
//! Only the fields nflbet writes are modelled. The CRDs themselves belong to prometheus-operator
//! and are never generated from these types; they may be missing from a cluster, which
//! [`Capabilities`] detects at run time.

pub mod rules;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Group of every prometheus-operator kind.
pub const GROUP: &str = "monitoring.coreos.com";

/// `monitoring.coreos.com/v1` PrometheusRule.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "monitoring.coreos.com", version = "v1", kind = "PrometheusRule", namespaced)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

/// A rule group; the same shape as a Prometheus rule file's group, so it can be checked with
/// `promtool` as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// One alerting rule (nflbet writes no recording rules).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rule {
    pub alert: String,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `monitoring.coreos.com/v1` ServiceMonitor.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "monitoring.coreos.com", version = "v1", kind = "ServiceMonitor", namespaced)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub port: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub honor_labels: bool,
}

/// Which prometheus-operator kinds the cluster serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub prometheus_rules: bool,
    pub service_monitors: bool,
    pub alertmanager_configs: bool,
}

impl Capabilities {
    pub const ALL: Capabilities =
        Capabilities { prometheus_rules: true, service_monitors: true, alertmanager_configs: true };

    /// Ask the API server which monitoring kinds exist. A missing group (404) means none; any
    /// other failure is an error, so an API server that is down is never read as "the CRDs are
    /// gone".
    pub async fn discover(client: &kube::Client) -> Result<Capabilities, kube::Error> {
        let served = |group: &'static str| async move {
            match client.list_api_group_resources(group).await {
                Ok(list) => Ok(list.resources.into_iter().map(|r| r.name).collect::<Vec<_>>()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        };
        let v1 = served("monitoring.coreos.com/v1").await?;
        let v1alpha1 = served("monitoring.coreos.com/v1alpha1").await?;
        Ok(Capabilities {
            prometheus_rules: v1.iter().any(|r| r == "prometheusrules"),
            service_monitors: v1.iter().any(|r| r == "servicemonitors"),
            alertmanager_configs: v1alpha1.iter().any(|r| r == "alertmanagerconfigs"),
        })
    }
}

/// `monitoring.coreos.com/v1alpha1` AlertmanagerConfig: the storage version, and the only one
/// served without prometheus-operator's conversion webhook.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "monitoring.coreos.com", version = "v1alpha1", kind = "AlertmanagerConfig", namespaced)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerConfigSpec {
    pub route: AmRoute,
    pub receivers: Vec<AmReceiver>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<AmInhibitRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmRoute {
    pub receiver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<AmMatcher>,
    #[serde(default, rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    pub continue_: bool,
    /// Child routes (the CRD keeps them as raw JSON; nflbet writes this same shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<AmRoute>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmMatcher {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmReceiver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<AmSlackConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<AmPagerDutyConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<AmEmailConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmSecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AmSlackConfig {
    #[serde(rename = "apiURL")]
    pub api_url: AmSecretKeySelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(rename = "sendResolved")]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmPagerDutyConfig {
    pub routing_key: AmSecretKeySelector,
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmEmailConfig {
    /// Comma-separated addresses (Alertmanager parses an address list).
    pub to: String,
    pub from: String,
    pub smarthost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<AmSecretKeySelector>,
    #[serde(default, rename = "requireTLS", skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    pub send_resolved: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmInhibitRule {
    pub source_match: Vec<AmMatcher>,
    pub target_match: Vec<AmMatcher>,
    pub equal: Vec<String>,
}
