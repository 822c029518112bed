//! `bkenv completions SHELL`: a completion script generated from the clap definition.

use crate::ExitStatus;
use crate::cli::CompletionsArgs;
use crate::error::{Error, Result};
use std::io::Write;

pub fn run(args: &CompletionsArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::cli::command(), "bkenv", &mut script);
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "stdout", e))?;
    Ok(ExitStatus::Clean)
}
