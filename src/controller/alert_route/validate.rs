//! Validation of a generated AlertmanagerConfig, and its rendering as plain Alertmanager
//! configuration.
//!
//! prometheus-operator silently skips an AlertmanagerConfig it cannot load (only a Warning
//! Event and a metric tell), so the operator checks what it generates itself and reports the
//! result in the AlertRoute's status. The rendering mirrors what prometheus-operator does with
//! the default `OnNamespace` matcher strategy (namespace matcher and `continue: true` on the
//! top route, receivers named `<namespace>/<config>/<receiver>`), so the same routing can be
//! checked with `amtool check-config` and `amtool config routes test`.

use crate::monitoring::{AlertmanagerConfig, AmMatcher, AmRoute};
use kube::ResourceExt;
use serde_json::{Value, json};

/// One finding, with the field it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Alertmanager's duration syntax: `1h30m`, `2d`, `500ms`.
pub fn parse_am_duration(s: &str) -> bool {
    let re = regex::Regex::new(r"^(([0-9]+)(ms|s|m|h|d|w|y))+$").expect("static regex");
    re.is_match(s) && s != "0s"
}

fn anchored(value: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{value})$"))
}

fn matches(m: &AmMatcher, value: &str) -> Option<bool> {
    match m.match_type.as_deref().unwrap_or("=") {
        "=" => Some(value == m.value),
        "!=" => Some(value != m.value),
        "=~" => anchored(&m.value).ok().map(|r| r.is_match(value)),
        "!~" => anchored(&m.value).ok().map(|r| !r.is_match(value)),
        _ => None,
    }
}

/// Check the generated config. An empty list means prometheus-operator will load it.
pub fn validate(amc: &AlertmanagerConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let route = &amc.spec.route;
    check_route(route, "route", &mut problems);
    let names: Vec<&str> = amc.spec.receivers.iter().map(|r| r.name.as_str()).collect();
    check_receivers_exist(route, &names, "route", &mut problems);

    // Matchers that can never all hold: every severity an alert may have is excluded, or two
    // matchers on one label contradict each other.
    let severities = ["critical", "warning", "info"];
    let on_severity: Vec<&AmMatcher> = route.matchers.iter().filter(|m| m.name == "severity").collect();
    if !severities.iter().any(|s| on_severity.iter().all(|m| matches(m, s).unwrap_or(true))) {
        problems.push(Problem {
            field: "spec.matchers".into(),
            message:
                "no alert can match: the severity matchers exclude every severity allowed by minSeverity"
                    .into(),
        });
    }
    for (i, a) in route.matchers.iter().enumerate() {
        if a.match_type.as_deref().unwrap_or("=") != "=" {
            continue;
        }
        for b in route.matchers.iter().skip(i + 1).filter(|b| b.name == a.name) {
            if matches(b, &a.value) == Some(false) {
                problems.push(Problem {
                    field: "spec.matchers".into(),
                    message: format!(
                        "no alert can match: {}=\"{}\" contradicts {}{}\"{}\"",
                        a.name,
                        a.value,
                        b.name,
                        b.match_type.as_deref().unwrap_or("="),
                        b.value
                    ),
                });
            }
        }
    }
    problems
}

fn check_route(route: &AmRoute, path: &str, problems: &mut Vec<Problem>) {
    for (field, value) in [
        ("groupWait", &route.group_wait),
        ("groupInterval", &route.group_interval),
        ("repeatInterval", &route.repeat_interval),
    ] {
        if let Some(v) = value
            && !parse_am_duration(v)
        {
            problems.push(Problem {
                field: format!("{path}.{field}"),
                message: format!("{v:?} is not a positive duration"),
            });
        }
    }
    let label = regex::Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*$").expect("static regex");
    for g in &route.group_by {
        if g != "..." && !label.is_match(g) {
            problems.push(Problem {
                field: format!("{path}.groupBy"),
                message: format!("{g:?} is not a label name"),
            });
        }
    }
    for (i, m) in route.matchers.iter().enumerate() {
        if matches!(m.match_type.as_deref(), Some("=~") | Some("!~"))
            && let Err(e) = anchored(&m.value)
        {
            problems.push(Problem {
                field: format!("{path}.matchers[{i}]"),
                message: format!(
                    "{:?} is not a valid regular expression: {}",
                    m.value,
                    e.to_string().lines().last().unwrap_or("")
                ),
            });
        }
    }
    for (i, child) in route.routes.iter().enumerate() {
        check_route(child, &format!("{path}.routes[{i}]"), problems);
    }
}

fn check_receivers_exist(route: &AmRoute, names: &[&str], path: &str, problems: &mut Vec<Problem>) {
    if !names.contains(&route.receiver.as_str()) {
        problems.push(Problem {
            field: format!("{path}.receiver"),
            message: format!("receiver {:?} is not defined", route.receiver),
        });
    }
    for (i, child) in route.routes.iter().enumerate() {
        check_receivers_exist(child, names, &format!("{path}.routes[{i}]"), problems);
    }
}

/// Secret values used when rendering: tests and `amtool` need URLs, never real secrets.
pub trait SecretValues {
    fn slack_url(&self, secret: &str, key: &str) -> String;
    fn routing_key(&self, secret: &str, key: &str) -> String;
}

/// Placeholders that pass Alertmanager's validation.
pub struct Placeholders;

impl SecretValues for Placeholders {
    fn slack_url(&self, secret: &str, key: &str) -> String {
        format!("https://hooks.slack.invalid/{secret}/{key}")
    }
    fn routing_key(&self, secret: &str, key: &str) -> String {
        format!("placeholder-{secret}-{key}")
    }
}

/// Render as a plain Alertmanager configuration (YAML-ready JSON): a root route with a `null`
/// receiver and the AlertmanagerConfig's route below it, as prometheus-operator would.
pub fn render_plain(amc: &AlertmanagerConfig, secrets: &dyn SecretValues) -> Value {
    let ns = amc.namespace().unwrap_or_default();
    let name = amc.name_any();
    let prefix = |r: &str| format!("{ns}/{name}/{r}");

    fn matcher_string(m: &AmMatcher) -> String {
        format!(
            "{}{}\"{}\"",
            m.name,
            m.match_type.as_deref().unwrap_or("="),
            m.value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
    fn route(r: &AmRoute, prefix: &dyn Fn(&str) -> String, top: Option<&str>) -> Value {
        let mut matchers: Vec<String> = Vec::new();
        if let Some(ns) = top {
            matchers.push(format!("namespace=\"{ns}\""));
        }
        matchers.extend(r.matchers.iter().map(matcher_string));
        let mut v = json!({ "receiver": prefix(&r.receiver), "matchers": matchers });
        if !r.group_by.is_empty() {
            v["group_by"] = json!(r.group_by);
        }
        for (k, val) in [
            ("group_wait", &r.group_wait),
            ("group_interval", &r.group_interval),
            ("repeat_interval", &r.repeat_interval),
        ] {
            if let Some(val) = val {
                v[k] = json!(val);
            }
        }
        if top.is_some() || r.continue_ {
            v["continue"] = json!(true);
        }
        if !r.routes.is_empty() {
            v["routes"] = Value::Array(r.routes.iter().map(|c| route(c, prefix, None)).collect());
        }
        v
    }

    let receivers: Vec<Value> = std::iter::once(json!({"name": "null"}))
        .chain(amc.spec.receivers.iter().map(|r| {
            let mut v = json!({ "name": prefix(&r.name) });
            if !r.slack_configs.is_empty() {
                v["slack_configs"] = Value::Array(
                    r.slack_configs
                        .iter()
                        .map(|s| {
                            let mut c = json!({
                                "api_url": secrets.slack_url(&s.api_url.name, &s.api_url.key),
                                "send_resolved": s.send_resolved,
                            });
                            if let Some(ch) = &s.channel {
                                c["channel"] = json!(ch);
                            }
                            if let Some(t) = &s.title {
                                c["title"] = json!(t);
                            }
                            if let Some(t) = &s.text {
                                c["text"] = json!(t);
                            }
                            c
                        })
                        .collect(),
                );
            }
            if !r.pagerduty_configs.is_empty() {
                v["pagerduty_configs"] = Value::Array(
                    r.pagerduty_configs
                        .iter()
                        .map(|p| {
                            let mut c = json!({
                                "routing_key": secrets.routing_key(&p.routing_key.name, &p.routing_key.key),
                                "send_resolved": p.send_resolved,
                            });
                            if let Some(s) = &p.severity {
                                c["severity"] = json!(s);
                            }
                            c
                        })
                        .collect(),
                );
            }
            v
        }))
        .collect();

    let inhibit: Vec<Value> = amc
        .spec
        .inhibit_rules
        .iter()
        .map(|r| {
            let ns_matcher = format!("namespace=\"{ns}\"");
            let with_ns = |ms: &[AmMatcher]| -> Vec<String> {
                std::iter::once(ns_matcher.clone()).chain(ms.iter().map(matcher_string)).collect()
            };
            json!({
                "source_matchers": with_ns(&r.source_match),
                "target_matchers": with_ns(&r.target_match),
                "equal": r.equal,
            })
        })
        .collect();

    json!({
        "route": {
            "receiver": "null",
            "group_by": ["alertname"],
            "routes": [route(&amc.spec.route, &prefix, Some(&ns))],
        },
        "receivers": receivers,
        "inhibit_rules": inhibit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::alert_route::build::build;
    use crate::crd::AlertRoute;

    fn amc(spec_yaml: &str) -> AlertmanagerConfig {
        let yaml = format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {{name: r, namespace: betting}}\nspec:\n{spec_yaml}"
        );
        let ar: AlertRoute = serde_yaml::from_str(&yaml).unwrap();
        build(&ar)
    }

    #[test]
    fn a_normal_route_is_valid() {
        let c = amc("  slack: {apiURL: {name: s, key: u}}\n  sportsbooks: [fanduel]\n");
        assert_eq!(validate(&c), vec![]);
    }

    #[test]
    fn contradicting_matchers_never_match() {
        let c = amc(
            "  minSeverity: critical\n  slack: {apiURL: {name: s, key: u}}\n  matchers: [{name: severity, value: warning}]\n",
        );
        let p = validate(&c);
        assert!(p.iter().any(|p| p.message.contains("exclude every severity")), "{p:?}");

        let c = amc(
            "  slack: {apiURL: {name: s, key: u}}\n  matchers: [{name: team, value: a}, {name: team, value: b}]\n",
        );
        let p = validate(&c);
        assert!(p.iter().any(|p| p.message.contains(r#"team="a" contradicts team="b""#)), "{p:?}");
    }

    #[test]
    fn broken_regex_and_durations_are_reported_with_their_field() {
        let c = amc(
            "  slack: {apiURL: {name: s, key: u}}\n  matchers: [{name: team, value: '(', matchType: '=~'}]\n  repeatInterval: 0s\n",
        );
        let p = validate(&c);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"route.matchers[1]"), "{p:?}");
        assert!(fields.contains(&"route.repeatInterval"), "{p:?}");
    }

    #[test]
    fn rendering_adds_the_namespace_matcher_and_prefixes_receivers() {
        let c = amc("  pagerDuty: {routingKey: {name: pd, key: k}}\n");
        let plain = render_plain(&c, &Placeholders);
        let top = &plain["route"]["routes"][0];
        assert_eq!(top["matchers"][0], "namespace=\"betting\"");
        assert_eq!(top["receiver"], "betting/nflbet-r/deliver");
        assert_eq!(top["continue"], true);
        assert_eq!(plain["receivers"][1]["pagerduty_configs"][0]["routing_key"], "placeholder-pd-k");
    }
}
