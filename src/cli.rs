//! Command-line definition. Only this module knows clap; it produces plain values.

use crate::doctor::Probing;
use crate::probe::{ProbeOptions, Resolve};
use crate::report::Format;
use crate::report::levels::Level;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Stand up, diagnose and preflight BuildKit + private registry TLS environments.
///
/// Exit codes: 0 success / no errors, 1 errors found (or warnings with --deny warnings),
/// 2 bkenv could not run.
#[derive(Debug, Parser)]
#[command(name = "bkenv", version = VERSION, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR is set or CLICOLOR_FORCE
    /// forces it), always or never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t,
        help_heading = "Global options"
    )]
    pub color: clap::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// `bkenv --version`: the version and the commit (`build.rs`), e.g.
/// `0.1.0 (0123456789ab 2026-11-28)`, or `(commit unknown: built without git)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BKENV_COMMIT"), ")");

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a working BuildKit + TLS registry environment from bkenv.toml.
    ///
    /// In an empty directory, writes the default spec first (registry `registry:5000`
    /// published as `localhost:5005`, buildkitd on tcp://localhost:1234, server-only TLS,
    /// htpasswd auth). Re-running changes nothing unless the spec changed; the CA is
    /// never replaced without --new-ca.
    Init(InitArgs),
    /// Diagnose an environment (bkenv's or hand-written) like a compiler: every finding
    /// has a code, a file:line, the BuildKit error it prevents, and a fix.
    Doctor(Box<DoctorArgs>),
    /// Doctor for CI pipelines: static checks plus live probes, machine output
    /// (json, sarif, github, gitlab) and strict exit codes.
    Preflight(Box<PreflightArgs>),
    /// Probe live endpoints the way BuildKit connects: TLS, names, CAs, ALPN, mTLS,
    /// registry auth and token flow.
    ///
    /// A registry is `host:port` as in image references; buildkitd is `tcp://host:port`
    /// (the BUILDKIT_HOST form).
    Probe(Box<ProbeArgs>),
    /// Print the explanation of a check code (e.g. `bkenv explain BK201`).
    Explain(ExplainArgs),
    /// Every certificate of the environment: names, issuer, key, expiry, chain, key
    /// match, the trust files and the CA rotation phase.
    ///
    /// External registries' CAs are listed too, and this machine's host trust (`trust
    /// install`) is compared with the environment's.
    ///
    /// Exits 1 when something needs attention (a certificate expiring within --within,
    /// a key that does not match, a leaf the current CA did not sign, host trust behind
    /// the environment's, a daemon serving another certificate than the one on disk
    /// with --probe), so a cron job or CI step can use it.
    Status(StatusArgs),
    /// Reissue the leaf certificates that are due (same names, new keys), then print the
    /// services to restart: daemons load certificates once, at start.
    Renew(RenewArgs),
    /// Replace the CA without breaking clients, in three steps.
    ///
    /// `bkenv rotate-ca` creates the new CA and makes every trust file hold the old and
    /// the new CA; `--finish` reissues every leaf from the new CA; `--drop-old` takes the
    /// old CA out of the trust files (it stays archived in ca/backup-*). Between steps,
    /// give clients that keep their own copy the new trust files. Each step can be run
    /// again after an interruption. `init --new-ca` is the immediate, breaking
    /// replacement.
    RotateCa(RotateCaArgs),
    /// Install the environment's CA where host-side tools look (Docker, containerd, the
    /// system store), or remove exactly what was installed.
    Trust(TrustArgs),
    /// Print a shell completion script, e.g. `source <(bkenv completions bash)`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) of bkenv or of one subcommand, e.g. `bkenv man | man -l -`.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand, for its own page bkenv-SUBCOMMAND(1).
    #[arg(value_name = "SUBCOMMAND", value_parser = clap::builder::PossibleValuesParser::new(SUBCOMMANDS))]
    pub subcommand: Option<String>,
}

/// Every subcommand's name, for `bkenv man SUBCOMMAND` (its values complete in shells; a
/// test keeps the list equal to [`Command`]'s).
pub const SUBCOMMANDS: &[&str] = &[
    "init",
    "doctor",
    "preflight",
    "probe",
    "explain",
    "status",
    "renew",
    "rotate-ca",
    "trust",
    "completions",
    "man",
];

/// Explicit files, for environments whose files are not where discovery looks. Paths
/// are taken from the working directory, not from DIR; a missing file is an error.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The buildkitd.toml to check (a path from the working directory, like every FILE).
    #[arg(long, value_name = "FILE")]
    pub buildkitd_config: Option<PathBuf>,
    /// The compose file to check.
    #[arg(long, value_name = "FILE")]
    pub compose: Option<PathBuf>,
    /// The Docker config.json clients use.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// The distribution registry config.yml.
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    /// The registry's htpasswd file.
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// The .env file with BUILDKIT_HOST and friends.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Also connect to buildkitd and every registry the environment names.
    #[arg(long)]
    pub probe: bool,
    /// Apply the mechanical fixes (formatting and comments kept), then check again.
    #[arg(long, conflicts_with = "host")]
    pub fix: bool,
    /// Check the buildkitd installed on this machine (its systemd unit, drop-ins, config
    /// and the files its user must read) instead of DIR. `--host=ROOT` reads a machine
    /// image mounted at ROOT.
    #[arg(long, value_name = "ROOT", num_args = 0..=1, default_missing_value = "/", require_equals = true)]
    pub host: Option<PathBuf>,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Static checks only: no network.
    #[arg(long)]
    pub offline: bool,
    /// The Dockerfile of the build at hand (its FROM registries are checked).
    #[arg(long, value_name = "PATH")]
    pub dockerfile: Option<PathBuf>,
    /// A build argument for --dockerfile, as `buildctl --opt build-arg:K=V`. Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub build_arg: Vec<(String, String)>,
    /// The image the build pushes (`host:port/repo:tag`).
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// The registry cache reference the build imports and exports.
    #[arg(long, value_name = "REF")]
    pub cache_ref: Option<String>,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

/// How findings are reported; shared by doctor, preflight and probe.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format [default: github when GITHUB_ACTIONS=true, else human].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE; the terminal gets a one-line summary.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Silence a check (code, slug, or `warnings`). Repeatable; later flags win.
    #[arg(short = 'A', long = "allow", value_name = "CODE")]
    pub allow: Vec<String>,
    /// Report a check as a warning.
    #[arg(short = 'W', long = "warn", value_name = "CODE")]
    pub warn: Vec<String>,
    /// Report a check as an error; `--deny warnings` fails on any warning.
    #[arg(short = 'D', long = "deny", value_name = "CODE")]
    pub deny: Vec<String>,
    /// `-A/-W/-D` in command-line order (filled by [`parse`]).
    #[arg(skip)]
    pub levels: Vec<(Level, String)>,
}

/// How endpoints are dialled; shared by every command that connects (status --probe
/// only fetches certificates, so it takes this and nothing about credentials).
#[derive(Debug, Args)]
pub struct DialArgs {
    /// Connect to ADDR:PORT when dialling NAME:PORT (like curl); TLS is still verified
    /// against NAME, as BuildKit would. Repeatable.
    #[arg(long, value_name = "NAME:PORT=ADDR:PORT")]
    pub resolve: Vec<Resolve>,
    /// Bound on each network step, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "3", value_parser = seconds)]
    pub timeout: Duration,
}

/// How live endpoints are probed, credentials included; shared by doctor --probe,
/// preflight and probe.
#[derive(Debug, Args)]
pub struct NetArgs {
    #[command(flatten)]
    pub dial: DialArgs,
    /// Ask the credential helpers config.json names (`docker-credential-NAME get`, only
    /// names of [a-z0-9._-] found on PATH) for registry credentials, as buildctl does.
    /// Off by default: config.json chooses the program, so without this flag credentials
    /// held by helpers are reported as not checked (BK724).
    #[arg(long)]
    pub credential_helpers: bool,
}

impl NetArgs {
    /// What `doctor --probe` and `preflight` pass to the library.
    pub fn probing(&self) -> Probing {
        Probing {
            resolve: self.dial.resolve.clone(),
            options: ProbeOptions {
                timeout: self.dial.timeout,
                now: None,
                credential_helpers: self
                    .credential_helpers
                    .then(|| std::env::var_os("PATH").unwrap_or_default()),
            },
        }
    }
}

/// `--timeout`: a positive number of seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}` is not a positive number of seconds"))
}

/// `--build-arg KEY=VALUE`.
fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Endpoints: registry `host[:port]` or buildkitd `tcp://host:port`.
    #[arg(required = true, value_name = "ENDPOINT")]
    pub endpoints: Vec<String>,
    /// Trust these CA files (PEM) in addition to the system roots for registries, and
    /// instead of them for buildkitd (as buildctl --tlscacert). Repeatable.
    #[arg(long = "cacert", value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// Client certificate for buildkitd (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key for buildkitd (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Directory of the config.json supplying registry credentials [default: $DOCKER_CONFIG, else ~/.docker].
    #[arg(long, value_name = "DIR")]
    pub docker_config: Option<PathBuf>,
    /// Speak plain HTTP to registries (what BuildKit does for loopback hosts without `http = false`).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub report: ReportArgs,
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
    pub key_type: Option<crate::pki::KeyType>,
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
    /// Print only what needs your attention (files kept because you edited them,
    /// warnings) and, with --show-password, the password: no file list, no next steps.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Output of `status`, `renew`, `rotate-ca` and `trust`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table and sentences.
    Human,
    /// bkenv's own JSON document.
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Exit 1 when a certificate expires within this time (30d, 2w, 12h).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::stamp::parse_duration)]
    pub within: time::Duration,
    /// Also ask each running daemon which certificate it serves, and compare it with
    /// the one on disk ("renewed but not restarted").
    #[arg(long)]
    pub probe: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub net: DialArgs,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Reissue leaves expiring within this time (30d, 2w, 12h).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::stamp::parse_duration)]
    pub within: time::Duration,
    /// Reissue every leaf, due or not.
    #[arg(long)]
    pub force: bool,
    /// Keep each leaf's key and issue a new certificate for it (default: a new key).
    #[arg(long)]
    pub keep_key: bool,
    /// Print what would be reissued and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RotateCaArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Step 2: switch to the new CA and reissue every leaf from it.
    #[arg(long, conflicts_with = "drop_old")]
    pub finish: bool,
    /// Step 3: take the old CA out of every trust file.
    #[arg(long)]
    pub drop_old: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub action: TrustAction,
}

#[derive(Debug, Subcommand)]
pub enum TrustAction {
    /// Put the environment's CA into /etc/docker/certs.d/<host:port>/ca.crt, containerd's
    /// certs.d (hosts.toml + ca.crt) where containerd is, and the system store
    /// (update-ca-certificates), after asking. The CA's name constraints are what make
    /// this safe: it can sign only for the environment's names and loopback.
    Install(TrustInstallArgs),
    /// Remove what `trust install` added, keeping any file changed since.
    Uninstall(TrustUninstallArgs),
}

#[derive(Debug, Args)]
pub struct TrustInstallArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Do not ask: the user consents (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this target (repeatable) [default: every target present on the machine].
    #[arg(long = "target", value_name = "TARGET", value_enum)]
    pub targets: Vec<crate::hosttrust::Target>,
    /// Install a CA without name constraints into the system store anyway.
    #[arg(long)]
    pub allow_unconstrained: bool,
    /// Treat DIR as the root of the host's file system (an image being built).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct TrustUninstallArgs {
    /// The environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Do not ask: the user consents (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
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

impl Cli {
    fn report_args_mut(&mut self) -> Option<&mut ReportArgs> {
        match &mut self.command {
            Command::Probe(a) => Some(&mut a.report),
            Command::Doctor(a) => Some(&mut a.report),
            Command::Preflight(a) => Some(&mut a.report),
            Command::Init(_)
            | Command::Explain(_)
            | Command::Status(_)
            | Command::Renew(_)
            | Command::RotateCa(_)
            | Command::Trust(_)
            | Command::Completions(_)
            | Command::Man(_) => None,
        }
    }
}

/// Parses the process arguments, keeping the relative order of `-A/-W/-D` (clap keeps
/// each flag's values separately; "later flags win" needs their interleaving).
///
/// Also sets the process-wide colour choice from `--color` (anstream's global, which every
/// `anstream` stream and [`crate::report::stdout_color`] consult before `NO_COLOR` and
/// `CLICOLOR_FORCE`): first from a scan of the raw arguments, so that clap's own help
/// and errors honour it, then from the parsed value.
pub fn parse() -> Cli {
    parse_from(std::env::args_os())
}

pub fn parse_from<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if let Some(choice) = scan_color(&args) {
        set_color(choice);
    }
    let matches = Cli::command().get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    set_color(cli.color);
    if let (Some((_, sub)), Some(report)) = (matches.subcommand(), cli.report_args_mut()) {
        report.levels = ordered_levels(sub);
    }
    cli
}

fn ordered_levels(m: &ArgMatches) -> Vec<(Level, String)> {
    let mut all = Vec::new();
    for (id, level) in [
        ("allow", Level::Allow),
        ("warn", Level::Warn),
        ("deny", Level::Deny),
    ] {
        if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) {
            all.extend(idx.zip(vals).map(|(i, v)| (i, level, v.clone())));
        }
    }
    all.sort_by_key(|(i, _, _)| *i);
    all.into_iter().map(|(_, l, v)| (l, v)).collect()
}

/// The clap definition, for generated completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The last valid `--color WHEN` / `--color=WHEN` before `--` (clap_lex, the lexer clap
/// itself uses); an invalid value is left for clap to report.
fn scan_color(args: &[std::ffi::OsString]) -> Option<clap::ColorChoice> {
    use clap::ValueEnum;
    let raw = clap_lex::RawArgs::new(args);
    let mut cursor = raw.cursor();
    raw.next(&mut cursor); // the program name
    let mut found = None;
    while let Some(arg) = raw.next(&mut cursor) {
        if arg.is_escape() {
            break;
        }
        if let Some((Ok("color"), value)) = arg.to_long() {
            let value = match value {
                Some(v) => Some(v.to_owned()),
                None => raw.peek_os(&cursor).map(ToOwned::to_owned),
            };
            if let Some(c) = value
                .and_then(|v| v.into_string().ok())
                .and_then(|v| <clap::ColorChoice as ValueEnum>::from_str(&v, false).ok())
            {
                found = Some(c);
            }
        }
    }
    found
}

fn set_color(choice: clap::ColorChoice) {
    anstream::ColorChoice::write_global(match choice {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
    });
}
