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
            let _ = std::io::stderr()
                .lock()
                .write_all(bkenv::error::render(&err).as_bytes());
            bkenv::ExitStatus::Failure.into()
        }
    }
}
