//! One file per subcommand: turn clap values into library calls and print the result.
//! The clock, the OS random source and the process environment are read here and
//! nowhere else.

pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod explain;
pub(crate) mod init;
pub(crate) mod man;
pub(crate) mod preflight;
pub(crate) mod probe;

use crate::error::Error;
use std::io::Write;

/// How long a writing command waits for another holding the environment lock:
/// `BKENV_LOCK_WAIT` seconds, else [`crate::lock::DEFAULT_WAIT`].
pub(crate) fn lock_wait() -> std::time::Duration {
    std::env::var("BKENV_LOCK_WAIT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .map_or(
            crate::lock::DEFAULT_WAIT,
            std::time::Duration::from_secs_f64,
        )
}

/// Writes to stdout, mapping a failure (including a closed pipe) to an error `main` handles.
pub(crate) fn emit(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("write", "stdout", e))
}

/// The `-A/-W/-D` flags of a run.
pub(crate) fn overrides(
    args: &crate::cli::ReportArgs,
) -> Result<crate::report::LevelOverrides, Error> {
    Ok(crate::report::LevelOverrides::from_flags(
        args.levels.iter().map(|(l, s)| (*l, s.as_str())),
    )?)
}

/// Applies `-A/-W/-D`, renders the findings in the chosen format to stdout or to
/// `--output FILE` (then stdout gets a one-line summary), and returns the exit status.
pub(crate) fn emit_findings(
    command: &str,
    args: &crate::cli::ReportArgs,
    findings: Vec<crate::diag::Finding>,
    out: &mut dyn Write,
) -> Result<crate::ExitStatus, Error> {
    use crate::report::{self, Format, RenderCtx};
    let overrides = overrides(args)?;
    let findings = overrides.apply(findings);
    let format = args
        .format
        .unwrap_or_else(|| report::default_format(&|k| std::env::var(k).ok()));
    let to_file = args.output.is_some();
    let ctx = RenderCtx {
        command,
        tool_version: env!("CARGO_PKG_VERSION"),
        color: !to_file && format == Format::Human && report::stdout_color(),
    };
    let io = |e| Error::io("write", "stdout", e);
    match &args.output {
        Some(path) => {
            let mut buf = Vec::new();
            report::render(format, &findings, &ctx, &mut buf).map_err(io)?;
            // `/dev/stdout`, `/dev/null` or a pipe is written to, never replaced.
            crate::output::Writer::new().write_through(path, &buf, crate::output::MODE_PUBLIC)?;
            let line = format!(
                "{} (report: {})\n",
                report::summary_line(command, &findings),
                path.display()
            );
            emit(out, &line)?;
        }
        None => report::render(format, &findings, &ctx, out).map_err(io)?,
    }
    out.flush().map_err(io)?;
    Ok(report::levels::exit_for(&findings))
}
