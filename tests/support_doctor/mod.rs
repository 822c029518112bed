//! Fixture materialisation for doctor tests: a fixture directory may name a base tree
//! (`_base`, e.g. `golden`), list files to delete (`_delete`), modes (`_modes`,
//! `path octal` per line) and owners (`_owners`, `path uid:gid` per line; only root can
//! give files away, see [`can_chown`]). Keys (`*.key`) default to 0600, as bkenv writes
//! them.

#![allow(dead_code)]

use bkenv::doctor::{self, DoctorInputs, DoctorReport};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// 2026-12-01 00:00 UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_796_083_200).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        if e.depth() == 1 && rel.to_string_lossy().starts_with('_') {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Builds the fixture in a fresh temporary directory. `@ROOT@` in a file under a
/// `buildx/` directory becomes the directory's absolute path (buildx stores absolute
/// paths), `@PROJECT@` the compose project Compose names after that directory.
pub fn materialize(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    if let Ok(base) = std::fs::read_to_string(dir.join("_base")) {
        copy_tree(&fixtures().join(base.trim()), tmp.path());
    }
    copy_tree(dir, tmp.path());
    if let Ok(list) = std::fs::read_to_string(dir.join("_delete")) {
        for l in list.lines().filter(|l| !l.trim().is_empty()) {
            let p = tmp.path().join(l.trim());
            let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
        }
    }
    set_modes(tmp.path(), dir);
    for e in walkdir::WalkDir::new(tmp.path()) {
        let e = e.unwrap();
        let under_buildx = e.path().components().any(|c| c.as_os_str() == "buildx");
        if e.file_type().is_file() && under_buildx {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let root = tmp.path().display().to_string();
            let project = bkenv::render::buildx::compose_project(&root);
            let text = text.replace("@ROOT@", &root).replace("@PROJECT@", &project);
            std::fs::write(e.path(), text).unwrap();
        }
    }
    set_owners(tmp.path(), dir);
    tmp
}

#[cfg(unix)]
fn set_modes(root: &Path, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.path().extension().is_some_and(|x| x == "key") {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    if let Ok(list) = std::fs::read_to_string(dir.join("_modes")) {
        for l in list.lines() {
            if let Some((p, m)) = l.split_once(' ') {
                let mode = u32::from_str_radix(m.trim(), 8).unwrap();
                std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode))
                    .unwrap();
            }
        }
    }
}

#[cfg(not(unix))]
fn set_modes(_: &Path, _: &Path) {}

/// Whether this process may give files to other users (it runs as root), which a
/// fixture with `_owners` needs.
pub fn can_chown() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let probe = tempfile::NamedTempFile::new().unwrap();
        probe.as_file().metadata().unwrap().uid() == 0
    }
    #[cfg(not(unix))]
    false
}

/// Whether the fixture `dir` sets owners (and so needs [`can_chown`]).
pub fn needs_owners(dir: &Path) -> bool {
    dir.join("_owners").is_file()
}

#[cfg(unix)]
fn set_owners(root: &Path, dir: &Path) {
    let Ok(list) = std::fs::read_to_string(dir.join("_owners")) else {
        return;
    };
    if !can_chown() {
        return;
    }
    for l in list.lines().filter(|l| !l.trim().is_empty()) {
        let (p, ids) = l.split_once(' ').unwrap();
        let (u, g) = ids.trim().split_once(':').unwrap();
        std::os::unix::fs::lchown(
            root.join(p),
            Some(u.parse().unwrap()),
            Some(g.parse().unwrap()),
        )
        .unwrap();
    }
}

#[cfg(not(unix))]
fn set_owners(_: &Path, _: &Path) {}

/// Doctor on a fixture. A tree laid out like a machine (an `etc/` directory) is checked
/// as `doctor --host=ROOT` would, with its root searchable by everyone as `/` is.
pub fn run(root: &Path) -> DoctorReport {
    let host = root.join("etc").is_dir().then(|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        doctor::host::HostOptions {
            root: root.to_path_buf(),
            home: None,
            xdg_config_home: None,
        }
    });
    let inputs = DoctorInputs {
        path_env: Some(root.join("bin").into_os_string()),
        host,
        ..DoctorInputs::default()
    };
    doctor::run(root, &inputs, now()).unwrap_or_else(|e| panic!("{}: {e}", root.display()))
}

/// `CODE message (path:line)` per finding.
pub fn describe(report: &DoctorReport) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            let loc = f
                .location
                .as_ref()
                .map(|l| format!("{}:{}", l.path.display(), l.span.map_or(0, |s| s.line)))
                .unwrap_or_default();
            format!("{} {} ({loc})", f.code(), f.message)
        })
        .collect()
}
