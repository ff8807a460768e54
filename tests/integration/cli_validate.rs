//! `nflbet validate-config` as users and CI run it: the built binary on fixture manifests, with
//! the exact messages and exit codes (0 valid, 1 findings, 2 unreadable input).

use std::path::Path;
use std::process::{Command, Output, Stdio};

const FIXTURES: &str = "tests/fixtures/validate";

fn nflbet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("nflbet runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run on one invalid fixture and return (exit code, finding lines without the summary).
fn findings(file: &str, strict: bool) -> (i32, Vec<String>) {
    let path = format!("{FIXTURES}/invalid/{file}");
    let mut args = vec!["validate-config"];
    if strict {
        args.push("--strict");
    }
    args.push(&path);
    let out = nflbet(&args);
    let text = stdout(&out);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.pop(); // summary
    (out.status.code().expect("exit code"), lines)
}

#[test]
fn valid_manifests_pass_strict_and_the_secret_is_skipped_unseen() {
    let out = nflbet(&["validate-config", "--strict", &format!("{FIXTURES}/valid")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text,
        "note: tests/fixtures/validate/valid/books.yaml: document 1 (Secret the-odds-api): skipped: Secret (v1) is not an nflbet resource\n\
         note: tests/fixtures/validate/valid/yaml11.yaml: document 1 (Sportsbook paused-book): spec.polling.maxRequestsPerMinute: kubectl reads YAML 1.1, where the unquoted 0100 is octal: it sends 64; write 100 if you meant 100\n\
         7 resources in 4 files (1 other document skipped): valid (strict)\n"
    );
    assert!(!text.contains("do-not-print-me"));
}

#[test]
fn cel_rule_violations_name_file_document_and_field() {
    assert_eq!(
        findings("cel.yaml", false),
        (
            1,
            vec![
                "error: tests/fixtures/validate/invalid/cel.yaml: document 2 (Sportsbook draftkings): spec.credentials: provider theOddsApi needs spec.credentials: the name and key of a Secret holding the API key".to_string(),
                "error: tests/fixtures/validate/invalid/cel.yaml: document 2 (Sportsbook draftkings): spec.polling.interval: polling.interval must be at least 5s".to_string(),
            ]
        )
    );
}

#[test]
fn enum_violations_list_the_allowed_values() {
    assert_eq!(
        findings("enum.yaml", false),
        (
            1,
            vec![
                r#"error: tests/fixtures/validate/invalid/enum.yaml: document 1 (Sportsbook bet365): spec.markets[1].name: unsupported value "props": must be one of "moneyline", "spread", "total""#.to_string(),
                r#"error: tests/fixtures/validate/invalid/enum.yaml: document 1 (Sportsbook bet365): spec.provider: unsupported value "bet365": must be one of "theOddsApi", "genericJson""#.to_string(),
            ]
        )
    );
}

#[test]
fn missing_required_field() {
    assert_eq!(
        findings("missing-field.yaml", false),
        (1, vec!["error: tests/fixtures/validate/invalid/missing-field.yaml: document 1 (Sportsbook inhouse): spec.markets: required field is missing".to_string()])
    );
}

/// kubectl reads YAML 1.1: `disabled: yes` is `true` there, so it is valid here too, and the
/// JSON report shows the values kubectl sends; a note says how an octal-looking number was read.
#[test]
fn yaml_1_1_booleans_and_octals_are_read_as_kubectl_reads_them() {
    let out = nflbet(&[
        "validate-config",
        "--strict",
        "--output",
        "json",
        &format!("{FIXTURES}/valid/yaml11.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["valid"], true);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["level"], "note");
    assert_eq!(findings[0]["check"], "yaml");
    assert_eq!(findings[0]["field"], "spec.polling.maxRequestsPerMinute");
    assert!(findings[0]["message"].as_str().unwrap().contains("it sends 64"), "{report}");
}

/// The Norway problem: an unquoted NO where the schema wants a string is the boolean false for
/// kubectl, which the API server refuses; the error says so and how to quote it.
#[test]
fn the_norway_problem_is_refused_as_the_api_server_refuses_it_with_a_hint() {
    let (code, lines) = findings("norway.yaml", false);
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        [
            r#"error: tests/fixtures/validate/invalid/norway.yaml: document 1 (Sportsbook oslo-book): spec.alerts.extraLabels.country: must be of type string, got boolean false: kubectl reads YAML 1.1, where the unquoted NO is the boolean false, as are y, yes, on (true) and n, no, off (false) in lower, Title or UPPER case: quote it, "NO", to keep the text"#,
            r#"error: tests/fixtures/validate/invalid/norway.yaml: document 1 (Sportsbook oslo-book): spec.alerts.extraLabels.version: must be of type string, got number 1.1: kubectl reads the unquoted 1.10 as the number 1.1: quote it, "1.10", to keep the text"#,
        ]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        findings("wrong-type.yaml", false),
        (1, vec![r#"error: tests/fixtures/validate/invalid/wrong-type.yaml: document 1 (Sportsbook inhouse): spec.polling.maxRetries: must be of type integer, got string "three""#.to_string()])
    );
}

#[test]
fn unknown_fields_warn_and_fail_only_under_strict() {
    let msg = r#"tests/fixtures/validate/invalid/unknown-field.yaml: document 1 (Sportsbook inhouse): spec.pollling: unknown field "pollling", the API server would drop it; did you mean "polling"?"#;
    assert_eq!(findings("unknown-field.yaml", false), (0, vec![format!("warning: {msg}")]));
    assert_eq!(findings("unknown-field.yaml", true), (1, vec![format!("error: {msg}")]));
}

#[test]
fn an_alert_route_that_can_never_match() {
    assert_eq!(
        findings("never-matches.yaml", false),
        (1, vec!["error: tests/fixtures/validate/invalid/never-matches.yaml: document 1 (AlertRoute quiet): spec.matchers: no alert can match: the severity matchers exclude every severity allowed by minSeverity".to_string()])
    );
}

#[test]
fn a_model_naming_a_missing_book_warns_and_fails_under_strict() {
    let msg = r#"tests/fixtures/validate/invalid/missing-book.yaml: document 2 (Model consensus): spec.sportsbooks.names[1]: Sportsbook "caesars" is not defined in the validated files: the model would price nothing from it"#;
    assert_eq!(findings("missing-book.yaml", false), (0, vec![format!("warning: {msg}")]));
    assert_eq!(findings("missing-book.yaml", true), (1, vec![format!("error: {msg}")]));
}

#[test]
fn a_model_reading_where_its_books_do_not_write_warns_and_fails_under_strict() {
    let at =
        "tests/fixtures/validate/invalid/store-mismatch.yaml: document 4 (Model consensus): spec.storage";
    let reads = "the model reads file:///var/lib/nflbet/snapshots on PersistentVolumeClaim nflbet-snapshots: \
                 the model would price nothing from it; give every book the model's storage: the same url and \
                 persistentVolumeClaim, or the same S3 bucket, prefix and endpoint";
    let expected = [
        format!(
            "{at}: Sportsbook \"draftkings\" writes its snapshots to s3://nflbet-snapshots/draftkings, but {reads}"
        ),
        format!(
            "{at}: Sportsbook \"inhouse-consensus\" writes its snapshots to file:///var/lib/nflbet/snapshots \
             on the pod's own emptyDir (no persistentVolumeClaim), but {reads}"
        ),
    ];
    let with = |level: &str| expected.iter().map(|m| format!("{level}: {m}")).collect::<Vec<_>>();
    assert_eq!(findings("store-mismatch.yaml", false), (0, with("warning")));
    assert_eq!(findings("store-mismatch.yaml", true), (1, with("error")));
}

#[test]
fn duplicates_unknown_kinds_and_broken_yaml_are_errors() {
    assert_eq!(
        findings("duplicate.yaml", false),
        (1, vec![r#"error: tests/fixtures/validate/invalid/duplicate.yaml: document 2 (Sportsbook fanduel): metadata.name: duplicate Sportsbook "fanduel": already defined in tests/fixtures/validate/invalid/duplicate.yaml: document 1"#.to_string()])
    );
    assert_eq!(
        findings("unknown-kind.yaml", false),
        (1, vec![r#"error: tests/fixtures/validate/invalid/unknown-kind.yaml: document 1 (Bookmaker fanduel): kind: unknown kind "Bookmaker" in betting.nflbet.dev: expected one of AlertRoute, Model, Sportsbook"#.to_string()])
    );
    let (code, lines) = findings("not-yaml.yaml", false);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(
            "error: tests/fixtures/validate/invalid/not-yaml.yaml: document 1: not valid YAML: "
        ),
        "{lines:?}"
    );
    assert!(lines[0].contains("line 4 column 5"), "{lines:?}");
}

#[test]
fn json_output_has_a_stable_shape() {
    let out = nflbet(&["validate-config", "--output", "json", &format!("{FIXTURES}/invalid/cel.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["valid"], false);
    assert_eq!(
        (v["files"].as_u64(), v["documents"].as_u64(), v["resources"].as_u64(), v["errors"].as_u64()),
        (Some(1), Some(2), Some(2), Some(2))
    );
    assert_eq!(
        v["findings"][1],
        serde_json::json!({
            "level": "error", "check": "cel",
            "file": "tests/fixtures/validate/invalid/cel.yaml", "document": 2,
            "kind": "Sportsbook", "name": "draftkings",
            "field": "spec.polling.interval", "message": "polling.interval must be at least 5s"
        })
    );
}

#[test]
fn stdin_is_read_with_a_dash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["validate-config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nflbet runs");
    let yaml =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES).join("invalid/wrong-type.yaml"))
            .unwrap();
    child.stdin.take().unwrap().write_all(&yaml).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out)
            .starts_with("error: <stdin>: document 1 (Sportsbook inhouse): spec.polling.maxRetries: "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn unreadable_input_exits_2_but_the_rest_is_still_checked() {
    let out =
        nflbet(&["validate-config", "does/not/exist.yaml", &format!("{FIXTURES}/invalid/wrong-type.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.starts_with("error: cannot read does/not/exist.yaml: "), "{text}");
    assert!(text.contains("spec.polling.maxRetries"), "{text}");
}

#[test]
fn the_repository_examples_pass_strict() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    assert!(examples.is_dir(), "{} is part of the repository", examples.display());
    let out = nflbet(&["validate-config", "--strict", "examples"]);
    assert_eq!(out.status.code(), Some(0), "examples/ must pass --strict:\n{}", stdout(&out));
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = nflbet(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(text.contains("validate-config") && text.contains("telemetry"), "{shell}: {text}");
    }
}

#[test]
fn windows_label_keys_and_candidate_names_are_refused_as_the_api_server_does() {
    // The same messages as tests/integration/{sportsbook_admission,child_names}.rs get from the
    // real API server.
    let (code, lines) = findings("names-and-windows.yaml", false);
    let errors: Vec<&str> = lines.iter().map(String::as_str).filter(|l| l.starts_with("error:")).collect();
    let at = "error: tests/fixtures/validate/invalid/names-and-windows.yaml: document";
    assert_eq!(code, 1);
    assert_eq!(
        errors,
        [
            format!(
                "{at} 1 (Sportsbook betting/fanduel): spec.alerts.errorWindow: alerts.errorWindow must be between 1m and 168h: Prometheus needs at least two scrapes (30s apart) in the window"
            ),
            format!(
                "{at} 1 (Sportsbook betting/fanduel): spec.alerts.extraLabels: alerts.extraLabels keys must be Prometheus label names of at most 128 characters: letters, digits and _, not starting with a digit (e.g. team, on_call)"
            ),
            format!("{at} 2 (Model betting/elo-candidate): {}", nflbet::crd::model::CANDIDATE_NAME_MESSAGE),
        ]
    );
}
