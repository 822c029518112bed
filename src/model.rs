//! The environment model: one description of a BuildKit + registry environment that
//! `init` builds from the spec and writes files from. Names are validated here once, so
//! renderers never see a malformed host.

use crate::hostport::{Host, HostPort};
use crate::pki::{KeyType, Usage};
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
    /// buildkitd's files: its config and `certs/`, all loaded at start.
    pub const BUILDKIT_DIR: &str = "buildkit";
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
    /// The Kubernetes form of the environment (`render::kubernetes`): manifests and a
    /// `kustomization.yaml` for `kubectl apply -k`, the files its generators read, and
    /// containerd's `certs.d` for the nodes.
    pub const KUBE_DIR: &str = "kubernetes";
    /// Sources of kustomize's `secretGenerator`: private keys and htpasswd (0600,
    /// gitignored). kustomize reads only files below the kustomization.
    pub const KUBE_SECRETS: &str = "kubernetes/secrets";
    /// Sources of its `configMapGenerator` (no secret in them).
    pub const KUBE_FILES: &str = "kubernetes/files";
    /// `hosts.toml` and `ca.crt` per registry `host:port`, for `/etc/containerd/certs.d`.
    pub const KUBE_CONTAINERD: &str = "kubernetes/containerd/certs.d";
    /// Where nodes keep containerd's registry host directories.
    pub const CONTAINERD_CERTS_D: &str = "/etc/containerd/certs.d";
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
        BUILDKIT_DIR,
        CLIENT_DIR,
        DOCKER_CONFIG_DIR,
        CERTS_D,
        BUILDX_DIR,
        STATE_DIR,
        COMPOSE,
        DOTENV,
        GITIGNORE,
        HELLO_DIR,
        KUBE_DIR,
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

    /// `path` as the user sees it: relative to the environment root when inside it.
    pub fn relative(root: &std::path::Path, path: &std::path::Path) -> String {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// A validated environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub pki: Pki,
    pub buildkitd: Buildkitd,
    /// Local registries first, then external ones, then the mirror.
    pub registries: Vec<Registry>,
    /// Also written as Kubernetes manifests (`[kubernetes]` of the spec).
    pub kubernetes: Option<Kubernetes>,
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

/// Where the Kubernetes form of the environment runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Kubernetes {
    pub namespace: String,
    pub cluster_domain: String,
}

impl Kubernetes {
    /// Every DNS name a Service answers to, the way pods dial it: the bare name (same
    /// namespace, through the resolv.conf search list), `NAME.NS`, `NAME.NS.svc` and
    /// `NAME.NS.svc.DOMAIN`. Each must be a SAN of the certificate behind the Service.
    pub fn service_names(&self, service: &str) -> [String; 4] {
        let ns = &self.namespace;
        [
            service.to_string(),
            format!("{service}.{ns}"),
            format!("{service}.{ns}.svc"),
            format!("{service}.{ns}.svc.{}", self.cluster_domain),
        ]
    }
}

/// Whose leaf certificate it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafRole {
    /// buildkitd's gRPC server certificate.
    Buildkitd,
    /// buildctl's client certificate (mutual TLS only).
    Client,
    /// A local registry's (or the mirror's) server certificate.
    Registry { service: String },
}

impl LeafRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            LeafRole::Buildkitd => "buildkitd",
            LeafRole::Client => "client",
            LeafRole::Registry { .. } => "registry",
        }
    }
}

/// A leaf certificate of the environment: where its pair lives and what it is for.
/// `init` issues from this list, `status` and `rotate-ca` read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub role: LeafRole,
    /// Relative to the environment root.
    pub cert: String,
    pub key: String,
    pub common_name: String,
    pub sans: Vec<Host>,
    pub usage: Usage,
}

/// A long-running service and the directory of generated files it loads at start.
/// Files a client reads on every run (`client/`, `certs.d/`, `docker/`) need no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// The compose service name.
    pub service: String,
    /// Relative to the environment root, with a trailing `/`.
    pub dir: String,
}

impl Environment {
    /// Every leaf certificate, in the order `init` issues them.
    pub fn leaves(&self) -> Vec<Leaf> {
        let mut out = vec![self.buildkitd_leaf()];
        out.extend(self.client_leaf());
        out.extend(self.registry_leaves());
        out
    }

    /// buildkitd's server certificate.
    pub fn buildkitd_leaf(&self) -> Leaf {
        let bk = &self.buildkitd;
        Leaf {
            role: LeafRole::Buildkitd,
            cert: format!("{}/server.crt", layout::BUILDKIT_CERTS),
            key: format!("{}/server.key", layout::BUILDKIT_CERTS),
            common_name: bk.service.clone(),
            sans: bk.sans.clone(),
            usage: Usage::Server,
        }
    }

    /// buildctl's client certificate, with mutual TLS.
    pub fn client_leaf(&self) -> Option<Leaf> {
        self.buildkitd.mtls.then(|| Leaf {
            role: LeafRole::Client,
            cert: format!("{}/client.crt", layout::CLIENT_DIR),
            key: format!("{}/client.key", layout::CLIENT_DIR),
            // No dot: OpenSSL would hold a dotted CN to the CA's DNS constraints.
            common_name: "buildctl".to_string(),
            sans: Vec::new(),
            usage: Usage::Client,
        })
    }

    /// The server certificate of each local registry and of the mirror.
    pub fn registry_leaves(&self) -> Vec<Leaf> {
        let mut out = Vec::new();
        for reg in &self.registries {
            if let Some(local) = reg.local() {
                let service = &local.service;
                out.push(Leaf {
                    role: LeafRole::Registry {
                        service: service.clone(),
                    },
                    cert: format!("{service}/certs/registry.crt"),
                    key: format!("{service}/certs/registry.key"),
                    common_name: service.clone(),
                    sans: reg.sans(),
                    usage: Usage::Server,
                });
            }
        }
        out
    }

    /// Every file that hands the environment CA to a client or daemon as a trust
    /// anchor (a CA rotation makes each a bundle of the old and the new CA).
    pub fn trust_files(&self) -> Vec<String> {
        let mut out = vec![
            format!("{}/ca.crt", layout::BUILDKIT_CERTS),
            format!("{}/ca.crt", layout::CLIENT_DIR),
        ];
        for reg in self.registries.iter().filter(|r| r.local().is_some()) {
            for n in &reg.names {
                out.push(format!("{}/{}/ca.crt", layout::CERTS_D, n.name));
            }
        }
        out
    }

    /// The services that load generated files once, at start.
    pub fn daemons(&self) -> Vec<Daemon> {
        let mut out = vec![Daemon {
            service: self.buildkitd.service.clone(),
            dir: format!("{}/", layout::BUILDKIT_DIR),
        }];
        for reg in &self.registries {
            if let Some(local) = reg.local() {
                out.push(Daemon {
                    service: local.service.clone(),
                    dir: format!("{}/", local.service),
                });
            }
        }
        out
    }
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
