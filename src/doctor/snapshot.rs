//! [`Snapshot`]: everything doctor read from one environment, parsed. The loader fills
//! it; the view, the environment split, the checks and the live plan only read it.

use super::discover::Unreadable;
use super::parsed::*;
use super::paths::PathIndex;
use super::source::SourceFile;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Everything doctor read, parsed, with paths relative to the environment root.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub buildkitd: Vec<TomlFile>,
    pub compose: Vec<ComposeFile>,
    pub docker_configs: Vec<DockerConfigFile>,
    pub registry_configs: Vec<RegistryConfigFile>,
    pub htpasswd: Vec<HtpasswdFile>,
    pub pem: Vec<PemFile>,
    pub refs: Vec<RefFile>,
    pub env: Vec<EnvFile>,
    pub buildx: Vec<BuildxInstanceFile>,
    pub builder_configs: Vec<BuilderConfigFile>,
    /// bkenv's state manifests (`.bkenv/state.json`).
    pub bkenv_state: Vec<BkenvStateFile>,
    pub unreadable: Vec<Unreadable>,
    /// What exists under the compose bind-mount sources, for existence checks.
    pub paths: PathIndex,
    /// Credential helpers (`docker-credential-<name>`) found on PATH.
    pub helpers_on_path: BTreeSet<String>,
    /// `buildkitd.image` of the environment's `bkenv.toml`, when it has one: the BuildKit
    /// release its configs are checked against when no compose service names one.
    pub spec_image: Option<String>,
    /// The base name of the compose project's directory (canonical), from which Compose
    /// names the project when nothing else does.
    pub compose_dir_name: Option<String>,
    /// `COMPOSE_PROJECT_NAME` of the process doctor runs in (set before `.env`'s).
    pub compose_project_env: Option<String>,
    /// `up -d` with the Compose found on PATH, as help text quotes it (empty for
    /// snapshots built without I/O).
    pub compose_up: String,
    /// The root's absolute path, as given and with links resolved (empty for snapshots
    /// built without I/O): an absolute bind-mount source is matched against it.
    pub root_abs: Vec<PathBuf>,
    /// The install on this machine, with `doctor --host`.
    pub host: Option<super::host::HostDaemon>,
}

impl Snapshot {
    pub(crate) fn pem_at(&self, rel: &Path) -> Option<&PemFile> {
        self.pem.iter().find(|p| p.src.path == rel)
    }
    pub(crate) fn env_var(&self, key: &str) -> Option<(&EnvFile, &str, usize)> {
        self.env
            .iter()
            .find_map(|e| e.get(key).map(|(v, l)| (e, v, l)))
    }
}

impl Snapshot {
    /// The source of every file in the snapshot.
    pub fn sources(&self) -> impl Iterator<Item = &SourceFile> {
        (self.buildkitd.iter().map(|f| &f.src))
            .chain(self.compose.iter().map(|f| &f.src))
            .chain(self.docker_configs.iter().map(|f| &f.src))
            .chain(self.registry_configs.iter().map(|f| &f.src))
            .chain(self.htpasswd.iter().map(|f| &f.src))
            .chain(self.pem.iter().map(|f| &f.src))
            .chain(self.refs.iter().map(|f| &f.src))
            .chain(self.env.iter().map(|f| &f.src))
            .chain(self.buildx.iter().map(|f| &f.src))
            .chain(self.builder_configs.iter().map(|f| &f.toml.src))
            .chain(self.bkenv_state.iter().map(|f| &f.src))
    }

    /// True when `path` (relative to the root) is one of the snapshot's files.
    pub fn holds(&self, path: &Path) -> bool {
        self.sources().any(|s| s.path == path)
    }

    /// True when the snapshot holds no file and no unreadable path.
    pub(crate) fn is_empty(&self) -> bool {
        // A host install (`--host`) is something to check even without a config: BK880
        // says what is missing there.
        self.sources().next().is_none() && self.unreadable.is_empty() && self.host.is_none()
    }
}
