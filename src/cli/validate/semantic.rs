//! Checks across the whole set of validated manifests: names defined twice, references to
//! Sportsbooks and Models the set does not define, Models reading snapshots where their books
//! do not write them, and AlertRoutes that can never deliver an alert (the operator's own
//! AlertmanagerConfig check, run offline).

use super::check::Resource;
use super::finding::{Check, Finding, Level};
use crate::controller::alert_route::{build, validate};
use crate::controller::model::storage::{self as model_storage, BookStore, StorageCheck};
use crate::controller::snapshot_store::StoreLocation;
use crate::crd::AlertRoute;
use crate::crd::sportsbook::StorageSettings;
use serde_json::Value;
use std::collections::BTreeMap;

pub fn check(resources: &[Resource]) -> Vec<Finding> {
    let mut out = duplicates(resources);
    for r in resources {
        match r.kind.as_str() {
            "Model" => {
                out.extend(model_references(r, resources));
                out.extend(model_stores(r, resources));
            }
            "AlertRoute" => {
                out.extend(route_references(r, resources));
                out.extend(route_can_match(r));
            }
            _ => {}
        }
    }
    out
}

/// Two documents with one kind, namespace and name: the second `kubectl apply` overwrites the
/// first, which is never what was meant.
fn duplicates(resources: &[Resource]) -> Vec<Finding> {
    let mut seen: BTreeMap<(&str, &str, &str), &Resource> = BTreeMap::new();
    let mut out = Vec::new();
    for r in resources {
        let Some(name) = r.name.as_deref() else {
            continue;
        };
        let key = (r.kind.as_str(), r.namespace.as_deref().unwrap_or(""), name);
        match seen.get(&key) {
            Some(first) => out.push(Finding::new(
                Level::Error,
                Check::Semantic,
                &r.location,
                Some("metadata.name".into()),
                format!(
                    "duplicate {} {name:?}: already defined in {}: document {}",
                    r.kind, first.location.file, first.location.document
                ),
            )),
            None => {
                seen.insert(key, r);
            }
        }
    }
    out
}

/// Resources of `kind` in the namespace `r` will live in. A resource without a namespace is
/// applied to whatever namespace `kubectl -n` names, so it is taken to share it with any other.
fn in_namespace<'a>(r: &Resource, resources: &'a [Resource], kind: &str) -> Vec<&'a Resource> {
    resources
        .iter()
        .filter(|o| o.kind == kind)
        .filter(|o| match (&o.namespace, &r.namespace) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        })
        .collect()
}

fn names(object: &Value, pointer: &str) -> Vec<String> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn model_references(r: &Resource, resources: &[Resource]) -> Vec<Finding> {
    let books = in_namespace(r, resources, "Sportsbook");
    let mut out = Vec::new();
    for (i, name) in names(&r.object, "/spec/sportsbooks/names").iter().enumerate() {
        if !books.iter().any(|b| b.name.as_deref() == Some(name)) {
            out.push(Finding::new(
                Level::Warning,
                Check::Semantic,
                &r.location,
                Some(format!("spec.sportsbooks.names[{i}]")),
                format!("Sportsbook {name:?} is not defined in the validated files: the model would price nothing from it"),
            ));
        }
    }
    if selected_books(r, &books).is_some_and(|s| s.is_empty()) {
        out.push(Finding::new(
            Level::Warning,
            Check::Semantic,
            &r.location,
            Some("spec.sportsbooks.selector.matchLabels".into()),
            "selects no Sportsbook defined in the validated files",
        ));
    }
    out
}

/// The books of `books` a Model's label selector matches; `None` without a selector.
fn selected_books<'a>(r: &Resource, books: &[&'a Resource]) -> Option<Vec<&'a Resource>> {
    let Some(Value::Object(wanted)) = r.object.pointer("/spec/sportsbooks/selector/matchLabels") else {
        return None;
    };
    if wanted.is_empty() {
        return None;
    }
    let matches = |b: &&Resource| {
        wanted.iter().all(|(k, v)| b.object.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
    };
    Some(books.iter().copied().filter(matches).collect())
}

/// Books of the set that write their snapshots elsewhere than the Model reads them: the model
/// would price nothing from them (the operator's `StorageShared` check, run offline). Books the
/// set does not define are left to [`model_references`].
fn model_stores(r: &Resource, resources: &[Resource]) -> Vec<Finding> {
    let storage = |o: &Value| -> Result<Option<StorageSettings>, serde_json::Error> {
        o.pointer("/spec/storage").cloned().map(serde_json::from_value).transpose()
    };
    let Ok(reads) = storage(&r.object) else { return vec![] };
    let books = in_namespace(r, resources, "Sportsbook");
    let wanted = names(&r.object, "/spec/sportsbooks/names");
    let mut priced: Vec<&Resource> =
        books.iter().copied().filter(|b| b.name.as_ref().is_some_and(|n| wanted.contains(n))).collect();
    priced.extend(selected_books(r, &books).unwrap_or_default());
    let mut stores: Vec<BookStore> = priced
        .into_iter()
        .filter_map(|b| {
            let writes = storage(&b.object).ok()?;
            Some(BookStore { name: b.name.clone()?, writes: Some(StoreLocation::of(writes.as_ref())) })
        })
        .collect();
    stores.sort_by(|a, b| a.name.cmp(&b.name));
    stores.dedup_by(|a, b| a.name == b.name);
    let StorageCheck::Mismatch { reads, elsewhere } = model_storage::check(reads.as_ref(), &stores) else {
        return vec![];
    };
    elsewhere
        .iter()
        .map(|(book, writes)| {
            Finding::new(
                Level::Warning,
                Check::Semantic,
                &r.location,
                Some("spec.storage".into()),
                format!(
                    "{}: the model would price nothing from it; {}",
                    model_storage::book_writes_elsewhere(book, writes, &reads),
                    model_storage::FIX
                ),
            )
        })
        .collect()
}

fn route_references(r: &Resource, resources: &[Resource]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (field, kind) in [("sportsbooks", "Sportsbook"), ("models", "Model")] {
        let defined = in_namespace(r, resources, kind);
        for (i, name) in names(&r.object, &format!("/spec/{field}")).iter().enumerate() {
            if !defined.iter().any(|d| d.name.as_deref() == Some(name)) {
                out.push(Finding::new(
                    Level::Warning,
                    Check::Semantic,
                    &r.location,
                    Some(format!("spec.{field}[{i}]")),
                    format!("{kind} {name:?} is not defined in the validated files: no alert of it can reach this route"),
                ));
            }
        }
    }
    out
}

/// Build the AlertmanagerConfig the operator would generate and run the operator's own check on
/// it, translating its paths back to the AlertRoute's fields.
fn route_can_match(r: &Resource) -> Vec<Finding> {
    if !r.valid {
        return vec![];
    }
    let Ok(route) = serde_json::from_value::<AlertRoute>(r.object.clone()) else {
        return vec![];
    };
    validate::validate(&build::build(&route))
        .into_iter()
        .map(|p| {
            Finding::new(Level::Error, Check::Semantic, &r.location, Some(spec_field(&p.field)), p.message)
        })
        .collect()
}

/// `route.matchers[0]` is the severity threshold; the user's matchers follow it.
fn spec_field(generated: &str) -> String {
    if let Some(rest) = generated.strip_prefix("route.matchers[")
        && let Some(i) = rest.strip_suffix(']').and_then(|n| n.parse::<usize>().ok())
    {
        return if i == 0 { "spec.minSeverity".into() } else { format!("spec.matchers[{}]", i - 1) };
    }
    match generated {
        "route.groupWait" => "spec.groupWait".into(),
        "route.groupInterval" => "spec.groupInterval".into(),
        "route.repeatInterval" => "spec.repeatInterval".into(),
        "route.groupBy" => "spec.groupBy".into(),
        f if f.starts_with("spec.") => f.into(),
        _ => "spec".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::spec_field;

    #[test]
    fn generated_paths_map_back_to_the_route() {
        assert_eq!(spec_field("route.matchers[0]"), "spec.minSeverity");
        assert_eq!(spec_field("route.matchers[2]"), "spec.matchers[1]");
        assert_eq!(spec_field("route.repeatInterval"), "spec.repeatInterval");
        assert_eq!(spec_field("spec.matchers"), "spec.matchers");
        assert_eq!(spec_field("route.routes[0].receiver"), "spec");
    }
}
