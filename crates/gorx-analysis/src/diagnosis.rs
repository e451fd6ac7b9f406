//! The result of diagnosing a set of inputs: what was read and what was found.
//! Its JSON form is versioned API (`schema`).

use crate::finding::{Finding, Severity};
use serde::Serialize;

/// The JSON schema version of [`Diagnosis`]. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub path: String,
    /// What the input was recognised as (see `gorx_formats::detect::ArtifactKind::as_str`).
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub schema: u32,
    pub inputs: Vec<InputSummary>,
    /// Most severe first; ties keep the order the analyses produced them in.
    pub findings: Vec<Finding>,
    /// What the reading skipped or could not use (a damaged line of an auxiliary file),
    /// each naming the file and line. Omitted from JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnosis {
    pub fn new(inputs: Vec<InputSummary>, mut findings: Vec<Finding>) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Self {
            schema: SCHEMA_VERSION,
            inputs,
            findings,
            notes: Vec::new(),
        }
    }

    /// The same diagnosis with `notes` added.
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes.extend(notes);
        self
    }

    /// The most severe finding's severity, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
