//! `bkenv doctor`'s static engine: discover the environment's files, parse them with
//! locations, resolve the container view and run the check catalog.
//!
//! Only [`load`] does I/O; the checks are pure functions of the [`Snapshot`] and `now`.

pub mod checks;
pub mod discover;
pub mod envs;
pub mod fix;
pub mod live;
pub mod load;
pub mod model;
pub mod paths;
pub mod refs;
pub mod source;
pub mod view;
mod volumes;

use crate::diag::Finding;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub use fix::{FileEdit, FixError, fix};
pub use load::Snapshot;

/// Explicit paths that replace discovery for one kind of file.
#[derive(Debug, Clone, Default)]
pub struct DoctorInputs {
    pub buildkitd_config: Option<PathBuf>,
    pub compose: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub registry_config: Option<PathBuf>,
    pub htpasswd: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// PATH to search for credential helpers (defaults to the process's PATH).
    pub path_env: Option<OsString>,
}

/// What doctor found, plus the parsed environment for live probes.
#[derive(Debug)]
pub struct DoctorReport {
    /// Findings sorted by file, line, column and code.
    pub findings: Vec<Finding>,
    /// One snapshot per environment ([`envs::split`]).
    pub environments: Vec<Snapshot>,
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0} does not exist or is not a directory")]
    NoRoot(PathBuf),
    #[error("cannot read the directory {0}: {1}")]
    Unreadable(PathBuf, #[source] std::io::Error),
}

/// Runs doctor on the environment at `root`.
pub fn run(
    root: &Path,
    inputs: &DoctorInputs,
    now: OffsetDateTime,
) -> Result<DoctorReport, DoctorError> {
    if !root.is_dir() {
        return Err(DoctorError::NoRoot(root.to_path_buf()));
    }
    if let Err(e) = std::fs::read_dir(root) {
        return Err(DoctorError::Unreadable(root.to_path_buf(), e));
    }
    let environments = load::load(root, inputs);
    let findings = check_all(&environments, now);
    Ok(DoctorReport {
        findings,
        environments,
    })
}

/// Runs the checks on one loaded environment; findings are sorted.
pub fn check(snapshot: &Snapshot, now: OffsetDateTime) -> Vec<Finding> {
    check_all(std::slice::from_ref(snapshot), now)
}

/// Runs the checks on every environment of a tree; findings are sorted, and a finding
/// two environments share (a file both mount) is reported once.
pub fn check_all(environments: &[Snapshot], now: OffsetDateTime) -> Vec<Finding> {
    let mut findings: Vec<Finding> = environments
        .iter()
        .flat_map(|s| checks::run_all(&checks::Ctx::new(s, now)))
        .collect();
    // The message is part of the key so that identical findings end up adjacent and
    // `dedup` removes every repeat.
    findings.sort_by(|a, b| {
        let key = |f: &Finding| {
            let loc = f.location.as_ref();
            (
                loc.map(|l| l.path.clone()),
                loc.and_then(|l| l.span).map(|s| (s.line, s.column)),
                f.code,
                f.message.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    findings.dedup();
    findings
}
