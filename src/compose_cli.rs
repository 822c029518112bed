//! Which Compose the user has, so that the command bkenv tells them to run exists: the
//! `docker compose` plugin (Compose v2, found where the docker CLI looks for plugins) or
//! the standalone `docker-compose` (Compose v1, or v2 installed standalone).

use crate::which;
use std::ffi::OsStr;
use std::path::PathBuf;

/// Where the docker CLI finds plugins: `$DOCKER_CONFIG/cli-plugins` (else
/// `~/.docker/cli-plugins`), then the system directories of docker/cli's
/// `cli-plugins/manager/manager_unix.go` (`defaultSystemPluginDirs`).
pub(crate) fn plugin_dirs() -> Vec<PathBuf> {
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    config
        .map(|c| c.join("cli-plugins"))
        .into_iter()
        .chain(
            [
                "/usr/local/lib/docker/cli-plugins",
                "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins",
                "/usr/libexec/docker/cli-plugins",
            ]
            .map(PathBuf::from),
        )
        .collect()
}

/// `ARGS` run with the Compose found on `path_env` (the process's `PATH` when `None`):
/// `docker compose ARGS` when the plugin is there, else `docker-compose ARGS`; with
/// neither, both forms, since either may be what the user installs.
pub(crate) fn command(path_env: Option<&OsStr>, plugin_dirs: &[PathBuf], args: &str) -> String {
    let path = path_env
        .map(ToOwned::to_owned)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let on_path = |name: &str| which::find(&path, name).is_some();
    let plugin = on_path("docker")
        && which::find_in(plugin_dirs.iter().cloned(), "docker-compose").is_some();
    if plugin {
        format!("`docker compose {args}`")
    } else if on_path("docker-compose") {
        format!("`docker-compose {args}`")
    } else {
        format!("`docker compose {args}` (or `docker-compose {args}`; neither is installed here)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn exe(dir: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn names_the_compose_that_exists() {
        let (bin, plugins) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let path = bin.path().as_os_str();
        let dirs = [plugins.path().to_path_buf()];
        assert!(command(Some(path), &dirs, "up -d").contains("neither is installed"));
        exe(bin.path(), "docker-compose");
        assert_eq!(
            command(Some(path), &dirs, "up -d"),
            "`docker-compose up -d`"
        );
        // The plugin without the docker CLI is not a command.
        exe(plugins.path(), "docker-compose");
        assert_eq!(
            command(Some(path), &dirs, "up -d"),
            "`docker-compose up -d`"
        );
        exe(bin.path(), "docker");
        assert_eq!(
            command(Some(path), &dirs, "up -d"),
            "`docker compose up -d`"
        );
    }
}
