//! Command-line definition. Only this module knows clap; it produces plain values.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Stand up, diagnose and preflight BuildKit + private registry TLS environments.
///
/// Exit codes: 0 success / no errors, 1 errors found (or warnings with --deny warnings),
/// 2 bkenv could not run.
#[derive(Debug, Parser)]
#[command(name = "bkenv", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a working BuildKit + TLS registry environment from bkenv.toml.
    ///
    /// In an empty directory, writes the default spec first (registry `registry:5000`
    /// published as `localhost:5005`, buildkitd on tcp://localhost:1234, server-only TLS,
    /// htpasswd auth). Re-running changes nothing unless the spec changed; the CA is
    /// never replaced without --new-ca.
    Init(InitArgs),
    /// Print the explanation of a check code (e.g. `bkenv explain BK201`).
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Names of the first registry, every host:port clients use (repeatable). Saved to bkenv.toml.
    #[arg(long = "registry", value_name = "HOST:PORT")]
    pub registry: Vec<String>,
    /// Require client certificates for buildkitd (mutual TLS). Saved to bkenv.toml.
    #[arg(long, overrides_with = "no_mtls")]
    pub mtls: bool,
    /// Server-only TLS for buildkitd. Saved to bkenv.toml.
    #[arg(long)]
    pub no_mtls: bool,
    /// Use the rootless BuildKit image. Saved to bkenv.toml.
    #[arg(long)]
    pub rootless: bool,
    /// Key type for the CA and certificates: ecdsa-p256, ecdsa-p384 or ed25519. Saved to bkenv.toml.
    #[arg(long, value_name = "TYPE")]
    pub key_type: Option<String>,
    /// Generate a new CA, keeping the old one in ca/backup-<time>/. Every client must trust the new CA.
    #[arg(long)]
    pub new_ca: bool,
    /// Overwrite generated files you edited (buildkitd.toml is always merged, never overwritten).
    #[arg(long)]
    pub force: bool,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the registry password at the end (it is otherwise only in .env and docker/config.json).
    #[arg(long)]
    pub show_password: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check code (BK201) or slug.
    #[arg(required_unless_present = "all")]
    pub code: Option<String>,
    /// List every check.
    #[arg(long)]
    pub all: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
