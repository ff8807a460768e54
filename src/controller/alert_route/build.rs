//! Pure build step: AlertRoute → AlertmanagerConfig (`monitoring.coreos.com/v1alpha1`).
//!
//! Shape of the generated route tree:
//! - the top route matches the severity threshold and the user's matchers; prometheus-operator
//!   adds `namespace="<ns>"` to it (the default `OnNamespace` matcher strategy), which every
//!   nflbet alert carries;
//! - without a sportsbook/model selection the top route delivers to `deliver`;
//! - with one, the top route's receiver is `drop` (no integrations) and one child route per
//!   selected label delivers, so a route with `sportsbooks` and `models` takes either.
//!
//! A critical alert inhibits warnings of the same resource, so one outage pages once.

use crate::controller::config::MANAGED_BY;
use crate::controller::names;
use crate::crd::alert_route::{AlertRoute, MatchType};
use crate::crd::common::Severity;
use crate::monitoring::{
    AlertmanagerConfig, AlertmanagerConfigSpec, AmEmailConfig, AmInhibitRule, AmMatcher, AmPagerDutyConfig,
    AmReceiver, AmRoute, AmSecretKeySelector, AmSlackConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

pub const DELIVER: &str = "deliver";
pub const DROP: &str = "drop";

pub fn config_name(route: &str) -> String {
    names::monitoring_name("nflbet-", route)
}

/// Severities at or above `min`, as an anchored alternation for `=~`.
pub fn severity_regex(min: Severity) -> String {
    [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .filter(|s| *s >= min)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("|")
}

/// Sorted, so reordering a list in git does not change the generated object.
fn regex_of_names(names: &[String]) -> String {
    let mut names: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    names.sort();
    names.dedup();
    names.join("|")
}

/// Escape regex metacharacters (names are DNS labels, but a dot is still a metacharacter).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn matcher(name: &str, value: String, t: MatchType) -> AmMatcher {
    AmMatcher { name: name.into(), value, match_type: Some(t.as_str().into()) }
}

pub fn build(ar: &AlertRoute) -> AlertmanagerConfig {
    let spec = &ar.spec;
    let name = ar.name_any();
    let mut matchers = vec![matcher("severity", severity_regex(spec.min_severity()), MatchType::Regex)];
    matchers.extend(
        spec.matchers
            .iter()
            .map(|m| matcher(&m.name, m.value.clone(), m.match_type.unwrap_or(MatchType::Equal))),
    );

    let mut children = Vec::new();
    if !spec.sportsbooks.is_empty() {
        children.push(AmRoute {
            receiver: DELIVER.into(),
            matchers: vec![matcher("sportsbook", regex_of_names(&spec.sportsbooks), MatchType::Regex)],
            ..AmRoute::default()
        });
    }
    if !spec.models.is_empty() {
        children.push(AmRoute {
            receiver: DELIVER.into(),
            matchers: vec![matcher("model", regex_of_names(&spec.models), MatchType::Regex)],
            ..AmRoute::default()
        });
    }
    let group_by = if spec.group_by.is_empty() {
        ["alertname", "namespace", "sportsbook", "model"].map(String::from).to_vec()
    } else {
        spec.group_by.clone()
    };
    let route = AmRoute {
        receiver: if children.is_empty() { DELIVER.into() } else { DROP.into() },
        group_by,
        group_wait: Some(am_duration(spec.group_wait.as_deref(), "30s")),
        group_interval: Some(am_duration(spec.group_interval.as_deref(), "5m")),
        repeat_interval: Some(am_duration(spec.repeat_interval.as_deref(), "4h")),
        matchers,
        continue_: false,
        routes: children,
    };

    let mut deliver = AmReceiver { name: DELIVER.into(), ..AmReceiver::default() };
    if let Some(slack) = &spec.slack {
        deliver.slack_configs.push(AmSlackConfig {
            api_url: AmSecretKeySelector { name: slack.api_url.name.clone(), key: slack.api_url.key.clone() },
            channel: slack.channel.clone(),
            send_resolved: slack.send_resolved.unwrap_or(true),
            title: Some("[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.namespace }})".into()),
            text: Some("{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}".into()),
        });
    }
    if let Some(pd) = &spec.pager_duty {
        deliver.pagerduty_configs.push(AmPagerDutyConfig {
            routing_key: AmSecretKeySelector {
                name: pd.routing_key.name.clone(),
                key: pd.routing_key.key.clone(),
            },
            send_resolved: pd.send_resolved.unwrap_or(true),
            severity: Some("{{ .CommonLabels.severity }}".into()),
        });
    }
    if let Some(email) = &spec.email {
        deliver.email_configs.push(AmEmailConfig {
            to: email.to.join(", "),
            from: email.from.clone(),
            smarthost: email.smarthost.clone(),
            auth_username: email.auth.as_ref().map(|a| a.username.clone()),
            auth_password: email
                .auth
                .as_ref()
                .map(|a| AmSecretKeySelector { name: a.password.name.clone(), key: a.password.key.clone() }),
            require_tls: email.require_tls,
            send_resolved: email.send_resolved.unwrap_or(true),
        });
    }
    let receivers = vec![deliver, AmReceiver { name: DROP.into(), ..AmReceiver::default() }];

    let inhibit = AmInhibitRule {
        source_match: vec![matcher("severity", "critical".into(), MatchType::Equal)],
        target_match: vec![matcher("severity", "warning".into(), MatchType::Equal)],
        equal: ["namespace", "sportsbook", "model"].map(String::from).to_vec(),
    };

    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "nflbet-alertroute".to_string()),
        ("app.kubernetes.io/instance".to_string(), names::label_value(&name)),
        ("app.kubernetes.io/part-of".to_string(), "nflbet".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), MANAGED_BY.to_string()),
        ("betting.nflbet.dev/alertroute".to_string(), names::label_value(&name)),
    ]);
    AlertmanagerConfig {
        metadata: ObjectMeta {
            name: Some(config_name(&name)),
            namespace: ar.namespace(),
            labels: Some(labels),
            owner_references: ar.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: AlertmanagerConfigSpec { route, receivers, inhibit_rules: vec![inhibit] },
    }
}

/// A spec duration (the resources' one syntax, `domain::duration`) as Alertmanager writes it:
/// `1.5h` becomes `1h30m`. A value outside that syntax (an object stored before it applied,
/// such as `1d`) is passed on as written, for the route's own check to judge.
fn am_duration(value: Option<&str>, default: &str) -> String {
    let v = value.unwrap_or(default);
    crate::domain::duration::parse(v)
        .map(crate::domain::duration::format_duration)
        .unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn route(yaml: &str) -> AlertRoute {
        let mut ar: AlertRoute = serde_saphyr::from_str(yaml).expect("fixture");
        ar.metadata.namespace = Some("betting".into());
        ar.metadata.uid = Some("uid-1".into());
        ar
    }

    #[test]
    fn durations_reach_alertmanager_in_its_own_syntax() {
        let ar = route(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {name: t}\nspec:\n  groupWait: 1.5m\n  repeatInterval: 168h\n  slack: {apiURL: {name: s, key: url}}\n",
        );
        let r = build(&ar).spec.route;
        assert_eq!(r.group_wait.as_deref(), Some("1m30s"));
        assert_eq!(r.group_interval.as_deref(), Some("5m"), "default");
        assert_eq!(r.repeat_interval.as_deref(), Some("168h"));
        // Stored before the one syntax applied: handed on, for the route's check to judge.
        assert_eq!(am_duration(Some("1d"), "4h"), "1d");
    }

    #[test]
    fn severity_threshold_becomes_a_regex() {
        assert_eq!(severity_regex(Severity::Critical), "critical");
        assert_eq!(severity_regex(Severity::Warning), "critical|warning");
        assert_eq!(severity_regex(Severity::Info), "critical|warning|info");
    }

    #[test]
    fn selections_become_child_routes_and_the_rest_is_dropped() {
        let ar = route(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {name: trading}\nspec:\n  minSeverity: critical\n  sportsbooks: [fanduel, draft.kings]\n  models: [elo]\n  pagerDuty: {routingKey: {name: pd, key: key}}\n",
        );
        let amc = build(&ar);
        assert_eq!(amc.metadata.name.as_deref(), Some("nflbet-trading"));
        let r = &amc.spec.route;
        assert_eq!(r.receiver, DROP);
        assert_eq!(r.matchers[0].value, "critical");
        assert_eq!(r.routes.len(), 2);
        assert_eq!(r.routes[0].matchers[0].value, r"draft\.kings|fanduel");
        assert_eq!(r.routes[1].matchers[0].name, "model");
        assert!(
            amc.spec
                .receivers
                .iter()
                .any(|r| r.name == DROP && r.pagerduty_configs.is_empty() && r.slack_configs.is_empty())
        );
    }

    #[test]
    fn no_selection_delivers_everything_above_the_threshold() {
        let ar = route(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {name: all}\nspec:\n  slack: {apiURL: {name: slack, key: url}, channel: '#odds'}\n  matchers: [{name: team, value: trading}]\n",
        );
        let amc = build(&ar);
        assert_eq!(amc.spec.route.receiver, DELIVER);
        assert!(amc.spec.route.routes.is_empty());
        assert_eq!(amc.spec.route.matchers[1].name, "team");
        assert_eq!(amc.spec.route.matchers[1].match_type.as_deref(), Some("="));
        let slack = &amc.spec.receivers[0].slack_configs[0];
        assert_eq!((slack.api_url.name.as_str(), slack.api_url.key.as_str()), ("slack", "url"));
        assert!(slack.send_resolved);
    }

    #[test]
    fn email_goes_to_every_recipient_with_the_password_by_reference() {
        let ar = route(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {name: mail}\nspec:\n  email:\n    to: [oncall@example.com, trading@example.com]\n    from: alerts@example.com\n    smarthost: smtp.example.com:587\n    auth: {username: alerts, password: {name: smtp, key: password}}\n",
        );
        assert_eq!(ar.spec.receivers_label(), "email");
        let amc = build(&ar);
        let deliver = &amc.spec.receivers[0];
        assert!(deliver.slack_configs.is_empty() && deliver.pagerduty_configs.is_empty());
        let email = &deliver.email_configs[0];
        assert_eq!(email.to, "oncall@example.com, trading@example.com");
        assert_eq!(
            (email.from.as_str(), email.smarthost.as_str()),
            ("alerts@example.com", "smtp.example.com:587")
        );
        assert_eq!(email.auth_username.as_deref(), Some("alerts"));
        let password = email.auth_password.as_ref().expect("password reference");
        assert_eq!((password.name.as_str(), password.key.as_str()), ("smtp", "password"));
        assert_eq!(email.require_tls, None, "Alertmanager's default (true) unless the spec says");
        assert!(email.send_resolved);
        // The field names of prometheus-operator's CRD.
        let json = serde_json::to_value(email).unwrap();
        assert_eq!(json["authPassword"], serde_json::json!({"name": "smtp", "key": "password"}));
        assert!(json.get("requireTLS").is_none());
    }
}
