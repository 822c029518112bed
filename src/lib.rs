//! bkenv: stand up, diagnose and preflight BuildKit + private registry TLS environments.
//!
//! See ARCHITECTURE.md for the code map and the invariants between modules.

pub mod catalog;
pub mod cli;
pub mod diag;
pub mod doctor;
pub mod error;
pub mod hostport;
pub mod init;
pub mod model;
pub mod output;
pub mod pki;
pub mod render;
pub mod spec;
pub mod suggest;
pub mod summary;
pub mod tomlutil;

use cli::{Cli, Command};
use std::io::Write;

/// Process exit codes (documented in `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; no errors found.
    Success = 0,
    /// Findings at error level (or warnings with `--deny warnings`).
    Findings = 1,
    /// bkenv could not do its job.
    Failure = 2,
}

/// Runs a parsed command line. Output goes to `out`; errors are returned for `main` to print.
pub fn run(cli: Cli, out: &mut dyn Write) -> error::Result<ExitStatus> {
    match cli.command {
        Command::Init(args) => run_init(args, out),
        Command::Explain(args) => run_explain(&args, out),
    }
}

fn run_init(args: cli::InitArgs, out: &mut dyn Write) -> error::Result<ExitStatus> {
    let mtls = match (args.mtls, args.no_mtls) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let opts = init::InitOptions {
        dir: args.dir.clone(),
        overrides: spec::Overrides {
            registry_names: args.registry,
            mtls,
            rootless: args.rootless.then_some(true),
            key_type: args.key_type,
            buildkit_image: None,
        },
        new_ca: args.new_ca,
        force: args.force,
        dry_run: args.dry_run,
        now: time::OffsetDateTime::now_utc(),
    };
    let rng = ring::rand::SystemRandom::new();
    let mut writer = output::Writer::new();
    if let Some(n) = std::env::var("BKENV_FAIL_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        writer.fail_after = Some(n);
    }
    let outcome = init::run(&opts, &rng, &|k| std::env::var(k).ok(), &mut writer)?;
    let dir = args.dir.display().to_string();
    let text = summary::init_summary(&outcome, &dir, args.dry_run, args.show_password);
    out.write_all(text.as_bytes())
        .map_err(|e| error::Error::io("write", "stdout", e))?;
    Ok(ExitStatus::Success)
}

fn run_explain(args: &cli::ExplainArgs, out: &mut dyn Write) -> error::Result<ExitStatus> {
    let text = if args.all {
        catalog::all()
            .map(|m| {
                format!(
                    "{}  {:<7}  {:<40} {}\n",
                    m.code,
                    m.severity.as_str(),
                    m.slug,
                    m.title
                )
            })
            .collect::<String>()
    } else {
        let code = args.code.as_deref().unwrap_or_default();
        let meta = catalog::lookup(code).ok_or_else(|| {
            let codes: Vec<&str> = catalog::all().map(|m| m.code).collect();
            let hint = suggest::did_you_mean(code, &codes)
                .map(|c| format!("; did you mean {c}?"))
                .unwrap_or_default();
            error::Error::Other(format!(
                "unknown check `{code}`{hint} (`bkenv explain --all` lists them)"
            ))
        })?;
        format!(
            "# {} ({})\n\nseverity: {}  fixable: {}\n{}\n\n{}",
            meta.slug,
            meta.code,
            meta.severity.as_str(),
            if meta.fixable {
                "yes (doctor --fix)"
            } else {
                "no"
            },
            meta.title,
            meta.explanation
        )
    };
    out.write_all(text.as_bytes())
        .map_err(|e| error::Error::io("write", "stdout", e))?;
    Ok(ExitStatus::Success)
}
