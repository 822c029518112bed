//! `bkenv doctor`: static checks, optional live probes, optional fixes.

use crate::cli::{DoctorArgs, InputArgs, NetArgs};
use crate::diag::Finding;
use crate::doctor::{self, DoctorInputs, FileEdit, Snapshot, live};
use crate::error::{Error, Result};
use crate::output::{MODE_PUBLIC, Writer};
use crate::{ExitStatus, probe};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use time::OffsetDateTime;

pub fn run(args: DoctorArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let probe = args.probe.then_some(&args.net);
    let (mut findings, snap) = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?;
    if args.fix {
        let fixable: Vec<Finding> = findings.iter().filter(|f| f.fixable).cloned().collect();
        let edits = doctor::fix(&snap, &fixable, now).map_err(|e| Error::Other(e.to_string()))?;
        apply_fixes(&args.dir, &edits, out)?;
        if !edits.is_empty() {
            findings = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?.0;
        }
    }
    super::emit_findings("doctor", &args.report, findings, out)
}

/// Loads the environment, adds `extra` references (preflight's build at hand), runs the
/// checks and, with `probe`, the live probes. Probe findings point at the line that
/// declares the endpoint.
pub fn diagnose(
    dir: &Path,
    inputs: &InputArgs,
    extra: Vec<doctor::model::RefFile>,
    probe: Option<&NetArgs>,
    now: OffsetDateTime,
) -> Result<(Vec<Finding>, Snapshot)> {
    if !dir.is_dir() {
        return Err(Error::Other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let inputs = DoctorInputs {
        buildkitd_config: inputs.buildkitd_config.clone(),
        compose: inputs.compose.clone(),
        docker_config: inputs.docker_config.clone(),
        registry_config: inputs.registry_config.clone(),
        htpasswd: inputs.htpasswd.clone(),
        env_file: inputs.env_file.clone(),
        path_env: std::env::var_os("PATH"),
    };
    let mut snap = doctor::load::load(dir, &inputs);
    snap.refs.extend(extra);
    let mut findings = doctor::check(&snap, now);
    if let Some(net) = probe {
        let resolve = super::probe::parse_resolve(net)?;
        let plan = live::plan(&snap, &resolve);
        let signer = live::signer(&snap);
        let reports = probe::probe_all(&plan.endpoints, &super::probe::options(net)?, &signer);
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
    Ok((findings, snap))
}

fn apply_fixes(dir: &Path, edits: &[FileEdit], out: &mut dyn Write) -> Result<()> {
    let mut writer = Writer::new();
    for edit in edits {
        let path = dir.join(edit.path());
        match edit {
            FileEdit::Write { new_contents, .. } => {
                // Keep the file's own mode: config.json stays 0600.
                let mode = std::fs::metadata(&path)
                    .map_or(MODE_PUBLIC, |m| m.permissions().mode() & 0o777);
                writer.write(&path, new_contents.as_bytes(), mode)?;
            }
            FileEdit::Chmod { mode, .. } => writer.restrict_mode(&path, *mode)?,
        }
        super::emit(out, &format!("fixed: {}\n", edit.path().display()))?;
    }
    Ok(())
}
