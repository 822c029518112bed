//! The only module that writes files. Every write is atomic (temp file in the same
//! directory, fsync, rename), private files are created 0600 (never chmod-ed after the
//! fact, so no moment exists where a key is readable by others), and a generated file
//! the user edited is kept unless `--force`.
//!
//! Edits are detected with a manifest (`.bkenv/state.json`) holding the SHA-256 of what
//! bkenv last wrote to each path.

mod fsync;

use crate::error::{Error, Result};
use crate::safefs::Links;
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
    /// The planned contents are what is on disk, kept because the user made it (a key
    /// they supplied, whose certificate bkenv reissues for it): never written, and
    /// never recorded as bkenv's.
    Keep,
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
    /// Path → SHA-256 of the contents a run found on disk, recognised as bkenv's, and
    /// set out to replace. The manifest is committed before any file it describes
    /// (see [`apply`]), so a run interrupted before the replacement leaves the old
    /// contents recognisable as bkenv's here, and the next run replaces them instead of
    /// keeping them as a user edit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous: BTreeMap<String, String>,
    /// The CA rotation in progress (`bkenv rotate-ca`): its phase and both CAs, which
    /// every trust file holds until `--drop-old`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<crate::rotation::state::Rotation>,
}

impl State {
    pub fn load(root: &Path) -> Result<State> {
        let path = root.join(crate::model::layout::STATE);
        match read_file(&path, Links::Refuse)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Refused {
                path,
                message: format!(
                    "corrupt state file ({e}); delete it to start over. bkenv then generates new passwords, and a \
                     file it would change is not known as its own: init lists those and stops (`--force` replaces them)"
                ),
            }),
            None => Ok(State::default()),
        }
    }

    /// Whether bkenv wrote `path` (or set out to replace it) at some point.
    pub fn records(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.previous.contains_key(path)
    }

    /// Whether `bytes` at `path` are something bkenv wrote (or set out to write over).
    pub fn owns(&self, path: &str, bytes: &[u8]) -> bool {
        let hash = sha256_hex(bytes);
        self.files.get(path) == Some(&hash) || self.previous.get(path) == Some(&hash)
    }
}

/// Reads a file bkenv is about to classify or reuse, with the limits doctor uses
/// ([`crate::safefs::read_bounded`]); a missing file is `None`.
pub fn read_file(path: &Path, links: Links) -> Result<Option<Vec<u8>>> {
    crate::safefs::read_optional(path, links).map_err(|e| match e {
        crate::safefs::ReadError::Io(e) => Error::io("read", path, e),
        other => Error::Refused {
            path: path.to_path_buf(),
            message: format!("{other}; bkenv reads only regular files here"),
        },
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Decides, without writing, what applying `file` would do.
pub fn classify(root: &Path, state: &State, file: &PlannedFile, force: bool) -> Result<Status> {
    Ok(classify_existing(root, state, file, force)?.0)
}

/// [`classify`], plus what is on disk when it is bkenv's and about to be replaced.
fn classify_existing(
    root: &Path,
    state: &State,
    file: &PlannedFile,
    force: bool,
) -> Result<(Status, Option<Vec<u8>>)> {
    let path = root.join(&file.path);
    let Some(existing) = read_file(&path, Links::Follow)? else {
        return Ok((Status::Created, None));
    };
    let ours = state.owns(&file.path, &existing);
    if file.policy == Policy::Keep {
        let status = if ours && existing == file.contents {
            Status::Unchanged
        } else {
            Status::KeptEdited
        };
        return Ok((status, None));
    }
    let status = classify_bytes(&path, &existing, file, ours, force);
    let replaced = (status == Status::Updated).then_some(existing);
    Ok((status, replaced))
}

fn classify_bytes(
    path: &Path,
    existing: &[u8],
    file: &PlannedFile,
    ours: bool,
    force: bool,
) -> Status {
    if existing == file.contents {
        let meta = fs::metadata(path).ok();
        let mode_ok = meta
            .as_ref()
            .is_some_and(|m| m.permissions().mode() & 0o777 == file.mode);
        let owner_ok = file
            .owner
            .is_none_or(|o| meta.as_ref().is_some_and(|m| m.uid() == o.uid));
        if !owner_ok {
            return Status::Updated;
        }
        return if mode_ok || file.mode != MODE_PRIVATE {
            Status::Unchanged
        } else {
            Status::Updated
        };
    }
    match file.policy {
        Policy::Merged => Status::Updated,
        Policy::Generated if ours || force => Status::Updated,
        Policy::Generated | Policy::Keep => Status::KeptEdited,
    }
}

/// Writes files atomically. A failure point can be injected (`fail_after` writes) so
/// tests can prove that an interrupted run never leaves a half-written file.
#[derive(Debug, Default)]
pub struct Writer {
    pub fail_after: Option<usize>,
    writes: usize,
    /// `(uid, gid)` every file and directory written is given: set when root works on
    /// an environment directory owned by another user ([`crate::safefs::Owners::hand_over`]),
    /// so `sudo bkenv ...` never leaves files the owner cannot read or replace.
    pub owner: Option<(u32, u32)>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// A writer for the environment at `dir`, handing files over as described on
    /// [`Writer::owner`].
    pub fn for_env(dir: &Path) -> Self {
        Writer {
            owner: crate::safefs::Owners::hand_over(dir),
            ..Writer::default()
        }
    }

    /// Creates `dir` (and parents) with `mode` for the directories it creates.
    pub fn ensure_dir(&self, dir: &Path, mode: u32) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            cur = d.parent();
        }
        DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
        if let Some((uid, gid)) = self.owner {
            for d in missing {
                let _ = std::os::unix::fs::lchown(&d, Some(uid), Some(gid));
            }
        }
        Ok(())
    }

    /// Gives a freshly created temp file its owner (see [`Writer::owner`]).
    fn hand_over(&self, file: &fs::File) -> std::io::Result<()> {
        match self.owner {
            Some((uid, gid)) => std::os::unix::fs::fchown(file, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }

    /// Atomically replaces `path` with `contents`, created with `mode` from the start.
    pub fn write(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        if self.fail_after.is_some_and(|n| self.writes >= n) {
            return Err(Error::InjectedFailure {
                action: "writing",
                path: path.to_path_buf(),
            });
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
            let mut f = create_temp(&tmp, mode)?;
            // The umask may have narrowed `mode`; widen it back for public files only.
            if mode != MODE_PRIVATE {
                f.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            self.hand_over(&f)?;
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

    /// Renames `from` to `to` (a file or a directory; counted as a write, so failure
    /// injection covers it).
    pub fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        if self.fail_after.is_some_and(|n| self.writes >= n) {
            return Err(Error::InjectedFailure {
                action: "renaming",
                path: from.to_path_buf(),
            });
        }
        self.writes += 1;
        fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    /// Removes the directory `path` and everything in it (counted as a write, so failure
    /// injection covers it). A link is refused: only bkenv's own directories go this way.
    pub fn remove_dir_all(&mut self, path: &Path) -> Result<()> {
        self.count_removal(path)?;
        fs::remove_dir_all(path).map_err(|e| Error::io("remove", path, e))?;
        sync_parent(path);
        Ok(())
    }

    /// Removes the file `path` (counted as a write, like [`Writer::remove_dir_all`]).
    pub fn remove_file(&mut self, path: &Path) -> Result<()> {
        self.count_removal(path)?;
        fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
        sync_parent(path);
        Ok(())
    }

    /// Counts a removal as a write, failing where failure injection says so.
    fn count_removal(&mut self, path: &Path) -> Result<()> {
        if self.fail_after.is_some_and(|n| self.writes >= n) {
            return Err(Error::InjectedFailure {
                action: "removing",
                path: path.to_path_buf(),
            });
        }
        self.writes += 1;
        Ok(())
    }

    /// Writes a file the user named (`--output FILE`, an explicit `doctor --fix` input).
    /// A regular file is replaced atomically; a link to a regular file is replaced at
    /// its target, so the link stays a link; anything else (`/dev/null`, `/dev/stdout`,
    /// a pipe, a terminal, or a link through `/proc` or `/dev` to one of those) is
    /// written in place and never replaced.
    pub fn write_through(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        match fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !link => {
                self.write(path, contents, mode)
            }
            Err(e) => Err(Error::io("write", path, e)),
            Ok(m) if m.is_dir() => Err(Error::io(
                "write",
                path,
                std::io::Error::other("it is a directory"),
            )),
            Ok(m) if m.is_file() && !link => self.write(path, contents, mode),
            Ok(m) if m.is_file() => {
                let target = fs::canonicalize(path).map_err(|e| Error::io("resolve", path, e))?;
                if target.starts_with("/proc") || target.starts_with("/dev") {
                    write_in_place(path, contents)
                } else {
                    self.write(&target, contents, m.permissions().mode() & 0o777)
                }
            }
            Ok(_) => write_in_place(path, contents),
        }
    }

    /// Narrows the permission bits of an existing file (`doctor --fix` on a key readable
    /// by others). Only ever removes access, so no moment exposes more than before.
    pub fn restrict_mode(&mut self, path: &Path, mode: u32) -> Result<()> {
        // chmod follows links: never narrow (or touch) a file a link points at.
        let current = fs::symlink_metadata(path)
            .and_then(|m| {
                if m.file_type().is_symlink() {
                    Err(std::io::Error::other("it is a symbolic link"))
                } else {
                    Ok(m)
                }
            })
            .map_err(|e| Error::io("read", path, e))?
            .permissions()
            .mode()
            & 0o777;
        fs::set_permissions(path, fs::Permissions::from_mode(current & mode))
            .map_err(|e| Error::io("change permissions of", path, e))
    }

    /// Writes several files, each as atomically and durably as [`Writer::write`], with the
    /// fsyncs batched ([`fsync::Syncer`]): every temp file is written, then all are
    /// fsynced together (the filesystem journal commits concurrent fsyncs as one), then
    /// renamed into place, then their directories are fsynced together. One journal
    /// commit per phase instead of two sequential fsyncs per file: on ext4 that is most
    /// of `init`'s time (see bench/README.md).
    ///
    /// `journal` (the state manifest) is committed first, so whatever the run is
    /// interrupted by, the next run recognises every file this one wrote, or set out to
    /// replace, as bkenv's ([`State::previous`]). Private files are committed (renamed,
    /// directories synced) before public ones, so a key is durable before any
    /// certificate that needs it is visible. Within each group the order is the slice's;
    /// each rename counts as one write for failure injection. On any error no temp file
    /// is left behind.
    pub fn write_batch(
        &mut self,
        files: &[BatchFile<'_>],
        journal: Option<&BatchFile<'_>>,
    ) -> Result<()> {
        let files: Vec<&BatchFile<'_>> = journal.into_iter().chain(files).collect();
        let groups: Vec<u8> = files
            .iter()
            .enumerate()
            .map(|(i, f)| match (journal.is_some() && i == 0, f.mode) {
                (true, _) => 0,
                (false, MODE_PRIVATE) => 1,
                (false, _) => 2,
            })
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
            // Pushed before handing over, so a failure still removes the temp file.
            staged.push(Some(s));
            // A file with its own owner (a container user's key) keeps it.
            if let Some(s) = staged
                .last()
                .and_then(Option::as_ref)
                .filter(|_| f.owner.is_none())
            {
                self.hand_over(&s.file)
                    .map_err(|e| Error::io("change the owner of", f.path.clone(), e))?;
            }
        }
        let handles: Vec<&fs::File> = staged.iter().flatten().map(|s| &s.file).collect();
        let syncer = fsync::Syncer::new(handles.len());
        for (result, f) in syncer.sync_all(&handles).into_iter().zip(files) {
            result.map_err(|e| Error::io("write", f.path.clone(), e))?;
        }
        for group in 0..=2 {
            let mut dirs: Vec<&Path> = Vec::new();
            for (i, f) in files.iter().enumerate() {
                if groups[i] != group {
                    continue;
                }
                if self.fail_after.is_some_and(|n| self.writes >= n) {
                    return Err(Error::InjectedFailure {
                        action: "writing",
                        path: f.path.clone(),
                    });
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
            // As in `write`, a directory that cannot be synced is not an error. Each
            // still costs a disk cache flush, so they go together, like the files.
            let handles: Vec<fs::File> =
                dirs.iter().filter_map(|d| fs::File::open(d).ok()).collect();
            let _ = syncer.sync_all(&handles.iter().collect::<Vec<_>>());
        }
        Ok(())
    }
}

/// Makes a removal in `path`'s directory durable; a directory that cannot be synced is
/// not an error (as in [`Writer::write`]).
fn sync_parent(path: &Path) {
    if let Some(d) = path.parent().and_then(|p| fs::File::open(p).ok()) {
        let _ = d.sync_all();
    }
}

/// Writes to a device, pipe or terminal as a shell redirection would: no create, no
/// rename. A FIFO is opened without blocking (no reader is an error, not a hang), then
/// written with ordinary blocking writes.
fn write_in_place(path: &Path, contents: &[u8]) -> Result<()> {
    let io = |e| Error::io("write", path, e);
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    // SAFETY: fcntl on a descriptor we own; clears O_NONBLOCK so write_all blocks.
    let ok = unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
    };
    if !ok {
        return Err(io(std::io::Error::last_os_error()));
    }
    f.write_all(contents).and_then(|()| f.flush()).map_err(io)
}

/// Creates bkenv's private directory `dir` (0700) or checks the existing one: a
/// symbolic link there is refused, since bkenv keeps passwords and its lock in it.
pub fn ensure_private_dir(dir: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Refused {
            path: dir.to_path_buf(),
            message: "is a symbolic link; bkenv keeps passwords and state there and does not follow links. Remove the link".into(),
        }),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Refused {
            path: dir.to_path_buf(),
            message: "is not a directory; remove it".into(),
        }),
        Err(_) => Writer {
            owner,
            ..Writer::default()
        }
        .ensure_dir(dir, DIR_PRIVATE),
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

/// Creates the temp file `tmp` (never through a link: `create_new`). A temp file of the
/// same name is a leftover of a run with this pid that was killed: it is removed and the
/// create retried once, which spares every other write an `unlink`.
fn create_temp(tmp: &Path, mode: u32) -> std::io::Result<fs::File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()
        }
        other => other,
    }
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
        let mut file = create_temp(&tmp, f.mode)?;
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

/// The outcome for one planned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub path: PathBuf,
    pub status: Status,
}

/// Applies a plan with its state manifest: [`Classified::new`], then
/// [`Classified::commit`]. With `dry_run` nothing is written and the statuses say what
/// would happen.
pub fn apply(
    root: &Path,
    plan: &[PlannedFile],
    state: State,
    writer: &mut Writer,
    force: bool,
    dry_run: bool,
) -> Result<Vec<Applied>> {
    Classified::new(root, plan, state, force)?.commit(writer, dry_run)
}

/// A plan whose files have been compared with the disk, nothing written yet.
#[derive(Debug)]
pub struct Classified<'a> {
    root: &'a Path,
    plan: &'a [PlannedFile],
    statuses: Vec<Status>,
    state: State,
    /// Planned files that exist, differ, and that bkenv has no record of writing.
    not_ours: Vec<String>,
}

impl<'a> Classified<'a> {
    /// Reads what is on disk for each planned file and decides what applying it does,
    /// without writing. The new manifest records the planned contents, and in
    /// [`State::previous`] what a replaced file held.
    pub fn new(
        root: &'a Path,
        plan: &'a [PlannedFile],
        mut state: State,
        force: bool,
    ) -> Result<Classified<'a>> {
        let mut statuses = Vec::with_capacity(plan.len());
        let mut previous = BTreeMap::new();
        let mut not_ours = Vec::new();
        for file in plan {
            let (status, replaced) = classify_existing(root, &state, file, force)?;
            if let Some(old) = replaced {
                previous.insert(file.path.clone(), sha256_hex(&old));
            }
            if status == Status::KeptEdited
                && file.policy == Policy::Generated
                && !state.records(&file.path)
            {
                not_ours.push(file.path.clone());
            }
            if status != Status::KeptEdited && file.policy != Policy::Keep {
                state
                    .files
                    .insert(file.path.clone(), sha256_hex(&file.contents));
            }
            statuses.push(status);
        }
        // A run that replaces nothing keeps the old entries: they may describe files an
        // earlier, interrupted run left behind.
        if !previous.is_empty() {
            state.previous = previous;
        }
        Ok(Classified {
            root,
            plan,
            statuses,
            state,
            not_ours,
        })
    }

    /// Files bkenv would replace but never wrote (no record in the state): a
    /// hand-written `docker-compose.yml` or `.env`, not an edit of bkenv's. `--force`
    /// empties this list.
    pub fn not_ours(&self) -> &[String] {
        &self.not_ours
    }

    /// Writes the files that are new or bkenv's to replace, with [`Writer::write_batch`]:
    /// the manifest first (the run's intent: a file it writes is bkenv's even if the run
    /// stops halfway), then private files (keys, secrets) before public ones, so a key is
    /// durable before the certificate that needs it appears. Nothing is rewritten that
    /// is already as planned (`Unchanged`), the manifest included.
    pub fn commit(self, writer: &mut Writer, dry_run: bool) -> Result<Vec<Applied>> {
        let out = self
            .plan
            .iter()
            .zip(&self.statuses)
            .map(|(f, s)| Applied {
                path: PathBuf::from(&f.path),
                status: *s,
            })
            .collect();
        if dry_run {
            return Ok(out);
        }
        let to_write: Vec<BatchFile<'_>> = self
            .plan
            .iter()
            .zip(&self.statuses)
            .filter(|(_, s)| matches!(s, Status::Created | Status::Updated))
            .map(|(file, _)| BatchFile {
                path: self.root.join(&file.path),
                contents: &file.contents,
                mode: file.mode,
                owner: file.owner,
            })
            .collect();
        let (path, json) = state_json(self.root, &self.state)?;
        let changed = read_file(&path, Links::Refuse)?.as_deref() != Some(json.as_slice());
        if let Some(dir) = path.parent().filter(|_| changed) {
            ensure_private_dir(dir, writer.owner)?;
        }
        let journal = changed.then(|| BatchFile {
            path,
            contents: &json,
            mode: MODE_PRIVATE,
            owner: None,
        });
        writer.write_batch(&to_write, journal.as_ref())?;
        Ok(out)
    }
}

/// Writes the state manifest alone (atomically), when it changed: a rotation step
/// records its phase this way before it writes the files the phase implies.
pub fn save_state(root: &Path, state: &State, writer: &mut Writer) -> Result<()> {
    let (path, json) = state_json(root, state)?;
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir, writer.owner)?;
    }
    if read_file(&path, Links::Refuse)?.as_deref() == Some(json.as_slice()) {
        return Ok(());
    }
    writer.write(&path, &json, MODE_PRIVATE)
}

fn state_json(root: &Path, state: &State) -> Result<(PathBuf, Vec<u8>)> {
    let mut json = serde_json::to_vec_pretty(state)?;
    json.push(b'\n');
    Ok((root.join(crate::model::layout::STATE), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed run's temp file (or a link planted under its name) is replaced, never
    /// written through; the link's target is untouched.
    #[test]
    fn a_leftover_temp_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "theirs").unwrap();
        let (tmp, _) = temp_path(&dir.path().join("ca.key"));
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        let mut f = create_temp(&tmp, MODE_PRIVATE).unwrap();
        f.write_all(b"key").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "theirs");
        let meta = fs::symlink_metadata(&tmp).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, MODE_PRIVATE);
        drop(f);
        fs::write(&tmp, "stale").unwrap();
        create_temp(&tmp, MODE_PRIVATE).unwrap();
        assert_eq!(fs::read(&tmp).unwrap(), b"");
    }

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
    fn batch_commits_the_journal_first_then_private_files() {
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
        for after in 0..5 {
            let mut w = Writer {
                fail_after: Some(after),
                ..Writer::default()
            };
            assert!(w.write_batch(&files, Some(&last)).is_err() || after == 4);
            assert_eq!(exists("state.json"), after >= 1, "after {after}");
            assert_eq!(exists("priv/a.key"), after >= 2, "after {after}");
            assert_eq!(exists("pub/a.crt"), after >= 3, "after {after}");
            assert_eq!(exists("pub/b.crt"), after >= 4, "after {after}");
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
            crate::safefs::euid(),
            // SAFETY: getegid has no preconditions and cannot fail.
            unsafe { libc::getegid() },
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
            ..Writer::default()
        };
        assert!(failing.write(&path, b"new", MODE_PRIVATE).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
