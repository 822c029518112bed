//! Failures of bkenv itself (exit code 2). Problems found in an environment are
//! [`crate::diag::Finding`]s, not errors.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },

    #[error("invalid spec: {field}: {message}")]
    Invalid { field: String, message: String },

    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),

    #[error(transparent)]
    Fix(#[from] crate::doctor::FixError),

    /// A file named by a flag (`--compose`, ...) does not exist.
    #[error("{flag} {}: no such file (paths given on the command line are relative to the working directory{})", path.display(), cwd.as_ref().map(|c| format!(", {}", c.display())).unwrap_or_default())]
    MissingInput {
        flag: &'static str,
        path: PathBuf,
        cwd: Option<PathBuf>,
    },

    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },

    #[error(transparent)]
    Rotation(#[from] crate::rotation::state::RotationError),

    #[error(transparent)]
    HostTrust(#[from] crate::hosttrust::error::HostTrustError),

    /// `BKENV_FAIL_AFTER_WRITES` stopped a write (crash-safety tests).
    #[error("injected failure before {action} {}", path.display())]
    InjectedFailure { action: &'static str, path: PathBuf },

    #[error("the system random source failed")]
    Random,

    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },

    #[error("registry key {name}: {source}")]
    TomlKey {
        name: String,
        #[source]
        source: toml_edit::TomlError,
    },

    #[error("bcrypt: {0}")]
    Bcrypt(#[source] bcrypt::BcryptError),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    #[error("{}: not valid JSON: {source}", path.display())]
    DockerConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{}: {source}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },

    #[error("{}: no PEM certificate in it", .0.display())]
    NoCertificate(PathBuf),

    #[error(transparent)]
    Doctor(#[from] crate::doctor::DoctorError),

    #[error(transparent)]
    Levels(#[from] crate::report::OverrideError),

    #[error(transparent)]
    Explain(#[from] crate::report::explain::ExplainError),
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What `main` prints for a failure: the error, then each cause that adds something.
/// A cause whose text the lines above already say (a message that embeds its source,
/// as `could not read X: Permission denied` does) is not repeated, so each fact is
/// said once.
pub fn render(err: &dyn std::error::Error) -> String {
    let mut out = format!("error: {err}\n");
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fact_is_said_once() {
        let rsa = Error::from(crate::pki::PkiError::RsaUnsupported);
        let text = render(&rsa);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("error: RSA key generation is unsupported"),
            "{text}"
        );
        let io = Error::io(
            "read",
            "/x/bkenv.toml",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        let text = render(&io);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("could not read /x/bkenv.toml: permission denied"),
            "{text}"
        );
    }

    /// A cause that adds something is still shown.
    #[test]
    fn a_cause_with_news_is_kept() {
        #[derive(Debug, thiserror::Error)]
        #[error("could not start")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(
            render(&e),
            "error: could not start\n  caused by: disk full\n"
        );
    }
}
