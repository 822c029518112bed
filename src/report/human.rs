//! rustc/cargo-style diagnostics for people:
//!
//! ```text
//! error[BK201]: registry `registry:5000` serves TLS but is configured with `http = true`
//!   --> buildkitd.toml:12:1
//!    |
//! 12 | http = true
//!    | ^^^^^^^^^^^
//!    = note: ...
//!    = prevents: http: server gave HTTP response to HTTPS client
//!    = help: ...
//!    = help: run `bkenv explain BK201`
//! ```

use super::{RenderCtx, slash_path, summary_line};
use crate::diag::{Finding, Location, Severity};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

/// Width of a tab when showing a source line, as rustc does.
const TAB: &str = "    ";

struct Paint {
    color: bool,
}

impl Paint {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }
}

fn severity_style(s: Severity) -> Style {
    let c = match s {
        Severity::Error => AnsiColor::BrightRed,
        Severity::Warning => AnsiColor::BrightYellow,
        Severity::Note => AnsiColor::BrightGreen,
    };
    Style::new().bold().fg_color(Some(c.into()))
}

fn gutter_style() -> Style {
    Style::new()
        .bold()
        .fg_color(Some(AnsiColor::BrightBlue.into()))
}

/// Writes every finding, then the summary line.
pub(crate) fn render(
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let p = Paint { color: ctx.color };
    for f in findings {
        render_one(f, &p, out)?;
        writeln!(out)?;
    }
    let summary = summary_line(ctx.command, findings);
    writeln!(out, "{}", p.paint(Style::new().bold(), &summary))
}

fn render_one(f: &Finding, p: &Paint, out: &mut dyn Write) -> io::Result<()> {
    let sev = severity_style(f.severity);
    let head = format!("{}[{}]", f.severity.as_str(), f.check.code);
    let bold = Style::new().bold();
    writeln!(
        out,
        "{}{}",
        p.paint(sev, &head),
        p.paint(bold, &format!(": {}", f.message))
    )?;

    let snippet = f.location.as_ref().and_then(Snippet::of);
    // The gutter is as wide as the line number shown, at least one column.
    let width = snippet.as_ref().map_or(1, |s| s.line.to_string().len());
    let pad = " ".repeat(width);
    let bar = p.paint(gutter_style(), "|");

    if let Some(loc) = &f.location {
        let mut place = slash_path(&loc.path);
        if let Some(span) = loc.span {
            place.push_str(&format!(":{}:{}", span.line, span.column));
        }
        writeln!(out, "{pad}{} {place}", p.paint(gutter_style(), "-->"))?;
    }
    if let Some(s) = &snippet {
        let num = p.paint(gutter_style(), &format!("{:>width$}", s.line));
        writeln!(out, "{pad} {bar}")?;
        writeln!(out, "{num} {bar} {}", s.text)?;
        let carets = p.paint(sev, &"^".repeat(s.len));
        writeln!(out, "{pad} {bar} {}{carets}", " ".repeat(s.indent))?;
    }

    let eq = p.paint(gutter_style(), "=");
    let mut extra = |label: &str, text: &str| -> io::Result<()> {
        writeln!(out, "{pad} {eq} {}: {text}", p.paint(bold, label))
    };
    for note in &f.notes {
        extra("note", note)?;
    }
    if let Some(prevents) = &f.prevents {
        extra("prevents", prevents)?;
    }
    if let Some(help) = &f.help {
        extra("help", help)?;
    }
    extra("help", &format!("run `bkenv explain {}`", f.check.code))
}

/// The source line of a finding with the caret range under it.
struct Snippet {
    line: usize,
    text: String,
    /// Display columns before the first caret.
    indent: usize,
    len: usize,
}

impl Snippet {
    fn of(loc: &Location) -> Option<Snippet> {
        let span = loc.span?;
        let raw = loc.line_text.as_deref()?.trim_end_matches(['\r', '\n']);
        let chars: Vec<char> = raw.chars().collect();
        // Columns are 1-based characters; the end column is exclusive (as in SARIF).
        let start = span.column.saturating_sub(1).min(chars.len());
        let end = if span.end_line == span.line {
            span.end_column.saturating_sub(1).clamp(start, chars.len())
        } else {
            chars.len()
        };
        let shown = |cs: &[char]| -> String {
            cs.iter()
                .map(|&c| {
                    if c == '\t' {
                        TAB.to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        };
        let indent = shown(&chars[..start]).chars().count();
        let len = shown(&chars[start..end]).chars().count().max(1);
        Some(Snippet {
            line: span.line,
            text: shown(&chars),
            indent,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;
    use crate::doctor::checks::meta::BK900;

    fn finding(text: &str, column: usize, end_column: usize) -> Finding {
        Finding::new(&BK900, "m").at(Location {
            path: "d/buildkitd.toml".into(),
            span: Some(Span {
                line: 7,
                column,
                end_line: 7,
                end_column,
            }),
            line_text: Some(text.to_string()),
        })
    }

    fn show(f: &Finding, color: bool) -> String {
        let mut out = Vec::new();
        let ctx = RenderCtx {
            color,
            ..RenderCtx::default()
        };
        render(std::slice::from_ref(f), &ctx, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn carets_follow_tabs_and_clamp_to_the_line() {
        let s = show(&finding("\tca = 'x'\n", 2, 4), false);
        assert!(s.contains("7 |     ca = 'x'\n  |     ^^\n"), "{s}");
        let s = show(&finding("ab", 9, 20), false);
        assert!(s.contains("7 | ab\n  |   ^\n"), "{s}");
    }

    #[test]
    fn colour_only_when_asked() {
        let f = finding("x", 1, 2);
        assert!(!show(&f, false).contains('\u{1b}'));
        assert!(show(&f, true).contains("\u{1b}["));
    }
}
