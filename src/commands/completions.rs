//! `bkenv completions SHELL`: a completion script generated from the clap definition.

use crate::ExitStatus;
use crate::cli::CompletionsArgs;
use crate::error::Result;
use std::io::Write;

pub(crate) fn run(args: &CompletionsArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::cli::command(), "bkenv", &mut script);
    // clap_complete writes UTF-8 (the definition's strings).
    super::emit(out, &String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Clean)
}
