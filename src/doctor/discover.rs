//! Discovery: walk the environment and classify the files doctor understands.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// What a discovered file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    BuildkitdToml,
    Compose,
    DockerConfig,
    RegistryConfig,
    Htpasswd,
    Pem,
    Dockerfile,
    Env,
    /// CI files, shell scripts and Makefiles: build commands with their flags.
    Ci,
    /// A builder in buildx's store: `$DOCKER_CONFIG/buildx/instances/NAME` (JSON).
    BuildxInstance,
    /// A config for `docker buildx create --config` under a `buildx/` directory
    /// (`init` writes `buildx/builder.toml`): host paths, not a daemon's own config.
    BuildxConfig,
    /// `docker buildx bake` files (HCL or JSON).
    Bake,
    /// bkenv's own state manifest (`.bkenv/state.json`): the CA rotation in progress.
    BkenvState,
}

/// A file found by discovery or named explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Absolute (or root-joined) path used for reading.
    pub path: PathBuf,
    pub kind: FileKind,
}

/// A path that could not be walked or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
}

const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules", "vendor", "third_party"];

/// Walks `root`, never following links, and classifies each file by name and, where
/// the name is ambiguous, by a peek at its content (`peek` returns `None` if unreadable).
/// Directories are not sorted while walking (that was a third of the time on large
/// trees); the files found are sorted at the end, so output stays deterministic.
pub fn discover(root: &Path) -> (Vec<Discovered>, Vec<Unreadable>) {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                bad.push(Unreadable {
                    path: e.path().map(Path::to_path_buf).unwrap_or_default(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        // Classified by the full path: a path's final components (all `classify` looks
        // at) are the same with or without the root, and stripping the root from
        // 200,000 paths was a fifth of a monorepo walk.
        let path = entry.path();
        let ft = entry.file_type();
        if !ft.is_file() {
            // Symlinks are not followed: a link may point out of the tree (or at itself).
            // FIFOs, sockets and devices are never opened (opening a FIFO blocks), but
            // one named like a file doctor reads is reported.
            if !ft.is_dir() && !ft.is_symlink() && classify(path, || None) != Ok(None) {
                bad.push(Unreadable {
                    path: path.to_path_buf(),
                    reason: not_regular(&ft).to_string(),
                });
            }
            continue;
        }
        let mut why = None;
        let read = || read_bounded(path).map_err(|e| why = Some(e)).ok();
        match classify(path, read) {
            Ok(Some(kind)) => found.push(Discovered {
                path: path.to_path_buf(),
                kind,
            }),
            Ok(None) => {}
            Err(NeedsContent) => bad.push(Unreadable {
                path: path.to_path_buf(),
                reason: why.unwrap_or_else(|| "not readable".to_string()),
            }),
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    bad.sort_by(|a, b| a.path.cmp(&b.path));
    (found, bad)
}

/// The content was needed to classify a file but could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsContent;

/// Classifies a file by its path. `read` is called only when the content decides;
/// `Err(NeedsContent)` means the content was needed but could not be read.
///
/// Runs once per file of the tree, so it looks at the path's bytes (no component
/// parsing, no allocation) until a name matches.
pub fn classify(
    path: &Path,
    read: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<Option<FileKind>, NeedsContent> {
    let bytes = path.as_os_str().as_encoded_bytes();
    let name = bytes.rsplit(|b| *b == b'/').next().unwrap_or(bytes);
    let ext = match name.iter().rposition(|b| *b == b'.') {
        Some(i) if i > 0 => &name[i + 1..],
        _ => &[][..],
    };
    let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
    let starts = |a: &[u8], b: &str| a.len() >= b.len() && is(&a[..b.len()], b);
    let ends = |a: &[u8], b: &str| a.len() >= b.len() && is(&a[a.len() - b.len()..], b);
    let yaml = is(ext, "yml") || is(ext, "yaml");
    let in_workflows = || {
        path.parent()
            .is_some_and(|p| p.ends_with(".github/workflows"))
    };
    if is(name, ".gitlab-ci.yml") || (yaml && in_workflows()) {
        return Ok(Some(FileKind::Ci));
    }
    // Where people write build commands besides CI files.
    if is(ext, "sh")
        || is(ext, "bash")
        || is(ext, "mk")
        || is(name, "Makefile")
        || is(name, "GNUmakefile")
        || is(name, "Jenkinsfile")
    {
        return Ok(Some(FileKind::Ci));
    }
    if starts(name, "docker-bake") && (is(ext, "hcl") || is(ext, "json")) {
        return Ok(Some(FileKind::Bake));
    }
    if is(name, "buildkitd.toml") {
        return Ok(Some(FileKind::BuildkitdToml));
    }
    let parent_is = |dir: &str| path.parent().is_some_and(|p| p.ends_with(dir));
    if parent_is("buildx/instances") {
        return Ok(Some(FileKind::BuildxInstance));
    }
    if is(ext, "toml") && parent_is("buildx") {
        return Ok(Some(FileKind::BuildxConfig));
    }
    // Docker Compose's names, and podman-compose's own (`podman-compose.yml`,
    // `container-compose.yml`) besides them.
    let compose = [
        "docker-compose",
        "compose",
        "podman-compose",
        "container-compose",
    ];
    if yaml && compose.iter().any(|c| starts(name, c)) {
        return Ok(Some(FileKind::Compose));
    }
    if starts(name, "dockerfile") || starts(name, "containerfile") || ends(name, ".dockerfile") {
        return Ok(Some(FileKind::Dockerfile));
    }
    if is(name, ".env") {
        return Ok(Some(FileKind::Env));
    }
    if is(name, "htpasswd") || is(name, ".htpasswd") || is(ext, "htpasswd") {
        return Ok(Some(FileKind::Htpasswd));
    }
    if ["crt", "cert", "pem", "key"].iter().any(|e| is(ext, e)) {
        return Ok(Some(FileKind::Pem));
    }
    let peek = |read: Box<dyn FnOnce() -> Option<Vec<u8>> + '_>| -> Result<String, NeedsContent> {
        read()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or(NeedsContent)
    };
    if is(name, "bkenv.toml") {
        // bkenv's own spec, not a daemon config.
        return Ok(None);
    }
    if is(name, "state.json") && path.parent().is_some_and(|p| p.ends_with(".bkenv")) {
        return Ok(Some(FileKind::BkenvState));
    }
    if is(ext, "toml") {
        let text = peek(Box::new(read))?;
        let hit = text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("[grpc") || l.starts_with("[registry.") || l.starts_with("[[registry.")
        });
        return Ok(hit.then_some(FileKind::BuildkitdToml));
    }
    if is(name, "config.json") || is(name, ".dockerconfigjson") {
        let text = peek(Box::new(read))?;
        let hit = ["\"auths\"", "\"credsStore\"", "\"credHelpers\""]
            .iter()
            .any(|k| text.contains(k));
        return Ok(hit.then_some(FileKind::DockerConfig));
    }
    if yaml {
        let text = peek(Box::new(read))?;
        let top = |k: &str| text.lines().any(|l| l.starts_with(k));
        return Ok((top("storage:") && top("http:")).then_some(FileKind::RegistryConfig));
    }
    Ok(None)
}

/// The largest file doctor reads (shared with init: [`crate::safefs`]). Config files,
/// certificates and keys are kilobytes; anything bigger is reported (BK900).
pub const MAX_FILE_BYTES: u64 = crate::safefs::MAX_FILE_BYTES;

/// Reads a regular file of at most [`MAX_FILE_BYTES`]; FIFOs, sockets and devices are
/// refused without blocking. The error is a reason for BK900.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    crate::safefs::read_bounded(path, crate::safefs::Links::Follow).map_err(|e| e.to_string())
}

/// Why a path that is not a regular file was not read.
pub(crate) fn not_regular(ft: &std::fs::FileType) -> &'static str {
    crate::safefs::not_regular(ft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str, content: &str) -> Option<FileKind> {
        classify(Path::new(path), || Some(content.as_bytes().to_vec())).unwrap_or(None)
    }

    #[test]
    fn classifies_by_name_and_content() {
        assert_eq!(
            kind("buildkit/buildkitd.toml", ""),
            Some(FileKind::BuildkitdToml)
        );
        assert_eq!(kind("x.toml", "[grpc]\n"), Some(FileKind::BuildkitdToml));
        assert_eq!(kind("Cargo.toml", "[package]\n"), None);
        assert_eq!(kind("bkenv.toml", "[[registry]]\nname = \"r\"\n"), None);
        assert_eq!(kind("docker-compose.yml", ""), Some(FileKind::Compose));
        assert_eq!(kind("compose.yaml", ""), Some(FileKind::Compose));
        assert_eq!(kind("compose.yml", ""), Some(FileKind::Compose));
        assert_eq!(kind("podman-compose.yml", ""), Some(FileKind::Compose));
        assert_eq!(kind("podman-compose.yaml", ""), Some(FileKind::Compose));
        assert_eq!(kind("container-compose.yml", ""), Some(FileKind::Compose));
        assert_eq!(
            kind("docker-compose.prod.yaml", ""),
            Some(FileKind::Compose)
        );
        assert_eq!(
            kind(
                "registry/config.yml",
                "version: 0.1\nstorage:\n  x: 1\nhttp:\n  addr: :5000\n"
            ),
            Some(FileKind::RegistryConfig)
        );
        assert_eq!(kind("other.yml", "a: 1\n"), None);
        assert_eq!(
            kind("docker/config.json", "{\"auths\":{}}"),
            Some(FileKind::DockerConfig)
        );
        assert_eq!(kind("package.json", "{}"), None);
        assert_eq!(kind("Dockerfile.dev", ""), Some(FileKind::Dockerfile));
        assert_eq!(kind("app.Dockerfile", ""), Some(FileKind::Dockerfile));
        assert_eq!(kind(".github/workflows/ci.yml", ""), Some(FileKind::Ci));
        assert_eq!(kind(".gitlab-ci.yml", ""), Some(FileKind::Ci));
        assert_eq!(kind("scripts/build.sh", ""), Some(FileKind::Ci));
        assert_eq!(kind("Makefile", ""), Some(FileKind::Ci));
        assert_eq!(kind("build/docker.mk", ""), Some(FileKind::Ci));
        assert_eq!(kind("docker-bake.hcl", ""), Some(FileKind::Bake));
        assert_eq!(kind("docker-bake.override.json", ""), Some(FileKind::Bake));
        assert_eq!(kind("bake.hcl", ""), None);
        assert_eq!(kind("ca/ca.key", ""), Some(FileKind::Pem));
        assert_eq!(kind("registry/auth/htpasswd", ""), Some(FileKind::Htpasswd));
        assert_eq!(
            kind("docker/buildx/instances/b", "{}"),
            Some(FileKind::BuildxInstance)
        );
        assert_eq!(
            kind("buildx/builder.toml", ""),
            Some(FileKind::BuildxConfig)
        );
        assert_eq!(kind("docker/buildx/current", "{}"), None);
        // Scripts are read whatever they run: build flags (refs) and buildx lines alike.
        assert_eq!(
            kind("Makefile", "b:\n\tdocker buildx create x\n"),
            Some(FileKind::Ci)
        );
    }
}

#[cfg(all(test, unix))]
mod link_tests {
    use super::*;

    #[test]
    fn links_out_of_the_tree_are_not_followed() {
        let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(outside.path().join("buildkitd.toml"), "[grpc]\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(outside.path(), root.path().join("elsewhere"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(
            outside.path().join("buildkitd.toml"),
            root.path().join("buildkitd.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(root.path().join(".git")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.path().join(".git/config.json"), "{\"auths\":{}}")
            .unwrap_or_else(|e| panic!("{e}"));
        let (found, bad) = discover(root.path());
        assert!(found.is_empty(), "{found:?}");
        assert!(bad.is_empty(), "{bad:?}");
    }
}
