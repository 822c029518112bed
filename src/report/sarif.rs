//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.
//!
//! One run; `tool.driver.rules` holds the catalog entry of every code the findings use (in
//! code order), results point at them by `ruleId` and `ruleIndex`. Paths inside the
//! environment are relative URIs against `%SRCROOT%`; columns count Unicode code points
//! and the end column is exclusive, as SARIF defines them.

use super::{RenderCtx, fingerprint, slash_path};
use crate::diag::{Check, Finding, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    results: Vec<SarifResult<'a>>,
    column_kind: &'static str,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    short_description: Text,
    full_description: Text,
    help: Text,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Text {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    markdown: Option<String>,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<SarifLocation>,
    partial_fingerprints: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn rule_for(m: &Check) -> Rule {
    let text = |s: &str| Text {
        text: s.to_string(),
        markdown: None,
    };
    Rule {
        id: m.code.to_string(),
        name: Some(m.slug),
        short_description: text(m.title),
        full_description: text(m.explanation),
        help: Text {
            text: m.explanation.to_string(),
            markdown: Some(m.explanation.to_string()),
        },
        default_configuration: Configuration {
            level: level(m.severity),
        },
    }
}

/// Percent-encodes a path for a URI reference, keeping `/` and RFC 3986 unreserved bytes.
fn uri_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(f: &Finding) -> Vec<SarifLocation> {
    let Some(loc) = &f.location else {
        return Vec::new();
    };
    let path = slash_path(&loc.path);
    let artifact_location = if loc.path.is_absolute() {
        // Outside the environment root: an absolute file URI, no base.
        let sep = if path.starts_with('/') { "" } else { "/" };
        ArtifactLocation {
            uri: format!("file://{sep}{}", uri_encode(&path)),
            uri_base_id: None,
        }
    } else {
        ArtifactLocation {
            uri: uri_encode(&path),
            uri_base_id: Some("%SRCROOT%"),
        }
    };
    let region = loc.span.map(|s| Region {
        start_line: s.line.max(1),
        start_column: s.column.max(1),
        end_line: s.end_line.max(s.line).max(1),
        end_column: s.end_column.max(1),
    });
    vec![SarifLocation {
        physical_location: PhysicalLocation {
            artifact_location,
            region,
        },
    }]
}

/// Writes the SARIF log, pretty-printed, with a trailing newline.
pub(crate) fn render(
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut checks: Vec<&'static Check> = findings.iter().map(|f| f.check).collect();
    checks.sort_unstable();
    checks.dedup();
    let results = findings
        .iter()
        .map(|f| SarifResult {
            rule_id: f.check.code,
            rule_index: checks.binary_search(&f.check).unwrap_or_default(),
            level: level(f.severity),
            message: Text {
                text: f.message.clone(),
                markdown: None,
            },
            locations: location(f),
            partial_fingerprints: BTreeMap::from([("bkenvFingerprint/v1", fingerprint(f))]),
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "bkenv",
                    version: ctx.tool_version,
                    // A URI is only meaningful when the package declares one.
                    information_uri: Some(env!("CARGO_PKG_REPOSITORY")).filter(|u| !u.is_empty()),
                    rules: checks.iter().map(|c| rule_for(c)).collect(),
                },
            },
            results,
            column_kind: "unicodeCodePoints",
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::uri_encode;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri_encode("ci/a b,c%.toml"), "ci/a%20b%2Cc%25.toml");
        assert_eq!(uri_encode("certs/ca.crt"), "certs/ca.crt");
    }
}
