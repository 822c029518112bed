//! `bkenv doctor`: static checks, optional live probes, optional fixes.

use crate::ExitStatus;
use crate::cli::{DoctorArgs, InputArgs};
use crate::doctor::{self, DoctorInputs};
use crate::error::Result;
use crate::output::Writer;
use std::io::Write;
use time::OffsetDateTime;

pub(crate) fn run(args: DoctorArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let inputs = inputs(&args.inputs);
    let probing = args.probe.then(|| args.net.probing());
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
    let diagnose = || doctor::diagnose(&args.dir, &inputs, &[], probing.as_ref(), now);
    let mut findings = diagnose()?.findings;
    if args.fix {
        // Findings silenced with -A are not fixed.
        let overrides = super::overrides(&args.report)?;
        let changed = doctor::fix::apply(
            &args.dir,
            &inputs,
            now,
            &|f| overrides.apply(f),
            // As root on a user's environment, fixed files stay the user's.
            &mut Writer::for_env(&args.dir),
        )?;
        for path in &changed {
            super::emit(out, &format!("fixed: {}\n", path.display()))?;
        }
        if !changed.is_empty() {
            findings = diagnose()?.findings;
        }
    }
    super::emit_findings("doctor", &args.report, findings, out)
}

/// The explicit files of the command line, and PATH for credential helpers.
pub(crate) fn inputs(inputs: &InputArgs) -> DoctorInputs {
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
