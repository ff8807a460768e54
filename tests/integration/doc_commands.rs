//! Every command the documentation shows stays runnable. No cluster, nothing executed but
//! `nflbet validate-config`:
//!
//! - in fenced code blocks of README.md, docs/*.md, examples/README.md and the chart's README,
//!   each `nflbet ...` command line parses with the real clap definition (`Cli::try_parse_from`);
//! - `nflbet validate-config` on files of the repository succeeds when they are `examples/`, and
//!   where a block shows its output after a `$ ` prompt, the output is exactly what it prints;
//! - everywhere in those files, code blocks and inline code alike, `cargo test --test X` names a
//!   test target that exists and `make X` a target of the Makefile.
//!
//! A command that cannot be checked this way is listed in [`SKIP`], with the reason.

use clap::Parser;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands shown in the docs that are not meant to parse as written, each with why. Matched
/// against the command as extracted (shell comments, redirections and `&` removed).
const SKIP: &[(&str, &str)] = &[
    // Synopses: brackets, alternatives and placeholders, not a command line.
    (
        "nflbet status [--output table|json|yaml] [--watch] [-n NAMESPACE | -A] [--kubeconfig PATH] [--context NAME]",
        "synopsis",
    ),
    ("nflbet validate-config [--strict] [--output text|json] FILE...", "synopsis"),
    (
        "nflbet telemetry [--bind ADDR] [--port PORT] [--metrics-namespace PREFIX] [-n NAMESPACE | -A] [--kubeconfig PATH]",
        "synopsis",
    ),
    (
        "nflbet store backup --from URL --to URL [--from-s3-endpoint URL] [--to-s3-endpoint URL] [FLAGS]",
        "synopsis",
    ),
    (
        "nflbet store restore --from URL --to URL [--from-s3-endpoint URL] [--to-s3-endpoint URL] [FLAGS]",
        "synopsis",
    ),
    ("nflbet store verify URL [--s3-endpoint URL] [FLAGS]", "synopsis"),
    (
        "nflbet model --model <name> --algorithm marketConsensus|elo --version <semver> --role stable|candidate",
        "synopsis",
    ),
    (
        "nflbet replay --from <start> --to <end> --models <m1>[,<m2>...] [--games PATH] [--output table|json]",
        "synopsis",
    ),
    (
        "nflbet replay --from <start> --to <end> --models marketConsensus,elo --games PATH --store file:///var/lib/nflbet/snapshots --sportsbooks fanduel,pinnacle [--output json]",
        "synopsis",
    ),
    (
        "nflbet replay --from <start> --to <end> (--model-file FILE | --model NAME [-n NAMESPACE]) [--games PATH]",
        "synopsis",
    ),
    // Elided on purpose: "the same flags as the line above".
    (
        "nflbet replay … --store file:///tmp/drill --output json",
        "elided arguments (…), the line above has them",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose commands a user copies.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("examples/README.md"),
        root().join("charts/nflbet-operator/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One command found in a doc, with the output a `$ ` prompt line shows under it, if any.
#[derive(Debug)]
struct Shown {
    file: String,
    line: usize,
    command: String,
    prompt: bool,
    output: Vec<String>,
}

impl Shown {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Split a shell line into words: single and double quotes, nothing else.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The commands of one shell line: split at `|`, `&&`, `;`; without a trailing comment,
/// redirections, a trailing `&` and leading `VAR=value` assignments.
fn commands_of(line: &str) -> Vec<String> {
    let line = match line.find(" #") {
        Some(i) => &line[..i],
        None => line,
    };
    let mut out = Vec::new();
    for part in line.split("&&").flat_map(|p| p.split(';')).flat_map(|p| p.split(" | ")) {
        let mut ws: Vec<String> = words(part);
        if let Some(i) = ws.iter().position(|w| w.starts_with('>') || w.starts_with("2>") || w == "&") {
            ws.truncate(i);
        }
        while ws.first().is_some_and(|w| {
            w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
        }) {
            ws.remove(0);
        }
        if !ws.is_empty() {
            out.push(ws.join(" "));
        }
    }
    out
}

/// Every command in the fenced code blocks of `file`, continuation lines joined.
fn fenced(file: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(file).unwrap();
    let rel = file.strip_prefix(root()).unwrap().display().to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Shown> = Vec::new();
    let mut in_block = false;
    let mut i = 0;
    // The prompt command whose output the following lines are.
    let mut open: Option<usize> = None;
    while i < lines.len() {
        let start = i;
        let raw = lines[i].trim();
        if raw.starts_with("```") {
            in_block = !in_block;
            open = None;
            i += 1;
            continue;
        }
        if !in_block {
            i += 1;
            continue;
        }
        let mut t = raw.to_string();
        while t.ends_with('\\') && i + 1 < lines.len() {
            i += 1;
            t.pop();
            t.push(' ');
            t.push_str(lines[i].trim());
        }
        i += 1;
        let (prompt, body) = match t.strip_prefix("$ ") {
            Some(b) => (true, b.to_string()),
            None => (false, t.clone()),
        };
        // A synopsis is not split at its `|` alternatives.
        let whole = body.split(" #").next().unwrap_or_default().trim();
        if skipped(whole) {
            out.push(Shown {
                file: rel.clone(),
                line: start + 1,
                command: whole.to_string(),
                prompt,
                output: Vec::new(),
            });
            open = None;
            continue;
        }
        let cmds = commands_of(&body);
        let ours: Vec<&String> = cmds
            .iter()
            .filter(|c| c.starts_with("nflbet ") || c.starts_with("cargo test") || c.starts_with("make "))
            .collect();
        if prompt || !ours.is_empty() {
            open = None;
        }
        if ours.is_empty() {
            if let (Some(k), false) = (open, prompt) {
                out[k].output.push(lines[start].to_string());
            }
            continue;
        }
        for c in ours {
            out.push(Shown {
                file: rel.clone(),
                line: start + 1,
                command: c.clone(),
                prompt,
                output: Vec::new(),
            });
        }
        if prompt {
            open = Some(out.len() - 1);
        }
    }
    out
}

/// `cargo test --test X` and `make X` in inline code too (`...`), anywhere in `file`.
fn inline(file: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(file).unwrap();
    let rel = file.strip_prefix(root()).unwrap().display().to_string();
    let re = regex::Regex::new(r"`([^`\n]*\b(?:cargo test|make) [^`\n]*)`").unwrap();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for cap in re.captures_iter(line) {
            for c in commands_of(&cap[1]) {
                if c.starts_with("cargo test") || c.starts_with("make ") {
                    out.push(Shown {
                        file: rel.clone(),
                        line: n + 1,
                        command: c,
                        prompt: false,
                        output: Vec::new(),
                    });
                }
            }
        }
    }
    out
}

fn shown() -> Vec<Shown> {
    let mut all = Vec::new();
    for f in doc_files() {
        all.extend(fenced(&f));
        all.extend(inline(&f));
    }
    all
}

fn skipped(command: &str) -> bool {
    SKIP.iter().any(|(c, _)| *c == command)
}

/// Test targets: `tests/X.rs`, `tests/X/main.rs` and `[[test]]` names of Cargo.toml.
fn test_targets() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(root().join("tests")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.extension().is_some_and(|e| e == "rs") {
            out.insert(p.file_stem().unwrap().to_string_lossy().into_owned());
        } else if p.join("main.rs").is_file() {
            out.insert(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let name = regex::Regex::new(r#"(?m)^\[\[test\]\]\s*\nname\s*=\s*"([^"]+)""#).unwrap();
    out.extend(name.captures_iter(&manifest).map(|c| c[1].to_string()));
    out
}

fn make_targets() -> BTreeSet<String> {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let re = regex::Regex::new(r"(?m)^([a-z][a-z0-9-]*):").unwrap();
    re.captures_iter(&makefile).map(|c| c[1].to_string()).collect()
}

#[test]
fn the_extraction_finds_the_commands_it_must_check() {
    // A change to the extraction that silently found nothing would pass everything below.
    let all = shown();
    for want in [
        "make demo",
        "nflbet validate-config --strict examples/",
        "nflbet completions bash",
        "nflbet telemetry --bind 127.0.0.1 --port 9100 -n betting",
        "NFLBET_SHARED_DIR",
    ] {
        let found = if want == "NFLBET_SHARED_DIR" {
            all.iter().any(|s| s.command.starts_with("cargo test --test integration"))
        } else {
            all.iter().any(|s| s.command == want)
        };
        assert!(found, "{want:?} not extracted from the docs");
    }
    assert!(all.iter().any(|s| s.prompt && !s.output.is_empty()), "no prompt with output found");
    assert_eq!(commands_of("E2E=0 make test   # the first round"), ["make test"]);
    assert_eq!(
        commands_of("nflbet crds | kubectl apply --server-side -f -"),
        ["nflbet crds", "kubectl apply --server-side -f -"]
    );
    assert_eq!(commands_of("nflbet completions zsh > \"${fpath[1]}/_nflbet\""), ["nflbet completions zsh"]);
    // Every skip-list entry still names a command in the docs: no stale exemptions.
    for (c, _) in SKIP {
        assert!(all.iter().any(|s| s.command == *c), "skip-list entry {c:?} is no longer in the docs");
    }
}

#[test]
fn cargo_test_commands_name_existing_test_targets() {
    let targets = test_targets();
    let mut bad = Vec::new();
    for s in shown().iter().filter(|s| s.command.starts_with("cargo test")) {
        let ws = words(&s.command);
        if let Some(i) = ws.iter().position(|w| w == "--test") {
            match ws.get(i + 1) {
                Some(t) if targets.contains(t) => {}
                other => bad.push(format!(
                    "{}: `{}`: no test target {other:?} (have {targets:?})",
                    s.at(),
                    s.command
                )),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn make_commands_name_makefile_targets() {
    let targets = make_targets();
    let mut bad = Vec::new();
    for s in shown().iter().filter(|s| s.command.starts_with("make ")) {
        for w in words(&s.command).iter().skip(1).filter(|w| !w.contains('=') && !w.starts_with('-')) {
            if !targets.contains(w) {
                bad.push(format!("{}: `{}`: no Makefile target {w:?}", s.at(), s.command));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn nflbet_commands_parse_with_the_real_cli() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for s in shown().iter().filter(|s| s.command.starts_with("nflbet ") && !skipped(&s.command)) {
        checked += 1;
        if let Err(e) = nflbet::cli::Cli::try_parse_from(words(&s.command)) {
            use clap::error::ErrorKind;
            if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                bad.push(format!("{}: `{}`:\n{}", s.at(), s.command, e.render()));
            }
        }
    }
    assert!(checked >= 20, "only {checked} nflbet commands checked");
    assert!(bad.is_empty(), "commands in the docs that nflbet refuses:\n{}", bad.join("\n"));
}

#[test]
fn validate_config_examples_succeed_and_show_their_real_output() {
    let mut bad = Vec::new();
    let mut ran = 0;
    for s in
        shown().iter().filter(|s| s.command.starts_with("nflbet validate-config ") && !skipped(&s.command))
    {
        let args: Vec<String> = words(&s.command).into_iter().skip(1).collect();
        let paths: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with('-')).collect();
        // Only commands on files of this repository can run here.
        if paths.is_empty() || !paths.iter().all(|p| root().join(p).exists()) {
            continue;
        }
        ran += 1;
        let out =
            Command::new(env!("CARGO_BIN_EXE_nflbet")).args(&args).current_dir(root()).output().unwrap();
        let printed =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if paths.iter().all(|p| p.starts_with("examples")) && !out.status.success() {
            bad.push(format!("{}: `{}` fails on the examples:\n{printed}", s.at(), s.command));
        }
        if s.prompt && !s.output.is_empty() {
            let shown = s.output.join("\n");
            if shown.trim_end() != printed.trim_end() {
                bad.push(format!(
                    "{}: `{}` shows stale output.\n--- shown:\n{shown}\n--- printed:\n{printed}",
                    s.at(),
                    s.command
                ));
            }
        }
    }
    assert!(ran >= 6, "only {ran} validate-config commands ran");
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
