//! Why host trust was not changed (apart from the module, so `crate::error` can hold
//! it without depending on the installer).

use std::path::PathBuf;

/// Why host trust was not changed.
#[derive(Debug, thiserror::Error)]
pub enum HostTrustError {
    #[error(
        "host trust is changed only with your consent: re-run with --yes (stdin is not a terminal, so bkenv \
         cannot ask); nothing was changed"
    )]
    NoConsent,
    #[error("not confirmed; nothing was changed")]
    NotConfirmed,
    #[error("update-ca-certificates is not installed")]
    NoRefresher,
    #[error("{} did not finish within {}s; run it by hand", .program.display(), .seconds)]
    RefreshTimedOut { program: PathBuf, seconds: u64 },
    #[error("{} failed ({status}): {output}", .program.display())]
    RefreshFailed {
        program: PathBuf,
        status: std::process::ExitStatus,
        output: String,
    },
}
