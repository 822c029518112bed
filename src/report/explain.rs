//! `bkenv explain CODE|slug [--all] [--format json]`.

use crate::catalog;
use crate::diag::Check;
use crate::diag::Severity;
use serde::Serialize;
use std::io::{self, Write};

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("no check has the code or name `{given}`{hint}")]
    Unknown {
        given: String,
        hint: String,
        /// Close codes and names, closest first.
        suggestions: Vec<String>,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What `--format json` prints for one check.
#[derive(Serialize)]
struct Explanation {
    code: &'static str,
    slug: &'static str,
    title: &'static str,
    severity: Severity,
    fixable: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    prevents: &'static str,
    explanation: &'static str,
}

impl From<&'static Check> for Explanation {
    fn from(m: &'static Check) -> Self {
        Explanation {
            code: m.code,
            slug: m.slug,
            title: m.title,
            severity: m.severity,
            fixable: m.fixable,
            prevents: m.prevents,
            explanation: m.explanation,
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Prints the explanation of one check, by code (any case) or slug.
pub fn explain(code_or_slug: &str, out: &mut dyn Write, json: bool) -> Result<(), ExplainError> {
    let Some(m) = catalog::lookup(code_or_slug) else {
        let suggestions = catalog::close_to(code_or_slug, &[]);
        return Err(ExplainError::Unknown {
            given: code_or_slug.to_string(),
            hint: catalog::hint(&suggestions),
            suggestions,
        });
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &Explanation::from(m)).map_err(io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "# {} ({})", m.slug, m.code)?;
    writeln!(out)?;
    writeln!(out, "Default severity: {}", m.severity.as_str())?;
    writeln!(
        out,
        "Fixable with `bkenv doctor --fix`: {}",
        yes_no(m.fixable)
    )?;
    writeln!(out, "Title: {}", m.title)?;
    if !m.prevents.is_empty() {
        writeln!(out, "Prevents: {}", m.prevents)?;
    }
    writeln!(out)?;
    write!(out, "{}", m.explanation)?;
    if !m.explanation.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// `explain --all`: one line per check (`code slug severity title`), or a JSON array.
pub fn explain_all(out: &mut dyn Write, json: bool) -> io::Result<()> {
    if json {
        let all: Vec<Explanation> = catalog::all().map(Explanation::from).collect();
        serde_json::to_writer_pretty(&mut *out, &all)?;
        return writeln!(out);
    }
    let slug_w = catalog::all().map(|m| m.slug.len()).max().unwrap_or(0);
    for m in catalog::all() {
        writeln!(
            out,
            "{}  {:<slug_w$}  {:<7}  {}",
            m.code,
            m.slug,
            m.severity.as_str(),
            m.title
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str, json: bool) -> String {
        let mut out = Vec::new();
        explain(code, &mut out, json).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn by_code_or_slug() {
        let by_code = run("bk900", false);
        assert!(
            by_code.starts_with("# file-unreadable (BK900)\n"),
            "{by_code}"
        );
        assert!(by_code.contains("Default severity: error\n"));
        assert!(by_code.contains("## How to fix"));
        assert_eq!(by_code, run("file-unreadable", false));
        let v: serde_json::Value = serde_json::from_str(&run("BK722", true)).unwrap();
        assert_eq!(v["slug"], "unexpected-endpoint-response");
        assert_eq!(v["severity"], "warning");
        let v: serde_json::Value = serde_json::from_str(&run("BK900", true)).unwrap();
        assert_eq!(v["severity"], "error");
    }

    #[test]
    fn unknown_code_suggests() {
        let err = explain("file-unreadabel", &mut Vec::new(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no check has the code or name `file-unreadabel`; did you mean `BK900 (file-unreadable)`?"
        );
    }

    #[test]
    fn all_lists_every_check() {
        let mut out = Vec::new();
        explain_all(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().find(|l| l.starts_with("BK900")).unwrap();
        assert!(
            line.contains("file-unreadable") && line.ends_with("a file could not be read"),
            "{line}"
        );
        assert_eq!(text.lines().count(), catalog::all().count());
    }
}
