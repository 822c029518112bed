//! Where report paths resolve from. Checks see paths relative to the checked directory
//! (`buildkit/buildkitd.toml`); a user, an editor or a CI annotation resolves them from the
//! working directory. `bkenv doctor sub/env` must therefore print
//! `sub/env/buildkit/buildkitd.toml`: GitHub places nothing for a path that does not exist
//! from the repository root.

use crate::diag::Finding;
use std::path::{Component, Path, PathBuf};

/// The checked directory as the user named it, and the working directory.
#[derive(Debug, Clone)]
pub struct PathBase {
    dir: PathBuf,
    cwd: Option<PathBuf>,
}

impl PathBase {
    /// `dir` as given on the command line; `cwd` the working directory (`None` if it
    /// cannot be read: absolute paths then stay absolute).
    pub fn new(dir: &Path, cwd: Option<PathBuf>) -> Self {
        PathBase {
            dir: without_cur_dir(dir),
            cwd,
        }
    }

    /// The path a finding inside the checked directory has from the working directory:
    /// relative when it lies under the working directory, absolute otherwise.
    pub fn display(&self, path: &Path) -> PathBuf {
        let joined = without_cur_dir(&self.dir.join(path));
        match &self.cwd {
            Some(cwd) if joined.is_absolute() => match joined.strip_prefix(cwd) {
                Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
                Ok(rel) => rel.to_path_buf(),
                Err(_) => joined,
            },
            _ => joined,
        }
    }

    /// The working directory as a SARIF base URI (`file:///abs/dir/`), for
    /// `originalUriBaseIds`.
    pub fn cwd_uri(&self) -> Option<String> {
        let cwd = self.cwd.as_ref()?;
        let mut uri = format!(
            "file://{}",
            super::sarif::uri_encode(&super::slash_path(cwd))
        );
        if !uri.ends_with('/') {
            uri.push('/');
        }
        Some(uri)
    }

    /// Rewrites every location of `findings` to resolve from the working directory;
    /// `pseudo` names sources that are not files (preflight's command line), kept as is.
    pub fn rebase(&self, findings: &mut [Finding], pseudo: &[&Path]) {
        for loc in findings.iter_mut().filter_map(|f| f.location.as_mut()) {
            if !pseudo.contains(&loc.path.as_path()) {
                loc.path = self.display(&loc.path);
            }
        }
    }
}

/// `./a/./b` as `a/b`: `.` components say nothing and make paths differ.
fn without_cur_dir(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::PathBase;
    use std::path::{Path, PathBuf};

    #[test]
    fn paths_resolve_from_the_working_directory() {
        let cwd = Some(PathBuf::from("/repo"));
        let sub = PathBase::new(Path::new("sub/env"), cwd.clone());
        assert_eq!(
            sub.display(Path::new("buildkit/buildkitd.toml")),
            Path::new("sub/env/buildkit/buildkitd.toml")
        );
        let here = PathBase::new(Path::new("."), cwd.clone());
        assert_eq!(here.display(Path::new(".env")), Path::new(".env"));
        let abs = PathBase::new(Path::new("/repo/./sub"), cwd.clone());
        assert_eq!(abs.display(Path::new("a.toml")), Path::new("sub/a.toml"));
        let outside = PathBase::new(Path::new("/elsewhere"), cwd.clone());
        assert_eq!(
            outside.display(Path::new("a.toml")),
            Path::new("/elsewhere/a.toml")
        );
        // An explicit file outside the checked directory is already absolute.
        assert_eq!(
            sub.display(Path::new("/repo/ci/compose.yml")),
            Path::new("ci/compose.yml")
        );
        assert_eq!(sub.cwd_uri().as_deref(), Some("file:///repo/"));
        let spaced = PathBase::new(Path::new("."), Some(PathBuf::from("/a b")));
        assert_eq!(spaced.cwd_uri().as_deref(), Some("file:///a%20b/"));
    }
}
