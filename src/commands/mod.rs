//! One file per subcommand: turn clap values into library calls and print the result.
//! The clock, the OS random source and the process environment are read here and
//! nowhere else.

pub mod explain;
pub mod init;

use crate::error::Error;
use std::io::Write;

/// Writes to stdout, mapping a failure (including a closed pipe) to an error `main` handles.
pub fn emit(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("write", "stdout", e))
}
