//! Names and label values of the children the operator creates, derived from the name of the
//! resource that owns them. Pure.
//!
//! A custom resource's name may be any DNS-1123 subdomain: up to 253 characters, with dots. The
//! children need less: a Service name is a DNS-1035 label (at most 63 characters, no dots,
//! starting with a letter), a label value at most 63 characters. The scheme (docs/api.md, "Child
//! names"):
//!
//! - A name that fits is used as it is: `nflbet-scraper-fanduel`. Every name that worked before
//!   this scheme existed is unchanged (Deployment selectors are immutable; an upgrade must not
//!   create new children).
//! - A name that does not fit (too long, or a dot where none is allowed) becomes
//!   `<prefix><start of the name>-<hash><suffix>`, exactly as long as the limit: dots turned into
//!   `-`, the name cut to what is left, and `<hash>` the first 10 hex digits of the SHA-256 of
//!   the resource's full name. The hash depends on the name only, so a Model's stable and
//!   candidate children share it, and it never changes for the life of the resource.
//!
//! Distinct resource names give distinct child names: two names that fit differ in the name
//! itself; a name that fits and one that does not differ unless someone names a resource after
//! another's shortened child name on purpose; two shortened names differ unless their hashes
//! collide (40 bits). A Model's candidate Deployment always ends in `-candidate` and no stable
//! name does (Model names ending in `-candidate` are refused at creation, and a hash is hex),
//! so a candidate can never take another Model's stable name.

use ring::digest::{SHA256, digest};

/// Limit of a DNS-1035 label (Service names) and of a label value.
pub const LABEL_MAX: usize = 63;

/// Limit of the names of the monitoring objects (PrometheusRule, AlertmanagerConfig). Their kind
/// allows 253, but prometheus-operator stores each PrometheusRule under the ConfigMap key
/// `<namespace>-<name>-<uid>.yaml`, which must fit in 253: 253 - 63 - 36 - 2 - 5 = 147.
pub const MONITORING_NAME_MAX: usize = 147;

/// Length of the hash in a shortened name, in hex digits.
pub const HASH_LEN: usize = 10;

/// Suffix of a Model's candidate Deployment; no stable name may end in it.
pub const CANDIDATE_SUFFIX: &str = "-candidate";

/// The first [`HASH_LEN`] hex digits of the SHA-256 of `name`.
pub fn hash(name: &str) -> String {
    digest(&SHA256, name.as_bytes()).as_ref()[..HASH_LEN / 2].iter().map(|b| format!("{b:02x}")).collect()
}

/// `<prefix><name><suffix>` as a DNS-1035 label (valid as the name of any namespaced child,
/// Services included). `prefix` must start with a letter.
pub fn dns_label(prefix: &str, name: &str, suffix: &str) -> String {
    let plain = format!("{prefix}{name}{suffix}");
    if plain.len() <= LABEL_MAX && is_dns_label(&plain) {
        return plain;
    }
    let room = LABEL_MAX - prefix.len() - suffix.len() - 1 - HASH_LEN;
    let stem: String = name.chars().map(|c| if c == '.' { '-' } else { c }).take(room).collect();
    format!("{prefix}{stem}-{}{suffix}", hash(name))
}

/// `<prefix><name>` as a DNS-1123 subdomain of at most [`MONITORING_NAME_MAX`] characters: the
/// name of a PrometheusRule or AlertmanagerConfig. Dots are allowed there, so only the length
/// can make it shorten.
pub fn monitoring_name(prefix: &str, name: &str) -> String {
    let plain = format!("{prefix}{name}");
    if plain.len() <= MONITORING_NAME_MAX {
        return plain;
    }
    let room = MONITORING_NAME_MAX - prefix.len() - 1 - HASH_LEN;
    // A subdomain's parts start and end with a letter or digit: cut back to one.
    let stem: String = name.chars().take(room).collect();
    format!("{prefix}{}-{}", stem.trim_end_matches(['.', '-']), hash(name))
}

/// A resource name as a label value (at most 63 characters). A DNS-1123 subdomain is otherwise
/// a valid label value already.
pub fn label_value(name: &str) -> String {
    if name.len() <= LABEL_MAX {
        return name.to_string();
    }
    let room = LABEL_MAX - 1 - HASH_LEN;
    format!("{}-{}", name.chars().take(room).collect::<String>(), hash(name))
}

/// Why a Model may not have this name, if it may not. The same rule is a CEL rule on the Model
/// CRD (checked at creation) and runs in `validate-config`.
pub fn model_name_problem(name: &str) -> Option<&'static str> {
    name.ends_with(CANDIDATE_SUFFIX).then_some(crate::crd::model::CANDIDATE_NAME_MESSAGE)
}

/// A DNS-1035 label: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A label value: empty, or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= LABEL_MAX
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// A DNS-1123 subdomain of at most `max` characters: dot-separated parts of
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn is_subdomain(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Names of a Sportsbook's children.
pub mod sportsbook {
    use super::{dns_label, monitoring_name};

    /// Name of every namespaced child of a Sportsbook except the PrometheusRule.
    pub fn child_name(book: &str) -> String {
        dns_label("nflbet-scraper-", book, "")
    }

    /// Name of the PrometheusRule of a Sportsbook.
    pub fn rule_name(book: &str) -> String {
        monitoring_name("nflbet-sportsbook-", book)
    }
}

/// Names of a Model's children.
pub mod model {
    use super::{CANDIDATE_SUFFIX, dns_label};

    /// Name of every namespaced child of a Model except the candidate Deployment.
    pub fn child_name(model: &str) -> String {
        dns_label("nflbet-model-", model, "")
    }

    /// Name of the candidate Deployment: always ends in `-candidate`, which no stable name does.
    pub fn candidate_name(model: &str) -> String {
        dns_label("nflbet-model-", model, CANDIDATE_SUFFIX)
    }

    /// Name of a replay gate Job: `-gate-` and 8 hex digits naming what it replays (its key).
    /// A DNS-1035 label, so also a valid `batch.kubernetes.io/job-name` label value.
    pub fn gate_job_name(model: &str, key_hash: &str) -> String {
        dns_label("nflbet-model-", model, &format!("-gate-{key_hash}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Every prefix and suffix the controllers use.
    const CHILDREN: [(&str, &str); 5] = [
        ("nflbet-scraper-", ""),
        ("nflbet-model-", ""),
        ("nflbet-model-", CANDIDATE_SUFFIX),
        ("nflbet-model-", "-gate-0123abcd"),
        ("nflbet-", ""),
    ];

    /// Any name the API server accepts for a custom resource: a DNS-1123 subdomain of up to 253.
    fn resource_name() -> impl Strategy<Value = String> {
        let part = "[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?";
        prop::collection::vec(part, 1..8)
            .prop_map(|parts| parts.join("."))
            .prop_filter("at most 253", |s| s.len() <= 253)
    }

    #[test]
    fn names_that_fit_are_unchanged() {
        assert_eq!(dns_label("nflbet-scraper-", "fanduel", ""), "nflbet-scraper-fanduel");
        assert_eq!(dns_label("nflbet-model-", "elo", CANDIDATE_SUFFIX), "nflbet-model-elo-candidate");
        let longest = "a".repeat(48);
        assert_eq!(dns_label("nflbet-scraper-", &longest, ""), format!("nflbet-scraper-{longest}"));
        assert_eq!(label_value(&"b".repeat(63)), "b".repeat(63));
        let rule = "c".repeat(129);
        assert_eq!(monitoring_name("nflbet-sportsbook-", &rule), format!("nflbet-sportsbook-{rule}"));
    }

    #[test]
    fn names_that_do_not_fit_are_cut_and_hashed() {
        let long = "x".repeat(49);
        let name = dns_label("nflbet-scraper-", &long, "");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("nflbet-scraper-{}-{}", "x".repeat(37), hash(&long)));
        let dotted = dns_label("nflbet-scraper-", "draft.kings", "");
        assert_eq!(dotted, format!("nflbet-scraper-draft-kings-{}", hash("draft.kings")));
        assert_ne!(dotted, dns_label("nflbet-scraper-", "draft-kings", ""));
        assert_eq!(hash("draft.kings").len(), HASH_LEN);
        let value = label_value(&"v.".repeat(40));
        assert!(is_label_value(&value) && value.len() == 63, "{value}");
    }

    #[test]
    fn the_scheme_never_changes() {
        // Deployment selectors are immutable: a different hash after an upgrade would orphan
        // every shortened child. These values are SHA-256 computed outside Rust.
        assert_eq!(dns_label("nflbet-scraper-", "draft.kings", ""), "nflbet-scraper-draft-kings-58f506b995");
        let longest = format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61));
        assert_eq!(
            dns_label("nflbet-model-", &longest, CANDIDATE_SUFFIX),
            format!("nflbet-model-{}-5fcf065db5-candidate", "a".repeat(29))
        );
        assert_eq!(label_value(&longest), format!("{}-5fcf065db5", "a".repeat(52)));
    }

    #[test]
    fn a_candidate_never_takes_another_models_stable_name() {
        assert!(model_name_problem("elo-candidate").unwrap().contains("must not end in '-candidate'"));
        assert_eq!(model_name_problem("candidate"), None);
        assert_eq!(model_name_problem("elo"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_child_name_is_valid_and_deterministic(name in resource_name()) {
            for (prefix, suffix) in CHILDREN {
                let child = dns_label(prefix, &name, suffix);
                prop_assert!(is_dns_label(&child), "{child}");
                prop_assert!(child.starts_with(prefix) && child.ends_with(suffix));
                prop_assert_eq!(&child, &dns_label(prefix, &name, suffix));
            }
            let value = label_value(&name);
            prop_assert!(is_label_value(&value), "{}", value);
            for prefix in ["nflbet-sportsbook-", "nflbet-"] {
                let rule = monitoring_name(prefix, &name);
                prop_assert!(is_subdomain(&rule, MONITORING_NAME_MAX), "{}", rule);
            }
        }

        #[test]
        fn distinct_names_give_distinct_children(names in prop::collection::hash_set(resource_name(), 2..60)) {
            for (prefix, suffix) in CHILDREN {
                let mut seen = HashMap::new();
                for n in &names {
                    if let Some(other) = seen.insert(dns_label(prefix, n, suffix), n) {
                        prop_assert!(false, "{} and {} share {}{}", n, other, prefix, suffix);
                    }
                }
            }
            let values: std::collections::HashSet<_> = names.iter().map(|n| label_value(n)).collect();
            prop_assert_eq!(values.len(), names.len());
            let rules: std::collections::HashSet<_> =
                names.iter().map(|n| monitoring_name("nflbet-sportsbook-", n)).collect();
            prop_assert_eq!(rules.len(), names.len());
        }

        #[test]
        fn stable_and_candidate_names_never_meet(a in resource_name(), b in resource_name()) {
            prop_assume!(model_name_problem(&a).is_none() && model_name_problem(&b).is_none());
            let stable = dns_label("nflbet-model-", &a, "");
            let candidate = dns_label("nflbet-model-", &b, CANDIDATE_SUFFIX);
            prop_assert_ne!(&stable, &candidate);
            prop_assert!(!stable.ends_with(CANDIDATE_SUFFIX));
        }
    }

    #[test]
    fn the_longest_names_kubernetes_allows() {
        let longest = format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61));
        assert_eq!(longest.len(), 253);
        for (prefix, suffix) in CHILDREN {
            assert!(is_dns_label(&dns_label(prefix, &longest, suffix)));
        }
        assert!(is_label_value(&label_value(&longest)));
        assert!(is_subdomain(&monitoring_name("nflbet-sportsbook-", &longest), MONITORING_NAME_MAX));
        // A name that is only a dot-separated stem cut at a dot still yields a valid subdomain.
        let at_dot = format!("{}.{}", "e".repeat(128), "f".repeat(124));
        assert!(is_subdomain(&monitoring_name("nflbet-sportsbook-", &at_dot), MONITORING_NAME_MAX));
    }
}
