//! The CA directory on disk: reading it under the shared-machine rules, and switching to
//! a new CA as one transaction.
//!
//! Reading refuses a `ca/` directory, `ca/ca.key` or `ca/ca.crt` that is a symbolic link,
//! and a directory or key owned by someone other than the invoking user (as root: root
//! or the owner of the environment directory, so `sudo` works on a user's environment).
//! The rule concerns the CA only: leaf keys that bkenv hands to another user (a rootless
//! daemon's) are not the trust anchor.
//!
//! Switching ([`switch`]) writes the new pair beside the old one in `.bkenv/ca-next/`,
//! then commits with one rename of the whole `ca/` directory out of the way, and a second
//! that moves the new directory in. A run interrupted at any point is finished or undone
//! by [`recover`], which every writing command runs first: before the commit point the
//! staged pair is discarded and the old CA is still in place; after it, the staged pair
//! (complete before the commit) becomes `ca/`. No moment leaves a key with a certificate
//! that is not its own, and the old pair ends in `ca/backup-<UTC time>[-N]/`.
//!
//! A rotation with overlap (`bkenv rotate-ca`, see [`crate::rotation`]) keeps the CA it
//! will switch to in `.bkenv/ca-incoming/` ([`stage_incoming`]) while clients learn to
//! trust it, under the same reading rules, and switches to it with [`switch`] like
//! `--new-ca` does.

use crate::error::{Error, Result};
use crate::model::layout;
use crate::output::{self, BatchFile, Writer};
use crate::safefs::{Links, Owners};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

const NEXT: &str = ".bkenv/ca-next";
/// The CA a rotation will switch to, while the trust files hold it beside the current one.
pub const INCOMING: &str = ".bkenv/ca-incoming";
const OLD_PREFIX: &str = "ca-old.";
const BACKUP_PREFIX: &str = "backup-";

/// The CA files as found, plus warnings worth telling.
#[derive(Debug, Default)]
pub struct CaFiles {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub warnings: Vec<String>,
}

/// Reads `ca/ca.crt` and `ca/ca.key` under the rules in the module documentation.
pub fn read(dir: &Path) -> Result<CaFiles> {
    read_at(dir, layout::CA_DIR)
}

/// Reads the incoming CA of a rotation ([`INCOMING`]) under the same rules.
pub fn read_incoming(dir: &Path) -> Result<CaFiles> {
    read_at(dir, INCOMING)
}

/// Reads `<rel>/ca.crt` and `<rel>/ca.key`.
fn read_at(dir: &Path, rel: &str) -> Result<CaFiles> {
    let owners = Owners::for_env(dir);
    let ca_dir = dir.join(rel);
    let mut out = CaFiles::default();
    let meta = match fs::symlink_metadata(&ca_dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read", ca_dir, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(refused(
            &ca_dir,
            "is a symbolic link. bkenv does not adopt a CA it does not own: a link can lead to another user's CA. \
             Replace the link with the directory itself (or remove it to start a new CA)",
        ));
    }
    if !meta.is_dir() {
        return Err(refused(&ca_dir, "is not a directory; remove it"));
    }
    check_owner(&ca_dir, &meta, &owners, "the CA directory")?;
    if meta.mode() & 0o022 != 0 {
        out.warnings.push(format!(
            "warning: {rel} is writable by other users, who could replace the CA; run `chmod 700 {}`",
            ca_dir.display()
        ));
    }
    let key_path = ca_dir.join("ca.key");
    let cert_path = ca_dir.join("ca.crt");
    out.key = read_ca_file(&key_path)?;
    if out.key.is_some() {
        let meta = fs::symlink_metadata(&key_path).map_err(|e| Error::io("read", &key_path, e))?;
        check_owner(&key_path, &meta, &owners, "the CA key")?;
    }
    out.cert = read_ca_file(&cert_path)?;
    if out.cert.is_some()
        && fs::symlink_metadata(&cert_path).is_ok_and(|m| crate::safefs::world_writable(&m))
    {
        out.warnings.push(format!(
            "warning: {rel}/ca.crt is writable by every user, who could make clients trust another CA; run `chmod 644 {}`",
            cert_path.display()
        ));
    }
    Ok(out)
}

fn read_ca_file(path: &Path) -> Result<Option<String>> {
    match crate::safefs::read_optional(path, Links::Refuse) {
        Ok(b) => Ok(b.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(crate::safefs::ReadError::Symlink) => Err(refused(
            path,
            "is a symbolic link. bkenv does not adopt CA files through links (a link can lead to another user's key); \
             put the file itself in place",
        )),
        Err(crate::safefs::ReadError::Io(e)) => Err(Error::io("read", path, e)),
        Err(e) => Err(refused(
            path,
            &format!("{e}; the CA files must be regular files"),
        )),
    }
}

fn check_owner(path: &Path, meta: &fs::Metadata, owners: &Owners, what: &str) -> Result<()> {
    if owners.allows(meta.uid()) {
        return Ok(());
    }
    let allowed = match owners.env_owner {
        Some(o) if o != owners.me => format!("uid {} or {o}", owners.me),
        _ => format!("uid {}", owners.me),
    };
    Err(refused(
        path,
        &format!(
            "{what} is owned by uid {}, not by the user running bkenv ({allowed}). Another user may have planted it \
             to make you trust their CA. Remove it if it is not yours, or run bkenv as its owner",
            meta.uid()
        ),
    ))
}

fn refused(path: &Path, message: &str) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Finishes or undoes a CA switch that was interrupted. Returns what it did, for the
/// summary. Runs under the environment lock, before anything reads the CA.
pub fn recover(dir: &Path, writer: &mut Writer) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let ca = dir.join(layout::CA_DIR);
    let next = dir.join(NEXT);
    if next.is_dir() {
        let whole = ["ca.key", "ca.crt"].iter().all(|f| next.join(f).is_file());
        if ca.exists() || !whole {
            // Staged but never committed: the old CA is whole and stays.
            fs::remove_dir_all(&next).map_err(|e| Error::io("remove", &next, e))?;
            notes.push("an interrupted `--new-ca` was undone; the CA is unchanged".into());
        } else {
            writer.rename(&next, &ca)?;
            sync_dir(dir);
            notes.push("an interrupted `--new-ca` was completed".into());
        }
    }
    for old in staged_old(dir)? {
        let name = old
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(OLD_PREFIX))
            .unwrap_or("backup")
            .to_string();
        if ca.exists() {
            fold_backup(dir, &old, &name, writer)?;
        } else {
            writer.rename(&old, &ca)?;
            sync_dir(dir);
            notes.push("an interrupted `--new-ca` was undone; the CA is unchanged".into());
        }
    }
    Ok(notes)
}

/// `.bkenv/ca-old.*` directories: old CAs moved out but not yet filed as backups.
fn staged_old(dir: &Path) -> Result<Vec<PathBuf>> {
    let state = dir.join(".bkenv");
    let entries = match fs::read_dir(&state) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", state, e)),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(OLD_PREFIX))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// Switches the environment to `ca` (a new pair), keeping the current one, if any, in
/// `ca/backup-<UTC time>[-N]/` (with the backups it held beside it). Returns that
/// backup directory. The transaction is described in the module documentation.
pub fn switch(
    dir: &Path,
    ca: &crate::pki::Ca,
    now: OffsetDateTime,
    writer: &mut Writer,
) -> Result<Option<PathBuf>> {
    let ca_dir = dir.join(layout::CA_DIR);
    let next = dir.join(NEXT);
    output::ensure_private_dir(&dir.join(".bkenv"), writer.owner)?;
    if next.exists() {
        fs::remove_dir_all(&next).map_err(|e| Error::io("remove", &next, e))?;
    }
    writer.ensure_dir(&next, output::DIR_PRIVATE)?;
    let files = [
        BatchFile {
            path: next.join("ca.key"),
            contents: ca.key_pem.as_bytes(),
            mode: output::MODE_PRIVATE,
            owner: None,
        },
        BatchFile {
            path: next.join("ca.crt"),
            contents: ca.cert_pem.as_bytes(),
            mode: output::MODE_PUBLIC,
            owner: None,
        },
    ];
    writer.write_batch(&files, None)?;
    if !ca_dir.exists() {
        writer.rename(&next, &ca_dir)?;
        sync_dir(dir);
        return Ok(None);
    }
    let name = unique_backup_name(&ca_dir, now);
    let old = dir.join(".bkenv").join(format!("{OLD_PREFIX}{name}"));
    // The commit point: from here on, `recover` completes the switch.
    writer.rename(&ca_dir, &old)?;
    writer.rename(&next, &ca_dir)?;
    sync_dir(dir);
    fold_backup(dir, &old, &name, writer)?;
    Ok(Some(ca_dir.join(name)))
}

/// Writes `ca` as the incoming CA of a rotation ([`INCOMING`], private like `ca/`): the
/// key first, so an interruption leaves at worst a key whose certificate can be
/// re-derived, never a certificate without its key.
pub fn stage_incoming(dir: &Path, ca: &crate::pki::Ca, writer: &mut Writer) -> Result<()> {
    output::ensure_private_dir(&dir.join(layout::STATE_DIR), writer.owner)?;
    let incoming = dir.join(INCOMING);
    output::ensure_private_dir(&incoming, writer.owner)?;
    let files = [
        BatchFile {
            path: incoming.join("ca.key"),
            contents: ca.key_pem.as_bytes(),
            mode: output::MODE_PRIVATE,
            owner: None,
        },
        BatchFile {
            path: incoming.join("ca.crt"),
            contents: ca.cert_pem.as_bytes(),
            mode: output::MODE_PUBLIC,
            owner: None,
        },
    ];
    writer.write_batch(&files, None)
}

/// Removes the incoming CA once [`switch`] made it the CA (`ca/` holds the same pair).
pub fn remove_incoming(dir: &Path, writer: &mut Writer) -> Result<()> {
    let incoming = dir.join(INCOMING);
    match fs::symlink_metadata(&incoming) {
        Ok(m) if m.is_dir() => writer.remove_dir_all(&incoming),
        Ok(_) => Err(refused(&incoming, "is not a directory; remove it")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("read", incoming, e)),
    }
}

/// The backup directory (`ca/backup-*`) holding the CA certificate `der`, if any.
pub fn find_backup(dir: &Path, der: &[u8]) -> Option<PathBuf> {
    let ca_dir = dir.join(layout::CA_DIR);
    let mut found: Vec<PathBuf> = fs::read_dir(&ca_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX))
        .map(|e| e.path())
        .filter(|p| {
            crate::safefs::read_optional(&p.join("ca.crt"), Links::Refuse)
                .ok()
                .flatten()
                .and_then(|b| crate::pki::read_certs(&b).ok())
                .is_some_and(|c| c.first().is_some_and(|c| c.der == der))
        })
        .collect();
    found.sort();
    found.pop()
}

/// `backup-20261123T120000Z`, with `-2`, `-3`... when a backup of the same second exists.
fn unique_backup_name(ca_dir: &Path, now: OffsetDateTime) -> String {
    let base = format!("{BACKUP_PREFIX}{}", crate::stamp::compact(now));
    let mut name = base.clone();
    let mut n = 1;
    while ca_dir.join(&name).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// Files the old CA directory `old` as `ca/<name>`, first moving the backups it held
/// up beside it so backups never nest.
fn fold_backup(dir: &Path, old: &Path, name: &str, writer: &mut Writer) -> Result<()> {
    let ca_dir = dir.join(layout::CA_DIR);
    let entries = fs::read_dir(old).map_err(|e| Error::io("read", old, e))?;
    for e in entries.filter_map(|e| e.ok()) {
        let file_name = e.file_name();
        let n = file_name.to_string_lossy();
        if n.starts_with(BACKUP_PREFIX) && e.path().is_dir() && !ca_dir.join(&*n).exists() {
            writer.rename(&e.path(), &ca_dir.join(&*n))?;
        }
    }
    let mut target = ca_dir.join(name);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = ca_dir.join(format!("{name}-{n}"));
    }
    writer.rename(old, &target)?;
    sync_dir(&ca_dir);
    Ok(())
}

/// Makes renames in `dir` durable; a directory that cannot be synced is not an error
/// (as in [`Writer::write`]).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
