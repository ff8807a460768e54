//! The pod-security policy for specs: which pod settings a Sportsbook or Model may ask for.
//!
//! Editing a Sportsbook or Model makes the operator create a pod, so without a policy an edit
//! right on those kinds would be the right to run any image as any ServiceAccount of the
//! namespace (docs/security.md). The operator's administrator decides, with operator flags (chart
//! values `podPolicy.*`), what a spec may ask for:
//!
//! - images: the operator's own workload image (exact), plus the listed patterns;
//! - a ServiceAccount named by the spec must exist and carry the configured label
//!   (`betting.nflbet.dev/workload-identity=true` by default), which only someone allowed to
//!   edit ServiceAccounts can grant; the operator's generated one is always allowed;
//! - tolerations, node selectors and pod annotations: allow-lists, empty by default.
//!
//! Pattern syntax, the same in every list: an exact string, or a prefix ending in `*`
//! (`registry.example.com/nflbet/*`, `prometheus.io/*`); a lone `*` allows anything.
//! Tolerations and node selectors take `KEY` (any value) or `KEY=VALUE`, each side a pattern.
//!
//! Pure: the reconcile reads the named ServiceAccount (its read step) and passes it in.

use crate::crd::common::WorkloadSettings;
use k8s_openapi::api::core::v1::{ServiceAccount, Toleration};
use std::fmt;

/// Reason of the `Ready=False` condition, the Warning Event and the error metric of a refused spec.
pub const REASON: &str = "PolicyViolation";

/// The label a ServiceAccount needs before a spec may name it, unless configured otherwise.
pub const DEFAULT_SERVICE_ACCOUNT_LABEL: (&str, &str) = ("betting.nflbet.dev/workload-identity", "true");

/// An allow-list entry: an exact string, or a prefix when it ends in `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty pattern allows nothing; write `*` to allow anything".into());
        }
        if s[..s.len() - 1].contains('*') {
            return Err(format!("{s:?}: `*` may only end a pattern (a prefix), e.g. registry.example.com/*"));
        }
        Ok(Pattern(s.to_string()))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => value == self.0,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `KEY` (any value) or `KEY=VALUE`, each side a [`Pattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValuePattern {
    pub key: Pattern,
    pub value: Option<Pattern>,
}

impl KeyValuePattern {
    pub fn parse(s: &str) -> Result<KeyValuePattern, String> {
        match s.split_once('=') {
            Some((k, v)) => Ok(KeyValuePattern { key: Pattern::parse(k)?, value: Some(Pattern::parse(v)?) }),
            None => Ok(KeyValuePattern { key: Pattern::parse(s)?, value: None }),
        }
    }

    /// Whether `key` with `value` (`None`: any value, as a toleration with `operator: Exists`)
    /// is allowed. A pattern with a value allows no "any value" request unless the value
    /// pattern is `*`.
    pub fn matches(&self, key: &str, value: Option<&str>) -> bool {
        self.key.matches(key)
            && match (&self.value, value) {
                (None, _) => true,
                (Some(p), Some(v)) => p.matches(v),
                (Some(p), None) => p.0 == "*",
            }
    }
}

impl fmt::Display for KeyValuePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => write!(f, "{}", self.key),
        }
    }
}

/// What a spec may ask for in its pod. Pure data in [`OperatorConfig`](super::config::OperatorConfig).
#[derive(Clone, Debug, PartialEq)]
pub struct PodPolicy {
    /// Images allowed besides the operator's workload image.
    pub images: Vec<Pattern>,
    /// Label (key, value) a ServiceAccount named by a spec must carry.
    pub service_account_label: (String, String),
    /// Tolerations allowed, by taint key and value.
    pub tolerations: Vec<KeyValuePattern>,
    /// Node selector entries allowed.
    pub node_selectors: Vec<KeyValuePattern>,
    /// Pod annotation keys allowed.
    pub pod_annotations: Vec<Pattern>,
}

impl Default for PodPolicy {
    fn default() -> Self {
        let (k, v) = DEFAULT_SERVICE_ACCOUNT_LABEL;
        PodPolicy {
            images: vec![],
            service_account_label: (k.into(), v.into()),
            tolerations: vec![],
            node_selectors: vec![],
            pod_annotations: vec![],
        }
    }
}

/// One setting of a spec that the policy refuses.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Path of the field, e.g. `spec.workload.image`.
    pub field: String,
    /// What was asked for and what the policy allows.
    pub message: String,
}

/// Every setting of one spec that the policy refuses; never empty.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} (the operator's pod policy, docs/security.md)", render(.0))]
pub struct Violations(pub Vec<Violation>);

fn render(v: &[Violation]) -> String {
    v.iter().map(|v| format!("{}: {}", v.field, v.message)).collect::<Vec<_>>().join("; ")
}

/// The ServiceAccount a spec names, as the reconcile found it.
#[derive(Clone, Copy, Debug)]
pub enum NamedAccount<'a> {
    /// The spec names none: the operator's generated one is used.
    NotNamed,
    /// Named, but not found in the namespace.
    Missing,
    Found(&'a ServiceAccount),
}

/// The [`NamedAccount`] of a spec that names `named` (if any), given what a GET of it returned.
pub fn named_account<'a>(named: Option<&str>, found: Option<&'a ServiceAccount>) -> NamedAccount<'a> {
    match (named, found) {
        (None, _) => NamedAccount::NotNamed,
        (Some(_), None) => NamedAccount::Missing,
        (Some(_), Some(sa)) => NamedAccount::Found(sa),
    }
}

/// What one workload's pod asks for: the settings of the spec and the images it names.
pub struct PodRequest<'a> {
    pub settings: &'a WorkloadSettings,
    /// Images named elsewhere in the spec (`spec.rollout.candidate.image`), with their field.
    pub extra_images: Vec<(&'a str, &'a str)>,
    pub account: NamedAccount<'a>,
}

fn allowed_list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

impl PodPolicy {
    /// Check one workload's request; `workload_image` is the operator's configured image, always
    /// allowed. Returns every violation, so one refusal names all a person must change.
    pub fn check(&self, workload_image: &str, req: &PodRequest<'_>) -> Result<(), Violations> {
        let s = req.settings;
        let mut out = Vec::new();

        let images = s.image.as_deref().map(|i| ("spec.workload.image", i)).into_iter();
        for (field, image) in images.chain(req.extra_images.iter().copied()) {
            if image != workload_image && !self.images.iter().any(|p| p.matches(image)) {
                out.push(Violation {
                    field: field.into(),
                    message: format!(
                        "image {image:?} is not allowed; allowed: the operator's workload image \
                         {workload_image:?}{}",
                        if self.images.is_empty() {
                            String::new()
                        } else {
                            format!(" and {}", allowed_list(&self.images))
                        }
                    ),
                });
            }
        }

        let (key, value) = &self.service_account_label;
        if let Some(name) = &s.service_account_name {
            let problem = match req.account {
                NamedAccount::NotNamed | NamedAccount::Missing => Some("does not exist in this namespace"),
                NamedAccount::Found(sa) => {
                    let labels = sa.metadata.labels.as_ref();
                    (labels.and_then(|l| l.get(key)) != Some(value)).then_some("is not labelled for nflbet")
                }
            };
            if let Some(problem) = problem {
                let label_hint = format!(
                    "a ServiceAccount needs the label {key}={value} (set by someone allowed to edit ServiceAccounts)"
                );
                out.push(Violation {
                    field: "spec.workload.serviceAccountName".into(),
                    message: format!("ServiceAccount {name:?} {problem}; {label_hint}, or leave the field out to use the operator's own"),
                });
            }
        }

        for (i, t) in s.tolerations.iter().enumerate() {
            if !self.tolerates(t) {
                out.push(Violation {
                    field: format!("spec.workload.tolerations[{i}]"),
                    message: format!(
                        "toleration of {} is not allowed; allowed: {}",
                        describe_toleration(t),
                        allowed_list(&self.tolerations)
                    ),
                });
            }
        }

        for (k, v) in &s.node_selector {
            if !self.node_selectors.iter().any(|p| p.matches(k, Some(v))) {
                out.push(Violation {
                    field: format!("spec.workload.nodeSelector[{k:?}]"),
                    message: format!(
                        "node selector {k}={v} is not allowed; allowed: {}",
                        allowed_list(&self.node_selectors)
                    ),
                });
            }
        }

        // Keys only: an annotation's value is nobody's business in a status message.
        for k in s.pod_annotations.keys() {
            if !self.pod_annotations.iter().any(|p| p.matches(k)) {
                out.push(Violation {
                    field: format!("spec.workload.podAnnotations[{k:?}]"),
                    message: format!(
                        "pod annotation {k} is not allowed; allowed keys: {}",
                        allowed_list(&self.pod_annotations)
                    ),
                });
            }
        }

        if out.is_empty() { Ok(()) } else { Err(Violations(out)) }
    }

    fn tolerates(&self, t: &Toleration) -> bool {
        let key = t.key.as_deref().unwrap_or("");
        // `Exists` tolerates every value of the key (and, with no key, every taint).
        let value = match t.operator.as_deref() {
            Some("Exists") => None,
            _ => Some(t.value.as_deref().unwrap_or("")),
        };
        if key.is_empty() {
            // Tolerates every taint: only an explicit `*` allows that.
            return self.tolerations.iter().any(|p| p.key.0 == "*" && p.matches("", value));
        }
        self.tolerations.iter().any(|p| p.matches(key, value))
    }
}

fn describe_toleration(t: &Toleration) -> String {
    let key = t.key.as_deref().unwrap_or("");
    let what = match (key, t.operator.as_deref()) {
        ("", _) => "every taint".to_string(),
        (k, Some("Exists")) => format!("{k} (any value)"),
        (k, _) => format!("{k}={}", t.value.as_deref().unwrap_or("")),
    };
    match t.effect.as_deref() {
        Some(e) if !e.is_empty() => format!("{what}:{e}"),
        _ => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    const IMAGE: &str = "localhost/nflbet:1.0.0";

    fn kv(s: &str) -> KeyValuePattern {
        KeyValuePattern::parse(s).unwrap()
    }

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn check(policy: &PodPolicy, settings: &WorkloadSettings) -> Result<(), Violations> {
        policy.check(IMAGE, &PodRequest { settings, extra_images: vec![], account: NamedAccount::NotNamed })
    }

    fn fields(r: Result<(), Violations>) -> Vec<String> {
        r.err().map(|v| v.0.into_iter().map(|v| v.field).collect()).unwrap_or_default()
    }

    fn account(labels: &[(&str, &str)]) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some("odds-team".into()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn toleration(key: &str, op: &str, value: &str) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(op.into()),
            value: (!value.is_empty()).then(|| value.into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        }
    }

    #[test]
    fn patterns_are_exact_or_a_trailing_star_prefix() {
        assert!(p("registry.example.com/nflbet:1").matches("registry.example.com/nflbet:1"));
        assert!(!p("registry.example.com/nflbet").matches("registry.example.com/nflbet-evil:1"));
        assert!(p("registry.example.com/nflbet/*").matches("registry.example.com/nflbet/scraper:2"));
        assert!(!p("registry.example.com/nflbet/*").matches("registry.example.com/other:2"));
        assert!(p("*").matches(""));
        assert!(Pattern::parse("").is_err());
        let err = Pattern::parse("reg*/x").unwrap_err();
        assert!(err.contains("only end a pattern"), "{err}");
        assert_eq!(kv("dedicated=betting").to_string(), "dedicated=betting");
        assert!(kv("dedicated").matches("dedicated", Some("anything")));
        assert!(kv("dedicated").matches("dedicated", None));
        assert!(!kv("dedicated=betting").matches("dedicated", Some("other")));
        assert!(!kv("dedicated=betting").matches("dedicated", None), "Exists is more than one value");
        assert!(kv("dedicated=*").matches("dedicated", None));
    }

    #[test]
    fn defaults_allow_only_the_operators_image_and_its_own_account() {
        let policy = PodPolicy::default();
        assert_eq!(check(&policy, &WorkloadSettings::default()), Ok(()));
        let same = WorkloadSettings { image: Some(IMAGE.into()), ..Default::default() };
        assert_eq!(check(&policy, &same), Ok(()), "naming the workload image is fine");
        let foreign = WorkloadSettings { image: Some("evil.example/miner:1".into()), ..Default::default() };
        let err = check(&policy, &foreign).unwrap_err();
        assert_eq!(err.0[0].field, "spec.workload.image");
        let text = err.to_string();
        assert!(text.contains("\"evil.example/miner:1\" is not allowed"), "{text}");
        assert!(text.contains(IMAGE), "names what is allowed: {text}");
        assert!(text.contains("docs/security.md"), "{text}");
    }

    #[test]
    fn listed_image_prefixes_are_allowed_and_candidate_images_are_checked_too() {
        let policy = PodPolicy { images: vec![p("registry.example.com/nflbet/*")], ..Default::default() };
        let settings = WorkloadSettings::default();
        let req = |image| PodRequest {
            settings: &settings,
            extra_images: vec![("spec.rollout.candidate.image", image)],
            account: NamedAccount::NotNamed,
        };
        assert_eq!(policy.check(IMAGE, &req("registry.example.com/nflbet/model:2")), Ok(()));
        let err = policy.check(IMAGE, &req("docker.io/library/busybox")).unwrap_err();
        assert_eq!(err.0[0].field, "spec.rollout.candidate.image");
        assert!(err.to_string().contains("registry.example.com/nflbet/*"), "{err}");
    }

    #[test]
    fn a_named_service_account_needs_the_label() {
        let policy = PodPolicy::default();
        let settings =
            WorkloadSettings { service_account_name: Some("odds-team".into()), ..Default::default() };
        let req = |account| PodRequest { settings: &settings, extra_images: vec![], account };
        let labelled = account(&[("betting.nflbet.dev/workload-identity", "true")]);
        assert_eq!(policy.check(IMAGE, &req(NamedAccount::Found(&labelled))), Ok(()));

        let other = account(&[("betting.nflbet.dev/workload-identity", "false")]);
        let err = policy.check(IMAGE, &req(NamedAccount::Found(&other))).unwrap_err().to_string();
        assert!(err.contains("spec.workload.serviceAccountName"), "{err}");
        assert!(err.contains("\"odds-team\" is not labelled for nflbet"), "{err}");
        assert!(err.contains("betting.nflbet.dev/workload-identity=true"), "{err}");

        let err = policy.check(IMAGE, &req(NamedAccount::Missing)).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");

        let custom =
            PodPolicy { service_account_label: ("team".into(), "trading".into()), ..Default::default() };
        let team = account(&[("team", "trading")]);
        assert_eq!(custom.check(IMAGE, &req(NamedAccount::Found(&team))), Ok(()));
        assert!(custom.check(IMAGE, &req(NamedAccount::Found(&labelled))).is_err());
    }

    #[test]
    fn tolerations_follow_the_allow_list() {
        let with = |t: Vec<Toleration>| WorkloadSettings { tolerations: t, ..Default::default() };
        let none = PodPolicy::default();
        let err = check(&none, &with(vec![toleration("dedicated", "Equal", "betting")])).unwrap_err();
        assert_eq!(err.0[0].field, "spec.workload.tolerations[0]");
        assert!(
            err.to_string().contains("dedicated=betting:NoSchedule is not allowed; allowed: none"),
            "{err}"
        );

        let policy = PodPolicy { tolerations: vec![kv("dedicated=betting")], ..Default::default() };
        assert_eq!(check(&policy, &with(vec![toleration("dedicated", "Equal", "betting")])), Ok(()));
        assert_eq!(
            fields(check(
                &policy,
                &with(vec![
                    toleration("dedicated", "Equal", "betting"),
                    toleration("dedicated", "Equal", "gpu"),
                    toleration("dedicated", "Exists", ""),
                    toleration("", "Exists", ""),
                ])
            )),
            ["spec.workload.tolerations[1]", "spec.workload.tolerations[2]", "spec.workload.tolerations[3]"]
        );
        let keyed = PodPolicy { tolerations: vec![kv("dedicated")], ..Default::default() };
        assert_eq!(check(&keyed, &with(vec![toleration("dedicated", "Exists", "")])), Ok(()));
        assert!(
            check(&keyed, &with(vec![toleration("", "Exists", "")])).is_err(),
            "an empty key is every taint"
        );
        let all = PodPolicy { tolerations: vec![kv("*")], ..Default::default() };
        assert_eq!(check(&all, &with(vec![toleration("", "Exists", "")])), Ok(()));
    }

    #[test]
    fn node_selectors_and_annotation_keys_follow_their_lists() {
        let settings = WorkloadSettings {
            node_selector: BTreeMap::from([
                ("kubernetes.io/arch".into(), "amd64".into()),
                ("pool".into(), "gpu".into()),
            ]),
            pod_annotations: BTreeMap::from([
                ("prometheus.io/scrape".into(), "true".into()),
                ("vault.hashicorp.com/agent-inject-secret".into(), "s3cr3t-path".into()),
            ]),
            ..Default::default()
        };
        let policy = PodPolicy {
            node_selectors: vec![kv("kubernetes.io/arch"), kv("pool=batch*")],
            pod_annotations: vec![p("prometheus.io/*")],
            ..Default::default()
        };
        let err = check(&policy, &settings).unwrap_err();
        let text = err.to_string();
        assert_eq!(
            err.0.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(),
            [
                "spec.workload.nodeSelector[\"pool\"]",
                "spec.workload.podAnnotations[\"vault.hashicorp.com/agent-inject-secret\"]"
            ]
        );
        assert!(text.contains("pool=gpu is not allowed; allowed: kubernetes.io/arch, pool=batch*"), "{text}");
        assert!(!text.contains("s3cr3t-path"), "annotation values never reach a message: {text}");
        assert_eq!(check(&PodPolicy::default(), &WorkloadSettings::default()), Ok(()));
        assert_eq!(
            fields(check(&PodPolicy::default(), &settings)).len(),
            4,
            "every entry is refused by default"
        );
    }
}
