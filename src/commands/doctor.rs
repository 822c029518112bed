//! `bkenv doctor`: static checks, optional live probes, optional fixes.

use crate::cli::{DoctorArgs, InputArgs, NetArgs};
use crate::diag::Finding;
use crate::doctor::{self, DoctorInputs, Snapshot, live};
use crate::error::{Error, Result};
use crate::output::Writer;
use crate::{ExitStatus, probe};
use rustls_pki_types::CertificateDer;
use std::io::Write;
use std::path::Path;
use time::OffsetDateTime;

pub fn run(args: DoctorArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let probe = args.probe.then_some(&args.net);
    let (mut findings, _) = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?;
    if args.fix {
        // Findings silenced with -A are not fixed.
        let overrides = super::overrides(&args.report)?;
        let changed = doctor::fix::apply(
            &args.dir,
            &inputs(&args.inputs),
            now,
            &|f| overrides.apply(f),
            &mut Writer::new(),
        )?;
        for path in &changed {
            super::emit(out, &format!("fixed: {}\n", path.display()))?;
        }
        if !changed.is_empty() {
            findings = diagnose(&args.dir, &args.inputs, Vec::new(), probe, now)?.0;
        }
    }
    super::emit_findings("doctor", &args.report, findings, out)
}

fn inputs(inputs: &InputArgs) -> DoctorInputs {
    DoctorInputs {
        buildkitd_config: inputs.buildkitd_config.clone(),
        compose: inputs.compose.clone(),
        docker_config: inputs.docker_config.clone(),
        registry_config: inputs.registry_config.clone(),
        htpasswd: inputs.htpasswd.clone(),
        env_file: inputs.env_file.clone(),
        path_env: std::env::var_os("PATH"),
    }
}

/// Loads the tree's environments, adds `extra` references (preflight's build at hand)
/// to each, runs the checks and, with `probe`, the live probes. Probe findings point at
/// the line that declares the endpoint.
pub fn diagnose(
    dir: &Path,
    inputs: &InputArgs,
    extra: Vec<doctor::parsed::RefFile>,
    probe: Option<&NetArgs>,
    now: OffsetDateTime,
) -> Result<(Vec<Finding>, Vec<Snapshot>)> {
    if !dir.is_dir() {
        return Err(Error::Other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut envs = doctor::load::load(dir, &self::inputs(inputs));
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
