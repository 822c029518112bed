//! One tree, several environments. A monorepo can hold many compose projects, each
//! with its own daemon config, registry and credentials; checking them as one would
//! match one project's `config.json` against another's htpasswd. Each compose file's
//! directory roots an environment. A file belongs to every environment whose compose
//! file bind-mounts it; a file no compose file mounts belongs to the environment whose
//! root is its nearest ancestor. Files under no root join the only environment, or,
//! when there are several, are checked together as one more group without compose.

use super::snapshot::Snapshot;
use super::view;
use std::path::{Path, PathBuf};

/// Splits a snapshot of the whole tree into one snapshot per environment. A tree with
/// at most one compose directory comes back whole.
pub(super) fn split(all: Snapshot) -> Vec<Snapshot> {
    let mut roots: Vec<PathBuf> = all
        .compose
        .iter()
        .map(|c| c.src.path.parent().unwrap_or(Path::new("")).to_path_buf())
        .collect();
    roots.sort();
    roots.dedup();
    if roots.len() <= 1 {
        return vec![all];
    }
    let mounts: Vec<Vec<PathBuf>> = roots
        .iter()
        .map(|root| {
            all.compose
                .iter()
                .enumerate()
                .filter(|(_, c)| c.src.path.parent().unwrap_or(Path::new("")) == root)
                .flat_map(|(i, c)| view::services(c, i, &all.root_abs))
                .flat_map(|s| s.mounts.into_iter().filter_map(|m| m.host))
                .collect()
        })
        .collect();
    let loose = roots.len();
    // The groups `path` belongs to: index `loose` for files under no root.
    let owners = |path: &Path| -> Vec<usize> {
        let mounted: Vec<usize> = (0..roots.len())
            .filter(|&i| mounts[i].iter().any(|m| path.starts_with(m)))
            .collect();
        if !mounted.is_empty() {
            return mounted;
        }
        let nearest = (0..roots.len())
            .filter(|&i| path.starts_with(&roots[i]))
            .max_by_key(|&i| roots[i].components().count());
        vec![nearest.unwrap_or(loose)]
    };
    let mut groups: Vec<Snapshot> = (0..=loose)
        .map(|_| Snapshot {
            helpers_on_path: all.helpers_on_path.clone(),
            compose_up: all.compose_up.clone(),
            root_abs: all.root_abs.clone(),
            ..Snapshot::default()
        })
        .collect();
    fn deal<T: Clone>(
        items: Vec<T>,
        path: impl Fn(&T) -> &Path,
        owners: &dyn Fn(&Path) -> Vec<usize>,
        groups: &mut [Snapshot],
        field: impl Fn(&mut Snapshot) -> &mut Vec<T>,
    ) {
        for item in items {
            for g in owners(path(&item)) {
                if let Some(group) = groups.get_mut(g) {
                    field(group).push(item.clone());
                }
            }
        }
    }
    let g = &mut groups;
    deal(
        all.buildkitd,
        |f| &f.src.path,
        &owners,
        g,
        |s| &mut s.buildkitd,
    );
    deal(all.compose, |f| &f.src.path, &owners, g, |s| &mut s.compose);
    deal(
        all.docker_configs,
        |f| &f.src.path,
        &owners,
        g,
        |s| &mut s.docker_configs,
    );
    deal(
        all.registry_configs,
        |f| &f.src.path,
        &owners,
        g,
        |s| &mut s.registry_configs,
    );
    deal(
        all.htpasswd,
        |f| &f.src.path,
        &owners,
        g,
        |s| &mut s.htpasswd,
    );
    deal(all.pem, |f| &f.src.path, &owners, g, |s| &mut s.pem);
    deal(all.refs, |f| &f.src.path, &owners, g, |s| &mut s.refs);
    deal(all.env, |f| &f.src.path, &owners, g, |s| &mut s.env);
    deal(all.buildx, |f| &f.src.path, &owners, g, |s| &mut s.buildx);
    deal(
        all.builder_configs,
        |f| &f.toml.src.path,
        &owners,
        g,
        |s| &mut s.builder_configs,
    );
    deal(
        all.unreadable,
        |u| &u.path,
        &owners,
        g,
        |s| &mut s.unreadable,
    );
    groups.retain(|s| !s.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::discover::FileKind;
    use crate::doctor::load::add_file;

    fn snapshot(files: &[(&str, FileKind, &str)]) -> Snapshot {
        let mut snap = Snapshot::default();
        for (path, kind, text) in files {
            add_file(
                &mut snap,
                PathBuf::from(path),
                *kind,
                text.as_bytes().to_vec(),
                None,
            );
        }
        snap
    }

    fn paths(s: &Snapshot) -> Vec<String> {
        let mut v: Vec<String> = s.sources().map(|f| f.path.display().to_string()).collect();
        v.sort();
        v
    }

    const COMPOSE: &str = "services:\n  buildkitd:\n    image: moby/buildkit\n    volumes:\n      - ../shared/buildkit:/etc/buildkit\n";

    #[test]
    fn one_environment_stays_whole() {
        let snap = snapshot(&[
            (
                "deploy/docker-compose.yml",
                FileKind::Compose,
                "services: {}\n",
            ),
            ("Dockerfile", FileKind::Dockerfile, "FROM alpine\n"),
        ]);
        let envs = split(snap);
        assert_eq!(envs.len(), 1);
        assert_eq!(paths(&envs[0]), ["Dockerfile", "deploy/docker-compose.yml"]);
    }

    #[test]
    fn files_go_to_the_mounting_or_nearest_environment() {
        let snap = snapshot(&[
            ("a/docker-compose.yml", FileKind::Compose, COMPOSE),
            ("a/registry/auth/htpasswd", FileKind::Htpasswd, "u:x\n"),
            ("b/docker-compose.yml", FileKind::Compose, COMPOSE),
            (
                "b/nested/registry/auth/htpasswd",
                FileKind::Htpasswd,
                "u:y\n",
            ),
            (
                "shared/buildkit/buildkitd.toml",
                FileKind::BuildkitdToml,
                "[grpc]\n",
            ),
            ("tools/Dockerfile", FileKind::Dockerfile, "FROM alpine\n"),
        ]);
        let envs = split(snap);
        let got: Vec<Vec<String>> = envs.iter().map(paths).collect();
        assert_eq!(
            got,
            [
                vec![
                    "a/docker-compose.yml",
                    "a/registry/auth/htpasswd",
                    "shared/buildkit/buildkitd.toml"
                ],
                vec![
                    "b/docker-compose.yml",
                    "b/nested/registry/auth/htpasswd",
                    "shared/buildkit/buildkitd.toml"
                ],
                vec!["tools/Dockerfile"],
            ]
        );
    }
}
