//! `bkenv doctor`'s static engine: discover the environment's files, parse them with
//! locations, resolve the container view and run the check catalog.
//!
//! Only [`load`] does I/O; the checks are pure functions of the [`Snapshot`] and `now`.

pub mod checks;
pub mod discover;
pub mod fix;
pub mod load;
pub mod model;
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
    pub snapshot: Snapshot,
    pub endpoints: Endpoints,
}

/// The parsed facts live probes need.
#[derive(Debug, Default, Clone)]
pub struct Endpoints {
    /// `BUILDKIT_HOST` from `.env`.
    pub buildkit_host: Option<String>,
    /// Client CA for the gRPC endpoint (host path, relative to the root).
    pub buildkit_ca: Option<PathBuf>,
    /// Registries the environment uses, as `host:port` reachable from the host.
    pub registries: Vec<String>,
    /// CA files trusted per registry key of buildkitd.toml (container paths).
    pub registry_cas: Vec<(String, Vec<String>)>,
    /// `auths` keys of config.json (values are never copied).
    pub credential_keys: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0} does not exist or is not a directory")]
    NoRoot(PathBuf),
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
    let snapshot = load::load(root, inputs);
    let findings = check(&snapshot, now);
    let endpoints = endpoints(&snapshot);
    Ok(DoctorReport {
        findings,
        snapshot,
        endpoints,
    })
}

/// Runs the checks on an already loaded snapshot; findings are sorted.
pub fn check(snapshot: &Snapshot, now: OffsetDateTime) -> Vec<Finding> {
    let ctx = checks::Ctx::new(snapshot, now);
    let mut findings = checks::run_all(&ctx);
    findings.sort_by(|a, b| {
        let key = |f: &Finding| {
            let loc = f.location.as_ref();
            (
                loc.map(|l| l.path.clone()),
                loc.and_then(|l| l.span).map(|s| (s.line, s.column)),
                f.code,
            )
        };
        key(a).cmp(&key(b))
    });
    findings.dedup();
    findings
}

fn endpoints(snap: &Snapshot) -> Endpoints {
    let mut e = Endpoints {
        buildkit_host: snap.env_var("BUILDKIT_HOST").map(|(_, v, _)| v.to_string()),
        buildkit_ca: snap.env_var("BUILDKIT_TLS_CA").map(|(f, v, _)| {
            let base = f.src.path.parent().unwrap_or(Path::new(""));
            view::normalize(&base.join(v))
        }),
        ..Endpoints::default()
    };
    if let Some((_, v, _)) = snap.env_var("DOCKER_REGISTRY") {
        e.registries.push(v.to_string());
    }
    for t in &snap.buildkitd {
        let Ok(doc) = &t.doc else { continue };
        let Some(reg) = doc.get("registry").and_then(|r| r.as_table()) else {
            continue;
        };
        for (host, item) in reg.iter() {
            let cas = item
                .get("ca")
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            e.registry_cas.push((host.to_string(), cas));
        }
    }
    for c in &snap.docker_configs {
        if let Ok(v) = &c.doc
            && let Some(a) = v.get("auths").and_then(|a| a.as_object())
        {
            e.credential_keys.extend(a.keys().cloned());
        }
    }
    e
}
