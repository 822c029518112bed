//! Reading files a hostile or careless neighbour may have planted, and deciding whose
//! files bkenv may trust. Shared by `init` (the CA, leaves, spec, state) and `doctor`
//! (every discovered file), so both refuse the same things the same way.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The largest file bkenv reads. Config files, certificates and keys are kilobytes;
/// anything bigger is refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    NotRegular(&'static str),
    #[error(
        "{0} bytes is too large to be a config file (bkenv reads at most {max} MiB)",
        max = MAX_FILE_BYTES >> 20
    )]
    TooLarge(u64),
    #[error("a symbolic link; bkenv does not follow links here")]
    Symlink,
}

impl ReadError {
    /// The file does not exist (or a parent of it is not a directory).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e)
            if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory))
    }
}

/// Whether [`read_bounded`] follows a final symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    Refuse,
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. The file is opened with
/// `O_NONBLOCK` and checked on the open descriptor, so a FIFO never blocks the open,
/// a device is never read (`/dev/zero` would exhaust memory) and nothing can be swapped
/// in between the check and the read.
pub fn read_bounded(path: &Path, links: Links) -> Result<Vec<u8>, ReadError> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a final link fails with ELOOP.
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::Symlink);
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(not_regular(&meta.file_type())));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    read_capped(file, meta.len())
}

fn read_capped(file: File, len: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The file may grow between the size check and the read: never read past the cap.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_bounded`], with a missing file as `None`.
pub fn read_optional(path: &Path, links: Links) -> Result<Option<Vec<u8>>, ReadError> {
    match read_bounded(path, links) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a path that is not a regular file was not read.
pub fn not_regular(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO (named pipe), not a regular file"
    } else if ft.is_socket() {
        "a socket, not a regular file"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device, not a regular file"
    } else if ft.is_dir() {
        "a directory, not a regular file"
    } else {
        "not a regular file"
    }
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Who may own the files bkenv trusts (the CA directory and key): the invoking user;
/// when that is root (`sudo bkenv ...`), also the owner of the environment directory,
/// whose files root is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    pub me: u32,
    pub env_owner: Option<u32>,
}

impl Owners {
    /// For the environment at `env_dir` (which may not exist yet).
    pub fn for_env(env_dir: &Path) -> Owners {
        let me = euid();
        let env_owner = (me == 0)
            .then(|| std::fs::metadata(env_dir).ok().map(|m| m.uid()))
            .flatten();
        Owners { me, env_owner }
    }

    pub fn allows(&self, uid: u32) -> bool {
        uid == self.me || self.env_owner == Some(uid)
    }

    /// Owner (uid, gid) that files bkenv creates should be given: when root works on an
    /// environment directory that belongs to someone else, that user, so that `sudo`
    /// never leaves root-owned files the owner cannot read or replace.
    pub fn hand_over(env_dir: &Path) -> Option<(u32, u32)> {
        if euid() != 0 {
            return None;
        }
        let meta = std::fs::metadata(env_dir).ok()?;
        (meta.uid() != 0).then(|| (meta.uid(), meta.gid()))
    }
}

/// `mode` allows writes by users other than the owner and the group.
pub fn world_writable(meta: &Metadata) -> bool {
    meta.mode() & 0o002 != 0
}

/// The first directory from `dir` up to `/` that others can write to in a way that lets
/// them replace what bkenv writes below it: the environment directory itself if it is
/// world-writable (others can create `ca/` before bkenv does), or an ancestor that is
/// world-writable without the sticky bit (others can rename the environment away).
pub fn writable_by_others(dir: &Path) -> Option<std::path::PathBuf> {
    let start = std::fs::canonicalize(dir).ok()?;
    let mut cur = Some(start.as_path());
    let mut first = true;
    while let Some(d) = cur {
        if let Ok(meta) = std::fs::metadata(d) {
            let sticky = meta.mode() & 0o1000 != 0;
            if world_writable(&meta) && (first || !sticky) {
                return Some(d.to_path_buf());
            }
        }
        first = false;
        cur = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_links_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_bounded(&fifo, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read_bounded(Path::new("/dev/zero"), Links::Follow).unwrap_err();
        assert!(e.to_string().contains("device"), "{e}");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            read_bounded(&link, Links::Refuse),
            Err(ReadError::Symlink)
        ));
        assert_eq!(read_bounded(&link, Links::Follow).unwrap(), b"x");
        assert_eq!(
            read_optional(&dir.path().join("none"), Links::Follow).unwrap(),
            None
        );
    }
}
