//! The environment spec, `bkenv.toml`: what the user asks for. `init` turns it into a
//! [`crate::model::Environment`] and writes files from that.
//!
//! Parsing is strict (unknown keys are errors with a suggestion) because the whole point
//! of bkenv is that nothing is silently ignored, unlike `buildkitd.toml`.

mod grammar;
pub(crate) mod kubernetes;
mod load;
mod validate;

pub use load::{DEFAULT_SPEC, Overrides, SPEC_FILE, apply_overrides, load, parse};
pub use validate::validate;

use crate::pki::KeyType;
use serde::Deserialize;

/// The environment of an existing bkenv directory. Its `bkenv.toml` is required: a
/// directory without one is not bkenv's (and is not described by the default spec).
pub fn environment_of(dir: &std::path::Path) -> crate::error::Result<crate::model::Environment> {
    let path = dir.join(SPEC_FILE);
    let bytes = crate::output::read_file(&path, crate::safefs::Links::Follow)?.ok_or_else(|| {
        crate::error::Error::Spec {
            path: path.clone(),
            message: "not found: this is not an environment bkenv made (run `bkenv init` here; `bkenv doctor` \
                      diagnoses hand-written ones)"
                .into(),
        }
    })?;
    validate(&parse(&String::from_utf8_lossy(&bytes), &path)?)
}

/// `bkenv.toml` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub pki: PkiSpec,
    pub buildkitd: BuildkitdSpec,
    #[serde(default, rename = "registry")]
    pub registries: Vec<RegistrySpec>,
    #[serde(default)]
    pub mirror: Option<MirrorSpec>,
    /// The same environment as Kubernetes manifests (`kubernetes/`), beside compose.
    #[serde(default)]
    pub kubernetes: Option<KubernetesSpec>,
    /// `[host]`: also write a host install (systemd units, `install.sh`) under `host/`.
    #[serde(default)]
    pub host: Option<HostSpec>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSpec {
    /// The namespace every object goes to; part of each Service's DNS names.
    pub namespace: String,
    /// The cluster's DNS domain (kubelet `--cluster-domain`).
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
}

fn default_cluster_domain() -> String {
    "cluster.local".into()
}

/// A buildkitd run by systemd on a machine instead of in a container: where the
/// install puts its config and certificates (absolute machine paths, written into
/// `buildkitd.toml` and the units), the daemon binary, and which unit `install.sh`
/// installs (the system units, or the rootless user unit).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostSpec {
    pub certs_dir: String,
    pub config: String,
    pub buildkitd: String,
    pub rootless: bool,
}

impl Default for HostSpec {
    fn default() -> Self {
        HostSpec {
            certs_dir: "/etc/buildkit/certs".into(),
            config: "/etc/buildkit/buildkitd.toml".into(),
            // Where BuildKit's release tarball and its example units put it.
            buildkitd: "/usr/local/bin/buildkitd".into(),
            rootless: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PkiSpec {
    pub key_type: KeyType,
    pub ca_common_name: String,
    pub ca_validity_days: u32,
    pub leaf_validity_days: u32,
    pub name_constraints: bool,
}

impl Default for PkiSpec {
    fn default() -> Self {
        PkiSpec {
            key_type: KeyType::default(),
            ca_common_name: "bkenv development CA".into(),
            ca_validity_days: 3650,
            leaf_validity_days: 365,
            name_constraints: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildkitdSpec {
    #[serde(default = "default_buildkitd_service")]
    pub service: String,
    pub image: String,
    #[serde(default)]
    pub rootless: bool,
    pub listen: Vec<String>,
    pub host: String,
    #[serde(default)]
    pub publish: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub mtls: bool,
}

fn default_buildkitd_service() -> String {
    "buildkitd".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    /// Compose service running the registry; absent for an external registry.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    pub names: Vec<String>,
    #[serde(default)]
    pub publish: Vec<String>,
    /// For an external registry: the CA file (relative to the spec) that signs its certificate.
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthSpec>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub username: String,
    /// Read the password from this environment variable instead of generating one.
    #[serde(default)]
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MirrorSpec {
    #[serde(default = "default_mirror_service")]
    pub service: String,
    pub image: String,
    #[serde(default = "default_registry_port")]
    pub port: u16,
    pub names: Vec<String>,
    #[serde(default)]
    pub publish: Vec<String>,
    #[serde(default = "default_upstream")]
    pub upstream: String,
}

fn default_mirror_service() -> String {
    "mirror".into()
}
fn default_registry_port() -> u16 {
    5000
}
fn default_upstream() -> String {
    "https://registry-1.docker.io".into()
}
