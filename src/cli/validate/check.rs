//! Checks of one document on its own: what it is (apiVersion, kind), the CRD's structural
//! schema, ObjectMeta, and the CEL rules the API server would run.

use super::finding::{Check, Finding, Level, Location};
use super::input::Document;
use super::schema::{self, IssueKind};
use crate::crd::GROUP;
use kube::core::cel::{CompiledSchema, ErrorKind, Validator, compile_schema};
use serde_json::Value;

/// The schema of one served version of one of our kinds.
pub struct KindSchema {
    pub kind: String,
    pub version: String,
    pub schema: Value,
    compiled: CompiledSchema,
}

/// The schemas of every kind nflbet defines, taken from the same CRDs `nflbet crds` prints, so
/// the offline check and the API server can never disagree about the rules.
pub struct Kinds {
    entries: Vec<KindSchema>,
    validator: Validator,
}

impl Kinds {
    pub fn from_crds() -> Kinds {
        let mut entries = Vec::new();
        for (_, crd) in crate::crd::all() {
            for v in &crd.spec.versions {
                let Some(s) = v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()) else {
                    continue;
                };
                let schema = serde_json::to_value(s).unwrap_or(Value::Null);
                let compiled = compile_schema(&without_create_only_rules(&schema));
                entries.push(KindSchema {
                    kind: crd.spec.names.kind.clone(),
                    version: v.name.clone(),
                    schema,
                    compiled,
                });
            }
        }
        Kinds { entries, validator: Validator::new() }
    }

    fn find(&self, kind: &str, version: &str) -> Option<&KindSchema> {
        self.entries.iter().find(|e| e.kind == kind && e.version == version)
    }

    fn kind_names(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.entries.iter().map(|e| e.kind.as_str()).collect();
        k.dedup();
        k
    }
}

/// The schema without its root rules marked `optionalOldSelf` (checked at creation only). The
/// offline validator binds a missing `oldSelf` to null where the API server binds an empty
/// optional, so such a rule cannot run here; the one there is (a Model name must not end in
/// `-candidate`) is checked in Rust by [`create_only_rules`], with the same message.
fn without_create_only_rules(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(Value::Array(rules)) = schema.get_mut("x-kubernetes-validations") {
        rules.retain(|r| r.get("optionalOldSelf").and_then(Value::as_bool) != Some(true));
    }
    schema
}

/// What the root rules left out by [`without_create_only_rules`] would say about a new object.
fn create_only_rules(kind: &str, name: Option<&str>) -> Option<&'static str> {
    match (kind, name) {
        ("Model", Some(name)) => crate::controller::names::model_name_problem(name),
        _ => None,
    }
}

/// A document declaring one of our kinds, kept for the checks across the set.
pub struct Resource {
    pub location: Location,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub object: Value,
    /// No error so far: it can be read as its Rust type.
    pub valid: bool,
}

/// Check one document. Returns its findings and, for our kinds, the resource.
pub fn check(file: &str, doc: &Document, kinds: &Kinds) -> (Vec<Finding>, Option<Resource>) {
    let mut location =
        Location { file: file.into(), document: doc.index, kind: None, namespace: None, name: None };
    let object = match &doc.value {
        Err(e) => {
            return (
                vec![Finding::new(
                    Level::Error,
                    Check::Yaml,
                    &location,
                    None,
                    format!("not valid YAML: {e}"),
                )],
                None,
            );
        }
        Ok(Value::Null) => return (vec![], None),
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            let msg = "not a manifest: a document must be a mapping with apiVersion and kind";
            return (vec![Finding::new(Level::Error, Check::Yaml, &location, None, msg)], None);
        }
    };
    let str_field = |f: &str| object.get(f).and_then(Value::as_str).map(str::to_string);
    location.kind = str_field("kind");
    location.name = object.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string);
    location.namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);

    let mut findings = Vec::new();
    let (Some(api_version), Some(kind)) = (str_field("apiVersion"), location.kind.clone()) else {
        for f in ["apiVersion", "kind"] {
            if str_field(f).is_none() {
                findings.push(Finding::new(
                    Level::Error,
                    Check::Kind,
                    &location,
                    Some(f.into()),
                    "required field is missing",
                ));
            }
        }
        return (findings, None);
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version.as_str()));
    if group != GROUP {
        // Secrets, ConfigMaps, …: not ours to judge. Only kind and name are shown, never data.
        let msg = format!("skipped: {kind} ({api_version}) is not an nflbet resource");
        return (vec![Finding::new(Level::Note, Check::Kind, &location, None, msg)], None);
    }
    if !kinds.kind_names().contains(&kind.as_str()) {
        let msg =
            format!("unknown kind {kind:?} in {GROUP}: expected one of {}", kinds.kind_names().join(", "));
        return (vec![Finding::new(Level::Error, Check::Kind, &location, Some("kind".into()), msg)], None);
    }
    let Some(ks) = kinds.find(&kind, version) else {
        let versions: Vec<&str> =
            kinds.entries.iter().filter(|e| e.kind == kind).map(|e| e.version.as_str()).collect();
        let msg =
            format!("{kind} has no version {version:?}: use apiVersion {GROUP}/{}", versions.join(" or "));
        return (
            vec![Finding::new(Level::Error, Check::Kind, &location, Some("apiVersion".into()), msg)],
            None,
        );
    };

    let mut issues = schema::check_metadata(object);
    issues.extend(schema::validate(&ks.schema, object));
    let mut structural_errors = false;
    for issue in issues {
        let level = match issue.kind {
            IssueKind::Invalid => {
                structural_errors = true;
                Level::Error
            }
            IssueKind::UnknownField => Level::Warning,
        };
        // A type error on an unquoted yes/no/on/off/0755/~: say how kubectl read it.
        let message = match doc.readings.iter().find(|r| r.path == issue.path) {
            Some(r) if issue.kind == IssueKind::Invalid => format!("{}: {}", issue.message, r.hint()),
            _ => issue.message,
        };
        findings.push(Finding::new(level, Check::Schema, &location, Some(issue.path), message));
    }
    for r in doc.readings.iter().filter(|r| r.is_octal()) {
        let decimal = r.text.trim_start_matches(['+', '-', '0']);
        let msg = format!(
            "kubectl reads YAML 1.1, where the unquoted {} is octal: it sends {}; write {decimal} \
             if you meant {decimal}",
            r.text, r.value
        );
        findings.push(Finding::new(Level::Note, Check::Yaml, &location, Some(r.path.clone()), msg));
    }

    if let Some(message) = create_only_rules(&kind, location.name.as_deref()) {
        // A rule on the whole object: the API server names no field for it, neither do we.
        findings.push(Finding::new(Level::Error, Check::Cel, &location, None, message));
    }
    if let Err(errors) = kinds.validator.validate_compiled(&ks.compiled, object, None) {
        for e in errors {
            if e.kind == ErrorKind::ValidationFailure {
                findings.push(Finding::new(
                    Level::Error,
                    Check::Cel,
                    &location,
                    Some(e.field_path.clone()),
                    e.message.clone(),
                ));
            } else if !structural_errors {
                // A rule that cannot run on a schema-valid object is a bug in the rule: say so
                // instead of passing silently. On an invalid object it is only a consequence.
                let msg = format!("rule {:?} could not be evaluated: {}", e.rule, e.message);
                findings.push(Finding::new(
                    Level::Error,
                    Check::Cel,
                    &location,
                    Some(e.field_path.clone()),
                    msg,
                ));
            }
        }
    }

    let valid = !findings.iter().any(|f| f.level == Level::Error);
    let resource = Resource {
        location: location.clone(),
        kind,
        namespace: location.namespace.clone(),
        name: location.name.clone(),
        object: object.clone(),
        valid,
    };
    (findings, Some(resource))
}
