//! `--format gitlab`: a GitLab code-quality report (a JSON array in the Code Climate
//! subset GitLab reads), for `artifacts: reports: codequality:`.
//!
//! Severity mapping: error → `critical`, warning → `major`, note → `info`. A finding
//! without a file points at `.` line 1, since GitLab requires a location.

use super::{fingerprint, slash_path};
use crate::diag::{Finding, Severity};
use serde::Serialize;
use std::io::{self, Write};

#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: IssueLocation,
}

#[derive(Serialize)]
struct IssueLocation {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "critical",
        Severity::Warning => "major",
        Severity::Note => "info",
    }
}

fn issue(f: &Finding) -> Issue<'_> {
    let (path, begin) = match &f.location {
        Some(l) => (slash_path(&l.path), l.span.map_or(1, |s| s.line.max(1))),
        None => (".".to_string(), 1),
    };
    Issue {
        description: format!("{}: {}", f.check.code, f.message),
        check_name: f.check.code,
        fingerprint: fingerprint(f),
        severity: severity(f.severity),
        location: IssueLocation {
            path,
            lines: Lines { begin },
        },
    }
}

/// Writes the report, pretty-printed, with a trailing newline.
pub(crate) fn render(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<Issue<'_>> = findings.iter().map(issue).collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}
