//! `bkenv init`.

use crate::cli::InitArgs;
use crate::error::Result;
use crate::{ExitStatus, init, output, spec, summary};
use std::io::Write;

pub(crate) fn run(args: InitArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let mtls = match (args.mtls, args.no_mtls) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let opts = init::InitOptions {
        dir: args.dir.clone(),
        overrides: spec::Overrides {
            registry_names: args.registry,
            mtls,
            rootless: args.rootless.then_some(true),
            key_type: args.key_type,
            buildkit_image: None,
        },
        new_ca: args.new_ca,
        force: args.force,
        dry_run: args.dry_run,
        now: time::OffsetDateTime::now_utc(),
        uid: crate::safefs::euid(),
        lock_wait: super::lock_wait(),
    };
    let rng = ring::rand::SystemRandom::new();
    let mut writer = output::Writer::for_env(&args.dir);
    // Crash-safety tests make the N+1th write fail; see ARCHITECTURE.md.
    writer.fail_after = std::env::var("BKENV_FAIL_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse().ok());
    let outcome = init::run(&opts, &rng, &|k| std::env::var(k).ok(), &mut writer)?;
    let dir = args.dir.display().to_string();
    let text = if args.quiet {
        summary::quiet_summary(&outcome, args.show_password)
    } else {
        summary::init_summary(&outcome, &dir, args.dry_run, args.show_password, &tools())
    };
    super::emit(out, &text)?;
    Ok(ExitStatus::Clean)
}

/// Which bkenv and Compose this machine has, for the printed next steps: the process's
/// `PATH`, `HOME`, `DOCKER_CONFIG`, the running binary, and the file system.
fn tools() -> summary::Tools {
    let running = std::env::current_exe().ok();
    crate::tools::with_process(None, |l| crate::tools::detect(running.as_deref(), l))
}
