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
pub(crate) mod renew;
pub(crate) mod rotate;
pub(crate) mod status;
pub(crate) mod trust;

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

/// The writer for the environment at `dir`. Crash-safety tests make the N+1th write
/// fail with `BKENV_FAIL_AFTER_WRITES=N`; see ARCHITECTURE.md.
pub(crate) fn env_writer(dir: &std::path::Path) -> crate::output::Writer {
    let mut writer = crate::output::Writer::for_env(dir);
    writer.fail_after = std::env::var("BKENV_FAIL_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse().ok());
    writer
}

/// Options for a command that runs `init`'s pipeline on the environment at `dir`
/// without changing its spec: the clock, the uid and the lock wait are read here.
pub(crate) fn env_options(dir: &std::path::Path) -> crate::init::InitOptions {
    crate::init::InitOptions {
        dir: dir.to_path_buf(),
        overrides: crate::spec::Overrides::default(),
        new_ca: false,
        force: false,
        dry_run: false,
        now: time::OffsetDateTime::now_utc(),
        uid: crate::safefs::euid(),
        lock_wait: lock_wait(),
        renewal: crate::init::Renewal::default(),
    }
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

/// Report paths resolve from the working directory, whatever DIR was checked.
pub(crate) fn path_base(dir: &std::path::Path) -> crate::report::base::PathBase {
    crate::report::base::PathBase::new(dir, std::env::current_dir().ok())
}

/// Applies `-A/-W/-D`, rebases paths onto the working directory (`pseudo` sources are
/// not files and keep their names), renders the findings in the chosen format to stdout or to
/// `--output FILE` (then stdout gets a one-line summary), and returns the exit status.
pub(crate) fn emit_findings(
    command: &str,
    args: &crate::cli::ReportArgs,
    findings: Vec<crate::diag::Finding>,
    base: &crate::report::base::PathBase,
    pseudo: &[&std::path::Path],
    out: &mut dyn Write,
) -> Result<crate::ExitStatus, Error> {
    use crate::report::{self, Format, RenderCtx};
    let overrides = overrides(args)?;
    let mut findings = overrides.apply(findings);
    base.rebase(&mut findings, pseudo);
    let format = args
        .format
        .unwrap_or_else(|| report::default_format(&|k| std::env::var(k).ok()));
    let to_file = args.output.is_some();
    let base_uri = base.cwd_uri();
    let ctx = RenderCtx {
        command,
        tool_version: env!("CARGO_PKG_VERSION"),
        color: !to_file && format == Format::Human && report::stdout_color(),
        base_uri: base_uri.as_deref(),
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
