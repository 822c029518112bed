//! Finding programs the way a shell does: an executable regular file of that name in a
//! directory of a PATH. One lookup for the Compose command help names and for the
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
    dirs.into_iter()
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// `name` on `path_env` (a PATH value).
pub(crate) fn find(path_env: &OsStr, name: &str) -> Option<PathBuf> {
    find_in(std::env::split_paths(path_env), name)
}
