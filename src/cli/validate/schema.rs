//! A structural validator over a CRD's `openAPIV3Schema`, doing what the API server does before
//! it runs CEL: types, enums, patterns, bounds, required fields, list-map and set uniqueness,
//! and pruning of unknown fields.
//!
//! It covers the subset of OpenAPI v3 that structural CRD schemas may use (including
//! `nullable`, `additionalProperties`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-list-type` and
//! `x-kubernetes-list-map-keys`). A general JSON-Schema crate would accept keywords Kubernetes
//! refuses and know nothing of the `x-kubernetes-*` extensions, hence this small walker.
//!
//! `metadata` is not walked: the CRD schema says only `type: object` there and the API server
//! validates it as ObjectMeta; see [`check_metadata`].

use serde_json::Value;

/// What a finding of the structural check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// The API server would refuse the object.
    Invalid,
    /// The API server would silently drop the field (pruning): a typo, usually.
    UnknownField,
}

/// One structural finding at a field path such as `spec.markets[1].name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub kind: IssueKind,
    pub path: String,
    pub message: String,
}

/// Check `value` against `schema`. Paths are relative to the object's root (`spec.provider`).
pub fn validate(schema: &Value, value: &Value) -> Vec<Issue> {
    let mut out = Vec::new();
    walk(schema, value, "", &mut out);
    out
}

/// A value as it appears in a message: JSON, shortened so a long string cannot flood the output.
pub fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 64 {
        let cut: String = s.chars().take(60).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_string() } else { format!("{path}.{field}") }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(expected: &str, v: &Value) -> bool {
    match expected {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<Issue>) {
    let mut invalid =
        |message: String| out.push(Issue { kind: IssueKind::Invalid, path: path.to_string(), message });

    if value.is_null() {
        // Non-nullable nulls are pruned by the API server, which the parent's `required` check
        // already accounts for; nullable ones are fine as they are.
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            invalid(format!("must be an integer or a string, got {} {}", type_name(value), show(value)));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !has_type(expected, value)
    {
        invalid(format!("must be of type {expected}, got {} {}", type_name(value), show(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(show).collect();
        invalid(format!("unsupported value {}: must be one of {}", show(value), list.join(", ")));
    }

    match value {
        Value::String(s) => check_string(schema, s, value, &mut invalid),
        Value::Number(_) => check_number(schema, value, &mut invalid),
        Value::Array(items) => {
            check_array_bounds(schema, items.len(), &mut invalid);
            check_uniqueness(schema, items, path, out);
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => check_object(schema, map, path, out),
        _ => {}
    }
}

fn check_string(schema: &Value, s: &str, value: &Value, invalid: &mut impl FnMut(String)) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        invalid(format!("invalid value {}: must have at least {min} character{}", show(value), plural(min)));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        invalid(format!("invalid value {}: must have at most {max} character{}", show(value), plural(max)));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(s) => {
                invalid(format!("invalid value {}: must match {pattern}", show(value)))
            }
            Ok(_) => {}
            Err(e) => invalid(format!("the schema's pattern {pattern} does not compile: {e}")),
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && s.parse::<k8s_openapi::jiff::Timestamp>().is_err()
    {
        invalid(format!(
            "invalid value {}: must be an RFC 3339 date-time, e.g. 2025-09-07T17:00:00Z",
            show(value)
        ));
    }
}

fn check_number(schema: &Value, value: &Value, invalid: &mut impl FnMut(String)) {
    let Some(n) = value.as_f64() else { return };
    let exclusive_min = flag(schema, "exclusiveMinimum");
    let exclusive_max = flag(schema, "exclusiveMaximum");
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if exclusive_min && n <= min {
            invalid(format!("invalid value {}: must be greater than {}", show(value), num(min)));
        } else if n < min {
            invalid(format!("invalid value {}: must be at least {}", show(value), num(min)));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if exclusive_max && n >= max {
            invalid(format!("invalid value {}: must be less than {}", show(value), num(max)));
        } else if n > max {
            invalid(format!("invalid value {}: must be at most {}", show(value), num(max)));
        }
    }
    let (lo, hi) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (i32::MIN as f64, i32::MAX as f64),
        Some("int64") => (i64::MIN as f64, i64::MAX as f64),
        _ => return,
    };
    if n < lo || n > hi {
        invalid(format!(
            "invalid value {}: out of range for {}",
            show(value),
            schema["format"].as_str().unwrap_or("")
        ));
    }
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn check_array_bounds(schema: &Value, len: usize, invalid: &mut impl FnMut(String)) {
    let len = len as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        invalid(format!("must have at least {min} item{}, has {len}", plural(min)));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        invalid(format!("must have at most {max} item{}, has {len}", plural(max)));
    }
}

/// `x-kubernetes-list-type: set` (unique items) and `map` (unique keys), which the API server
/// enforces and server-side apply relies on.
fn check_uniqueness(schema: &Value, items: &[Value], path: &str, out: &mut Vec<Issue>) {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    out.push(Issue {
                        kind: IssueKind::Invalid,
                        path: format!("{path}[{i}]"),
                        message: format!("duplicate value {}: the list is a set", show(item)),
                    });
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| -> Vec<Value> {
                keys.iter().map(|k| item.get(*k).cloned().unwrap_or(Value::Null)).collect()
            };
            for (i, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items[..i].iter().any(|earlier| key_of(earlier) == key) {
                    let shown: Vec<String> =
                        keys.iter().zip(&key).map(|(k, v)| format!("{k} {}", show(v))).collect();
                    out.push(Issue {
                        kind: IssueKind::Invalid,
                        path: format!("{path}[{i}]"),
                        message: format!("duplicate entry with {}", shown.join(", ")),
                    });
                }
            }
        }
        _ => {}
    }
}

fn check_object(schema: &Value, map: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<Issue>) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let present = |field: &str| {
        map.get(field).is_some_and(|v| {
            // A null in a non-nullable field is pruned, so it does not satisfy `required`.
            !v.is_null() || properties.and_then(|p| p.get(field)).is_some_and(|s| flag(s, "nullable"))
        })
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for field in required.iter().filter_map(Value::as_str) {
            if !present(field) {
                out.push(Issue {
                    kind: IssueKind::Invalid,
                    path: join(path, field),
                    message: "required field is missing".into(),
                });
            }
        }
    }
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        out.push(Issue {
            kind: IssueKind::Invalid,
            path: path.to_string(),
            message: format!("must have at most {max} entries, has {count}"),
        });
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        out.push(Issue {
            kind: IssueKind::Invalid,
            path: path.to_string(),
            message: format!("must have at least {min} entries, has {count}"),
        });
    }
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let additional = schema.get("additionalProperties");
    for (field, child) in map {
        let child_path = join(path, field);
        // The type meta and ObjectMeta of the root are the API server's, not the CRD's: the
        // generated schema may leave them out. See check_metadata.
        if path.is_empty() && matches!(field.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child_schema) = properties.and_then(|p| p.get(field)) {
            walk(child_schema, child, &child_path, out);
            continue;
        }
        match additional {
            Some(s @ Value::Object(_)) => walk(s, child, &child_path, out),
            Some(Value::Bool(true)) => {}
            _ if preserve => {}
            _ => {
                let hint = properties
                    .and_then(|p| closest(field, p.keys().map(String::as_str)))
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default();
                out.push(Issue {
                    kind: IssueKind::UnknownField,
                    path: child_path,
                    message: format!("unknown field {field:?}, the API server would drop it{hint}"),
                });
            }
        }
    }
}

/// The known field nearest to a misspelt one, if it is near enough to be the likely intent.
fn closest<'a>(field: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let field_lower = field.to_lowercase();
    known
        .map(|k| (distance(&field_lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, for the "did you mean" hint.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The parts of ObjectMeta a manifest is likely to get wrong: a missing or malformed name, a
/// malformed namespace, non-string label or annotation values.
pub fn check_metadata(object: &Value) -> Vec<Issue> {
    let mut out = Vec::new();
    let invalid =
        |path: &str, message: String| Issue { kind: IssueKind::Invalid, path: path.into(), message };
    let Some(meta) = object.get("metadata") else {
        out.push(invalid("metadata", "required field is missing".into()));
        return out;
    };
    let Some(meta) = meta.as_object() else {
        out.push(invalid(
            "metadata",
            format!("must be of type object, got {} {}", type_name(meta), show(meta)),
        ));
        return out;
    };
    let subdomain = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("static regex");
    let label = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("static regex");
    match meta.get("name") {
        None | Some(Value::Null) if meta.get("generateName").is_none() => {
            out.push(invalid("metadata.name", "required field is missing".into()))
        }
        Some(Value::String(n)) if n.len() > 253 || !subdomain.is_match(n) => out.push(invalid(
            "metadata.name",
            format!("invalid value {}: must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'), at most 253 characters", show(&Value::String(n.clone()))),
        )),
        Some(v) if !v.is_string() && !v.is_null() => {
            out.push(invalid("metadata.name", format!("must be of type string, got {} {}", type_name(v), show(v))))
        }
        _ => {}
    }
    if let Some(ns) = meta.get("namespace") {
        match ns.as_str() {
            Some(n) if n.len() <= 63 && label.is_match(n) => {}
            _ => out.push(invalid(
                "metadata.namespace",
                format!(
                    "invalid value {}: must be a lowercase RFC 1123 label, at most 63 characters",
                    show(ns)
                ),
            )),
        }
    }
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    if !v.is_string() {
                        out.push(invalid(
                            &format!("metadata.{field}.{k}"),
                            format!("must be of type string, got {} {}", type_name(v), show(v)),
                        ));
                    }
                }
            }
            Some(v) => out.push(invalid(
                &format!("metadata.{field}"),
                format!("must be of type object, got {} {}", type_name(v), show(v)),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["provider", "markets"],
            "properties": {
                "provider": {"type": "string", "enum": ["a", "b"]},
                "interval": {"type": "string", "nullable": true, "pattern": "^[0-9]+s$"},
                "retries": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 10},
                "markets": {
                    "type": "array", "minItems": 1, "maxItems": 2,
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
                "qty": {"x-kubernetes-int-or-string": true}
            }
        })
    }

    /// Sorted, so the test does not depend on the map order serde_json was built with.
    fn messages(v: Value) -> Vec<String> {
        let mut m: Vec<String> =
            validate(&schema(), &v).into_iter().map(|i| format!("{}: {}", i.path, i.message)).collect();
        m.sort();
        m
    }

    #[test]
    fn a_valid_object_has_no_issues() {
        assert!(messages(json!({"provider": "a", "markets": [{"name": "x"}], "interval": null, "qty": "1Gi", "labels": {"a": "b"}})).is_empty());
    }

    #[test]
    fn each_rule_reports_its_path() {
        let m = messages(json!({
            "provider": "c", "retries": 11, "interval": "5 s",
            "markets": [{"name": "x"}, {"name": "x"}, {}], "labels": {"k": "long"}, "qty": true, "extra": 1
        }));
        assert_eq!(
            m,
            vec![
                "extra: unknown field \"extra\", the API server would drop it",
                "interval: invalid value \"5 s\": must match ^[0-9]+s$",
                "labels.k: invalid value \"long\": must have at most 3 characters",
                "markets: must have at most 2 items, has 3",
                "markets[1]: duplicate entry with name \"x\"",
                "markets[2].name: required field is missing",
                "provider: unsupported value \"c\": must be one of \"a\", \"b\"",
                "qty: must be an integer or a string, got boolean true",
                "retries: invalid value 11: must be at most 10",
            ]
        );
    }

    #[test]
    fn wrong_types_and_missing_fields() {
        let m = messages(json!({"provider": 5, "retries": "three"}));
        assert!(m.contains(&"markets: required field is missing".to_string()), "{m:?}");
        assert!(m.contains(&"provider: must be of type string, got integer 5".to_string()), "{m:?}");
        assert!(m.contains(&"retries: must be of type integer, got string \"three\"".to_string()), "{m:?}");
    }

    #[test]
    fn misspelt_fields_get_a_hint() {
        let m = messages(json!({"provider": "a", "markets": [{"name": "x"}], "intervall": "5s"}));
        assert_eq!(
            m,
            vec![
                "intervall: unknown field \"intervall\", the API server would drop it; did you mean \"interval\"?"
            ]
        );
    }

    #[test]
    fn metadata_needs_a_valid_name() {
        let issues = check_metadata(&json!({"metadata": {"name": "Fan_Duel", "labels": {"a": 1}}}));
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["metadata.name", "metadata.labels.a"]);
        assert_eq!(check_metadata(&json!({"metadata": {}}))[0].message, "required field is missing");
    }
}
