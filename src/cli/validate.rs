//! `nflbet validate-config`: offline checks of Sportsbook, Model and AlertRoute manifests, for
//! pre-commit hooks and GitOps CI.
//!
//! Three layers, each the same as what will judge the manifests later:
//! 1. the CRDs' structural schemas (generated from the same Rust types as `crds/`);
//! 2. the CRDs' CEL rules, evaluated by kube's CEL engine as the API server would;
//! 3. checks across the set that no single object can show: duplicate names, references to
//!    books and models that are not there, and AlertRoutes that can never deliver anything.
//!
//! Exit codes: 0 valid, 1 findings (errors; warnings too with `--strict`), 2 unreadable input.

mod check;
mod finding;
mod input;
pub mod kubectl_yaml;
mod schema;
mod semantic;

pub use finding::{Check, Finding, Level, Location};
pub use input::Source;

use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_help = "Exit status: 0 valid, 1 findings, 2 unreadable input.\n\n\
Examples:\n  nflbet validate-config --strict examples/\n  kustomize build overlays/prod | nflbet validate-config -")]
pub struct ValidateArgs {
    /// Fail on warnings too: unknown fields, and references to Sportsbooks or Models that the
    /// validated files do not define.
    #[arg(long)]
    pub strict: bool,

    /// Output format: `text` (one line per finding) or `json` (for CI annotations).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: ValidateOutput,

    /// Manifest files, directories (searched recursively for *.yaml and *.yml), or `-` for
    /// standard input. Multi-document YAML is fine; kinds other than nflbet's are skipped.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidateOutput {
    Text,
    Json,
}

/// Everything one run found, in the shape `--output json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub valid: bool,
    pub strict: bool,
    pub files: usize,
    pub documents: usize,
    pub resources: usize,
    pub skipped: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    /// Inputs that could not be read (exit 2).
    pub unreadable: Vec<String>,
}

/// Validate already-read sources. Pure apart from the CRD generation, so it is unit-testable.
pub fn validate_sources(sources: &[input::Source], strict: bool) -> Report {
    let kinds = check::Kinds::from_crds();
    let mut findings = Vec::new();
    let mut resources = Vec::new();
    let mut documents = 0;
    let mut skipped = 0;
    for src in sources {
        for doc in input::documents(&src.text) {
            if matches!(doc.value, Ok(serde_json::Value::Null)) {
                continue;
            }
            documents += 1;
            let (f, r) = check::check(&src.label, &doc, &kinds);
            if f.iter().any(|f| f.level == Level::Note && f.check == Check::Kind) {
                skipped += 1;
            }
            findings.extend(f);
            resources.extend(r);
        }
    }
    findings.extend(semantic::check(&resources));
    if strict {
        for f in &mut findings {
            if f.level == Level::Warning {
                f.level = Level::Error;
            }
        }
    }
    // Stable order whatever the map order of the JSON values: by file and document as read,
    // then errors before warnings before notes, then by field path.
    let order: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    findings.sort_by(|a, b| {
        let key =
            |f: &Finding| (order.iter().position(|l| *l == f.location.file), f.location.document, f.level);
        key(a).cmp(&key(b)).then_with(|| a.field.cmp(&b.field))
    });
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.iter().filter(|f| f.level == Level::Warning).count();
    Report {
        valid: errors == 0,
        strict,
        files: sources.len(),
        documents,
        resources: resources.len(),
        skipped,
        errors,
        warnings,
        findings,
        unreadable: vec![],
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

impl Report {
    /// One line per finding, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for u in &self.unreadable {
            out.push_str(&format!("error: {u}\n"));
        }
        for f in &self.findings {
            out.push_str(&format!("{f}\n"));
        }
        let mut summary = format!("{} in {}", plural(self.resources, "resource"), plural(self.files, "file"));
        if self.skipped > 0 {
            summary.push_str(&format!(" ({} skipped)", plural(self.skipped, "other document")));
        }
        if self.errors == 0 && self.warnings == 0 && self.unreadable.is_empty() {
            summary.push_str(": valid");
        } else {
            summary.push_str(&format!(
                ": {}, {}",
                plural(self.errors, "error"),
                plural(self.warnings, "warning")
            ));
            if !self.unreadable.is_empty() {
                summary.push_str(&format!(", {} unreadable", plural(self.unreadable.len(), "input")));
            }
        }
        if self.strict {
            summary.push_str(" (strict)");
        }
        out.push_str(&summary);
        out.push('\n');
        out
    }

    pub fn exit_code(&self) -> u8 {
        if !self.unreadable.is_empty() {
            2
        } else if self.valid {
            0
        } else {
            1
        }
    }
}

pub fn run(args: &ValidateArgs) -> ExitCode {
    let (sources, unreadable) = input::read_all(&args.files);
    let mut report = validate_sources(&sources, args.strict);
    report.unreadable = unreadable.iter().map(ToString::to_string).collect();
    match args.output {
        ValidateOutput::Text => print!("{}", report.to_text()),
        ValidateOutput::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        },
    }
    ExitCode::from(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(yaml: &str, strict: bool) -> Vec<String> {
        let src = input::Source { label: "t.yaml".into(), text: yaml.into() };
        validate_sources(&[src], strict).findings.iter().map(ToString::to_string).collect()
    }

    const BOOK: &str = "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Sportsbook\nmetadata: {name: fanduel}\nspec:\n  provider: genericJson\n  endpoint: https://feed.example/odds\n  markets: [{name: moneyline}]\n";

    #[test]
    fn a_valid_book_has_no_findings() {
        assert_eq!(run_on(BOOK, true), Vec::<String>::new());
    }

    #[test]
    fn cel_rules_run_with_their_field_path() {
        let y = format!("{BOOK}  polling: {{interval: 2s}}\n");
        assert_eq!(
            run_on(&y, false),
            [
                "error: t.yaml: document 1 (Sportsbook fanduel): spec.polling.interval: polling.interval must be at least 5s"
            ]
        );
    }

    #[test]
    fn the_scrape_interval_is_bounded_and_fits_twice_in_the_error_window() {
        let at = "error: t.yaml: document 1 (Sportsbook fanduel)";
        for (spec, want) in [
            ("  workload: {scrapeInterval: 1m}\n", vec![]),
            (
                "  workload: {scrapeInterval: 1s}\n",
                vec![format!(
                    "{at}: spec.workload.scrapeInterval: workload.scrapeInterval must be between 5s and 2m"
                )],
            ),
            (
                "  workload: {scrapeInterval: 30 seconds}\n",
                vec![format!("{at}: spec.workload.scrapeInterval: {}", crate::domain::duration::MESSAGE)],
            ),
            (
                "  workload: {scrapeInterval: 2m}\n  alerts: {errorWindow: 3m}\n",
                vec![format!(
                    "{at}: spec.alerts.errorWindow: alerts.errorWindow (default 15m) must be at least twice workload.scrapeInterval: increase() needs two scrapes in the window"
                )],
            ),
            ("  workload: {scrapeInterval: 90s}\n  alerts: {errorWindow: 3m}\n", vec![]),
        ] {
            assert_eq!(run_on(&format!("{BOOK}{spec}"), false), want, "{spec}");
        }
        let model = "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {name: elo}\nspec:\n  algorithm: elo\n  version: 1.0.0\n  sportsbooks: {names: [fanduel]}\n  staking: {bankroll: 1000, kellyFraction: 0.25}\n  workload: {scrapeInterval: 5m}\n";
        let errors: Vec<String> =
            run_on(model, false).into_iter().filter(|f| f.starts_with("error")).collect();
        assert_eq!(
            errors,
            [
                "error: t.yaml: document 1 (Model elo): spec.workload.scrapeInterval: workload.scrapeInterval must be between 5s and 2m"
            ]
        );
    }

    #[test]
    fn secrets_are_skipped_without_showing_data() {
        let y = "apiVersion: v1\nkind: Secret\nmetadata: {name: key}\nstringData: {api-key: hunter2}\n";
        let out = run_on(y, true);
        assert_eq!(
            out,
            ["note: t.yaml: document 1 (Secret key): skipped: Secret (v1) is not an nflbet resource"]
        );
        assert!(!out.concat().contains("hunter2"));
    }
}
