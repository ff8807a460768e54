//! The direction of the layers, kept by a test: domain ← feed ← workloads/operator ← cli, with
//! `crd` depending on the domain's vocabulary, never the other way round (docs/architecture.md,
//! "Layers"). The test reads the sources of the inner layers and names every file that reaches
//! outwards.

use std::path::{Path, PathBuf};

/// Each inner layer and the parts of the crate it may use (itself included).
const LAYERS: [(&str, &[&str]); 2] = [
    // Odds maths, markets, models: nothing else of the crate.
    ("domain", &["domain"]),
    // Normalised quotes and snapshots: the domain's vocabulary, and the egress policy its stores
    // and providers are given.
    ("feed", &["domain", "feed", "egress", "http", "shutdown"]),
];

/// The modules of the crate a source file names by a `crate::` path, with their line numbers.
/// Comments are skipped (a doc comment may name the layer that drives this one); grouped imports
/// (`use crate::{a::B, c}`) count each module.
fn crate_modules(source: &str) -> Vec<(usize, String)> {
    let ident =
        |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Top-level names of the group: split at commas outside nested braces.
                let mut depth = 0;
                let mut start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if c.is_whitespace() => {}
                        _ if start => {
                            start = false;
                            found.push((n + 1, ident(&group[i..])));
                        }
                        _ => {}
                    }
                }
            } else {
                found.push((n + 1, ident(rest)));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn inner_layers_do_not_reach_outwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut leaks = Vec::new();
    for (layer, allowed) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no sources found under src/{layer}");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("source file");
            for (line, module) in crate_modules(&source) {
                if !allowed.contains(&module.as_str()) {
                    let shown = file.strip_prefix(&src).unwrap_or(&file).display().to_string();
                    leaks.push(format!(
                        "src/{shown}:{line} uses crate::{module} (src/{layer} may use only {allowed:?})"
                    ));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "layers leak outwards:\n{}", leaks.join("\n"));
}

#[test]
fn finds_paths_groups_and_skips_comments() {
    let source = "use crate::domain::odds;\n\
                  use crate::{domain::market::Market, crd::sportsbook::{Sportsbook, Region}, egress};\n\
                  //! driven by `crate::scrape`\n\
                  let d = crate::domain::duration::parse_duration(s); // not crate::cli\n\
                  fn f() -> crate::controller::names::X {}\n";
    let found: Vec<(usize, String)> = crate_modules(source);
    let expected: Vec<(usize, String)> =
        [(1, "domain"), (2, "domain"), (2, "crd"), (2, "egress"), (4, "domain"), (5, "controller")]
            .into_iter()
            .map(|(n, m)| (n, m.to_string()))
            .collect();
    assert_eq!(found, expected);
}
