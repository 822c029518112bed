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
pub mod hosttrust;
pub mod htpasswd;
pub mod init;
pub mod lock;
pub mod model;
pub mod outcome;
pub mod output;
pub mod pki;
pub mod probe;
pub mod render;
pub mod renew;
pub mod report;
pub mod restart;
pub mod rotation;
pub mod safefs;
pub mod spec;
pub mod stamp;
pub mod status;
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
        Command::Status(args) => commands::status::run(&args, out),
        Command::Renew(args) => commands::renew::run(&args, out),
        Command::RotateCa(args) => commands::rotate::run(&args, out),
        Command::Trust(args) => commands::trust::run(&args, out),
    }
}
