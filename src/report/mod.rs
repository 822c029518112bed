//! Reports: the only place bkenv writes findings, in the format the user or the CI wants.
//!
//! Every renderer takes `&mut dyn Write` and prints only fields of [`Finding`] (plus static
//! catalog metadata), so a secret can appear in a report only if a check put it in a
//! finding, which checks never do. The exit status depends on the findings after
//! `-A/-W/-D` ([`levels`]), never on the format.

pub mod explain;
pub(crate) mod github;
pub(crate) mod gitlab;
pub(crate) mod human;
pub(crate) mod json;
pub(crate) mod levels;
pub(crate) mod sarif;

use crate::diag::{Finding, Severity};
use std::fmt;
use std::io::{self, Write};
use std::path::{Component, Path};
use std::str::FromStr;

pub use levels::{ExitStatus, Level, LevelOverrides, OverrideError, exit_for};

/// Output format of `doctor` and `preflight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// rustc/cargo-style diagnostics.
    Human,
    /// bkenv's own stable JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow-command annotations.
    Github,
    /// GitLab code-quality report.
    Gitlab,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Human,
        Format::Json,
        Format::Sarif,
        Format::Github,
        Format::Gitlab,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Gitlab => "gitlab",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--format` value that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; expected one of: human, json, sarif, github, gitlab")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// The format used when none is given: `github` inside GitHub Actions, `human` otherwise.
///
/// `env` looks up an environment variable (`|k| std::env::var(k).ok()` in main), so tests
/// need not touch the process environment.
pub(crate) fn default_format(env: &dyn Fn(&str) -> Option<String>) -> Format {
    match env("GITHUB_ACTIONS") {
        Some(v) if v == "true" => Format::Github,
        _ => Format::Human,
    }
}

/// Whether stdout should get colour: a terminal, and `NO_COLOR`/`CLICOLOR*` allow it
/// (anstream's rules, as cargo and clap use them).
pub(crate) fn stdout_color() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

/// What a renderer needs besides the findings.
#[derive(Debug, Clone, Copy)]
pub struct RenderCtx<'a> {
    /// `doctor` or `preflight`: names the command in summaries.
    pub command: &'a str,
    /// bkenv's version, for the machine formats' tool field.
    pub tool_version: &'a str,
    /// ANSI colour in the human format; decided by the caller (see [`stdout_color`]).
    pub color: bool,
}

impl Default for RenderCtx<'_> {
    fn default() -> Self {
        RenderCtx {
            command: "doctor",
            tool_version: env!("CARGO_PKG_VERSION"),
            color: false,
        }
    }
}

/// Writes `findings` (already passed through [`LevelOverrides::apply`]) as `format`.
pub fn render(
    format: Format,
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => human::render(findings, ctx, out),
        Format::Json => json::render(findings, ctx, out),
        Format::Sarif => sarif::render(findings, ctx, out),
        Format::Github => github::render(findings, ctx, out),
        Format::Gitlab => gitlab::render(findings, out),
    }
}

/// Renders and returns the exit status, which is the same whatever the format.
pub fn report(
    format: Format,
    findings: &[Finding],
    ctx: &RenderCtx<'_>,
    out: &mut dyn Write,
) -> io::Result<ExitStatus> {
    render(format, findings, ctx, out)?;
    out.flush()?;
    Ok(exit_for(findings))
}

/// Number of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl Counts {
    pub(crate) fn of(findings: &[Finding]) -> Self {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Error => c.errors += 1,
                Severity::Warning => c.warnings += 1,
                Severity::Note => c.notes += 1,
            }
        }
        c
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// One line for the terminal, e.g. `doctor: 2 errors, 1 warning; 1 fixable with --fix`.
///
/// Used at the end of the human report and, with `--output FILE`, as all the terminal gets.
pub fn summary_line(command: &str, findings: &[Finding]) -> String {
    let c = Counts::of(findings);
    let parts: Vec<String> = [
        (c.errors, "error"),
        (c.warnings, "warning"),
        (c.notes, "note"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| plural(n, w))
    .collect();
    if parts.is_empty() {
        return format!("{command}: no problems found");
    }
    let mut line = format!("{command}: {}", parts.join(", "));
    let fixable = findings.iter().filter(|f| f.fixable()).count();
    if fixable > 0 {
        let how = if command == "doctor" {
            "--fix"
        } else {
            "`bkenv doctor --fix`"
        };
        line.push_str(&format!("; {fixable} fixable with {how}"));
    }
    line
}

/// A path as reports show it: components joined with `/` on every platform.
pub(crate) fn slash_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push('/'),
            Component::Prefix(p) => out.push_str(&p.as_os_str().to_string_lossy()),
            other => {
                if !out.is_empty() && !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str(&other.as_os_str().to_string_lossy());
            }
        }
    }
    out
}

/// A stable identity for a finding across runs: SHA-256 (hex) of code, path, line and
/// message, NUL-separated. Used by GitLab (`fingerprint`) and SARIF (`partialFingerprints`).
pub(crate) fn fingerprint(f: &Finding) -> String {
    let (path, line) = match &f.location {
        Some(l) => (slash_path(&l.path), l.span.map_or(0, |s| s.line)),
        None => (String::new(), 0),
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [f.check.code, &path, &line.to_string(), &f.message] {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parses_case_insensitively() {
        assert_eq!("SARIF".parse::<Format>(), Ok(Format::Sarif));
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        let err = "xml".parse::<Format>().unwrap_err();
        assert!(
            err.to_string()
                .contains("human, json, sarif, github, gitlab")
        );
    }

    #[test]
    fn github_is_the_default_only_inside_actions() {
        let gha = |k: &str| (k == "GITHUB_ACTIONS").then(|| "true".to_string());
        assert_eq!(default_format(&gha), Format::Github);
        assert_eq!(default_format(&|_| None), Format::Human);
        let other = |_: &str| Some("false".to_string());
        assert_eq!(default_format(&other), Format::Human);
    }

    #[test]
    fn summary_counts_and_fixable() {
        let fix = crate::diag::Fix::safe([crate::diag::Edit::mode("k.pem", 0o600)]);
        let f = Finding::new(&crate::doctor::checks::meta::BK900, "x").fix(fix);
        let mut w = Finding::new(&crate::probe::checks::BK722, "y");
        w.severity = Severity::Warning;
        let all = [f.clone(), f, w];
        assert_eq!(
            summary_line("doctor", &all),
            "doctor: 2 errors, 1 warning; 2 fixable with --fix"
        );
        assert_eq!(summary_line("preflight", &all[2..]), "preflight: 1 warning");
        assert_eq!(summary_line("doctor", &[]), "doctor: no problems found");
    }

    #[test]
    fn paths_use_forward_slashes() {
        assert_eq!(slash_path(Path::new("a/./b/c.toml")), "a/b/c.toml");
        assert_eq!(slash_path(Path::new("/etc/x")), "/etc/x");
    }
}
