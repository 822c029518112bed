//! bkenv: stand up, diagnose and preflight BuildKit + private registry TLS environments.
//!
//! See ARCHITECTURE.md for the code map and the invariants between modules.

pub mod castore;
pub mod catalog;
pub mod cli;
mod commands;
pub mod creds;
pub mod diag;
pub mod doctor;
pub mod dotenv;
pub mod error;
pub mod hostport;
pub mod htpasswd;
pub mod init;
pub mod lock;
pub mod model;
pub mod output;
pub mod pki;
pub mod probe;
pub mod render;
pub mod report;
pub mod safefs;
pub mod spec;
pub mod stamp;
pub mod suggest;
pub mod summary;
pub mod tomlutil;

pub use report::levels::ExitStatus;

use cli::{Cli, Command};
use std::io::Write;

/// Runs a parsed command line. Output goes to `out`; errors are returned for `main` to print.
pub fn run(cli: Cli, out: &mut dyn Write) -> error::Result<ExitStatus> {
    match cli.command {
        Command::Init(args) => commands::init::run(args, out),
        Command::Doctor(args) => commands::doctor::run(*args, out),
        Command::Preflight(args) => commands::preflight::run(*args, out),
        Command::Probe(args) => commands::probe::run(*args, out),
        Command::Explain(args) => commands::explain::run(&args, out),
        Command::Completions(args) => commands::completions::run(&args, out),
        Command::Man(args) => commands::man::run(&args, out),
    }
}
