//! `bkenv doctor`: static checks, optional live probes, optional fixes.

use crate::ExitStatus;
use crate::cli::{DoctorArgs, InputArgs};
use crate::doctor::{self, DoctorInputs};
use crate::error::{Error, Result};
use crate::output::Writer;
use std::io::Write;
use std::path::PathBuf;
use time::OffsetDateTime;

pub(crate) fn run(args: DoctorArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let mut inputs = inputs(&args.inputs)?;
    inputs.host = args.host.as_ref().map(|root| doctor::host::HostOptions {
        root: std::path::absolute(root).unwrap_or_else(|_| root.clone()),
        home: std::env::var_os("HOME").map(PathBuf::from),
        xdg_config_home: std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
    });
    let base = super::path_base(&args.dir);
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
            super::emit(out, &format!("fixed: {}\n", base.display(path).display()))?;
        }
        if !changed.is_empty() {
            findings = diagnose()?.findings;
        }
    }
    super::emit_findings("doctor", &args.report, findings, &base, &[], out)
}

/// The explicit files of the command line, resolved against the working directory as
/// any command-line path is (not against DIR), and PATH for credential helpers. A named
/// file that does not exist is an error (exit 2): checking the discovered one instead, or
/// nothing, would answer a question the user did not ask.
pub(crate) fn inputs(inputs: &InputArgs) -> Result<DoctorInputs> {
    let cwd = std::env::current_dir().ok();
    let resolve = |flag: &'static str, p: &Option<PathBuf>| -> Result<Option<PathBuf>> {
        let Some(p) = p else { return Ok(None) };
        match std::fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingInput {
                flag,
                path: p.clone(),
                cwd: cwd.clone(),
            }),
            // Anything else (a dangling link, no permission) is doctor's BK900 to report.
            _ => Ok(Some(std::path::absolute(p).unwrap_or_else(|_| p.clone()))),
        }
    };
    Ok(DoctorInputs {
        buildkitd_config: resolve("--buildkitd-config", &inputs.buildkitd_config)?,
        compose: resolve("--compose", &inputs.compose)?,
        docker_config: resolve("--docker-config", &inputs.docker_config)?,
        registry_config: resolve("--registry-config", &inputs.registry_config)?,
        htpasswd: resolve("--htpasswd", &inputs.htpasswd)?,
        env_file: resolve("--env-file", &inputs.env_file)?,
        path_env: std::env::var_os("PATH"),
        compose_project_name: std::env::var("COMPOSE_PROJECT_NAME").ok(),
        host: None,
    })
}
