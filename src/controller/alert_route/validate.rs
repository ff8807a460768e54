//! Validation of a generated AlertmanagerConfig.
//!
//! prometheus-operator silently skips an AlertmanagerConfig it cannot load (only a Warning
//! Event and a metric tell), so the operator checks what it generates itself and reports the
//! result in the AlertRoute's status. How the real prometheus-operator merges the generated
//! configs, and where `amtool` routes alerts through the result, is tested end to end in
//! `tests/integration/alert_routing_amtool.rs`.

use crate::monitoring::{AlertmanagerConfig, AmMatcher, AmRoute};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::alert_route::build::build;
    use crate::crd::AlertRoute;

    fn amc(spec_yaml: &str) -> AlertmanagerConfig {
        let yaml = format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {{name: r, namespace: betting}}\nspec:\n{spec_yaml}"
        );
        let ar: AlertRoute = serde_saphyr::from_str(&yaml).unwrap();
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
}
