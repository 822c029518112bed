//! `bkenv renew`: reissue the leaf certificates that are due, then name the restarts.
//!
//! A renewal is `init` with a chosen window ([`crate::init::Renewal`]): the same names,
//! the spec's key type, a new key (or, with `--keep-key`, a certificate for the key on
//! disk), each key written before its certificate so the two are only ever seen as a
//! pair; a key or certificate you supplied is treated as `init` treats it. buildkitd and
//! the registry load certificates once, at start, so the result names the services
//! whose files changed and the command that restarts them ([`crate::restart`]).

use crate::error::Result;
use crate::init::{self, InitOptions, InitOutcome};
use crate::output::Writer;
use crate::restart;
use ring::rand::SecureRandom;

/// What a renewal did (or, with `dry_run`, would do).
#[derive(Debug)]
pub struct RenewOutcome {
    pub init: InitOutcome,
    pub restart: restart::Plan,
}

/// Renews under the environment lock (none for a dry run, which writes nothing).
/// `shown` is the directory as the user named it, for the restart command.
pub fn run(
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    env_var: &dyn Fn(&str) -> Option<String>,
    writer: &mut Writer,
    shown: &str,
) -> Result<RenewOutcome> {
    // A bad spec is refused before the lock is taken.
    init::environment(opts)?;
    let (_lock, notes) = if opts.dry_run {
        (None, Vec::new())
    } else {
        let (lock, notes) = init::lock(opts, "renew", writer)?;
        (Some(lock), notes)
    };
    let init = init::run_locked(opts, rng, env_var, writer, notes)?;
    let restart = restart::after(&init.env, &opts.dir, shown, &init.applied);
    Ok(RenewOutcome { init, restart })
}
