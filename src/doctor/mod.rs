//! `bkenv doctor`'s static engine: discover the environment's files, parse them with
//! locations, resolve the container view and run the check catalog.
//!
//! Only [`load`] does I/O; the checks are pure functions of the [`Snapshot`] and `now`.

mod bake;
pub(crate) mod checks;
mod daemon_files;
pub mod discover;
mod envs;
pub mod fix;
pub mod host;
pub(crate) mod live;
pub mod load;
pub mod parsed;
pub mod paths;
pub mod refs;
pub(crate) mod registry_tables;
pub mod snapshot;
pub mod source;
mod user;
pub(crate) mod view;
mod volumes;

use crate::diag::Finding;
use crate::probe::checks::BK701;
use crate::probe::{ProbeOptions, Resolve};
use parsed::RefFile;
use rustls_pki_types::CertificateDer;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub use fix::FixError;
pub use snapshot::Snapshot;

/// Explicit paths that replace discovery for one kind of file. A relative path is taken
/// from the checked directory; the CLI passes absolute ones, resolved from the working
/// directory as command-line paths are.
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
    /// `COMPOSE_PROJECT_NAME` of the process, which names the compose project (and its
    /// network) before `.env` does, as Compose reads it.
    pub compose_project_name: Option<String>,
    /// `--host`: check the buildkitd installed on this machine instead of a tree.
    pub host: Option<host::HostOptions>,
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
    #[error("{} is not a directory", .0.display())]
    NoRoot(PathBuf),
    #[error("cannot read the directory {0}: {1}")]
    Unreadable(PathBuf, #[source] std::io::Error),
}

/// How `--probe` reaches the endpoints an environment names.
#[derive(Debug, Clone, Default)]
pub struct Probing {
    /// `--resolve` mappings.
    pub resolve: Vec<Resolve>,
    pub options: ProbeOptions,
}

/// The static checks of the tree at `root` (doctor without `--probe`).
pub fn run(
    root: &Path,
    inputs: &DoctorInputs,
    now: OffsetDateTime,
) -> Result<DoctorReport, DoctorError> {
    diagnose(root, inputs, &[], None, now)
}

/// The doctor pipeline, shared by `doctor` and `preflight`: loads every environment of
/// the tree at `root`, adds the `extra` references (preflight's build at hand) to each,
/// runs the static checks and, with `probe`, the live probes of every environment in one
/// concurrent run (the slowest dead endpoint, not their sum, bounds the wait). A probe
/// finding without a place of its own points at the line that declares the endpoint,
/// and replaces its static twin there ([`live::merge`]).
pub fn diagnose(
    root: &Path,
    inputs: &DoctorInputs,
    extra: &[RefFile],
    probe: Option<&Probing>,
    now: OffsetDateTime,
) -> Result<DoctorReport, DoctorError> {
    let mut environments = match &inputs.host {
        Some(opts) => vec![host_snapshot(opts)],
        None => {
            if !root.is_dir() {
                return Err(DoctorError::NoRoot(root.to_path_buf()));
            }
            if let Err(e) = std::fs::read_dir(root) {
                return Err(DoctorError::Unreadable(root.to_path_buf(), e));
            }
            load::load(root, inputs)
        }
    };
    // The build at hand (preflight's `--dockerfile`, `--image`) is checked against an
    // environment; with none found, BK902 says so rather than check it alone.
    for env in environments.iter_mut().filter(|e| !e.is_empty()) {
        env.refs.extend(extra.iter().cloned());
    }
    let mut findings = check_all(&environments, now);
    if let Some(probing) = probe {
        let mut plan = live::Plan::default();
        for env in &environments {
            plan.extend(live::plan(env, &probing.resolve));
        }
        let signers: Vec<_> = environments.iter().map(live::signer).collect();
        let signer = |chain: &[CertificateDer<'_>]| signers.iter().find_map(|s| s(chain));
        let reports = crate::probe::probe_all(&plan.endpoints, &probing.options, &signer);
        let mut found = plan.skipped;
        for ((report, at), start) in reports
            .into_iter()
            .zip(plan.declared_at)
            .zip(plan.start_with)
        {
            found.extend(report.findings.into_iter().map(|mut f| {
                if f.location.is_none() {
                    f.location.clone_from(&at);
                }
                // Nothing accepting connections where the environment's own service
                // should be is most often an environment that is not up.
                let not_dialled = f.check == &BK701
                    && f.prevents
                        .as_deref()
                        .is_some_and(|p| p.starts_with("dial tcp"));
                if let Some(start) = start.as_ref().filter(|_| not_dialled) {
                    f.help = Some(match f.help.take() {
                        Some(h) => format!("{start}; otherwise {h}"),
                        None => start.clone(),
                    });
                }
                f
            }));
        }
        findings = live::merge(findings, found);
    }
    Ok(DoctorReport {
        findings,
        environments,
    })
}

/// The snapshot of the install on this machine: its buildkitd.toml (named by its machine
/// path) and what [`host::load`] found.
fn host_snapshot(opts: &host::HostOptions) -> Snapshot {
    let (daemon, config) = host::load(opts);
    let mut snap = Snapshot::default();
    if let Some((path, bytes)) = config {
        load::add_file(
            &mut snap,
            path,
            discover::FileKind::BuildkitdToml,
            bytes,
            None,
        );
    }
    snap.host = Some(daemon);
    snap
}

/// Runs the checks on one loaded environment; findings are sorted.
pub fn check(snapshot: &Snapshot, now: OffsetDateTime) -> Vec<Finding> {
    check_all(std::slice::from_ref(snapshot), now)
}

/// Runs the checks on every environment of a tree; findings are sorted, and a finding
/// two environments share (a file both mount) is reported once.
pub(crate) fn check_all(environments: &[Snapshot], now: OffsetDateTime) -> Vec<Finding> {
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
                f.check,
                f.message.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    findings.dedup_by(|later, first| later.same_report(first));
    findings
}
