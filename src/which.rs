//! Finding programs the way a shell does: an executable regular file of that name in a
//! directory of a PATH. One lookup for `tools` (which bkenv and Compose exist) and for the
//! credential helpers probes may run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Whether `p` is a regular file someone may execute.
pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` in the first of `dirs` that has it as an executable file. Relative
/// directories (an empty PATH entry means the working directory) are skipped: what runs
/// must not depend on where bkenv was started.
pub(crate) fn find_in(dirs: impl IntoIterator<Item = PathBuf>, name: &str) -> Option<PathBuf> {
    find_in_by(dirs, name, &is_executable)
}

/// [`find_in`] with the executable test injected (tests describe a machine without
/// touching the disk).
pub(crate) fn find_in_by(
    dirs: impl IntoIterator<Item = PathBuf>,
    name: &str,
    executable: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    dirs.into_iter()
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// `name` on `path_env` (a PATH value).
pub(crate) fn find(path_env: &OsStr, name: &str) -> Option<PathBuf> {
    find_in(std::env::split_paths(path_env), name)
}
