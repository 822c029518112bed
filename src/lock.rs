//! The environment lock: every command that writes into an environment (`init`,
//! `doctor --fix`) holds an exclusive advisory lock on `.bkenv/lock` for its whole run,
//! so two runs never interleave their reads and writes. A second run waits a bounded
//! time, then fails naming the holder (pid, command, start time), which the holder
//! writes into the lock file.
//!
//! `flock(2)` (std's `File::lock`) is released by the kernel when the holder exits, even
//! when it is killed, so a stale lock file never blocks anyone.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Relative to the environment directory (inside `.bkenv/`, which is private and
/// gitignored).
pub const LOCK_FILE: &str = ".bkenv/lock";
/// How long a run waits for another by default: far longer than any `init` takes.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

/// Held until dropped.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
}

/// Who holds (or held) the lock.
#[derive(Debug, Clone)]
pub struct Holder<'a> {
    pub command: &'a str,
    pub started: time::OffsetDateTime,
}

impl EnvLock {
    /// Takes the lock of the environment at `dir` (creating `.bkenv/` 0700 and the lock
    /// file 0600 as needed), waiting at most `wait`. `owner` is who created files get
    /// handed to (see [`crate::safefs::Owners::hand_over`]).
    pub fn acquire(
        dir: &Path,
        holder: &Holder<'_>,
        wait: Duration,
        owner: Option<(u32, u32)>,
    ) -> Result<EnvLock> {
        let path = dir.join(LOCK_FILE);
        let state_dir = dir.join(".bkenv");
        crate::output::ensure_private_dir(&state_dir, owner)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(crate::output::MODE_PRIVATE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| Error::io("open the lock", &path, e))?;
        if let Some((uid, gid)) = owner {
            let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
        }
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => std::thread::sleep(POLL),
                Err(TryLockError::WouldBlock) => {
                    return Err(busy(&path, &mut file, wait));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        let info = format!(
            "pid={} command=\"bkenv {}\" started={}\n",
            std::process::id(),
            holder.command,
            crate::stamp::iso(holder.started)
        );
        // Only the holder writes, so a waiter reads either the old or the new line.
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(info.as_bytes()));
        written.map_err(|e| Error::io("write", &path, e))?;
        Ok(EnvLock { _file: file })
    }
}

fn busy(path: &Path, file: &mut File, wait: Duration) -> Error {
    let mut holder = String::new();
    let _ = file.rewind();
    let _ = file.take(512).read_to_string(&mut holder);
    let holder = holder.trim();
    let who = if holder.is_empty() {
        "another bkenv run".to_string()
    } else {
        format!("another bkenv run ({holder})")
    };
    Error::Refused {
        path: path.to_path_buf(),
        message: format!(
            "{who} is writing this environment; waited {}s for it to finish. \
             Wait for it and retry (set BKENV_LOCK_WAIT=SECONDS to wait longer)",
            wait.as_secs()
        ),
    }
}
