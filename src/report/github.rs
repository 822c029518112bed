//! `--format github`: GitHub Actions workflow commands, one annotation per finding.
//!
//! `::error file=buildkitd.toml,line=12,col=1,endLine=12,endColumn=12,title=BK201 slug::message`
//! (`::warning` for warnings, `::notice` for notes). An annotation never fails the step;
//! the exit status does, and it is the same as in every other format.

use super::{RenderCtx, slash_path, summary_line};
use crate::diag::{Finding, Severity};
use std::io::{self, Write};

/// Escapes the message part of a workflow command: `%`, CR and LF.
pub(crate) fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a property value: as [`escape_data`], plus `:` and `,`.
pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    }
}

/// One workflow command line (without the newline).
pub(crate) fn annotation(f: &Finding) -> String {
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(loc) = &f.location {
        props.push(("file", slash_path(&loc.path)));
        if let Some(s) = loc.span {
            props.push(("line", s.line.to_string()));
            props.push(("col", s.column.to_string()));
            props.push(("endLine", s.end_line.to_string()));
            props.push(("endColumn", s.end_column.to_string()));
        }
    }
    let title = format!("{} {}", f.check.code, f.check.slug);
    props.push(("title", title));
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();

    let mut message = f.message.clone();
    if let Some(prevents) = &f.prevents {
        message.push_str(&format!("\nprevents: {prevents}"));
    }
    if let Some(help) = &f.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    format!(
        "::{} {}::{}",
        command(f.severity),
        props.join(","),
        escape_data(&message)
    )
}

/// Writes one annotation per finding, then the summary as a plain log line.
pub(crate) fn render(
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    for f in findings {
        writeln!(out, "{}", annotation(f))?;
    }
    writeln!(out, "{}", summary_line(ctx.command, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_and_line_breaks_only() {
        assert_eq!(escape_data("100% a:b,c\r\nd"), "100%25 a:b,c%0D%0Ad");
        // `%` first, so an escape is never escaped twice or mistaken for one.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("C:\\a,b%\n"), "C%3A\\a%2Cb%25%0A");
        assert_eq!(escape_property("%3A"), "%253A");
    }

    #[test]
    fn notes_are_notices_and_locations_are_optional() {
        let mut f = Finding::new(&crate::probe::checks::BK723, "no file: here, 50%");
        f.severity = Severity::Note;
        assert_eq!(
            annotation(&f),
            "::notice title=BK723 endpoint-not-probed::no file: here, 50%25"
        );
    }
}
