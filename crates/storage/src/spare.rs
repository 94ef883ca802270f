//! The spare segment: the next log segment's file, zero-filled and made
//! durable on a background thread before the log needs it.
//!
//! Growing the active segment by writing zeros (so that appends overwrite
//! allocated blocks and their fdatasync flushes data, not block
//! allocations) puts those zeros, and a new segment's creation, into the
//! fdatasync of whichever batch happens to cross the boundary: measured on
//! a busy server, nearly every batch over 2 ms was one of those (4-5 ms,
//! against ~0.3 ms for the rest), and every request queued behind it waited
//! as long. The spare moves that work off the commit path: a thread writes
//! `log.spare` full of zeros, paced so its writes never crowd the log's
//! (at most twice the log's own write rate, and at least
//! [`FLOOR_BYTES_PER_SEC`]), hands each piece to the device as it goes,
//! and fsyncs the file and the directory. The log then starts its next
//! segment by writing a header into the spare and renaming it; recovery
//! never reads `log.spare` (its name is not a segment's) and [`Storage`]
//! removes a leftover one at open.
//!
//! [`Storage`]: crate::Storage

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};
use crate::fsutil;

/// File name of the spare segment in the data log dir.
pub const SPARE_NAME: &str = "log.spare";

/// Zeros written per step.
const PIECE_BYTES: u64 = 256 << 10;
/// Slowest zero-fill rate, so an idle log still gets its spare.
const FLOOR_BYTES_PER_SEC: u64 = 16 << 20;
/// Zeros the thread may write ahead of its pace.
const BURST_BYTES: u64 = 1 << 20;
/// How long the thread waits when it is ahead of its pace.
const PACE_SLEEP: Duration = Duration::from_millis(2);

/// Makes and hands out spare segments for one data log dir.
#[derive(Debug)]
pub struct SpareMaker {
    dir: PathBuf,
    len: u64,
    force_sync: bool,
    /// Bytes appended to the log so far (the pace follows it).
    appended: Arc<AtomicU64>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// No spare exists or is being made.
    Idle,
    /// A thread is making one.
    Making {
        thread: JoinHandle<io::Result<File>>,
        stop: Arc<AtomicBool>,
    },
    /// Made and not yet taken.
    Ready(File),
    /// Making one failed; no new attempt until [`SpareMaker::retry`].
    Failed,
}

impl SpareMaker {
    /// A maker of spares of `len` bytes in `dir` (nothing starts yet).
    pub fn new(dir: &Path, len: u64, force_sync: bool) -> Self {
        SpareMaker {
            dir: dir.to_path_buf(),
            len,
            force_sync,
            appended: Arc::new(AtomicU64::new(0)),
            state: State::Idle,
        }
    }

    /// Path of the spare file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SPARE_NAME)
    }

    /// Removes a spare left by an earlier process (call with the dir locked).
    pub fn remove_leftover(dir: &Path) -> Result<()> {
        fsutil::remove_file(&dir.join(SPARE_NAME))
    }

    /// Counts `n` more bytes appended to the log.
    pub fn note_appended(&self, n: u64) {
        self.appended.fetch_add(n, Ordering::Relaxed);
    }

    /// Starts making a spare unless one exists, is being made, or the last
    /// attempt failed.
    pub fn request(&mut self) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let job = Job {
            path: self.path(),
            dir: self.dir.clone(),
            len: self.len,
            force_sync: self.force_sync,
            appended: self.appended.clone(),
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("paddock-spare".into())
            .spawn(move || job.run());
        self.state = match spawned {
            Ok(thread) => State::Making { thread, stop },
            Err(e) => {
                tracing::warn!("cannot start the thread that prepares log segments: {e}");
                State::Failed
            }
        };
    }

    /// Allows a new attempt after a failed one.
    pub fn retry(&mut self) {
        if matches!(self.state, State::Failed) {
            self.state = State::Idle;
        }
    }

    /// True if a spare is ready to take (collecting a finished thread).
    pub fn is_ready(&mut self) -> bool {
        self.collect();
        matches!(self.state, State::Ready(_))
    }

    /// Takes the ready spare, if there is one; the file is open for reading
    /// and writing, `len` bytes of zeros, durable with its directory entry.
    pub fn take(&mut self) -> Option<File> {
        self.collect();
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Ready(file) => Some(file),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Waits up to `timeout` for a spare being made; true if one is ready.
    pub fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_ready() {
                return true;
            }
            if !matches!(self.state, State::Making { .. }) || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Moves a finished thread's result into the state.
    fn collect(&mut self) {
        let finished = matches!(&self.state, State::Making { thread, .. } if thread.is_finished());
        if !finished {
            return;
        }
        let State::Making { thread, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        self.state = match thread.join() {
            Ok(Ok(file)) => State::Ready(file),
            Ok(Err(e)) => {
                tracing::warn!(path = %self.path().display(), "preparing the next log segment failed (segments are then made on the append path): {e}");
                let _ = fsutil::remove_file(&self.path());
                State::Failed
            }
            Err(_) => {
                tracing::warn!("the thread preparing the next log segment panicked");
                let _ = fsutil::remove_file(&self.path());
                State::Failed
            }
        };
    }
}

impl Drop for SpareMaker {
    /// Stops a thread still writing and removes an untaken spare, before
    /// the [`crate::Storage`] holding this releases the directory lock.
    fn drop(&mut self) {
        let untaken = match std::mem::replace(&mut self.state, State::Idle) {
            State::Making { thread, stop } => {
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
                true
            }
            State::Ready(file) => {
                drop(file);
                true
            }
            State::Idle | State::Failed => false,
        };
        if untaken {
            let _ = fsutil::remove_file(&self.path());
        }
    }
}

/// One spare being made.
struct Job {
    path: PathBuf,
    dir: PathBuf,
    len: u64,
    force_sync: bool,
    appended: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn run(self) -> io::Result<File> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&self.path)?;
        let zeros = vec![0u8; PIECE_BYTES.min(self.len).max(1) as usize];
        let started = Instant::now();
        let appended_at_start = self.appended.load(Ordering::Relaxed);
        let mut at = 0u64;
        while at < self.len {
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
            }
            let n = (self.len - at).min(zeros.len() as u64);
            let logged = self.appended.load(Ordering::Relaxed) - appended_at_start;
            if at + n > allowance(started.elapsed(), logged) {
                std::thread::sleep(PACE_SLEEP);
                continue;
            }
            file.write_all_at(&zeros[..n as usize], at)?;
            if self.force_sync {
                write_out(&file, at, n)?;
            }
            at += n;
        }
        if self.force_sync {
            file.sync_all()?;
            fsutil::fsync_dir(&self.dir).map_err(io::Error::other)?;
        }
        Ok(file)
    }
}

/// Zeros the thread may have written `elapsed` after it started, while the
/// log wrote `logged` bytes: twice the log's bytes or the floor rate,
/// whichever is more, plus a burst.
fn allowance(elapsed: Duration, logged: u64) -> u64 {
    let floor = (FLOOR_BYTES_PER_SEC as f64 * elapsed.as_secs_f64()) as u64;
    floor.max(logged.saturating_mul(2)) + BURST_BYTES
}

/// Hands `len` bytes at `offset` to the device and waits for them, so the
/// spare's zeros never pile up as dirty pages for a later flush (Linux
/// `sync_file_range`; elsewhere nothing: the final fsync writes them).
fn write_out(file: &File, offset: u64, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(off), Ok(n)) = (
            libc::off64_t::try_from(offset),
            libc::off64_t::try_from(len),
        ) else {
            return Ok(());
        };
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: a range of a file descriptor we own; no memory is touched.
        let r = unsafe { libc::sync_file_range(file.as_raw_fd(), off, n, flags) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
    Ok(())
}

/// Turns a spare into segment `path`: writes `header` at its start and
/// renames it, durably (the directory is fsynced when `force_sync`). The
/// header itself becomes durable with the first batch's fdatasync; until
/// then recovery treats the file as a segment whose creation never
/// finished. Fails with `AlreadyExists` if `path` exists.
pub fn adopt(
    file: &File,
    spare: &Path,
    path: &Path,
    header: &[u8],
    force_sync: bool,
) -> Result<()> {
    if path.exists() {
        let e = io::Error::new(io::ErrorKind::AlreadyExists, "the segment exists");
        return Err(StorageError::io("create", path, e));
    }
    file.write_all_at(header, 0)
        .map_err(|e| StorageError::io("write", spare, e))?;
    std::fs::rename(spare, path).map_err(|e| StorageError::io("rename into place", path, e))?;
    if force_sync {
        fsutil::fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_follows_the_log_or_the_floor() {
        assert_eq!(allowance(Duration::ZERO, 0), BURST_BYTES);
        assert_eq!(
            allowance(Duration::from_secs(1), 0),
            FLOOR_BYTES_PER_SEC + BURST_BYTES
        );
        assert_eq!(
            allowance(Duration::from_secs(1), 100 << 20),
            (200 << 20) + BURST_BYTES
        );
    }

    #[test]
    fn makes_takes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = SpareMaker::new(dir.path(), 3 * PIECE_BYTES + 7, true);
        assert!(m.take().is_none());
        m.request();
        assert!(m.wait_ready(Duration::from_secs(30)));
        let file = m.take().expect("ready");
        assert_eq!(file.metadata().unwrap().len(), 3 * PIECE_BYTES + 7);
        let bytes = std::fs::read(m.path()).unwrap();
        assert!(bytes.iter().all(|b| *b == 0));
        drop(file);
        // A taken spare belongs to the caller: drop leaves it.
        drop(m);
        assert!(dir.path().join(SPARE_NAME).exists());

        let mut m = SpareMaker::new(dir.path(), PIECE_BYTES, false);
        m.request();
        assert!(m.wait_ready(Duration::from_secs(30)));
        drop(m);
        assert!(
            !dir.path().join(SPARE_NAME).exists(),
            "an untaken spare is removed"
        );
    }

    #[test]
    fn adopt_refuses_an_existing_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = SpareMaker::new(dir.path(), 4096, false);
        m.request();
        assert!(m.wait_ready(Duration::from_secs(30)));
        let file = m.take().unwrap();
        let target = dir.path().join("log.0000000000000001");
        std::fs::write(&target, b"x").unwrap();
        let err = adopt(&file, &m.path(), &target, b"header", false).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        std::fs::remove_file(&target).unwrap();
        adopt(&file, &m.path(), &target, b"header", false).unwrap();
        let bytes = std::fs::read(&target).unwrap();
        assert_eq!(&bytes[..6], b"header");
        assert_eq!(bytes.len(), 4096);
        assert!(!m.path().exists());
    }
}
