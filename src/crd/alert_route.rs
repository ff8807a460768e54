//! `AlertRoute`: where alerts of a namespace's Sportsbooks and Models go (Slack, PagerDuty,
//! email), above a severity threshold. Becomes a prometheus-operator `AlertmanagerConfig` (v1alpha1).

use super::common::{SecretKeyRef, Severity, conditions_schema, duration_schema};
use crate::crd::condition::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "betting.nflbet.dev",
    version = "v1alpha1",
    kind = "AlertRoute",
    namespaced,
    status = "AlertRouteStatus",
    shortname = "ar",
    category = "nflbet",
    printcolumn = r#"{"name":"Min Severity","type":"string","jsonPath":".spec.minSeverity"}"#,
    printcolumn = r#"{"name":"Receivers","type":"string","jsonPath":".status.receivers"}"#,
    printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("has(self.slack) || has(self.pagerDuty) || has(self.email)")
        .message("an AlertRoute needs a receiver: spec.slack, spec.pagerDuty and/or spec.email"),
)]
#[serde(rename_all = "camelCase")]
pub struct AlertRouteSpec {
    /// Lowest severity delivered: `info`, `warning` or `critical`. Default warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,

    /// Take only alerts of these Sportsbooks (by the `sportsbook` label).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub sportsbooks: Vec<String>,

    /// Take only alerts of these Models (by the `model` label). With `sportsbooks` too, the
    /// route takes the alerts of either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub models: Vec<String>,

    /// Further conditions every delivered alert must meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub matchers: Vec<Matcher>,

    /// Slack incoming webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackReceiver>,

    /// PagerDuty Events API v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pager_duty: Option<PagerDutyReceiver>,

    /// Email through an SMTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailReceiver>,

    /// Labels alerts are grouped by. Default `[alertname, namespace, sportsbook, model]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub group_by: Vec<String>,

    /// How long Alertmanager waits to group a new alert with others before the first
    /// notification. Default 30s. A duration of h, m, s and ms, as in every kind (days as hours:
    /// 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    pub group_wait: Option<String>,

    /// Wait before notifying about new alerts of a group already notified. Default 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')")
        .message("groupInterval must be longer than 0: Alertmanager refuses a zero groupInterval"))]
    pub group_interval: Option<String>,

    /// Wait before sending a notification again for a group still firing. Default 4h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')")
        .message("repeatInterval must be longer than 0: Alertmanager refuses a zero repeatInterval"))]
    pub repeat_interval: Option<String>,

    /// Send the operator's own notifications (model rolled back, sportsbook stopped) here too,
    /// to the route's Slack and PagerDuty receivers (not by email). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_events: Option<bool>,

    /// Stop routing: the AlertmanagerConfig is removed; `Stopped=True`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// An Alertmanager label matcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.name != 'namespace'")
    .message("matchers on namespace are not allowed: an AlertRoute only sees its own namespace's alerts"))]
pub struct Matcher {
    /// Label name.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"))]
    pub name: String,
    /// Value, or a regular expression for `=~` and `!~`.
    #[schemars(length(max = 1024))]
    pub value: String,
    /// `=`, `!=`, `=~` or `!~`. Default `=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type: Option<MatchType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MatchType {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackReceiver {
    /// Secret key holding the webhook URL.
    #[serde(rename = "apiURL")]
    pub api_url: SecretKeyRef,
    /// Channel, e.g. `#odds-alerts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('#') || self.startsWith('@')")
        .message("slack.channel must start with # or @"))]
    pub channel: Option<String>,
    /// Also notify when alerts resolve. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagerDutyReceiver {
    /// Secret key holding the Events API v2 routing key.
    pub routing_key: SecretKeyRef,
    /// Also resolve incidents. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
}

/// An email address as `email.to` and `email.from` take it: `local@domain`, no display name.
pub const EMAIL_ADDRESS_PATTERN: &str =
    "^[A-Za-z0-9._%+-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailReceiver {
    /// Recipients, e.g. `[oncall@example.com]`; one email goes to all of them.
    #[schemars(length(min = 1, max = 16), inner(length(max = 254)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new(format!("self.all(a, a.matches('{EMAIL_ADDRESS_PATTERN}'))"))
        .message("email.to entries must be email addresses such as oncall@example.com (no display names)"))]
    pub to: Vec<String>,
    /// Sender address, e.g. `alerts@example.com`.
    #[schemars(length(max = 254))]
    #[x_kube(validation = Rule::new(format!("self.matches('{EMAIL_ADDRESS_PATTERN}')"))
        .message("email.from must be an email address such as alerts@example.com (no display name)"))]
    pub from: String,
    /// SMTP server as `host:port`, e.g. `smtp.example.com:587`.
    #[schemars(length(max = 261))]
    #[x_kube(validation = Rule::new(r"self.matches('^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$')")
        .message("email.smarthost must be host:port, e.g. smtp.example.com:587"))]
    pub smarthost: String,
    /// Refuse to send unless the server offers STARTTLS. Default true (Alertmanager's).
    #[serde(default, rename = "requireTLS", skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    /// SMTP authentication. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EmailAuth>,
    /// Also notify when alerts resolve. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
}

/// SMTP AUTH: the user name, and the password from a Secret (prometheus-operator reads it into
/// Alertmanager's configuration; the operator never does).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailAuth {
    /// User name.
    #[schemars(length(min = 1, max = 254))]
    pub username: String,
    /// Secret key holding the password.
    pub password: SecretKeyRef,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRouteStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Stopped, ConfigValid, MonitoringAvailable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Receivers configured, e.g. `slack,pagerduty,email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers: Option<String>,
}

impl AlertRouteSpec {
    pub fn min_severity(&self) -> Severity {
        self.min_severity.unwrap_or(Severity::Warning)
    }

    pub fn receivers_label(&self) -> String {
        let mut r = Vec::new();
        if self.slack.is_some() {
            r.push("slack");
        }
        if self.pager_duty.is_some() {
            r.push("pagerduty");
        }
        if self.email.is_some() {
            r.push("email");
        }
        r.join(",")
    }
}
