//! Which programs this machine has, so the commands `init` prints work as written: the
//! bkenv that is running (on `PATH` or not) and which Compose exists. Lookups are
//! injected ([`Lookups`]): `commands::init` passes the process's, tests pass their own.

use crate::summary::{Compose, Tools};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Where the docker CLI looks for plugins besides `$DOCKER_CONFIG/cli-plugins`
/// (docker/cli `cli-plugins/manager`, `defaultSystemPluginDirs` on Linux).
pub(crate) const SYSTEM_PLUGIN_DIRS: &[&str] = &[
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
];

/// What detection may ask the machine.
pub(crate) struct Lookups<'a> {
    /// A process environment variable.
    pub(crate) var: &'a dyn Fn(&str) -> Option<OsString>,
    /// Whether `path` is an executable regular file.
    pub(crate) executable: &'a dyn Fn(&Path) -> bool,
    /// `path` with links resolved, to tell whether two paths name one program.
    pub(crate) canonical: &'a dyn Fn(&Path) -> Option<PathBuf>,
}

impl Lookups<'_> {
    /// The first executable `name` in `$PATH`.
    fn on_path(&self, name: &str) -> Option<PathBuf> {
        let path = (self.var)("PATH")?;
        crate::which::find_in_by(std::env::split_paths(&path), name, self.executable)
    }
}

/// Runs `f` with this process's lookups; `path_env` stands in for `PATH` when given
/// (doctor's `--path`-style inputs and tests).
pub(crate) fn with_process<R>(path_env: Option<&OsStr>, f: impl FnOnce(&Lookups<'_>) -> R) -> R {
    let var = |k: &str| match (k, path_env) {
        ("PATH", Some(p)) => Some(p.to_os_string()),
        _ => std::env::var_os(k),
    };
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    f(&Lookups {
        var: &var,
        executable: &crate::which::is_executable,
        canonical: &canonical,
    })
}

/// The Compose this machine has, asked of the process (`PATH` as given).
pub(crate) fn compose_here(path_env: Option<&OsStr>) -> Compose {
    with_process(path_env, compose)
}

/// `running` is the running binary's path (`std::env::current_exe`).
pub(crate) fn detect(running: Option<&Path>, l: &Lookups<'_>) -> Tools {
    Tools {
        bkenv: bkenv_command(running, l),
        compose: compose(l),
    }
}

fn bkenv_command(running: Option<&Path>, l: &Lookups<'_>) -> String {
    let Some(running) = running else {
        return "bkenv".into();
    };
    let same = l
        .on_path("bkenv")
        .and_then(|p| (l.canonical)(&p))
        .is_some_and(|p| Some(p) == (l.canonical)(running));
    if same {
        "bkenv".into()
    } else {
        crate::shell::quote(&running.display().to_string())
    }
}

fn compose(l: &Lookups<'_>) -> Compose {
    let config_dir = (l.var)("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| (l.var)("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let plugin = config_dir
        .map(|d| d.join("cli-plugins"))
        .into_iter()
        .chain(SYSTEM_PLUGIN_DIRS.iter().map(PathBuf::from))
        .any(|d| (l.executable)(&d.join("docker-compose")));
    if plugin && l.on_path("docker").is_some() {
        Compose::Plugin
    } else if l.on_path("docker-compose").is_some() {
        Compose::Standalone
    } else {
        Compose::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn detect_with(vars: &[(&str, &str)], files: &[&str], running: &str) -> Tools {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = |k: &str| vars.get(k).map(OsString::from);
        let executable = |p: &Path| files.iter().any(|f| Path::new(f) == p);
        // `/usr/local/bin/bkenv` is a link to the installed binary.
        let canonical = |p: &Path| {
            Some(if p == Path::new("/usr/local/bin/bkenv") {
                PathBuf::from("/home/u/.cargo/bin/bkenv")
            } else {
                p.to_path_buf()
            })
        };
        detect(
            Some(Path::new(running)),
            &Lookups {
                var: &var,
                executable: &executable,
                canonical: &canonical,
            },
        )
    }

    #[test]
    fn bkenv_is_named_as_invoked() {
        let path = [("PATH", "/usr/local/bin:/usr/bin")];
        let installed = ["/usr/local/bin/bkenv"];
        // The one on PATH (through a link): `bkenv`.
        let t = detect_with(&path, &installed, "/home/u/.cargo/bin/bkenv");
        assert_eq!(t.bkenv, "bkenv");
        // `cargo run` or target/release/bkenv: the absolute path, quoted for the shell.
        let t = detect_with(&path, &installed, "/home/u/my src/target/debug/bkenv");
        assert_eq!(t.bkenv, "'/home/u/my src/target/debug/bkenv'");
        let t = detect_with(&path, &[], "/src/target/release/bkenv");
        assert_eq!(t.bkenv, "/src/target/release/bkenv");
        // A relative PATH entry is not trusted to mean the same after `cd`.
        let t = detect_with(
            &[("PATH", "target/release")],
            &["target/release/bkenv"],
            "/src/target/release/bkenv",
        );
        assert_eq!(t.bkenv, "/src/target/release/bkenv");
    }

    #[test]
    fn compose_is_the_one_this_machine_has() {
        let path = ("PATH", "/usr/local/bin:/usr/bin");
        let home = ("HOME", "/home/u");
        let docker = "/usr/bin/docker";
        let v1 = "/usr/bin/docker-compose";
        let user_plugin = "/home/u/.docker/cli-plugins/docker-compose";
        let system_plugin = "/usr/libexec/docker/cli-plugins/docker-compose";
        let compose =
            |vars: &[(&str, &str)], files: &[&str]| detect_with(vars, files, "/x").compose;
        assert_eq!(
            compose(&[path, home], &[docker, user_plugin]),
            Compose::Plugin
        );
        assert_eq!(
            compose(&[path, home], &[docker, system_plugin, v1]),
            Compose::Plugin
        );
        // DOCKER_CONFIG moves the user's plugin directory.
        assert_eq!(
            compose(
                &[path, home, ("DOCKER_CONFIG", "/cfg")],
                &[docker, user_plugin]
            ),
            Compose::Unknown
        );
        assert_eq!(
            compose(
                &[path, home, ("DOCKER_CONFIG", "/cfg")],
                &[docker, "/cfg/cli-plugins/docker-compose"]
            ),
            Compose::Plugin
        );
        // The docker CLI without the plugin, and Compose v1: `docker-compose`.
        assert_eq!(compose(&[path, home], &[docker, v1]), Compose::Standalone);
        // A plugin without the docker CLI cannot run.
        assert_eq!(compose(&[path, home], &[user_plugin]), Compose::Unknown);
        assert_eq!(compose(&[path, home], &[docker]), Compose::Unknown);
        assert_eq!(compose(&[], &[docker, v1]), Compose::Unknown);
    }
}
