//! The chart's Grafana dashboards (`charts/nflbet-operator/dashboards/*.json`) as the PromQL
//! their panels and template variables send, with the template variables replaced the way
//! Grafana replaces them.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The metric prefix the dashboard files are written with (`metricsNamespace`'s default; the
/// chart replaces it with the configured one).
pub const PREFIX: &str = "nflreadpy";

/// `$__rate_interval` in tests: four scrapes of the chart's 30 s default interval, as Grafana
/// computes it.
pub const RATE_INTERVAL: &str = "2m";

/// Dashboard panels (their first query) and variables that must show data in the end-to-end
/// story (`tests/e2e`) once the books are scraped and the model has priced. The rest may be
/// empty there (no quota header, no errors, no leader election, no settled games).
pub const PANELS_WITH_DATA_IN_E2E: [(&str, &str); 18] = [
    ("ingestion.json", "variable sportsbook"),
    ("ingestion.json", "Time since last snapshot"),
    ("ingestion.json", "Consecutive failed polls"),
    ("ingestion.json", "Ingestion latency p50"),
    ("ingestion.json", "Ingestion errors by type"),
    ("ingestion.json", "Polls by outcome"),
    ("ingestion.json", "Quotes in the last snapshot"),
    ("models.json", "variable model"),
    ("models.json", "Versions by role"),
    ("models.json", "Time since last pricing run"),
    ("models.json", "Top edges (expected value)"),
    ("models.json", "Top Kelly fractions"),
    ("operator.json", "variable namespace"),
    ("operator.json", "Watches synced"),
    ("operator.json", "Reconciles by kind and result"),
    ("operator.json", "Reconcile latency p50 / p99"),
    ("operator.json", "Reconciles in flight"),
    ("operator.json", "Resources by Ready status and suspended"),
];

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/nflbet-operator/dashboards")
}

/// Every dashboard file, by file name, parsed.
pub fn load() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("{}: {e}", dir().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboard in {}", dir().display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

/// One query a dashboard sends.
#[derive(Debug, Clone)]
pub struct Query {
    pub dashboard: String,
    /// The panel's title, or `variable <name>` for a template variable's `label_values()`.
    pub panel: String,
    /// The target's refId (A, B, ...), or the variable's name.
    pub ref_id: String,
    /// As written in the file.
    pub raw: String,
    /// With the template variables replaced, ready for Prometheus.
    pub expr: String,
}

/// The panels of a dashboard, rows' nested panels included (rows themselves left out).
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// Every PromQL query of a dashboard: each panel target's `expr` and the series selector of each
/// query variable's `label_values(<selector>, <label>)`, with the variables replaced.
pub fn queries(file: &str, dashboard: &Value) -> Result<Vec<Query>, String> {
    let mut out = Vec::new();
    for v in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default();
        let raw = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or_default();
        let selector = raw
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.rsplit_once(','))
            .map(|(selector, _label)| selector.trim())
            .ok_or_else(|| {
                format!("{file}: variable {name}: {raw:?} is not label_values(<metric selector>, <label>)")
            })?;
        out.push(Query {
            dashboard: file.into(),
            panel: format!("variable {name}"),
            ref_id: name.into(),
            raw: raw.into(),
            expr: substitute(dashboard, selector).map_err(|e| format!("{file}: variable {name}: {e}"))?,
        });
    }
    for p in panels(dashboard) {
        let title = p["title"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            let raw = t["expr"].as_str().unwrap_or_default();
            out.push(Query {
                dashboard: file.into(),
                panel: title.into(),
                ref_id: t["refId"].as_str().unwrap_or_default().into(),
                raw: raw.into(),
                expr: substitute(dashboard, raw).map_err(|e| format!("{file}: panel {title:?}: {e}"))?,
            });
        }
    }
    Ok(out)
}

/// `expr` with the dashboard's variables replaced as Grafana does with its defaults: a query
/// variable (multi-value, "All") by its `allValue` `.*`, a custom variable by its current value,
/// `$__rate_interval` by [`RATE_INTERVAL`]. A variable the dashboard does not define is an error.
pub fn substitute(dashboard: &Value, expr: &str) -> Result<String, String> {
    let mut values: Vec<(String, String)> = vec![("__rate_interval".into(), RATE_INTERVAL.into())];
    for v in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let value = match v["type"].as_str() {
            Some("query") => v["allValue"].as_str().unwrap_or(".*").to_string(),
            Some("custom") | Some("textbox") | Some("constant") => {
                v["current"]["value"].as_str().or(v["query"].as_str()).unwrap_or_default().to_string()
            }
            _ => continue,
        };
        values.push((name, value));
    }
    // Longest names first, so $model never eats the start of $model_version.
    values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = expr.to_string();
    for (name, value) in &values {
        out = out.replace(&format!("${{{name}}}"), value).replace(&format!("${name}"), value);
    }
    match out.find('$') {
        Some(i) => Err(format!("unknown template variable at {:?} in {expr:?}", &out[i..])),
        None => Ok(out),
    }
}
