//! The container view: what each compose service sees, which config buildkitd reads,
//! which certificate each registry serves and which names reach which service.

use super::parsed::{ComposeFile, RegistryConfigFile};
use super::snapshot::Snapshot;
use super::source::SourceFile;
use super::user::User;
pub(crate) use super::volumes::normalize;
pub(crate) use super::volumes::{Mount, Port};
use super::volumes::{mount, port};
use crate::diag::Location;
use std::path::{Path, PathBuf};

/// The config path the rootful image reads.
pub(crate) const ROOTFUL_CONFIG: &str = "/etc/buildkit/buildkitd.toml";
/// The config path the rootless image reads.
pub(crate) const ROOTLESS_CONFIG: &str = "/home/user/.config/buildkit/buildkitd.toml";
const REGISTRY_CONFIG: &str = "/etc/docker/registry/config.yml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    Buildkit,
    Registry,
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceView {
    pub name: String,
    pub kind: ServiceKind,
    pub image: Option<String>,
    /// Where the service is declared: index into `Snapshot::compose`, and line.
    pub file: usize,
    pub line: usize,
    pub args: Vec<String>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<Port>,
    pub network_mode: Option<String>,
    pub aliases: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables named without a value: compose takes them from the shell it runs in.
    pub env_from_host: Vec<String>,
    /// The line of `environment`.
    pub env_line: Option<usize>,
    /// `extra_hosts` entries: `(name, address)`, the address possibly `host-gateway`.
    pub extra_hosts: Vec<(String, String)>,
    /// The line of `command` (or `entrypoint`), where flags are reported.
    pub args_line: Option<usize>,
    /// The healthcheck's `test`, as written, and its line.
    pub healthcheck: Option<(crate::doctor::parsed::StrOrList, usize)>,
    /// Compose `user:` and `group_add:`, and whether `entrypoint:` replaces the image's.
    pub user_spec: Option<String>,
    pub group_add: Vec<String>,
    pub entrypoint_set: bool,
}

impl ServiceView {
    /// Who the service runs as ([`super::user`]): the image's user or compose `user:`.
    pub(crate) fn user(&self) -> User {
        let replaced = self.entrypoint_set && !self.args.iter().any(|a| a.ends_with("rootlesskit"));
        super::user::resolve(
            self.image.as_deref(),
            self.user_spec.as_deref(),
            &self.group_add,
            replaced,
        )
    }

    /// The host file (relative to the root) that appears at `container_path`, through
    /// file or directory bind mounts (the longest matching mount wins).
    pub(crate) fn resolve(&self, container_path: &str) -> Option<(PathBuf, &Mount)> {
        let target = Path::new(container_path);
        self.mounts
            .iter()
            .filter(|m| target.starts_with(&m.container))
            .max_by_key(|m| m.container.len())
            .and_then(|m| {
                let rest = target.strip_prefix(&m.container).ok()?;
                let host = m.host.as_ref()?;
                Some((normalize(&host.join(rest)), m))
            })
    }

    /// The buildkitd config path this service reads.
    pub(crate) fn config_path(&self) -> String {
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if a == "--config" {
                if let Some(v) = it.next() {
                    return v.clone();
                }
            } else if let Some(v) = a.strip_prefix("--config=") {
                return v.to_string();
            }
        }
        if self
            .image
            .as_deref()
            .is_some_and(|i| i.contains("rootless"))
        {
            ROOTLESS_CONFIG.to_string()
        } else {
            ROOTFUL_CONFIG.to_string()
        }
    }

    /// BuildKit version from the image tag (`moby/buildkit:v0.23.2-rootless`).
    pub(crate) fn buildkit_version(&self) -> Option<(u32, u32, u32)> {
        buildkit_image_version(self.image.as_deref()?)
    }

    pub(crate) fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The address `extra_hosts` gives `name` in this container (`host-gateway` or an
    /// IP), if any. Docker appends these entries after `127.0.0.1 localhost`, and Go
    /// dials a name's addresses in order, so a refused loopback port falls through to it.
    pub(crate) fn extra_host(&self, name: &str) -> Option<&str> {
        self.extra_hosts
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| a.as_str())
    }

    pub(crate) fn bridge_network(&self) -> bool {
        self.network_mode.as_deref() != Some("host")
    }

    /// Names that reach this service inside the compose network (without port).
    pub(crate) fn network_names(&self) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        v.extend(self.aliases.iter().cloned());
        v
    }
}

/// The BuildKit release an image runs, when it is BuildKit's own image (`moby/buildkit`,
/// or a copy named `.../buildkit`) with a version tag. Other images that carry
/// "buildkit" in their name (`earthly/buildkitd:v0.6.28`) number their own releases.
pub(crate) fn buildkit_image_version(image: &str) -> Option<(u32, u32, u32)> {
    let image = image.split('@').next().unwrap_or(image);
    // A `:` followed by a `/` is a registry port (`reg:5000/moby/buildkit`), not a tag.
    let (repo, _) = image.rsplit_once(':').filter(|(_, t)| !t.contains('/'))?;
    let name = repo.rsplit('/').next().unwrap_or(repo);
    if !name.eq_ignore_ascii_case("buildkit") {
        return None;
    }
    crate::model::image_version(image)
}

/// A registry service with its config and served TLS material (container paths).
#[derive(Debug, Clone)]
pub(crate) struct RegistryView {
    pub service: usize,
    /// Index into `Snapshot::registry_configs`.
    pub config: Option<usize>,
    pub port: u16,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub htpasswd: Option<String>,
    /// `auth.token.realm`: clients authenticate with a bearer token from there.
    pub token_realm: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct View {
    /// Index of the compose file in the snapshot.
    pub compose: Option<usize>,
    pub services: Vec<ServiceView>,
    pub registries: Vec<RegistryView>,
}

impl View {
    pub(crate) fn buildkit_services(&self) -> impl Iterator<Item = &ServiceView> {
        self.services
            .iter()
            .filter(|s| s.kind == ServiceKind::Buildkit)
    }

    /// The registry reached by `host` (`name:port`) from inside the network, or from
    /// the host through a published port; `true` when reached from the host side.
    pub(crate) fn registry_for(&self, host: &str) -> Option<(&RegistryView, bool)> {
        let (name, port) = crate::hostport::split(host);
        let port = port.and_then(|p| p.parse::<u16>().ok());
        self.registries.iter().find_map(|r| {
            let s = self.services.get(r.service)?;
            let inside =
                s.network_names().iter().any(|n| n == name) && port.unwrap_or(443) == r.port;
            let outside = crate::hostport::is_loopback(name)
                && s.ports
                    .iter()
                    .any(|p| p.target == r.port && p.published.is_some() && p.published == port);
            (inside || outside).then_some((r, outside && !inside))
        })
    }

    pub(crate) fn service(&self, r: &RegistryView) -> Option<&ServiceView> {
        self.services.get(r.service)
    }
}

/// The names `docker compose` loads by default, in its order of precedence, and the
/// override file it merges on top of each; then podman-compose's own names, which it
/// reads when no Docker Compose name is present.
const DEFAULT_FILES: &[(&str, &[&str])] = &[
    (
        "compose.yaml",
        &["compose.override.yaml", "compose.override.yml"],
    ),
    (
        "compose.yml",
        &["compose.override.yml", "compose.override.yaml"],
    ),
    (
        "docker-compose.yaml",
        &[
            "docker-compose.override.yaml",
            "docker-compose.override.yml",
        ],
    ),
    (
        "docker-compose.yml",
        &[
            "docker-compose.override.yml",
            "docker-compose.override.yaml",
        ],
    ),
    ("podman-compose.yaml", &[]),
    ("podman-compose.yml", &[]),
    (
        "container-compose.yml",
        &[
            "container-compose.override.yml",
            "container-compose.override.yaml",
        ],
    ),
    (
        "container-compose.yaml",
        &[
            "container-compose.override.yaml",
            "container-compose.override.yml",
        ],
    ),
];

/// The compose file the project is defined by (a default name first, like `docker
/// compose` without `-f`, else the first that parses) and its override file, if any.
fn project_files(snap: &Snapshot) -> Option<(usize, Option<usize>)> {
    let parsed = |i: &usize| snap.compose.get(*i).is_some_and(|c| c.doc.is_ok());
    let named = |name: &str| {
        (0..snap.compose.len()).filter(parsed).find(|i| {
            snap.compose[*i]
                .src
                .path
                .file_name()
                .is_some_and(|n| n == name)
        })
    };
    for (base, overrides) in DEFAULT_FILES {
        if let Some(b) = named(base) {
            let dir = snap.compose[b].src.path.parent();
            let over = overrides.iter().find_map(|o| {
                (0..snap.compose.len()).filter(parsed).find(|i| {
                    let p = &snap.compose[*i].src.path;
                    p.parent() == dir && p.file_name().is_some_and(|n| n == *o)
                })
            });
            return Some((b, over));
        }
    }
    (0..snap.compose.len()).find(parsed).map(|i| (i, None))
}

/// Merges an override service into its base the way compose does: single values are
/// replaced, volumes merge by container path, ports and aliases add up, environment
/// variables merge by name.
fn merge_service(base: &mut ServiceView, over: ServiceView) {
    if over.image.is_some() {
        base.image = over.image;
        base.kind = over.kind;
    }
    if !over.args.is_empty() {
        base.args = over.args;
        base.args_line = over.args_line;
    }
    if over.healthcheck.is_some() {
        base.healthcheck = over.healthcheck;
    }
    for h in over.extra_hosts {
        if !base.extra_hosts.contains(&h) {
            base.extra_hosts.push(h);
        }
    }
    if over.network_mode.is_some() {
        base.network_mode = over.network_mode;
    }
    if over.user_spec.is_some() {
        base.user_spec = over.user_spec;
    }
    base.group_add.extend(over.group_add);
    base.entrypoint_set |= over.entrypoint_set;
    for m in over.mounts {
        base.mounts.retain(|b| b.container != m.container);
        base.mounts.push(m);
    }
    base.ports.extend(over.ports);
    for a in over.aliases {
        if !base.aliases.contains(&a) {
            base.aliases.push(a);
        }
    }
    for (k, v) in over.env {
        base.env.retain(|(bk, _)| *bk != k);
        base.env_from_host.retain(|bk| *bk != k);
        base.env.push((k, v));
    }
    for k in over.env_from_host {
        base.env.retain(|(bk, _)| *bk != k);
        base.env_from_host.retain(|bk| *bk != k);
        base.env_from_host.push(k);
    }
}

/// Builds the view from the project's compose file, merged with its override file.
pub(crate) fn build(snap: &Snapshot) -> View {
    let Some((idx, over)) = project_files(snap) else {
        return View::default();
    };
    let mut merged = snap
        .compose
        .get(idx)
        .map_or_else(Vec::new, |f| services(f, idx, &snap.root_abs));
    if let Some(o) = over.and_then(|o| snap.compose.get(o).map(|f| services(f, o, &snap.root_abs)))
    {
        for s in o {
            match merged.iter_mut().find(|b| b.name == s.name) {
                Some(b) => merge_service(b, s),
                None => merged.push(s),
            }
        }
    }
    let services = merged;
    let mut view = View {
        compose: Some(idx),
        services,
        registries: Vec::new(),
    };
    for (i, s) in view.services.iter().enumerate() {
        if s.kind != ServiceKind::Registry {
            continue;
        }
        let config = s.resolve(REGISTRY_CONFIG).and_then(|(host, _)| {
            snap.registry_configs
                .iter()
                .position(|r| r.src.path == host)
        });
        let doc = config
            .and_then(|c| snap.registry_configs.get(c))
            .and_then(|r: &RegistryConfigFile| r.doc.as_ref().ok());
        let http = doc.and_then(|d| d.http.as_ref());
        let tls = http.and_then(|h| h.tls.as_ref());
        let addr = s
            .env_var("REGISTRY_HTTP_ADDR")
            .map(str::to_string)
            .or_else(|| http.and_then(|h| h.addr.as_ref()).map(|a| a.value.clone()));
        let port = addr
            .and_then(|a| crate::hostport::split(&a).1.and_then(|p| p.parse().ok()))
            .unwrap_or(5000);
        let pick = |env: &str, f: Option<String>| s.env_var(env).map(str::to_string).or(f);
        view.registries.push(RegistryView {
            service: i,
            config,
            port,
            tls_cert: pick(
                "REGISTRY_HTTP_TLS_CERTIFICATE",
                tls.and_then(|t| t.value.certificate.as_ref())
                    .map(|c| c.value.clone()),
            ),
            tls_key: pick(
                "REGISTRY_HTTP_TLS_KEY",
                tls.and_then(|t| t.value.key.as_ref())
                    .map(|c| c.value.clone()),
            ),
            htpasswd: pick(
                "REGISTRY_AUTH_HTPASSWD_PATH",
                doc.and_then(|d| d.auth.as_ref())
                    .and_then(|a| a.htpasswd.as_ref())
                    .and_then(|h| h.path.as_ref())
                    .map(|p| p.value.clone()),
            ),
            token_realm: pick(
                "REGISTRY_AUTH_TOKEN_REALM",
                doc.and_then(|d| d.auth.as_ref())
                    .and_then(|a| a.token.as_ref())
                    .and_then(|t| t.realm.clone()),
            ),
        });
    }
    view
}

/// The services of one compose file; `idx` is its index in `Snapshot::compose`, `roots`
/// the root's absolute path (for absolute bind-mount sources).
pub(super) fn services(file: &ComposeFile, idx: usize, roots: &[PathBuf]) -> Vec<ServiceView> {
    let Ok(doc) = &file.doc else {
        return Vec::new();
    };
    let base = file
        .src
        .path
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let mut out = Vec::new();
    for (name, svc) in &doc.services {
        let s = &svc.value;
        let image = s.image.as_ref().map(|i| i.value.clone());
        let lower = image.clone().unwrap_or_default().to_ascii_lowercase();
        let repo = lower.rsplit_once(':').map_or(lower.as_str(), |(r, _)| r);
        let kind = if repo.contains("buildkit") {
            ServiceKind::Buildkit
        } else if repo == "registry" || repo.ends_with("/registry") || repo.contains("distribution")
        {
            ServiceKind::Registry
        } else {
            ServiceKind::Other
        };
        let mut args = s
            .entrypoint
            .as_ref()
            .map(|c| c.value.args())
            .unwrap_or_default();
        args.extend(
            s.command
                .as_ref()
                .map(|c| c.value.args())
                .unwrap_or_default(),
        );
        let mounts = s
            .volumes
            .iter()
            .filter_map(|v| mount(&base, &v.value, idx, v.referenced.line() as usize, roots))
            .collect();
        let ports = s.ports.iter().filter_map(|p| port(&p.value)).collect();
        let from_host = s
            .environment
            .as_ref()
            .map(|e| e.value.from_host())
            .unwrap_or_default();
        let mut aliases: Vec<String> = s.hostname.iter().cloned().collect();
        if let Some(super::parsed::NetworksDoc::Map(m)) = &s.networks {
            aliases.extend(m.values().flatten().flat_map(|a| a.aliases.clone()));
        }
        out.push(ServiceView {
            name: name.clone(),
            kind,
            image,
            file: idx,
            line: key_line(&file.src, name, svc.referenced.line() as usize),
            args,
            mounts,
            ports,
            network_mode: s.network_mode.as_ref().map(|n| n.value.clone()),
            aliases,
            env: s
                .environment
                .as_ref()
                .map(|e| e.value.pairs())
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !from_host.contains(k))
                .collect(),
            env_from_host: from_host,
            env_line: s.environment.as_ref().map(|e| e.referenced.line() as usize),
            extra_hosts: s
                .extra_hosts
                .as_ref()
                .map(|e| e.pairs())
                .unwrap_or_default(),
            args_line: s
                .command
                .as_ref()
                .or(s.entrypoint.as_ref())
                .map(|c| c.referenced.line() as usize),
            healthcheck: s
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.as_ref())
                .map(|t| (t.value.clone(), t.referenced.line() as usize)),
            user_spec: s.user.as_ref().map(super::parsed::Scalar::text),
            group_add: s
                .group_add
                .iter()
                .map(super::parsed::Scalar::text)
                .collect(),
            entrypoint_set: s.entrypoint.is_some(),
        });
    }
    out
}

/// The line of `name:` at or before `near`.
fn key_line(src: &SourceFile, name: &str, near: usize) -> usize {
    (1..=near)
        .rev()
        .find(|l| {
            src.line_text(*l).is_some_and(|t| {
                t.trim().trim_matches('"').starts_with(&format!("{name}:"))
                    || t.trim() == format!("\"{name}\":")
            })
        })
        .unwrap_or(near)
}

/// Where `svc` sets the environment variable `key` (a `KEY=v` list item or a `KEY: v`
/// map entry at or after the service's line), else the service's own line.
pub(crate) fn env_loc(snap: &Snapshot, svc: &ServiceView, key: &str) -> Option<Location> {
    let file = snap.compose.get(svc.file)?;
    let sets = |t: &str| {
        let t = t.trim_start().trim_start_matches("- ").trim_start();
        let t = t.trim_start_matches(['"', '\'']);
        t.strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(['=', ':', '"', '\'']) || rest.is_empty())
    };
    let line = (svc.line..=file.src.line_count())
        .find(|l| file.src.line_text(*l).is_some_and(sets))
        .unwrap_or(svc.line);
    Some(file.src.loc_line(line))
}

/// A location on a line of the compose file.
pub(crate) fn compose_loc(snap: &Snapshot, file: usize, line: usize) -> Option<Location> {
    let file = snap.compose.get(file)?;
    Some(file.src.loc_line(line))
}
