//! The API reference (`docs/api.md`), generated from the same CRD schemas the API server
//! enforces: every field with its type, bounds and description, and every CEL rule with the
//! message a user sees. Generated, so it can never drift from the types (a test checks it).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use std::fmt::Write;

/// Render the reference for all CRDs.
pub fn render(crds: &[CustomResourceDefinition]) -> String {
    let mut out = String::from(
        "# API reference: `betting.nflbet.dev/v1alpha1`\n\n\
         Generated from the CRDs by `make crds` (`nflbet crds --api-doc docs/api.md`); do not edit.\n\
         Every rule below is enforced by the API server at admission, and by\n\
         `nflbet validate-config` offline.\n",
    );
    for crd in crds {
        let names = &crd.spec.names;
        let version = &crd.spec.versions[0];
        let _ = write!(
            out,
            "\n## {kind}\n\nPlural `{plural}`, short names {short}, categories {cats}.\n",
            kind = names.kind,
            plural = names.plural,
            short = names
                .short_names
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            cats = names
                .categories
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .map(|s| serde_json::to_value(s).expect("schema serialises"))
            .unwrap_or(Value::Null);
        let whole = rules_at(&schema, "");
        if !whole.is_empty() {
            let _ = write!(out, "\nRules on the whole object (CEL):\n\n| rule | message |\n|---|---|\n");
            for (_, rule, message) in whole {
                let _ = writeln!(out, "| `{}` | {} |", cell(&rule), cell(&message));
            }
        }
        for part in ["spec", "status"] {
            let Some(sub) = schema.pointer(&format!("/properties/{part}")) else { continue };
            let _ = write!(out, "\n### `{part}`\n\n| field | type | description |\n|---|---|---|\n");
            let mut rules = rules_at(sub, part);
            fields(sub, part, &mut out, &mut rules);
            if !rules.is_empty() {
                let _ = write!(out, "\nValidation rules (CEL):\n\n| at | rule | message |\n|---|---|---|\n");
                for (at, rule, message) in rules {
                    let _ = writeln!(out, "| `{at}` | `{}` | {} |", cell(&rule), cell(&message));
                }
            }
        }
    }
    out
}

fn rules_at(schema: &Value, path: &str) -> Vec<(String, String, String)> {
    schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                path.to_string(),
                r["rule"].as_str().unwrap_or_default().to_string(),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn type_of(s: &Value) -> String {
    let mut t = match s["type"].as_str() {
        Some("array") => format!("[]{}", type_of(&s["items"])),
        Some("object") if s.get("additionalProperties").is_some() => {
            format!("map[string]{}", type_of(&s["additionalProperties"]))
        }
        Some(t) => t.to_string(),
        None if s.get("x-kubernetes-int-or-string").is_some() => "int-or-string".into(),
        None => "any".into(),
    };
    if let Some(values) = s["enum"].as_array() {
        let vals: Vec<String> = values.iter().filter_map(|v| v.as_str()).map(|v| format!("`{v}`")).collect();
        t = format!("{t}: {}", vals.join(", "));
    }
    let bound = |k: &str| s.get(k).and_then(|v| v.as_f64());
    match (bound("minimum"), bound("maximum")) {
        (Some(a), Some(b)) => t.push_str(&format!(" [{a}, {b}]")),
        (Some(a), None) => t.push_str(&format!(" ≥ {a}")),
        (None, Some(b)) => t.push_str(&format!(" ≤ {b}")),
        _ => {}
    }
    if let Some(p) = s["pattern"].as_str() {
        t.push_str(&format!(" (pattern `{p}`)"));
    }
    t
}

fn fields(s: &Value, path: &str, out: &mut String, rules: &mut Vec<(String, String, String)>) {
    let required: Vec<&str> =
        s["required"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    let Some(props) = s["properties"].as_object() else { return };
    for (name, sub) in props {
        let p = format!("{path}.{name}");
        let req = if required.contains(&name.as_str()) { " **required**" } else { "" };
        let desc = sub["description"].as_str().unwrap_or_default();
        let _ = writeln!(out, "| `{p}`{req} | {} | {} |", cell(&type_of(sub)), cell(desc));
        rules.extend(rules_at(sub, &p));
        // Well-known Kubernetes types (resources, tolerations, conditions) are not expanded.
        let opaque = ["resources", "tolerations", "conditions"].contains(&name.as_str());
        if !opaque {
            if sub["type"] == "object" {
                fields(sub, &p, out, rules);
            } else if sub["type"] == "array" && sub["items"]["type"] == "object" {
                rules.extend(rules_at(&sub["items"], &format!("{p}[]")));
                fields(&sub["items"], &format!("{p}[]"), out, rules);
            }
        }
    }
}
