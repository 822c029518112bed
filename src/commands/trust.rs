//! `bkenv trust install|uninstall`: host trust changes only with the user's consent
//! (`--yes`, or an answer on a terminal), never silently.

use crate::cli::{OutputFormat, TrustAction, TrustArgs, TrustInstallArgs, TrustUninstallArgs};
use crate::error::{Error, Result};
use crate::hosttrust::{self, HostTrustError, InstallOptions};
use crate::{ExitStatus, outcome, spec};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// How long `update-ca-certificates` may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn run(args: &TrustArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    match &args.action {
        TrustAction::Install(a) => install(a, out),
        TrustAction::Uninstall(a) => uninstall(a, out),
    }
}

fn install(args: &TrustInstallArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let env = spec::environment_of(&args.dir)?;
    let opts = InstallOptions {
        root: args.root.clone(),
        targets: args.targets.clone(),
        allow_unconstrained: args.allow_unconstrained,
    };
    let human = args.format == OutputFormat::Human;
    let plan = hosttrust::plan_install(&args.dir, &env, &opts)?;
    if human {
        super::emit(out, &outcome::trust_plan_human(&plan))?;
    }
    if let Some((path, why)) = plan.conflicts.first() {
        return Err(Error::Refused {
            path: path.clone(),
            message: format!("{why}; nothing was installed"),
        });
    }
    let pending = plan.files.iter().any(|f| !f.unchanged) || !plan.stale.is_empty();
    if args.dry_run || !pending {
        if !human {
            super::emit(out, &outcome::trust_json(Some(&plan), None, None))?;
        }
        return Ok(ExitStatus::Clean);
    }
    consent(args.yes, "Install these files?", out)?;
    let mut writer = super::env_writer(&args.dir);
    let lock_opts = super::env_options(&args.dir);
    let (_lock, _) = crate::init::lock(&lock_opts, "trust install", &mut writer)?;
    // Planned again under the lock: another run may have changed the record since.
    let plan = hosttrust::plan_install(&args.dir, &env, &opts)?;
    let applied = hosttrust::install(&args.dir, &plan, &mut writer).map_err(needs_root)?;
    let refreshed = refresh(applied.refresh && args.root == std::path::Path::new("/"))?;
    let text = if human {
        outcome::trust_applied_human(&applied, refreshed.as_deref())
    } else {
        outcome::trust_json(Some(&plan), None, Some(&applied))
    };
    super::emit(out, &text)?;
    Ok(ExitStatus::Clean)
}

fn uninstall(args: &TrustUninstallArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let human = args.format == OutputFormat::Human;
    let plan = hosttrust::plan_uninstall(&args.dir)?;
    if human {
        super::emit(out, &outcome::uninstall_plan_human(&plan))?;
    }
    let pending = !plan.remove.is_empty() || !plan.changed.is_empty() || !plan.gone.is_empty();
    if args.dry_run || !pending {
        if !human {
            super::emit(out, &outcome::trust_json(None, Some(&plan), None))?;
        }
        return Ok(ExitStatus::Clean);
    }
    consent(args.yes, "Remove these files?", out)?;
    let mut writer = super::env_writer(&args.dir);
    let lock_opts = super::env_options(&args.dir);
    let (_lock, _) = crate::init::lock(&lock_opts, "trust uninstall", &mut writer)?;
    let applied = hosttrust::uninstall(&args.dir, &mut writer).map_err(needs_root)?;
    let refreshed = refresh(applied.refresh)?;
    let text = if human {
        outcome::trust_applied_human(&applied, refreshed.as_deref())
    } else {
        outcome::trust_json(None, Some(&plan), Some(&applied))
    };
    super::emit(out, &text)?;
    Ok(ExitStatus::Clean)
}

/// The host's trust directories belong to root: say how to get there.
fn needs_root(e: Error) -> Error {
    match e {
        Error::Io { path, source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::Refused {
                path,
                message: format!(
                    "{source}: the host's trust directories belong to root; run it with sudo (the record in \
                     .bkenv stays yours). What was written so far is recorded, so a later run completes or undoes it"
                ),
            }
        }
        other => other,
    }
}

/// `--yes`, or `y` typed on a terminal; anything else changes nothing.
fn consent(yes: bool, question: &str, out: &mut dyn Write) -> Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(HostTrustError::NoConsent.into());
    }
    super::emit(out, &format!("{question} [y/N] "))?;
    out.flush().map_err(|e| Error::io("write", "stdout", e))?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("read", "stdin", e))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(HostTrustError::NotConfirmed.into())
    }
}

/// Runs `update-ca-certificates` when the system store changed.
fn refresh(needed: bool) -> Result<Option<String>> {
    if !needed {
        return Ok(None);
    }
    hosttrust::refresh_system_store(REFRESH_TIMEOUT).map(Some)
}
