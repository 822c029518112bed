//! `bkenv man [SUBCOMMAND]`: the roff page bkenv(1) or bkenv-SUBCOMMAND(1), generated from
//! the clap definition.

use crate::ExitStatus;
use crate::cli::ManArgs;
use crate::error::{Error, Result};
use std::io::Write;

pub(crate) fn run(args: &ManArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    // `build` names subcommands as the pages refer to them (`bkenv-init`, usage `bkenv init`).
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    let page = match &args.subcommand {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| Error::invalid("man SUBCOMMAND", format!("no subcommand {name}")))?,
    };
    let mut roff = Vec::new();
    // Subcommands carry no version: every page names bkenv's.
    clap_mangen::Man::new(page)
        .source(format!("bkenv {}", crate::cli::VERSION))
        .render(&mut roff)
        .map_err(|e| Error::io("render", "man page", e))?;
    // roff from clap_mangen is UTF-8 (the definition's strings).
    super::emit(out, &String::from_utf8_lossy(&roff))?;
    Ok(ExitStatus::Clean)
}
