//! bkenv: stand up, diagnose and preflight BuildKit + private registry TLS environments.
//!
//! See ARCHITECTURE.md for the code map and the invariants between modules.

// The library's surface is what `main`, `tests/`, `benches/` and `fuzz/` use: running a
// command (`run`, `cli`), the doctor pipeline and its data (`doctor`, `diag`, `catalog`),
// probes (`probe`), reports (`report`), and init's building blocks (`init`, `spec`,
// `model`, `pki`, `render`, `output`, `creds`, `hostport`, and `summary`, what it prints). Everything else is
// `pub(crate)`, so rustc sees dead code; `unreachable_pub` keeps it that way.
#![warn(unreachable_pub)]
// Failures are `Error`s and problems are findings; nothing in the library may panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

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
mod httpproxy;
pub mod init;
pub mod lock;
pub mod model;
pub mod output;
pub mod pki;
pub mod probe;
pub mod render;
pub mod report;
pub mod safefs;
mod shell;
pub mod spec;
pub mod stamp;
mod suggest;
pub mod summary;
mod tomlutil;
mod tools;
mod which;

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
