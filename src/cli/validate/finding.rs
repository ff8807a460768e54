//! One result of `validate-config`, located by file, document and field path.

use serde::Serialize;

/// How bad a finding is. `--strict` turns warnings into errors; notes never fail a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// Which check produced a finding, so CI output can be filtered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The file or document is not YAML a manifest can be read from.
    Yaml,
    /// apiVersion and kind: what the document is.
    Kind,
    /// The CRD's openAPIV3Schema and ObjectMeta.
    Schema,
    /// The CRD's CEL rules (`x-kubernetes-validations`).
    Cel,
    /// Checks across the whole set (references, duplicates, alert routing).
    Semantic,
}

/// Where a finding is: a document of a file, and the resource it declares when that is known.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub file: String,
    /// 1-based index of the YAML document in the file.
    pub document: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => match &self.namespace {
                Some(ns) => write!(f, " ({kind} {ns}/{name})"),
                None => write!(f, " ({kind} {name})"),
            },
            (Some(kind), None) => write!(f, " ({kind})"),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub level: Level,
    pub check: Check,
    #[serde(flatten)]
    pub location: Location,
    /// Field path such as `spec.polling.interval`; absent for findings about a whole document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(
        level: Level,
        check: Check,
        location: &Location,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            level,
            check,
            location: location.clone(),
            field: field.filter(|f| !f.is_empty()),
            message: message.into(),
        }
    }
}

/// `error: examples/books.yaml: document 2 (Sportsbook fanduel): spec.polling.interval: …`
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: ", self.level.as_str(), self.location)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}
