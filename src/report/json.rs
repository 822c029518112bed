//! `--format json`: bkenv's own stable document.
//!
//! ```json
//! { "version": 1, "tool": { "name": "bkenv", "version": "0.1.0" },
//!   "findings": [ { "code": "BK201", "slug": "...", "severity": "error", "message": "...",
//!                   "location": { "path": "buildkitd.toml", "line": 12, "column": 1,
//!                                 "end_line": 12, "end_column": 12 },
//!                   "prevents": "...", "notes": [], "help": "...", "fixable": true } ],
//!   "summary": { "errors": 1, "warnings": 0, "notes": 0 } }
//! ```
//!
//! `version` changes only when a field changes meaning or disappears; new fields may be
//! added. Optional fields are omitted when empty; `notes` is always an array.

use super::{Counts, RenderCtx, slash_path};
use crate::diag::{Finding, Severity};
use serde::Serialize;
use std::io::{self, Write};

/// Version of the document layout.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    tool: Tool<'a>,
    findings: Vec<JsonFinding<'a>>,
    summary: Counts,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    slug: Option<&'static str>,
    severity: Severity,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<JsonLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevents: Option<&'a str>,
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    fixable: bool,
}

#[derive(Serialize)]
struct JsonLocation {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_column: Option<usize>,
}

fn convert(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        code: f.check.code,
        slug: Some(f.check.slug),
        severity: f.severity,
        message: &f.message,
        location: f.location.as_ref().map(|l| JsonLocation {
            path: slash_path(&l.path),
            line: l.span.map(|s| s.line),
            column: l.span.map(|s| s.column),
            end_line: l.span.map(|s| s.end_line),
            end_column: l.span.map(|s| s.end_column),
        }),
        prevents: f.prevents.as_deref(),
        notes: &f.notes,
        help: f.help.as_deref(),
        fixable: f.fixable(),
    }
}

/// Writes the document, pretty-printed, with a trailing newline.
pub(crate) fn render(
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = Document {
        version: SCHEMA_VERSION,
        tool: Tool {
            name: "bkenv",
            version: ctx.tool_version,
        },
        findings: findings.iter().map(convert).collect(),
        summary: Counts::of(findings),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
