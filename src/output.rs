//! The only module that writes files. Every write is atomic (temp file in the same
//! directory, fsync, rename), private files are created 0600 (never chmod-ed after the
//! fact, so no moment exists where a key is readable by others), and a generated file
//! the user edited is kept unless `--force`.
//!
//! Edits are detected with a manifest (`.bkenv/state.json`) holding the SHA-256 of what
//! bkenv last wrote to each path.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File modes bkenv uses.
pub const MODE_PUBLIC: u32 = 0o644;
pub const MODE_PRIVATE: u32 = 0o600;
pub const DIR_PRIVATE: u32 = 0o700;

/// How a planned file relates to what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Rendered from the model; a user edit is kept unless forced.
    Generated,
    /// Already merged with the file on disk (buildkitd.toml): always safe to write.
    Merged,
}

/// Who a written file belongs to, when that is not the user running bkenv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative to the environment root, `/`-separated.
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
    pub policy: Policy,
    /// Hand the file to this user (bkenv runs as root): created owned by them from the
    /// start, with `mode`. `None` leaves it to whoever runs bkenv.
    pub owner: Option<Owner>,
}

impl PlannedFile {
    pub fn public(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        PlannedFile {
            path: path.into(),
            contents: contents.into(),
            mode: MODE_PUBLIC,
            policy: Policy::Generated,
            owner: None,
        }
    }

    pub fn private(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        PlannedFile {
            mode: MODE_PRIVATE,
            ..PlannedFile::public(path, contents)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Updated,
    Unchanged,
    /// The user edited the file since bkenv wrote it; kept as is.
    KeptEdited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Unchanged => "unchanged",
            Status::KeptEdited => "kept (edited by you; --force to overwrite)",
        }
    }
}

/// What bkenv remembers between runs. Private: it holds generated passwords.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// Path → SHA-256 (hex) of the contents bkenv last wrote.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Registry service or name → generated password.
    #[serde(default)]
    pub passwords: BTreeMap<String, String>,
    /// Path → the container user bkenv decided the file belongs to (a rootless
    /// buildkitd's key): owned by that uid on purpose, not by a stranger.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub container_owned: BTreeMap<String, Owner>,
}

impl State {
    pub fn load(root: &Path) -> Result<State> {
        let path = root.join(crate::model::layout::STATE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Refused {
                path,
                message: format!("corrupt state file ({e}); delete it to start over (user edits will then be kept, not overwritten)"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Decides, without writing, what applying `file` would do.
pub fn classify(root: &Path, state: &State, file: &PlannedFile, force: bool) -> Result<Status> {
    let path = root.join(&file.path);
    let existing = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Status::Created),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    if existing == file.contents {
        let meta = fs::metadata(&path).ok();
        let mode_ok = meta
            .as_ref()
            .is_some_and(|m| m.permissions().mode() & 0o777 == file.mode);
        let owner_ok = file
            .owner
            .is_none_or(|o| meta.as_ref().is_some_and(|m| m.uid() == o.uid));
        if !owner_ok {
            return Ok(Status::Updated);
        }
        return Ok(if mode_ok || file.mode != MODE_PRIVATE {
            Status::Unchanged
        } else {
            Status::Updated
        });
    }
    let ours = state.files.get(&file.path) == Some(&sha256_hex(&existing));
    Ok(match file.policy {
        Policy::Merged => Status::Updated,
        Policy::Generated if ours || force => Status::Updated,
        Policy::Generated => Status::KeptEdited,
    })
}

/// Writes files atomically. A failure point can be injected (`fail_after` writes) so
/// tests can prove that an interrupted run never leaves a half-written file.
#[derive(Debug, Default)]
pub struct Writer {
    pub fail_after: Option<usize>,
    writes: usize,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// Creates `dir` (and parents) with `mode` for the directories it creates.
    pub fn ensure_dir(&self, dir: &Path, mode: u32) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))
    }

    /// Atomically replaces `path` with `contents`, created with `mode` from the start.
    pub fn write(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        if self.fail_after.is_some_and(|n| self.writes >= n) {
            return Err(Error::Other(format!(
                "injected failure before writing {}",
                path.display()
            )));
        }
        self.writes += 1;
        let dir = path.parent().unwrap_or(Path::new("."));
        self.ensure_dir(dir, 0o755)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.bkenv-tmp-{}", std::process::id()));
        let result = (|| {
            let _ = fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?;
            // The umask may have narrowed `mode`; widen it back for public files only.
            if mode != MODE_PRIVATE {
                f.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            f.write_all(contents)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("write", path.to_path_buf(), e)
        })
    }

    /// Removes `path` (counted as a write, so failure injection covers it).
    pub fn remove(&mut self, path: &Path) -> Result<()> {
        if self.fail_after.is_some_and(|n| self.writes >= n) {
            return Err(Error::Other(format!(
                "injected failure before removing {}",
                path.display()
            )));
        }
        self.writes += 1;
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
            _ => Ok(()),
        }
    }

    /// Narrows the permission bits of an existing file (`doctor --fix` on a key readable
    /// by others). Only ever removes access, so no moment exposes more than before.
    pub fn restrict_mode(&mut self, path: &Path, mode: u32) -> Result<()> {
        let current = fs::metadata(path)
            .map_err(|e| Error::io("read", path, e))?
            .permissions()
            .mode()
            & 0o777;
        fs::set_permissions(path, fs::Permissions::from_mode(current & mode))
            .map_err(|e| Error::io("change permissions of", path, e))
    }

    /// Copies `path` to `backup` (same mode), for `--new-ca`.
    pub fn backup(&mut self, path: &Path, backup: &Path, mode: u32) -> Result<()> {
        let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
        if let Some(dir) = backup.parent() {
            self.ensure_dir(dir, DIR_PRIVATE)?;
        }
        self.write(backup, &bytes, mode)
    }

    /// Writes several files, each as atomically and durably as [`Writer::write`], with the
    /// fsyncs batched: every temp file is written, then all are fsynced concurrently (the
    /// filesystem journal commits concurrent fsyncs together), then renamed into place,
    /// then their directories are fsynced. One journal commit per phase instead
    /// of two sequential fsyncs per file: on ext4 that is most of `init`'s time (see
    /// bench/README.md).
    ///
    /// Private files are committed (renamed, directories synced) before public ones, so a
    /// key is durable before any certificate that needs it is visible; `last` (the state
    /// manifest) is committed after both, so it never vouches for a file not yet on disk.
    /// Within each group the order is the slice's; each rename counts as one write for
    /// failure injection. On any error no temp file is left behind.
    pub fn write_batch(
        &mut self,
        files: &[BatchFile<'_>],
        last: Option<&BatchFile<'_>>,
    ) -> Result<()> {
        let files: Vec<&BatchFile<'_>> = files.iter().chain(last).collect();
        let groups: Vec<u8> = files
            .iter()
            .enumerate()
            .map(
                |(i, f)| match (last.is_some() && i + 1 == files.len(), f.mode) {
                    (true, _) => 2,
                    (false, MODE_PRIVATE) => 0,
                    (false, _) => 1,
                },
            )
            .collect();
        let mut staged: Vec<Option<Staged>> = Vec::with_capacity(files.len());
        let result = self.write_batch_staged(&files, &groups, &mut staged);
        for s in staged.into_iter().flatten() {
            let _ = fs::remove_file(&s.tmp);
        }
        result
    }

    fn write_batch_staged(
        &mut self,
        files: &[&BatchFile<'_>],
        groups: &[u8],
        staged: &mut Vec<Option<Staged>>,
    ) -> Result<()> {
        for f in files {
            let s = stage(f, |dir| self.ensure_dir(dir, 0o755))?;
            staged.push(Some(s));
        }
        let handles: Vec<&fs::File> = staged.iter().flatten().map(|s| &s.file).collect();
        for (result, f) in sync_concurrently(&handles).into_iter().zip(files) {
            result.map_err(|e| Error::io("write", f.path.clone(), e))?;
        }
        for group in 0..=2 {
            let mut dirs: Vec<&Path> = Vec::new();
            for (i, f) in files.iter().enumerate() {
                if groups[i] != group {
                    continue;
                }
                if self.fail_after.is_some_and(|n| self.writes >= n) {
                    return Err(Error::Other(format!(
                        "injected failure before writing {}",
                        f.path.display()
                    )));
                }
                self.writes += 1;
                let Some(s) = staged[i].take() else { continue };
                if let Err(e) = fs::rename(&s.tmp, &f.path) {
                    staged[i] = Some(s);
                    return Err(Error::io("write", f.path.clone(), e));
                }
                let dir = f.path.parent().unwrap_or(Path::new("."));
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            // As in `write`, a directory that cannot be synced is not an error. No threads
            // here: the first directory fsync commits the journal transaction holding every
            // rename so far, and the others then find nothing left to commit.
            for dir in dirs {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(())
    }
}

/// One file for [`Writer::write_batch`].
#[derive(Debug, Clone)]
pub struct BatchFile<'a> {
    pub path: PathBuf,
    pub contents: &'a [u8],
    pub mode: u32,
    pub owner: Option<Owner>,
}

/// A temp file written but not yet fsynced or renamed into place.
struct Staged {
    tmp: PathBuf,
    file: fs::File,
}

fn temp_path(path: &Path) -> (PathBuf, &Path) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        dir.join(format!(".{name}.bkenv-tmp-{}", std::process::id())),
        dir,
    )
}

/// Creates the temp file for `f` with its final mode and writes the contents (no fsync).
fn stage(f: &BatchFile<'_>, ensure_dir: impl FnOnce(&Path) -> Result<()>) -> Result<Staged> {
    let (tmp, dir) = temp_path(&f.path);
    ensure_dir(dir)?;
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&tmp)?;
        if f.mode != MODE_PRIVATE {
            file.set_permissions(fs::Permissions::from_mode(f.mode))?;
        }
        // Handed over while still empty: the contents only ever exist in a file owned
        // by their reader, with the private mode (chown keeps the permission bits).
        if let Some(o) = f.owner {
            std::os::unix::fs::fchown(&file, Some(o.uid), Some(o.gid))?;
        }
        file.write_all(f.contents)?;
        Ok(file)
    })();
    match result {
        Ok(file) => Ok(Staged { tmp, file }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(Error::io("write", f.path.clone(), e))
        }
    }
}

/// fsyncs every file, each on its own thread so the journal can commit them together.
/// Falls back to syncing inline when a thread cannot be started.
fn sync_concurrently(files: &[&fs::File]) -> Vec<std::io::Result<()>> {
    if files.len() <= 1 {
        return files.iter().map(|f| f.sync_all()).collect();
    }
    std::thread::scope(|scope| {
        let pending: Vec<_> = files
            .iter()
            .map(|f| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || f.sync_all())
                    .map_err(|_| f)
            })
            .collect();
        pending
            .into_iter()
            .map(|p| match p {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("fsync thread panicked"))),
                Err(f) => f.sync_all(),
            })
            .collect()
    })
}

/// The outcome for one planned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub path: PathBuf,
    pub status: Status,
}

/// Applies a plan, then saves the state manifest. With `dry_run` nothing is written and
/// the statuses say what would happen. Files are committed with [`Writer::write_batch`]:
/// private files (keys, secrets) before public ones, so a key is durable before the
/// certificate that needs it appears.
pub fn apply(
    root: &Path,
    plan: &[PlannedFile],
    mut state: State,
    writer: &mut Writer,
    force: bool,
    dry_run: bool,
) -> Result<Vec<Applied>> {
    let mut out = Vec::with_capacity(plan.len());
    let mut to_write = Vec::new();
    for file in plan {
        let status = classify(root, &state, file, force)?;
        if !dry_run && matches!(status, Status::Created | Status::Updated) {
            to_write.push(BatchFile {
                path: root.join(&file.path),
                contents: &file.contents,
                mode: file.mode,
                owner: file.owner,
            });
        }
        if status != Status::KeptEdited {
            state
                .files
                .insert(file.path.clone(), sha256_hex(&file.contents));
        }
        out.push(Applied {
            path: PathBuf::from(&file.path),
            status,
        });
    }
    if !dry_run {
        let (path, json) = state_json(root, &state)?;
        let changed = fs::read(&path).ok().as_deref() != Some(json.as_slice());
        if let Some(dir) = path.parent().filter(|_| changed) {
            writer.ensure_dir(dir, DIR_PRIVATE)?;
        }
        let last = changed.then(|| BatchFile {
            path,
            contents: &json,
            mode: MODE_PRIVATE,
            owner: None,
        });
        writer.write_batch(&to_write, last.as_ref())?;
    }
    Ok(out)
}

pub fn save_state(root: &Path, state: &State, writer: &mut Writer) -> Result<()> {
    let (path, json) = state_json(root, state)?;
    if let Some(dir) = path.parent() {
        writer.ensure_dir(dir, DIR_PRIVATE)?;
    }
    if fs::read(&path).ok().as_deref() == Some(json.as_slice()) {
        return Ok(());
    }
    writer.write(&path, &json, MODE_PRIVATE)
}

fn state_json(root: &Path, state: &State) -> Result<(PathBuf, Vec<u8>)> {
    let mut json = serde_json::to_vec_pretty(state).map_err(|e| Error::Other(e.to_string()))?;
    json.push(b'\n');
    Ok((root.join(crate::model::layout::STATE), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_created_0600_and_writes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::new();
        let key = dir.path().join("a/key.pem");
        w.write(&key, b"secret", MODE_PRIVATE).unwrap();
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        w.write(&key, b"secret2", MODE_PRIVATE).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret2");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn user_edits_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut w = Writer::new();
        let plan = vec![PlannedFile::public("f.txt", "v1")];
        let r = apply(root, &plan, State::default(), &mut w, false, false).unwrap();
        assert_eq!(r[0].status, Status::Created);
        // Generator changes its mind; the file is still ours → updated.
        let plan2 = vec![PlannedFile::public("f.txt", "v2")];
        let r = apply(
            root,
            &plan2,
            State::load(root).unwrap(),
            &mut w,
            false,
            false,
        )
        .unwrap();
        assert_eq!(r[0].status, Status::Updated);
        // The user edits it; the next run keeps it, and keeps detecting the edit.
        fs::write(root.join("f.txt"), "mine").unwrap();
        let plan3 = vec![PlannedFile::public("f.txt", "v3")];
        for _ in 0..2 {
            let r = apply(
                root,
                &plan3,
                State::load(root).unwrap(),
                &mut w,
                false,
                false,
            )
            .unwrap();
            assert_eq!(r[0].status, Status::KeptEdited);
            assert_eq!(fs::read_to_string(root.join("f.txt")).unwrap(), "mine");
        }
        let r = apply(
            root,
            &plan3,
            State::load(root).unwrap(),
            &mut w,
            true,
            false,
        )
        .unwrap();
        assert_eq!(r[0].status, Status::Updated);
        assert_eq!(fs::read_to_string(root.join("f.txt")).unwrap(), "v3");
    }

    #[test]
    fn dry_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::new();
        let plan = vec![PlannedFile::private("k", "x")];
        let r = apply(dir.path(), &plan, State::default(), &mut w, false, true).unwrap();
        assert_eq!(r[0].status, Status::Created);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn batch_commits_private_files_first_and_the_last_file_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, mode| BatchFile {
            path: dir.path().join(name),
            contents: b"x",
            mode,
            owner: None,
        };
        let files = [
            file("pub/a.crt", MODE_PUBLIC),
            file("priv/a.key", MODE_PRIVATE),
            file("pub/b.crt", MODE_PUBLIC),
        ];
        let last = file("state.json", MODE_PRIVATE);
        let exists = |name: &str| dir.path().join(name).exists();
        for after in 0..4 {
            let mut w = Writer {
                fail_after: Some(after),
                writes: 0,
            };
            assert!(w.write_batch(&files, Some(&last)).is_err());
            assert_eq!(exists("priv/a.key"), after >= 1, "after {after}");
            assert_eq!(exists("pub/a.crt"), after >= 2, "after {after}");
            assert_eq!(exists("pub/b.crt"), after >= 3, "after {after}");
            assert!(!exists("state.json"));
            for d in ["pub", "priv"] {
                for e in fs::read_dir(dir.path().join(d)).unwrap() {
                    let name = e.unwrap().file_name();
                    assert!(!name.to_string_lossy().contains("bkenv-tmp"), "{name:?}");
                }
            }
            for f in files.iter().chain([&last]) {
                let _ = fs::remove_file(&f.path);
            }
        }
        Writer::new().write_batch(&files, Some(&last)).unwrap();
        for (name, mode) in [
            ("pub/a.crt", 0o644),
            ("priv/a.key", 0o600),
            ("state.json", 0o600),
        ] {
            let meta = fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
        }
    }

    /// A rootless buildkitd's key is handed to its container user: created owned by
    /// them, still 0600, and a re-run that finds it owned by someone else hands it back.
    #[test]
    fn a_planned_owner_holds_the_file_from_creation_and_is_checked_on_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let (me, my_gid) = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        // Anyone may hand a file to themselves; root may hand it to anyone.
        let owner = if me == 0 {
            Owner {
                uid: 1000,
                gid: 1000,
            }
        } else {
            Owner {
                uid: me,
                gid: my_gid,
            }
        };
        let mut key = PlannedFile::private("certs/server.key", "secret");
        key.owner = Some(owner);
        let plan = [key];
        let r = apply(
            dir.path(),
            &plan,
            State::default(),
            &mut Writer::new(),
            false,
            false,
        )
        .unwrap();
        assert_eq!(r[0].status, Status::Created);
        let meta = fs::metadata(dir.path().join("certs/server.key")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (owner.uid, owner.gid));
        assert_eq!(meta.permissions().mode() & 0o777, MODE_PRIVATE);
        let state = State::load(dir.path()).unwrap();
        assert_eq!(
            classify(dir.path(), &state, &plan[0], false).unwrap(),
            Status::Unchanged
        );
        if me == 0 {
            std::os::unix::fs::chown(dir.path().join("certs/server.key"), Some(0), Some(0))
                .unwrap();
            assert_eq!(
                classify(dir.path(), &state, &plan[0], false).unwrap(),
                Status::Updated
            );
        }
    }

    #[test]
    fn injected_failure_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.key");
        let mut w = Writer::new();
        w.write(&path, b"old", MODE_PRIVATE).unwrap();
        let mut failing = Writer {
            fail_after: Some(0),
            writes: 0,
        };
        assert!(failing.write(&path, b"new", MODE_PRIVATE).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
