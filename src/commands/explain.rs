//! `bkenv explain CODE` and `bkenv explain --all`.

use crate::ExitStatus;
use crate::cli::ExplainArgs;
use crate::error::{Error, Result};
use crate::report::explain;
use std::io::Write;

pub(crate) fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    if args.all {
        explain::explain_all(out, args.json).map_err(|e| Error::io("write", "stdout", e))?;
    } else {
        let code = args.code.as_deref().unwrap_or_default();
        explain::explain(code, out, args.json)?;
    }
    Ok(ExitStatus::Clean)
}
