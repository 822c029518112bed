//! Thin entry point: parse, run, map the result to an exit code.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = bkenv::cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match bkenv::run(cli, &mut out) {
        Ok(status) => status.into(),
        Err(bkenv::error::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let _ = out.flush();
            // anstream drops the colour unless stderr is a terminal, NO_COLOR/--color allow.
            let mut stderr = anstream::stderr().lock();
            let red = anstyle::Style::new()
                .bold()
                .fg_color(Some(anstyle::AnsiColor::Red.into()));
            let _ = writeln!(stderr, "{red}error:{red:#} {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                let _ = writeln!(stderr, "  caused by: {cause}");
                source = cause.source();
            }
            bkenv::ExitStatus::Failure.into()
        }
    }
}
