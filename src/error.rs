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

    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },

    #[error(transparent)]
    Rotation(#[from] crate::rotation::RotationError),

    #[error("{0}")]
    Other(String),
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
