//! fsync of many files at once, without a thread per file.
//!
//! One `fsync` is a journal commit and a disk cache flush; a run of `init` needs one
//! for each file it writes and each directory it renames into. Issued one after
//! another they are most of `init`'s time. Issued together, the journal commits them as
//! one transaction and the block layer merges their flushes. Linux AIO does that from
//! one thread: one `io_submit` with an `IOCB_CMD_FSYNC` per file (Linux 4.18+; each
//! runs on a kernel worker), one `io_getevents` for the results. Each result is the
//! file's own `fsync` result, so the durability of every file is what `fsync` gives it.
//! Where AIO is unavailable (older kernels, seccomp filters, `aio-max-nr` exhausted)
//! the files are synced one by one.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `struct iocb` of `<linux/aio_abi.h>`.
#[repr(C)]
#[derive(Default)]
struct Iocb {
    aio_data: u64,
    #[cfg(target_endian = "little")]
    aio_key: u32,
    #[cfg(target_endian = "little")]
    aio_rw_flags: i32,
    #[cfg(target_endian = "big")]
    aio_rw_flags: i32,
    #[cfg(target_endian = "big")]
    aio_key: u32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

/// `struct io_event` of `<linux/aio_abi.h>`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

const IOCB_CMD_FSYNC: u16 = 2;

/// fsyncs batches of files, all of one batch at once. One AIO context serves every
/// batch of a [`Writer::write_batch`](super::Writer::write_batch) (files, then each
/// group's directories): `io_setup` and `io_destroy` are paid once per run.
pub(super) struct Syncer {
    ctx: Option<Context>,
    capacity: usize,
}

impl Syncer {
    /// A syncer for batches of up to `capacity` files; without AIO (or for one file
    /// at a time) it syncs one by one.
    pub(super) fn new(capacity: usize) -> Syncer {
        let ctx = (capacity > 1).then(|| Context::new(capacity)).flatten();
        Syncer { ctx, capacity }
    }

    /// `fsync`s every file; the results are in the order of `files`.
    pub(super) fn sync_all(&self, files: &[&File]) -> Vec<io::Result<()>> {
        let mut results: Vec<Option<io::Result<()>>> = files.iter().map(|_| None).collect();
        if let Some(ctx) = self.ctx.as_ref().filter(|_| files.len() > 1) {
            for (chunk, slots) in files
                .chunks(self.capacity)
                .zip(results.chunks_mut(self.capacity))
            {
                ctx.sync(chunk, slots);
            }
        }
        // Whatever AIO did not take (unavailable, or refused part of the batch) is
        // synced here, one by one.
        results
            .into_iter()
            .zip(files)
            .map(|(r, f)| r.unwrap_or_else(|| f.sync_all()))
            .collect()
    }
}

/// `fsync`s every file at once; the results are in the order of `files`.
#[cfg(test)]
fn sync_all(files: &[&File]) -> Vec<io::Result<()>> {
    Syncer::new(files.len()).sync_all(files)
}

/// An AIO context, destroyed on drop (which waits for requests still in flight).
struct Context(libc::c_ulong);

impl Context {
    fn new(events: usize) -> Option<Context> {
        let mut ctx: libc::c_ulong = 0;
        let events = libc::c_long::try_from(events).ok()?;
        // SAFETY: io_setup writes the new context id to `ctx`, a valid location.
        let r =
            unsafe { libc::syscall(libc::SYS_io_setup, events, &mut ctx as *mut libc::c_ulong) };
        (r == 0).then_some(Context(ctx))
    }

    /// Submits an fsync for every file and fills in the result of each request the
    /// kernel took. Requests it refused stay `None`.
    fn sync(&self, files: &[&File], results: &mut [Option<io::Result<()>>]) {
        let iocbs: Vec<Iocb> = files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                Some(Iocb {
                    aio_data: u64::try_from(i).ok()?,
                    aio_lio_opcode: IOCB_CMD_FSYNC,
                    aio_fildes: u32::try_from(f.as_raw_fd()).ok()?,
                    ..Iocb::default()
                })
            })
            .collect();
        let pointers: Vec<*const Iocb> = iocbs.iter().map(|c| c as *const Iocb).collect();
        let mut submitted = 0usize;
        while submitted < pointers.len() {
            let rest = &pointers[submitted..];
            let Ok(count) = libc::c_long::try_from(rest.len()) else {
                break;
            };
            // SAFETY: `rest` points at `count` initialised iocbs that outlive the call;
            // the kernel copies them during io_submit and keeps only `aio_data`.
            let r = unsafe { libc::syscall(libc::SYS_io_submit, self.0, count, rest.as_ptr()) };
            match usize::try_from(r) {
                Ok(n) if n > 0 => submitted += n,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                // EINVAL (no AIO fsync for this file system), EAGAIN, ENOSYS, EPERM:
                // the rest is synced one by one by the caller.
                _ => break,
            }
        }
        let mut events = vec![IoEvent::default(); submitted];
        let mut done = 0usize;
        while done < submitted {
            let Ok(want) = libc::c_long::try_from(submitted - done) else {
                break;
            };
            // Waits for all of them (min_nr = want): every result is needed, and one
            // wake-up instead of one per completion matters on a busy machine, where
            // each wake-up waits for a CPU.
            // SAFETY: `events` has room for `want` events; no timeout (null): fsync has
            // none either, and every request submitted completes.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    self.0,
                    want,
                    want,
                    events.as_mut_ptr(),
                    std::ptr::null::<libc::timespec>(),
                )
            };
            let Ok(n) = usize::try_from(r) else {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Cannot tell which requests finished: dropping the context waits for
                // them, and the caller syncs again whatever has no result.
                break;
            };
            for ev in &events[..n.min(events.len())] {
                let Some(slot) = usize::try_from(ev.data)
                    .ok()
                    .and_then(|i| results.get_mut(i))
                else {
                    continue;
                };
                *slot = Some(if ev.res < 0 {
                    Err(io::Error::from_raw_os_error(
                        i32::try_from(-ev.res).unwrap_or(libc::EIO),
                    ))
                } else {
                    Ok(())
                });
            }
            done += n;
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: destroys the context created in `new`; the kernel waits for requests
        // still in flight first.
        unsafe {
            libc::syscall(libc::SYS_io_destroy, self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_file_and_directory_is_synced_with_its_own_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<File> = (0..5)
            .map(|i| {
                let mut f = File::create(dir.path().join(format!("f{i}"))).unwrap();
                f.write_all(b"x").unwrap();
                f
            })
            .collect();
        files.push(File::open(dir.path()).unwrap());
        let refs: Vec<&File> = files.iter().collect();
        let results = sync_all(&refs);
        assert_eq!(results.len(), 6);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert!(sync_all(&[]).is_empty());
    }

    /// A file that cannot be synced (a pipe: EINVAL) reports its own error, and the
    /// others still succeed.
    #[test]
    fn a_failure_is_the_failing_files_own() {
        let dir = tempfile::tempdir().unwrap();
        let ok = File::create(dir.path().join("ok")).unwrap();
        let mut fds = [0; 2];
        // SAFETY: pipe writes two new descriptors into `fds`.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the descriptors are new and owned here.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        let results = sync_all(&[&ok, &r, &ok]);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(results[1].is_err(), "{results:?}");
        drop(w);
    }
}
