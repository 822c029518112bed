//! Findings are data: what doctor, preflight and probes report about an environment.
//!
//! A finding is never an error of bkenv itself: a check that finds a problem pushes a
//! [`Finding`]; a check that cannot run returns an error, which the caller turns into a
//! `BK9xx` finding so one broken check never hides the others.

mod check;
mod fix;

pub use check::Check;
pub(crate) use check::checks;
pub(crate) use fix::apply;
pub use fix::{Applicability, Change, Edit, Fix};

use serde::{Serialize, Serializer};
use std::path::PathBuf;

/// How bad a finding is, after `-A/-W/-D` overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational; never changes the exit code.
    Note,
    /// Works today but is fragile, insecure or version dependent.
    Warning,
    /// BuildKit, the registry or a client will fail.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A 1-based line and column range inside a file. Columns count characters (Unicode
/// code points) and `end_column` is exclusive, as in SARIF: `ab` at the start of a line is
/// `column: 1, end_column: 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// Where a finding points: a file (relative to the environment root when inside it) and
/// optionally a span with the text of its first line, for rustc-style rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// The source line the span starts on, for display. Never contains secrets: checks
    /// that point into files holding secrets leave it `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_text: Option<String>,
}

/// One problem found in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check that found it; serialized as its code, e.g. `BK001`.
    #[serde(rename = "code", serialize_with = "code_of")]
    pub check: &'static Check,
    pub severity: Severity,
    /// One sentence naming the problem with its concrete values.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The error text BuildKit (or the registry, or a client) will print because of this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevents: Option<String>,
    /// Extra facts: SANs presented, name dialled, dates, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The edits that repair it, made by the check that found it; serialized as whether
    /// `doctor --fix` applies them (`fixable`).
    #[serde(rename = "fixable", serialize_with = "is_safe")]
    pub fix: Option<Fix>,
}

fn is_safe<S: Serializer>(fix: &Option<Fix>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(fix.as_ref().is_some_and(Fix::is_safe))
}

fn code_of<S: Serializer>(check: &&'static Check, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(check.code)
}

impl Finding {
    /// A finding of `check` at its default severity, with its default `prevents` text.
    pub fn new(check: &'static Check, message: impl Into<String>) -> Self {
        Finding {
            check,
            severity: check.severity,
            message: message.into(),
            location: None,
            prevents: (!check.prevents.is_empty()).then(|| check.prevents.to_string()),
            notes: Vec::new(),
            help: None,
            fix: None,
        }
    }

    /// The check's code, e.g. `BK201`.
    pub fn code(&self) -> &'static str {
        self.check.code
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn at_file(self, path: impl Into<PathBuf>) -> Self {
        self.at(Location {
            path: path.into(),
            span: None,
            line_text: None,
        })
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn prevents(mut self, text: impl Into<String>) -> Self {
        self.prevents = Some(text.into());
        self
    }

    /// Attaches the fix that repairs it (none when `fix` is `None`).
    pub fn fix(mut self, fix: impl Into<Option<Fix>>) -> Self {
        self.fix = fix.into();
        self
    }

    /// Whether `doctor --fix` repairs it: it carries a safe fix.
    pub fn fixable(&self) -> bool {
        self.fix.as_ref().is_some_and(Fix::is_safe)
    }

    /// Whether the finding and `other` report the same thing (they may differ in how a
    /// fix would be made, e.g. from two configurations that both see the problem).
    pub(crate) fn same_report(&self, other: &Finding) -> bool {
        self.check == other.check
            && self.severity == other.severity
            && self.message == other.message
            && self.location == other.location
            && self.prevents == other.prevents
            && self.notes == other.notes
            && self.help == other.help
    }
}
