//! `nflbet validate-config --strict` and the real API server judge every object alike, so the
//! offline schema and CEL evaluation cannot drift from kube-apiserver's.
//!
//! The objects: every manifest under `tests/fixtures/validate` and `examples/`, and every
//! admission case of the suite (the case tables of `sportsbook_admission`, `alert_route` and
//! `model_operator`, with each kind's valid base object). Each object goes through
//! `kubectl apply --dry-run=server --validate=strict` on its own, and through `validate-config
//! --strict --output json`. The API server judges one object at a time (schema, unknown fields,
//! CEL), so it is compared with the findings validate-config files under the checks `yaml`,
//! `kind`, `schema` and `cel`. Findings of the check `semantic` look across documents
//! (duplicates, missing books, routes that can never match, storage mismatches): the API server
//! cannot know them, and the objects they are about must be ones it accepts.

use crate::support;
use crate::{alert_route, model_operator, sportsbook_admission};
use nflbet::cli::validate::kubectl_yaml;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GROUP: &str = "betting.nflbet.dev";

/// Every admission case of the suite as (what, object, whether the API server must accept it).
fn admission_cases() -> Vec<(String, Value, bool)> {
    let mut out = vec![
        ("valid Sportsbook".to_string(), sportsbook_admission::base(), true),
        (
            "valid AlertRoute".to_string(),
            alert_route::route_json("book", json!({"slack": {"apiURL": {"name": "s", "key": "url"}}})),
            true,
        ),
        ("valid Model".to_string(), model_operator::model_json("book", json!({})), true),
        (
            "valid AlertRoute with email".to_string(),
            alert_route::route_json("book", json!({"email": alert_route::valid_email()})),
            true,
        ),
        (
            "valid Model with alert severities".to_string(),
            model_operator::model_json("book", model_operator::valid_severities()),
            true,
        ),
    ];
    for (what, object, _) in sportsbook_admission::cases() {
        out.push((format!("Sportsbook: {what}"), object, false));
    }
    for (spec, _) in alert_route::admission_cases() {
        out.push((format!("AlertRoute {spec}"), alert_route::route_json("book", spec), false));
    }
    for (extra, _) in model_operator::admission_cases() {
        out.push((format!("Model with {extra}"), model_operator::model_json("book", extra), false));
    }
    out
}

/// `validate-config --strict --output json` on `paths`, run in `dir`: the report.
fn validate_config(dir: &Path, paths: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["validate-config", "--strict", "--output", "json"])
        .args(paths)
        .current_dir(dir)
        .output()
        .expect("nflbet runs");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "validate-config {paths:?} exited {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["valid"] == true, code == Some(0), "{report}");
    report
}

/// The API server's verdict on one object: `kubectl apply --dry-run=server` with strict field
/// validation (unknown fields refused, as `--strict` refuses them), into `ns`.
fn api_server(ns: &str, manifest: &[u8]) -> Result<(), String> {
    let mut child = Command::new(support::testenv_bin("kubectl"))
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args(["apply", "--dry-run=server", "--validate=strict", "-n", ns, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child.stdin.take().unwrap().write_all(manifest).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// One finding of validate-config: its check, field path and message.
#[derive(Debug)]
struct Finding {
    check: String,
    field: String,
    message: String,
}

/// One object as both sides see it.
struct Judged {
    what: String,
    /// validate-config's findings on it that the API server also judges (yaml, kind, schema, cel).
    offline: Vec<Finding>,
    /// Its cross-document findings (check `semantic`).
    semantic: Vec<Finding>,
    server: Result<(), String>,
}

/// validate-config's findings on document `doc` of `file`, split into (per object, semantic).
fn findings(report: &Value, file: &str, doc: usize) -> (Vec<Finding>, Vec<Finding>) {
    let mut per_object = Vec::new();
    let mut semantic = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        if f["file"] != file || f["document"] != doc || f["level"] == "note" {
            continue;
        }
        let finding = Finding {
            check: f["check"].as_str().unwrap().into(),
            field: f["field"].as_str().unwrap_or("").into(),
            message: f["message"].as_str().unwrap().into(),
        };
        match finding.check.as_str() {
            "semantic" => semantic.push(finding),
            "yaml" | "kind" | "schema" | "cel" => per_object.push(finding),
            other => panic!("a check this test does not know: {other:?} ({f})"),
        }
    }
    (per_object, semantic)
}

/// What a refusal printed by kubectl names: the field paths of a 422 (`The Sportsbook "x" is
/// invalid: spec.a: ...` or one `* spec.a: ...` line per error) or of a strict-decoding 400
/// (`unknown field "spec.a"`), and whether the API server left CEL rules unchecked because the
/// object already failed its schema. `None` when the refusal names no field (not YAML, a kind
/// the server does not serve).
fn server_fields(message: &str) -> Option<(BTreeSet<String>, bool)> {
    let mut fields = BTreeSet::new();
    let mut cel_skipped = false;
    if message.contains("strict decoding error") {
        for part in message.split("unknown field \"").skip(1) {
            fields.insert(part.split('"').next().unwrap().to_string());
        }
    } else if let Some((_, errors)) = message.split_once(" is invalid: ") {
        let items: Vec<&str> =
            if errors.contains("\n* ") { errors.split("\n* ").skip(1).collect() } else { vec![errors] };
        for item in items {
            let field = item.split(": ").next().unwrap().trim();
            if field == "<nil>" && item.contains("some validation rules were not checked") {
                cel_skipped = true;
            } else if field == "<nil>" {
                // A rule on the whole object: no field, as validate-config reports it ("").
                fields.insert(String::new());
            } else {
                fields.insert(field.to_string());
            }
        }
    } else {
        return None;
    }
    Some((fields, cel_skipped))
}

/// Where validate-config's per-object findings and the API server's refusal differ, if they do.
fn disagreement(j: &Judged) -> Option<String> {
    let offline: Vec<String> =
        j.offline.iter().map(|f| format!("{} {}: {}", f.check, f.field, f.message)).collect();
    match (&j.server, j.offline.is_empty()) {
        (Ok(()), true) => None,
        (Ok(()), false) => {
            Some(format!("the API server accepts it, validate-config --strict refuses it: {offline:#?}"))
        }
        (Err(e), true) => Some(format!(
            "the API server refuses it ({e}), validate-config --strict finds nothing (cross-document: {:?})",
            j.semantic
        )),
        (Err(e), false) => {
            let structural = j.offline.iter().all(|f| f.check == "schema" || f.check == "cel");
            match server_fields(e) {
                // Not YAML or not a served kind: validate-config must say so, not name fields.
                None if j.offline.iter().all(|f| f.check == "yaml" || f.check == "kind") => None,
                None => Some(format!(
                    "the API server refuses it without naming a field ({e}); validate-config: {offline:#?}"
                )),
                Some(_) if !structural => {
                    Some(format!("the API server judged its fields ({e}); validate-config: {offline:#?}"))
                }
                Some((fields, cel_skipped)) => {
                    let ours: BTreeSet<String> = j.offline.iter().map(|f| f.field.clone()).collect();
                    // Every field the API server names, validate-config names too; and the other
                    // way round, except for CEL rules the server did not run on a schema-invalid object.
                    let missing: Vec<&String> = fields.difference(&ours).collect();
                    let extra: Vec<&Finding> = j
                        .offline
                        .iter()
                        .filter(|f| !(fields.contains(&f.field) || cel_skipped && f.check == "cel"))
                        .collect();
                    (!missing.is_empty() || !extra.is_empty()).then(|| {
                        format!(
                            "both refuse it, but the API server names {missing:?} that validate-config does not, \
                             and validate-config reports {extra:?} that the API server does not ({e})"
                        )
                    })
                }
            }
        }
    }
}

/// Split a manifest file as validate-config does: numbered documents, a syntax error ending the
/// stream.
fn documents(text: &str) -> Vec<Result<Value, String>> {
    kubectl_yaml::documents(text).into_iter().map(|d| d.map(|d| d.value)).collect()
}

/// The text of each document of a manifest file, split at `---` lines as kubectl splits a
/// stream, without the empty ones. kubectl is given these texts, not the JSON this test parsed:
/// it reads YAML 1.1 itself (`yes`, `NO`, `0755`), so the API server judges what kubectl makes of
/// the text.
fn document_texts(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.lines() {
        let sep = line.strip_prefix("---").map(str::trim_start);
        if sep.is_some_and(|rest| rest.is_empty() || rest.starts_with('#')) {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push_str(&format!("{line}\n"));
        }
    }
    out.retain(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    out
}

fn is_ours(v: &Value) -> bool {
    v["apiVersion"].as_str().and_then(|a| a.split_once('/')).is_some_and(|(g, _)| g == GROUP)
}

/// Judge every document of the manifest files `files` (relative to `root`, validated together
/// in one run as a user would); returns each nflbet object's verdicts. Documents of other kinds
/// (Secrets, a PVC) are not validate-config's to judge; they must be skipped with a note.
fn judge_files(root: &Path, files: &[PathBuf], ns: &str) -> Vec<Judged> {
    let labels: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let report = validate_config(root, &labels.iter().map(String::as_str).collect::<Vec<_>>());
    let mut out = Vec::new();
    for label in &labels {
        let text = std::fs::read_to_string(root.join(label)).unwrap();
        let mut texts = document_texts(&text).into_iter();
        for (i, doc) in documents(&text).into_iter().enumerate() {
            let doc_text = match &doc {
                Ok(Value::Null) => continue,
                Ok(_) => {
                    texts.next().unwrap_or_else(|| panic!("{label}: fewer --- documents than YAML documents"))
                }
                Err(_) => String::new(),
            };
            let (offline, semantic) = findings(&report, label, i + 1);
            let what = format!("{label}: document {}", i + 1);
            let server = match doc {
                Ok(Value::Null) => continue,
                // Not readable: kubectl gets the file as it is.
                Err(_) => api_server(ns, text.as_bytes()),
                Ok(v) if !is_ours(&v) => {
                    let skipped = report["findings"].as_array().unwrap().iter().any(|f| {
                        f["file"] == label.as_str() && f["document"] == i + 1 && f["level"] == "note"
                    });
                    assert!(
                        skipped && offline.is_empty(),
                        "{what}: another kind must be skipped with a note: {report}"
                    );
                    continue;
                }
                // As written: kubectl reads the YAML, into the test's namespace.
                Ok(v) if v["metadata"]["namespace"].is_null() => api_server(ns, doc_text.as_bytes()),
                // An object naming its own namespace: sent as the JSON validate-config read, moved
                // into the test's namespace.
                Ok(mut v) => {
                    v["metadata"]["namespace"] = json!(ns);
                    api_server(ns, v.to_string().as_bytes())
                }
            };
            out.push(Judged { what, offline, semantic, server });
        }
    }
    out
}

/// The manifest files below `dir` (relative to `root`), sorted.
fn manifest_files(root: &Path, dir: &str) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = dir.join(e.unwrap().file_name());
            if root.join(&p).is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(dir), &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn validate_config_strict_and_the_api_server_agree_on_every_object() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "validate-agrees").await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // The fixture sets as `cli_validate` runs them: `valid/` together, each `invalid/` file alone;
    // the examples together, as their README applies them.
    let mut judged = Vec::new();
    judged.extend(judge_files(root, &manifest_files(root, "tests/fixtures/validate/valid"), &ns));
    let invalid = manifest_files(root, "tests/fixtures/validate/invalid");
    for file in &invalid {
        judged.extend(judge_files(root, std::slice::from_ref(file), &ns));
    }
    judged.extend(judge_files(root, &manifest_files(root, "examples"), &ns));

    // The admission cases, one file each, validated together.
    let cases = admission_cases();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (_, object, _)) in cases.iter().enumerate() {
        let mut object = object.clone();
        object["metadata"]["name"] = json!(format!("case-{i}"));
        let file = PathBuf::from(format!("case-{i:02}.yaml"));
        std::fs::write(dir.path().join(&file), serde_saphyr::to_string(&object).unwrap()).unwrap();
        files.push(file);
    }
    let case_verdicts = judge_files(dir.path(), &files, &ns);
    assert_eq!(case_verdicts.len(), cases.len());
    let mut failures = Vec::new();
    for ((what, _, accepted), mut j) in cases.into_iter().zip(case_verdicts) {
        // The admission tests pin what the API server says; a case it stopped refusing is theirs
        // to report, but it would make this comparison vacuous, so it is checked here too.
        if j.server.is_ok() != accepted {
            failures
                .push(format!("{what}: the API server {} it", if accepted { "refused" } else { "accepted" }));
        }
        j.what = format!("{}: {what}", j.what);
        judged.push(j);
    }

    for j in &judged {
        if let Some(d) = disagreement(j) {
            failures.push(format!("{}: {d}", j.what));
        }
    }
    assert!(failures.is_empty(), "validate-config and the API server disagree:\n{}", failures.join("\n"));

    // Both sides refuse something and accept something (the comparison is not vacuous).
    let refused = judged.iter().filter(|j| j.server.is_err()).count();
    assert!(refused > 30 && judged.len() - refused > 10, "{refused} refused of {}", judged.len());

    // Cross-document findings are about objects the API server accepts: these fixture files
    // fail `--strict` through them alone.
    let only_semantic: BTreeSet<String> = invalid
        .iter()
        .map(|f| f.display().to_string())
        .filter(|f| {
            let docs: Vec<&Judged> =
                judged.iter().filter(|j| j.what.starts_with(&format!("{f}: "))).collect();
            docs.iter().all(|j| j.server.is_ok()) && docs.iter().any(|j| !j.semantic.is_empty())
        })
        .collect();
    let expected: BTreeSet<String> = ["duplicate", "missing-book", "never-matches", "store-mismatch"]
        .map(|n| format!("tests/fixtures/validate/invalid/{n}.yaml"))
        .into();
    assert_eq!(only_semantic, expected);
    for f in &expected {
        let report = validate_config(root, &[f]);
        assert_eq!(report["valid"], false, "{f} fails --strict: {report}");
    }
    support::delete_namespace(&client, &ns).await;
}

/// validate-config reads YAML as kubectl does (YAML 1.1 scalars, keys made strings, merges):
/// the same documents through the real kubectl (`label --local` converts without a server) and
/// through `kubectl_yaml` give the same JSON.
#[test]
fn validate_config_reads_yaml_as_kubectl_does() {
    let values = [
        "yes",
        "Yes",
        "YES",
        "y",
        "Y",
        "on",
        "ON",
        "no",
        "No",
        "NO",
        "n",
        "N",
        "off",
        "OFF",
        "true",
        "False",
        "yEs",
        "nO",
        "'yes'",
        "\"NO\"",
        "~",
        "null",
        "NULL",
        "",
        "0755",
        "-010",
        "0o17",
        "0x1F",
        "0b101",
        "1_000",
        "+5",
        "08",
        "1e3",
        "1.5",
        ".5",
        "1.10",
        "'0755'",
        "2024-01-01",
        "12:30",
        "1e400",
        "!!str 123",
        "!!int \"12\"",
        "!!float 3",
        "|\n    yes",
    ];
    let mut yaml = String::from("apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\nspec:\n");
    for (i, v) in values.iter().enumerate() {
        yaml.push_str(&format!("  v{i}: {v}\n"));
    }
    yaml.push_str(
        "  base: &b {a: 1, b: 2}\n  x:\n    <<: *b\n    b: 3\n  m:\n    c: 0\n    <<: [{c: 9}, {d: 2}]\n",
    );
    yaml.push_str("  keys: {yes: 1, 1: 2, 0x10: 3, n: 4}\n");
    let mut child = Command::new(support::testenv_bin("kubectl"))
        .args(["label", "--local", "-f", "-", "probe=1", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl: {}", String::from_utf8_lossy(&out.stderr));
    let kubectl: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = kubectl_yaml::documents(&yaml).remove(0).expect("YAML").value;
    for (i, v) in values.iter().enumerate() {
        let k = format!("v{i}");
        assert_eq!(
            ours["spec"][&k], kubectl["spec"][&k],
            "{v:?}: validate-config and kubectl read it differently"
        );
    }
    assert_eq!(ours["spec"], kubectl["spec"]);
}
