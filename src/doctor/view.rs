//! The container view: what each compose service sees, which config buildkitd reads,
//! which certificate each registry serves and which names reach which service.

use super::load::Snapshot;
use super::model::{ComposeFile, RegistryConfigFile};
use super::source::SourceFile;
pub use super::volumes::normalize;
use super::volumes::{mount, port};
use crate::diag::Location;
use std::path::{Path, PathBuf};

/// The config path the rootful image reads.
pub const ROOTFUL_CONFIG: &str = "/etc/buildkit/buildkitd.toml";
/// The config path the rootless image reads.
pub const ROOTLESS_CONFIG: &str = "/home/user/.config/buildkit/buildkitd.toml";
const REGISTRY_CONFIG: &str = "/etc/docker/registry/config.yml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Buildkit,
    Registry,
    Other,
}

#[derive(Debug, Clone)]
pub struct Mount {
    /// Host path relative to the environment root (`None` for named volumes).
    pub host: Option<PathBuf>,
    pub container: String,
    pub read_only: bool,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Port {
    pub host_ip: Option<String>,
    pub published: Option<u16>,
    pub target: u16,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct ServiceView {
    pub name: String,
    pub kind: ServiceKind,
    pub image: Option<String>,
    pub image_line: Option<usize>,
    pub line: usize,
    pub args: Vec<String>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<Port>,
    pub network_mode: Option<String>,
    pub aliases: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl ServiceView {
    /// The host file (relative to the root) that appears at `container_path`, through
    /// file or directory bind mounts (the longest matching mount wins).
    pub fn resolve(&self, container_path: &str) -> Option<(PathBuf, &Mount)> {
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
    pub fn config_path(&self) -> String {
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
    pub fn buildkit_version(&self) -> Option<(u32, u32, u32)> {
        crate::model::image_version(self.image.as_deref()?)
    }

    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn bridge_network(&self) -> bool {
        self.network_mode.as_deref() != Some("host")
    }

    /// Names that reach this service inside the compose network (without port).
    pub fn network_names(&self) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        v.extend(self.aliases.iter().cloned());
        v
    }
}

/// A registry service with its config and served TLS material (container paths).
#[derive(Debug, Clone)]
pub struct RegistryView {
    pub service: usize,
    /// Index into `Snapshot::registry_configs`.
    pub config: Option<usize>,
    pub port: u16,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub htpasswd: Option<String>,
}

#[derive(Debug, Default)]
pub struct View {
    /// Index of the compose file in the snapshot.
    pub compose: Option<usize>,
    pub services: Vec<ServiceView>,
    pub registries: Vec<RegistryView>,
}

impl View {
    pub fn buildkit_services(&self) -> impl Iterator<Item = &ServiceView> {
        self.services
            .iter()
            .filter(|s| s.kind == ServiceKind::Buildkit)
    }

    /// The registry reached by `host` (`name:port`) from inside the network, or from
    /// the host through a published port; `true` when reached from the host side.
    pub fn registry_for(&self, host: &str) -> Option<(&RegistryView, bool)> {
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) => (n, p.parse::<u16>().ok()),
            None => (host, None),
        };
        self.registries.iter().find_map(|r| {
            let s = self.services.get(r.service)?;
            let inside =
                s.network_names().iter().any(|n| n == name) && port.unwrap_or(443) == r.port;
            let outside = super::refs::is_loopback(name)
                && s.ports
                    .iter()
                    .any(|p| p.target == r.port && p.published.is_some() && p.published == port);
            (inside || outside).then_some((r, outside && !inside))
        })
    }

    pub fn service(&self, r: &RegistryView) -> Option<&ServiceView> {
        self.services.get(r.service)
    }
}

/// Builds the view from the first parseable compose file.
pub fn build(snap: &Snapshot) -> View {
    let Some((idx, file)) = snap.compose.iter().enumerate().find(|(_, c)| c.doc.is_ok()) else {
        return View::default();
    };
    let services = services(file);
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
            .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
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
        });
    }
    view
}

pub(super) fn services(file: &ComposeFile) -> Vec<ServiceView> {
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
            .filter_map(|v| mount(&base, &v.value, v.referenced.line() as usize))
            .collect();
        let ports = s
            .ports
            .iter()
            .filter_map(|p| port(&p.value, p.referenced.line() as usize))
            .collect();
        let mut aliases: Vec<String> = s.hostname.iter().cloned().collect();
        if let Some(super::model::NetworksDoc::Map(m)) = &s.networks {
            aliases.extend(m.values().flatten().flat_map(|a| a.aliases.clone()));
        }
        out.push(ServiceView {
            name: name.clone(),
            kind,
            image,
            image_line: s.image.as_ref().map(|i| i.referenced.line() as usize),
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
                .unwrap_or_default(),
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

/// A location on a line of the compose file.
pub fn compose_loc(snap: &Snapshot, view: &View, line: usize) -> Option<Location> {
    let file = snap.compose.get(view.compose?)?;
    Some(file.src.loc_line(line))
}
