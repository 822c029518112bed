//! What exists under the compose file's bind-mount sources, for the checks that ask
//! whether a file a service reads is there (BK302), what a mounted directory holds
//! (BK212, BK214), or who may read it inside the container (BK307, BK308: owner, group
//! and mode of each entry). Listed by `load` for those sources only, never for the whole
//! tree: on a monorepo of 200,000 files a whole-tree index was a third of doctor's time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// How deep below a mount source, and how many entries in all, are listed. A mount of
/// `.` in a large repository stops at the cap; paths beyond it are unknown, not absent.
const MAX_DEPTH: usize = 16;
const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, Default, Clone)]
pub struct PathIndex {
    /// Every entry listed (files, directories, links; links are never followed), with
    /// paths as the view spells them: relative to the root, or absolute.
    paths: HashSet<PathBuf>,
    /// Sources listed completely: a path under one of them that is not in `paths`
    /// (nor below an `opaque` entry) does not exist.
    complete: Vec<PathBuf>,
    /// Entries whose content was not listed: links, and directories at `MAX_DEPTH`.
    opaque: Vec<PathBuf>,
    /// Owner, group and mode of each listed entry that is not a link.
    meta: HashMap<PathBuf, Meta>,
}

/// Who owns a listed file or directory and its permission bits, as the host has them
/// (a bind mount shows the container the same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub dir: bool,
}

impl PathIndex {
    /// Lists each source (`root.join(source)` on disk) into the index.
    pub(crate) fn list<'a>(root: &Path, sources: impl IntoIterator<Item = &'a Path>) -> PathIndex {
        let mut index = PathIndex::default();
        for source in sources {
            if index.complete.iter().any(|c| source.starts_with(c)) {
                continue;
            }
            let mut whole = true;
            let top = root.join(source);
            // Links are listed, never followed, the source itself included: what a
            // link leads to is unknown (and may lie outside the tree).
            for entry in WalkDir::new(&top)
                .follow_links(false)
                .follow_root_links(false)
                .max_depth(MAX_DEPTH)
            {
                let Ok(entry) = entry else {
                    // A missing source is fully known (nothing under it exists); an
                    // unreadable directory is not.
                    whole &= entry.err().and_then(|e| e.io_error().map(|io| io.kind()))
                        == Some(std::io::ErrorKind::NotFound);
                    continue;
                };
                if index.paths.len() >= MAX_ENTRIES {
                    whole = false;
                    break;
                }
                let rel = entry.path().strip_prefix(&top).unwrap_or(entry.path());
                let path = source.join(rel);
                if entry.path_is_symlink()
                    || (entry.depth() == MAX_DEPTH && entry.file_type().is_dir())
                {
                    index.opaque.push(path.clone());
                }
                if !entry.path_is_symlink()
                    && let Some(m) = entry.metadata().ok().and_then(|m| meta_of(&m))
                {
                    index.meta.insert(path.clone(), m);
                }
                index.paths.insert(path);
            }
            if whole {
                index.complete.push(source.to_path_buf());
            }
        }
        index
    }

    /// `Some(true)` if `path` was listed, `Some(false)` if it lies under a completely
    /// listed source without being there, `None` if doctor did not look.
    pub fn exists(&self, path: &Path) -> Option<bool> {
        if self.paths.contains(path) {
            Some(true)
        } else if self.opaque.iter().any(|o| path.starts_with(o)) {
            None
        } else if self.complete.iter().any(|c| path.starts_with(c)) {
            Some(false)
        } else {
            None
        }
    }

    /// Owner, group and mode of `path`, when it was listed and is not a link (nor behind
    /// one): `None` means unknown, never "unreadable".
    pub fn meta(&self, path: &Path) -> Option<Meta> {
        if self.opaque.iter().any(|o| path.starts_with(o)) {
            return None;
        }
        self.meta.get(path).copied()
    }

    /// Records `meta` for `path` (snapshots built without I/O: fuzzing, tests).
    pub fn set_meta(&mut self, path: PathBuf, meta: Meta) {
        self.meta.insert(path, meta);
    }

    /// The listed entries directly inside `dir`.
    pub(crate) fn children<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a Path> + 'a {
        self.paths
            .iter()
            .filter(move |p| p.parent() == Some(dir))
            .map(PathBuf::as_path)
    }

    /// Everything directly inside `dir`, when doctor listed it completely (`None` for a
    /// directory it did not see, or one behind a link).
    pub(crate) fn list_dir<'a>(&'a self, dir: &'a Path) -> Option<Vec<&'a Path>> {
        let known = self.paths.contains(dir)
            && !self.opaque.iter().any(|o| dir.starts_with(o))
            && self.complete.iter().any(|c| dir.starts_with(c));
        known.then(|| self.children(dir).collect())
    }

    /// An index holding exactly `files` and their directories, everything else absent:
    /// for snapshots built without I/O (fuzzing, tests).
    pub fn of(files: impl IntoIterator<Item = PathBuf>) -> PathIndex {
        let mut paths = HashSet::new();
        for f in files {
            paths.extend(
                f.ancestors()
                    .filter(|a| !a.as_os_str().is_empty())
                    .map(Path::to_path_buf),
            );
        }
        PathIndex {
            paths,
            complete: vec![PathBuf::new()],
            opaque: Vec::new(),
            meta: HashMap::new(),
        }
    }
}

#[cfg(unix)]
fn meta_of(m: &std::fs::Metadata) -> Option<Meta> {
    use std::os::unix::fs::MetadataExt;
    Some(Meta {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
        dir: m.is_dir(),
    })
}

#[cfg(not(unix))]
fn meta_of(_: &std::fs::Metadata) -> Option<Meta> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn lists_sources_and_knows_what_is_absent() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        std::fs::create_dir_all(root.join("registry/certs")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("registry/certs/registry.crt"), "x")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("outside.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("/etc", root.join("registry/etc"))
            .unwrap_or_else(|e| panic!("{e}"));
        let index = PathIndex::list(root, [Path::new("registry"), Path::new("missing")]);
        assert_eq!(
            index.exists(Path::new("registry/certs/registry.crt")),
            Some(true)
        );
        assert_eq!(
            index.exists(Path::new("registry/certs/other.crt")),
            Some(false)
        );
        assert_eq!(index.exists(Path::new("missing/x")), Some(false));
        assert_eq!(index.exists(Path::new("outside.txt")), None);
        // Listed as a link, not followed.
        assert_eq!(index.exists(Path::new("registry/etc")), Some(true));
        assert_eq!(index.exists(Path::new("registry/etc/passwd")), None);
        let mut kids: Vec<&Path> = index.children(Path::new("registry")).collect();
        kids.sort();
        assert_eq!(
            kids,
            [Path::new("registry/certs"), Path::new("registry/etc")]
        );
        assert_eq!(
            index.list_dir(Path::new("registry/certs")),
            Some(vec![Path::new("registry/certs/registry.crt")])
        );
        assert_eq!(index.list_dir(Path::new("registry/etc")), None);
        assert_eq!(index.list_dir(Path::new("outside")), None);

        let known = PathIndex::of([PathBuf::from("a/b/c.crt")]);
        assert_eq!(known.exists(Path::new("a/b")), Some(true));
        assert_eq!(known.exists(Path::new("a/b/d.crt")), Some(false));
        assert_eq!(known.exists(Path::new("/etc/x")), Some(false));
    }
}
