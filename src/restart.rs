//! What to restart after bkenv changed files. buildkitd and the registry load their
//! certificates, keys and CA bundles once, at start (buildkitd keeps serving the old
//! certificate until it restarts, moby/buildkit#2172), so a renewed certificate or a new
//! trust bundle takes effect only after a restart. Clients (`buildctl`, skopeo, docker)
//! read `client/`, `certs.d/` and `docker/` on every run and need nothing.
//!
//! The hint is data: which services read a changed file ([`Environment::daemons`]), and
//! for each deployment target the command that restarts them ([`Target::command`]).
//! Compose is the only target today. Kubernetes manifests (`kubectl rollout restart
//! deployment/NAME`) and host installs under systemd (`systemctl restart UNIT`) are new
//! [`Target`] variants: their detection goes in [`targets`], their command in
//! [`Target::command`]; nothing else changes.

use crate::model::{Environment, layout};
use crate::output::{Applied, Status};
use serde::Serialize;
use std::path::Path;

/// Where an environment's services run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `docker-compose.yml` from `init`.
    Compose,
}

impl Target {
    /// The command that restarts `services` (compose service names) of the environment
    /// at `dir` (as the user named it) on this target.
    pub fn command(self, dir: &str, services: &[String]) -> String {
        match self {
            Target::Compose => {
                let file = if dir == "." {
                    String::new()
                } else {
                    let path = Path::new(dir).join(layout::COMPOSE);
                    format!("-f {} ", crate::shell::quote(&path.display().to_string()))
                };
                format!("docker compose {file}restart {}", services.join(" "))
            }
        }
    }
}

/// The deployment targets the environment at `dir` has.
pub fn targets(dir: &Path) -> Vec<Target> {
    let mut out = Vec::new();
    if dir.join(layout::COMPOSE).is_file() {
        out.push(Target::Compose);
    }
    out
}

/// The services to restart and how, per target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Compose service names, in the environment's order.
    pub services: Vec<String>,
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    pub target: Target,
    pub command: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The restarts that make `changed` (paths relative to the environment root) take
/// effect in the environment at `dir` (`shown` is how the user named it).
pub fn plan<'a>(
    env: &Environment,
    dir: &Path,
    shown: &str,
    changed: impl IntoIterator<Item = &'a str>,
) -> Plan {
    let changed: Vec<&str> = changed.into_iter().collect();
    let services: Vec<String> = env
        .daemons()
        .into_iter()
        .filter(|d| changed.iter().any(|p| p.starts_with(&d.dir)))
        .map(|d| d.service)
        .collect();
    if services.is_empty() {
        return Plan::default();
    }
    let commands = targets(dir)
        .into_iter()
        .map(|target| Command {
            target,
            command: target.command(shown, &services),
        })
        .collect();
    Plan { services, commands }
}

/// [`plan`] for the files a run created or updated.
pub fn after(env: &Environment, dir: &Path, shown: &str, applied: &[Applied]) -> Plan {
    let changed: Vec<String> = applied
        .iter()
        .filter(|a| matches!(a.status, Status::Created | Status::Updated))
        .map(|a| a.path.to_string_lossy().into_owned())
        .collect();
    plan(env, dir, shown, changed.iter().map(String::as_str))
}

/// `command` (a bkenv command line) for the environment at `dir` as the user named it:
/// the directory appended unless it is the current one, so the line can be pasted
/// where the user ran the command that printed it.
pub fn for_dir(command: &str, dir: &str) -> String {
    if dir == "." || dir.is_empty() {
        command.to_string()
    } else {
        format!("{command} {}", crate::shell::quote(dir))
    }
}
