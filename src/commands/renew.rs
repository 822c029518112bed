//! `bkenv renew`.

use crate::cli::{OutputFormat, RenewArgs};
use crate::error::Result;
use crate::{ExitStatus, init, outcome, renew};
use std::io::Write;

pub(crate) fn run(args: &RenewArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let mut opts = super::env_options(&args.dir);
    opts.dry_run = args.dry_run;
    opts.renewal = init::Renewal {
        within: args.within,
        all: args.force,
        keep_keys: args.keep_key,
    };
    // No spec change and no new passwords: a renewal reads the environment as it is.
    crate::spec::environment_of(&args.dir)?;
    let rng = ring::rand::SystemRandom::new();
    let mut writer = super::env_writer(&args.dir);
    let shown = args.dir.display().to_string();
    let o = renew::run(&opts, &rng, &|k| std::env::var(k).ok(), &mut writer, &shown)?;
    let text = match args.format {
        OutputFormat::Human => outcome::renew_human(&o, args.dry_run, args.within.whole_days()),
        OutputFormat::Json => outcome::renew_json(&o, args.dry_run),
    };
    super::emit(out, &text)?;
    Ok(ExitStatus::Clean)
}
