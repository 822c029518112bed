//! Findings are data: what doctor, preflight and probes report about an environment.
//!
//! A finding is never an error of bkenv itself: a check that finds a problem pushes a
//! [`Finding`]; a check that cannot run returns an error, which the caller turns into a
//! `BK9xx` finding so one broken check never hides the others.

use serde::Serialize;
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
    /// Stable check code, e.g. `BK001`; always present in the catalog.
    pub code: &'static str,
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
    /// Whether `doctor --fix` can repair it.
    pub fixable: bool,
    /// The values `--fix` acts on (registry host, TOML key, old and new credential
    /// key), carried as data so a fix never parses the message.
    #[serde(skip)]
    pub fix_args: Vec<String>,
}

impl Finding {
    /// A finding at the catalog's default severity for `code`.
    ///
    /// Unknown codes are a programming error caught by the catalog tests; they fall back to
    /// `Error` rather than panicking.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let meta = crate::catalog::lookup(code);
        Finding {
            code,
            severity: meta.map_or(Severity::Error, |m| m.severity),
            message: message.into(),
            location: None,
            prevents: meta.and_then(|m| (!m.prevents.is_empty()).then(|| m.prevents.to_string())),
            notes: Vec::new(),
            help: None,
            fixable: false,
            fix_args: Vec::new(),
        }
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

    pub fn fixable(mut self) -> Self {
        self.fixable = true;
        self
    }

    /// Fixable, with the values the fix needs.
    pub fn fixable_with<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.fixable = true;
        self.fix_args = args.into_iter().map(Into::into).collect();
        self
    }
}
