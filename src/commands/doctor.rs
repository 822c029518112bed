//! `bkenv doctor`: static checks, optional live probes, optional fixes.

use crate::cli::{DoctorArgs, InputArgs, NetArgs};
use crate::diag::Finding;
use crate::doctor::{self, DoctorInputs, FileEdit, Snapshot, live};
use crate::error::{Error, Result};
use crate::output::{MODE_PUBLIC, Writer};
use crate::{ExitStatus, probe};
use rustls_pki_types::CertificateDer;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use time::OffsetDateTime;

pub fn run(args: DoctorArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let probe = args.probe.then_some(&args.net);
    // `--fix` writes: it holds the environment lock from its first read to its last write.
    let _lock = if args.fix {
        let holder = crate::lock::Holder {
            command: "doctor --fix",
            started: now,
        };
        let owner = crate::safefs::Owners::hand_over(&args.dir);
        Some(crate::lock::EnvLock::acquire(
            &args.dir,
            &holder,
            super::lock_wait(),
            owner,
        )?)
    } else {
        None
    };
    let (mut findings, envs) = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?;
    if args.fix {
        let fixable: Vec<Finding> = findings.iter().filter(|f| f.fixable).cloned().collect();
        let edits = doctor::fix(&envs, &fixable, now).map_err(|e| Error::Other(e.to_string()))?;
        apply_fixes(&args.dir, &edits, out)?;
        if !edits.is_empty() {
            findings = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?.0;
        }
    }
    super::emit_findings("doctor", &args.report, findings, out)
}

/// Loads the tree's environments, adds `extra` references (preflight's build at hand)
/// to each, runs the checks and, with `probe`, the live probes. Probe findings point at
/// the line that declares the endpoint.
pub fn diagnose(
    dir: &Path,
    inputs: &InputArgs,
    extra: Vec<doctor::model::RefFile>,
    probe: Option<&NetArgs>,
    now: OffsetDateTime,
) -> Result<(Vec<Finding>, Vec<Snapshot>)> {
    if !dir.is_dir() {
        return Err(Error::Other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    // A directory that cannot be listed is bkenv unable to run (exit 2), not a finding.
    std::fs::read_dir(dir).map_err(|e| Error::io("read the directory", dir, e))?;
    let inputs = DoctorInputs {
        buildkitd_config: inputs.buildkitd_config.clone(),
        compose: inputs.compose.clone(),
        docker_config: inputs.docker_config.clone(),
        registry_config: inputs.registry_config.clone(),
        htpasswd: inputs.htpasswd.clone(),
        env_file: inputs.env_file.clone(),
        path_env: std::env::var_os("PATH"),
    };
    let mut envs = doctor::load::load(dir, &inputs);
    for env in &mut envs {
        env.refs.extend(extra.iter().cloned());
    }
    let mut findings = doctor::check_all(&envs, now);
    if let Some(net) = probe {
        let resolve = super::probe::parse_resolve(net)?;
        let options = super::probe::options(net)?;
        // Every environment's endpoints in one concurrent run: the slowest dead endpoint,
        // not the sum of them, bounds the wait.
        let mut plan = live::Plan::default();
        for env in &envs {
            plan.extend(live::plan(env, &resolve));
        }
        let signers: Vec<_> = envs.iter().map(live::signer).collect();
        let signer = |chain: &[CertificateDer<'_>]| signers.iter().find_map(|s| s(chain));
        let reports = probe::probe_all(&plan.endpoints, &options, &signer);
        let mut found = plan.skipped;
        for (report, at) in reports.into_iter().zip(plan.declared_at) {
            found.extend(report.findings.into_iter().map(|mut f| {
                if f.location.is_none() {
                    f.location.clone_from(&at);
                }
                f
            }));
        }
        findings = live::merge(findings, found);
    }
    Ok((findings, envs))
}

fn apply_fixes(dir: &Path, edits: &[FileEdit], out: &mut dyn Write) -> Result<()> {
    // As root on a user's environment, fixed files stay the user's.
    let mut writer = Writer::for_env(dir);
    for edit in edits {
        let path = dir.join(edit.path());
        match edit {
            FileEdit::Write { new_contents, .. } => {
                // Keep the file's own mode: config.json stays 0600.
                let mode = std::fs::metadata(&path)
                    .map_or(MODE_PUBLIC, |m| m.permissions().mode() & 0o777);
                // An explicit input may be a link (`--docker-config` to a dotfiles
                // repository): the file it points at is fixed and the link stays.
                writer.write_through(&path, new_contents.as_bytes(), mode)?;
            }
            FileEdit::Chmod { mode, .. } => writer.restrict_mode(&path, *mode)?,
        }
        super::emit(out, &format!("fixed: {}\n", edit.path().display()))?;
    }
    Ok(())
}
