//! `bkenv rotate-ca [--finish | --drop-old]`.

use crate::cli::{OutputFormat, RotateCaArgs};
use crate::error::Result;
use crate::rotation::{self, Step};
use crate::{ExitStatus, hosttrust, outcome};
use std::io::Write;

pub(crate) fn run(args: &RotateCaArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let step = match (args.finish, args.drop_old) {
        (true, _) => Step::Finish,
        (_, true) => Step::DropOld,
        _ => Step::Start,
    };
    crate::spec::environment_of(&args.dir)?;
    let opts = super::env_options(&args.dir);
    let rng = ring::rand::SystemRandom::new();
    let mut writer = super::env_writer(&args.dir);
    let shown = args.dir.display().to_string();
    let o = rotation::run(
        step,
        &opts,
        &rng,
        &|k| std::env::var(k).ok(),
        &mut writer,
        &shown,
    )?;
    // Only when what `trust install` put on this machine no longer matches.
    let host_trust = hosttrust::installed_is_current(&args.dir)? == Some(false);
    let text = match args.format {
        OutputFormat::Human => outcome::rotate_human(&o, host_trust),
        OutputFormat::Json => outcome::rotate_json(&o, host_trust),
    };
    super::emit(out, &text)?;
    Ok(ExitStatus::Clean)
}
