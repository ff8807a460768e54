//! Reading what `validate-config` is given: files, directories (recursively, `*.yaml` and
//! `*.yml`) and `-` for standard input, split into YAML documents.

use super::kubectl_yaml::{self, Reading};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Input that cannot be read at all; the run exits 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{0}: no *.yaml or *.yml files in this directory")]
    EmptyDirectory(String),
}

/// One file's text, with the name findings show for it.
pub struct Source {
    pub label: String,
    pub text: String,
}

/// One YAML document: its 1-based index in the file and its content as the JSON kubectl would
/// send (or why it is not readable YAML), with the plain scalars YAML 1.1 did not keep as text.
pub struct Document {
    pub index: usize,
    pub value: Result<serde_json::Value, String>,
    pub readings: Vec<Reading>,
}

/// Read every input. Unreadable inputs are returned as errors; the others are still checked.
pub fn read_all(paths: &[PathBuf]) -> (Vec<Source>, Vec<InputError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => sources.push(Source { label: "<stdin>".into(), text }),
                Err(e) => errors.push(InputError::Stdin(e)),
            }
        } else if path.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = yaml_files(path, &mut files) {
                errors.push(e);
                continue;
            }
            if files.is_empty() {
                errors.push(InputError::EmptyDirectory(path.display().to_string()));
            }
            for f in files {
                read_file(&f, &mut sources, &mut errors);
            }
        } else {
            read_file(path, &mut sources, &mut errors);
        }
    }
    (sources, errors)
}

fn read_file(path: &Path, sources: &mut Vec<Source>, errors: &mut Vec<InputError>) {
    match std::fs::read_to_string(path) {
        Ok(text) => sources.push(Source { label: path.display().to_string(), text }),
        Err(source) => errors.push(InputError::Read { path: path.display().to_string(), source }),
    }
}

/// `*.yaml` and `*.yml` below `dir`, sorted so output is stable; hidden entries are skipped.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let read_err = |source| InputError::Read { path: dir.display().to_string(), source };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Split a YAML stream into documents, read as kubectl reads them (YAML 1.1 scalars, see
/// [`kubectl_yaml`]). A syntax error ends the stream: the parser cannot resynchronise after it,
/// so later documents are not reported.
pub fn documents(text: &str) -> Vec<Document> {
    kubectl_yaml::documents(text)
        .into_iter()
        .enumerate()
        .map(|(i, doc)| match doc {
            Ok(d) => Document { index: i + 1, value: Ok(d.value), readings: d.readings },
            Err(e) => Document { index: i + 1, value: Err(e), readings: Vec::new() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_numbered_from_one_and_syntax_errors_stop_the_stream() {
        let docs = documents("a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 1);
        assert!(docs[1].value.as_ref().is_err_and(|e| e.contains("line")), "{:?}", docs[1].value);
    }
}
