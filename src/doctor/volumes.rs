//! Compose volume and port syntax (short and long forms) for the container view.

use super::parsed::{PortDoc, VolumeDoc};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub(crate) struct Mount {
    /// Host path relative to the environment root (`None` for named volumes).
    pub host: Option<PathBuf>,
    pub container: String,
    /// Where it is declared: index into `Snapshot::compose`, and line.
    pub file: usize,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub host_ip: Option<String>,
    pub published: Option<u16>,
    pub target: u16,
}

/// One compose volume; `base` is the compose file's directory (relative to the root)
/// and `roots` the root's absolute path ([`crate::doctor::Snapshot::root_abs`]).
pub(super) fn mount(
    base: &Path,
    v: &VolumeDoc,
    file: usize,
    line: usize,
    roots: &[PathBuf],
) -> Option<Mount> {
    let (source, target) = match v {
        VolumeDoc::Short(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [t] => (None, t.to_string()),
                [s, t, ..] => (Some(s.to_string()), t.to_string()),
                [] => return None,
            }
        }
        VolumeDoc::Long {
            kind,
            source,
            target,
        } => {
            let src = if kind.as_deref().is_none_or(|k| k == "bind") {
                source.clone()
            } else {
                None
            };
            (src, target.clone())
        }
    };
    let container = target.trim_end_matches('/').to_string();
    let (host, container) = match source.filter(|s| s.starts_with('.') || s.starts_with('/')) {
        Some(s) => {
            let (host, container) = place(base, Path::new(&s), &container, roots);
            (Some(host), container)
        }
        None => (None, container),
    };
    Some(Mount {
        host,
        container,
        file,
        line,
    })
}

/// Where a bind-mount source lies for doctor, which sees only files under the root.
/// A source inside the root becomes root-relative. A source that holds the root (`/`,
/// `/tmp`, `..`, the root's own absolute path) shows every file of the root too: for
/// what doctor can see it is a mount of the root (`""`) at the container path where the
/// root appears. Anything else stays absolute. Without `roots` (a snapshot built
/// without I/O) relative sources are resolved lexically.
fn place(base: &Path, source: &Path, container: &str, roots: &[PathBuf]) -> (PathBuf, String) {
    for root in roots {
        let abs = normalize(&root.join(base).join(source));
        if let Ok(rel) = abs.strip_prefix(root) {
            return (rel.to_path_buf(), container.to_string());
        }
        if let Ok(rest) = root.strip_prefix(&abs) {
            let inside = format!("{}/{}", container.trim_end_matches('/'), rest.display());
            return (PathBuf::new(), inside.trim_end_matches('/').to_string());
        }
    }
    let host = if source.is_absolute() {
        normalize(source)
    } else if let Some(root) = roots.first() {
        normalize(&root.join(base).join(source))
    } else {
        normalize(&base.join(source))
    };
    (host, container.to_string())
}

pub(super) fn port(p: &PortDoc) -> Option<Port> {
    match p {
        PortDoc::Num(n) => Some(Port {
            host_ip: None,
            published: None,
            target: u16::try_from(*n).ok()?,
        }),
        PortDoc::Str(s) => {
            let s = s.split('/').next().unwrap_or(s);
            let parts: Vec<&str> = s.rsplitn(3, ':').collect();
            let target = parts.first()?.parse().ok()?;
            Some(Port {
                host_ip: parts.get(2).map(|h| h.to_string()),
                published: parts.get(1).and_then(|p| p.parse().ok()),
                target,
            })
        }
        PortDoc::Long {
            target,
            published,
            host_ip,
        } => Some(Port {
            host_ip: host_ip.clone(),
            published: published.as_ref().and_then(|p| p.text().parse().ok()),
            target: u16::try_from(*target).ok()?,
        }),
    }
}

/// Lexically normalizes `a/./b/../c` to `a/c`.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
