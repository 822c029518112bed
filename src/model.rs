//! The environment model: one description of a BuildKit + registry environment that
//! `init` builds from the spec and writes files from. Names are validated here once, so
//! renderers never see a malformed host.

use crate::hostport::{Host, HostPort};
use crate::pki::KeyType;
use std::path::PathBuf;

/// Where each generated file lives, relative to the environment root, and where the
/// containers see it. Doctor reads the same conventions back.
pub mod layout {
    pub const CA_DIR: &str = "ca";
    pub const CA_CERT: &str = "ca/ca.crt";
    pub const CA_KEY: &str = "ca/ca.key";
    pub const COMPOSE: &str = "docker-compose.yml";
    pub const DOTENV: &str = ".env";
    pub const GITIGNORE: &str = ".gitignore";
    pub const BUILDKITD_TOML: &str = "buildkit/buildkitd.toml";
    pub const BUILDKIT_CERTS: &str = "buildkit/certs";
    pub const CLIENT_DIR: &str = "client";
    pub const DOCKER_CONFIG_DIR: &str = "docker";
    pub const DOCKER_CONFIG: &str = "docker/config.json";
    pub const CERTS_D: &str = "certs.d";
    /// What `docker buildx` needs (`render::buildx`): scripts that create a builder
    /// on this environment, and the config a docker-container builder is created with.
    pub const BUILDX_DIR: &str = "buildx";
    pub const BUILDX_REMOTE: &str = "buildx/create-remote.sh";
    pub const BUILDX_CONTAINER: &str = "buildx/create-container.sh";
    pub const BUILDX_CONFIG: &str = "buildx/builder.toml";
    pub const STATE: &str = ".bkenv/state.json";
    /// bkenv's private directory: state, lock, a CA switch in progress.
    pub const STATE_DIR: &str = ".bkenv";
    /// The smoke-test build context `init` prints a build of: a Dockerfile and one file,
    /// so the build cannot send the environment's keys or `.env` to the daemon.
    pub const HELLO_DIR: &str = "hello";
    /// A host install (`[host]` in the spec): its config, units and `install.sh`.
    pub const HOST_DIR: &str = "host";
    pub const HOST_CONFIG: &str = "host/buildkitd.toml";
    pub const HOST_SYSTEM_SOCKET: &str = "host/system/buildkit.socket";
    pub const HOST_SYSTEM_SERVICE: &str = "host/system/buildkit.service";
    pub const HOST_USER_SERVICE: &str = "host/user/buildkit.service";
    pub const HOST_INSTALL: &str = "host/install.sh";

    /// Every top-level name bkenv itself writes. A local registry's files go to a
    /// directory named after its service, so no service may be named like one of
    /// these: a registry called `buildkit` would share `buildkit/certs` with buildkitd,
    /// and each would see the other's key.
    pub const TOP_LEVEL: &[&str] = &[
        CA_DIR,
        "buildkit",
        CLIENT_DIR,
        DOCKER_CONFIG_DIR,
        CERTS_D,
        BUILDX_DIR,
        STATE_DIR,
        COMPOSE,
        DOTENV,
        GITIGNORE,
        HELLO_DIR,
        HOST_DIR,
        "bkenv.toml",
    ];

    /// Inside the buildkitd container.
    pub const BK_CERTS_IN: &str = "/etc/buildkit/certs";
    pub const BK_CONFIG_ROOTFUL: &str = "/etc/buildkit/buildkitd.toml";
    pub const BK_CONFIG_ROOTLESS: &str = "/home/user/.config/buildkit/buildkitd.toml";
    /// buildkitd's default socket as root, and in the rootless image (under its
    /// `XDG_RUNTIME_DIR`, the only runtime directory its user may create files in).
    pub const BK_SOCKET_ROOTFUL: &str = "unix:///run/buildkit/buildkitd.sock";
    pub const BK_SOCKET_ROOTLESS: &str = "unix:///run/user/1000/buildkit/buildkitd.sock";
    /// The user the `-rootless` image runs buildkitd as (`USER 1000:1000`).
    pub const ROOTLESS_UID: u32 = 1000;
    pub const ROOTLESS_GID: u32 = 1000;
    /// Directories that user can create files in inside the rootless image: its runtime
    /// directory, its home and `/tmp`. Everything else (`/run`, `/var`) belongs to root.
    pub const ROOTLESS_WRITABLE: &[&str] = &["/run/user/1000/", "/home/user/", "/tmp/"];
    /// Inside a registry container (the `registry:2` image's default config path).
    pub const REG_CONFIG_IN: &str = "/etc/docker/registry/config.yml";
    pub const REG_CERTS_IN: &str = "/certs";
    pub const REG_AUTH_IN: &str = "/auth";
}

/// A validated environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub pki: Pki,
    pub buildkitd: Buildkitd,
    /// Local registries first, then external ones, then the mirror.
    pub registries: Vec<Registry>,
    /// A host install to write beside the compose form (`render::host`).
    pub host: Option<HostInstall>,
}

/// A validated `[host]`: absolute, normalized machine paths made of characters that
/// need no quoting in a unit file's `ExecStart` beyond doubling `%`, in TOML beyond
/// its string escapes, or in `sh` beyond `shell::quote`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInstall {
    pub certs_dir: String,
    pub config: String,
    pub buildkitd: String,
    pub rootless: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pki {
    pub key_type: KeyType,
    pub ca_common_name: String,
    pub ca_validity_days: u32,
    pub leaf_validity_days: u32,
    pub name_constraints: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Buildkitd {
    pub service: String,
    pub image: String,
    /// `(major, minor, patch)` parsed from the image tag, to gate version-dependent output.
    pub version: Option<(u32, u32, u32)>,
    pub rootless: bool,
    pub listen: Vec<String>,
    /// `BUILDKIT_HOST` for clients on the host.
    pub host: String,
    pub publish: Vec<Publish>,
    /// Every name and IP clients dial: the certificate's SANs.
    pub sans: Vec<Host>,
    pub mtls: bool,
}

impl Buildkitd {
    /// The config path the image reads; we also pass `--config` so it never depends on
    /// rootless detection.
    pub fn config_path_in_container(&self) -> &'static str {
        if self.rootless {
            layout::BK_CONFIG_ROOTLESS
        } else {
            layout::BK_CONFIG_ROOTFUL
        }
    }

    /// The `(uid, gid)` buildkitd runs as inside its container when that is not root:
    /// the files it must read (its TLS key) have to belong to this user.
    pub fn container_user(&self) -> Option<(u32, u32)> {
        self.rootless
            .then_some((layout::ROOTLESS_UID, layout::ROOTLESS_GID))
    }

    /// Registry cache export options exist only from v0.12 (`image-manifest`).
    pub fn supports_image_manifest_cache(&self) -> bool {
        self.version.is_none_or(|v| v >= (0, 12, 0))
    }
}

/// A published port, `[ip:]host_port:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
}

impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ip) = &self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(f, "{}:{}", self.host_port, self.container_port)
    }
}

/// Who can use a registry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A compose service name: resolves only inside the compose network (buildkitd).
    Network,
    /// A loopback name: only host-side clients; inside a container it is the container.
    HostOnly,
    /// A real DNS name or IP: everyone.
    Everywhere,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryName {
    pub name: HostPort,
    pub reach: Reach,
}

impl RegistryName {
    /// Whether buildkitd (in its bridge-network container) dials this name.
    pub fn buildkitd_dials(&self) -> bool {
        self.reach != Reach::HostOnly
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A registry container bkenv generates (certificate, config, htpasswd).
    Local(LocalService),
    /// A Docker Hub pull-through cache bkenv generates; pull only, no auth.
    Mirror {
        service: LocalService,
        upstream: String,
    },
    /// An existing registry: bkenv configures trust and credentials only.
    External { ca_file: Option<PathBuf> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalService {
    pub service: String,
    pub image: String,
    pub port: u16,
    pub publish: Vec<Publish>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    pub role: Role,
    pub names: Vec<RegistryName>,
    pub auth: Option<Auth>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    pub username: String,
    pub password_env: Option<String>,
}

impl Registry {
    pub fn local(&self) -> Option<&LocalService> {
        match &self.role {
            Role::Local(s) | Role::Mirror { service: s, .. } => Some(s),
            Role::External { .. } => None,
        }
    }

    /// Directory of this registry's generated files (`registry/`, `mirror/`).
    pub fn dir(&self) -> Option<String> {
        self.local().map(|s| s.service.clone())
    }

    /// The name that identifies the registry in messages and `.env`: the first one
    /// buildkitd dials (validation guarantees every registry has one).
    pub fn primary_name(&self) -> Option<&HostPort> {
        let dialled = self.names.iter().find(|n| n.buildkitd_dials());
        dialled.or(self.names.first()).map(|n| &n.name)
    }

    /// Hosts (without ports) for the server certificate's SANs.
    pub fn sans(&self) -> Vec<Host> {
        let mut sans: Vec<Host> = Vec::new();
        for n in &self.names {
            push_unique(&mut sans, n.name.host.clone());
            if n.name.host == Host::Dns("localhost".into()) {
                // Host-side clients may dial the loopback IPs directly.
                push_unique(&mut sans, Host::Ip([127, 0, 0, 1].into()));
                push_unique(&mut sans, Host::Ip(std::net::Ipv6Addr::LOCALHOST.into()));
            }
        }
        sans
    }
}

/// The BuildKit release bkenv pins (`buildkitd.image` of `templates/bkenv.toml`), which
/// doctor assumes when nothing in an environment names one.
pub(crate) const PINNED_BUILDKIT: (u32, u32, u32) = (0, 23, 2);

/// `moby/buildkit:v0.23.2-rootless` → (0, 23, 2); a missing minor or patch is 0.
/// Shared by init (what to emit) and doctor (what the image in compose supports).
pub fn image_version(image: &str) -> Option<(u32, u32, u32)> {
    let tag = image.rsplit_once(':')?.1;
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let mut parts = tag
        .split('-')
        .next()?
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

pub fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}
