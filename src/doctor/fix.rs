//! `--fix`: mechanical, format-preserving edits. Returns edits; never writes.

use super::load::Snapshot;
use crate::diag::Finding;
use std::path::PathBuf;

/// One change to one file, relative to the environment root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEdit {
    /// Replace the file's contents.
    Write { path: PathBuf, new_contents: String },
    /// Change the file's Unix permission bits.
    Chmod { path: PathBuf, mode: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("{0} does not parse; refusing to edit it")]
    Unparseable(PathBuf),
}

/// The edits that repair the fixable `findings`.
pub fn fix(_snap: &Snapshot, _findings: &[Finding]) -> Result<Vec<FileEdit>, FixError> {
    Ok(Vec::new())
}
