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

    #[error("{0}")]
    Pki(#[from] crate::pki::PkiError),

    #[error("{0}")]
    Fix(#[from] crate::doctor::FixError),

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
