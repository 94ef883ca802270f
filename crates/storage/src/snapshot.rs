//! Snapshot files: durable write, verified read, and choosing the newest
//! valid one at recovery. Format in [`crate::format`].

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};
use crate::format::{self, HEADER_LEN, SNAPSHOT_MAGIC, TRAILER_LEN};
use crate::fsutil;

/// Buffer for snapshot reads and writes.
const BUFFER_BYTES: usize = 1 << 20;
/// How often loading reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// A snapshot loaded and verified at recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotData {
    /// The last zxid the snapshot covers.
    pub zxid: i64,
    /// The file it came from.
    pub path: PathBuf,
    /// The body, exactly as the tree wrote it.
    pub body: Vec<u8>,
}

/// Writes a snapshot covering up to `zxid` into `data_dir` durably: it goes to
/// `snapshot.<hex>.tmp`, is fsynced, renamed to `snapshot.<hex>`, and the
/// directory is fsynced. `write` serializes the body straight into the file
/// (buffered). Returns the final path. Safe to call from a background thread
/// while the log is being appended.
pub fn write_snapshot(
    data_dir: &Path,
    zxid: i64,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf> {
    write_snapshot_paced(data_dir, zxid, true, write)
}

/// [`write_snapshot`] for a server that is stopping: the same durable
/// steps, but written as fast as the disk takes it, with no writeback
/// pacing (nothing else is using the disk, and the process waits on it).
pub fn write_snapshot_now(
    data_dir: &Path,
    zxid: i64,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf> {
    write_snapshot_paced(data_dir, zxid, false, write)
}

fn write_snapshot_paced(
    data_dir: &Path,
    zxid: i64,
    paced: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf> {
    fsutil::ensure_dir(data_dir)?;
    let name = format::snapshot_name(zxid);
    let tmp = data_dir.join(format!("{name}.tmp"));
    let path = data_dir.join(name);
    let result = write_tmp(&tmp, zxid, paced, write);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fs::rename(&tmp, &path).map_err(|e| StorageError::io("rename into place", &path, e))?;
    fsutil::fsync_dir(data_dir)?;
    Ok(path)
}

fn write_tmp(
    tmp: &Path,
    zxid: i64,
    paced: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let file = File::create(tmp).map_err(|e| StorageError::io("create", tmp, e))?;
    let mut out = BufWriter::with_capacity(BUFFER_BYTES, PacedFile::new(file, paced));
    let io_err = |e| StorageError::io("write snapshot", tmp, e);
    out.write_all(&format::encode_header(SNAPSHOT_MAGIC, zxid))
        .map_err(io_err)?;
    let mut body = CrcWriter {
        inner: &mut out,
        crc: 0,
        len: 0,
    };
    write(&mut body).map_err(io_err)?;
    let trailer = format::encode_trailer(body.len, body.crc);
    out.write_all(&trailer).map_err(io_err)?;
    let file = out.into_inner().map_err(|e| io_err(e.into_error()))?.file;
    file.sync_all()
        .map_err(|e| StorageError::io("fsync", tmp, e))
}

/// A snapshot body written to a temporary file as it arrives (a leader's
/// SNAP, in parts), before its zxid is known: the header is left zeroed
/// and written by [`IncomingSnapshot::finish`], which also seals and
/// fsyncs the file; [`crate::Storage::install_received`] puts it in place.
/// Dropped unfinished, the file is removed.
#[derive(Debug)]
pub struct IncomingSnapshot {
    /// Empty once finished.
    tmp: PathBuf,
    out: BufWriter<PacedFile>,
    crc: u32,
    len: u64,
}

impl IncomingSnapshot {
    /// Creates `snapshot.incoming.<n>.tmp` in `data_dir` (removed at the
    /// next start if the process dies first, as every `.tmp` is).
    pub fn create(data_dir: &Path) -> Result<IncomingSnapshot> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fsutil::ensure_dir(data_dir)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = data_dir.join(format!("snapshot.incoming.{n}.tmp"));
        let file = File::create(&tmp).map_err(|e| StorageError::io("create", &tmp, e))?;
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, PacedFile::new(file, true));
        if let Err(e) = out.write_all(&[0u8; HEADER_LEN]) {
            let _ = fs::remove_file(&tmp);
            return Err(StorageError::io("write snapshot", &tmp, e));
        }
        Ok(IncomingSnapshot {
            tmp,
            out,
            crc: 0,
            len: 0,
        })
    }

    /// Appends the next bytes of the body.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| StorageError::io("write snapshot", &self.tmp, e))?;
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Body bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no body byte has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Seals the body as the snapshot of `zxid`: trailer, header, fsync.
    pub fn finish(mut self, zxid: i64) -> Result<ReceivedSnapshot> {
        let tmp = std::mem::take(&mut self.tmp);
        let result = self.seal(&tmp, zxid);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        Ok(ReceivedSnapshot { tmp, zxid })
    }

    fn seal(&mut self, tmp: &Path, zxid: i64) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let io_err = |e| StorageError::io("write snapshot", tmp, e);
        self.out
            .write_all(&format::encode_trailer(self.len, self.crc))
            .map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        let file = &self.out.get_ref().file;
        file.write_all_at(&format::encode_header(SNAPSHOT_MAGIC, zxid), 0)
            .map_err(io_err)?;
        file.sync_all()
            .map_err(|e| StorageError::io("fsync", tmp, e))
    }
}

impl Drop for IncomingSnapshot {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A received snapshot sealed on disk under a temporary name, to be put
/// in place by [`crate::Storage::install_received`]; dropped instead, the
/// file is removed.
#[derive(Debug)]
pub struct ReceivedSnapshot {
    /// Empty once in place.
    tmp: PathBuf,
    zxid: i64,
}

impl ReceivedSnapshot {
    /// The last zxid the snapshot covers.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Renames the file to its snapshot name in `data_dir` (the directory
    /// it was created in) and fsyncs the directory.
    pub(crate) fn place(mut self, data_dir: &Path) -> Result<PathBuf> {
        let tmp = std::mem::take(&mut self.tmp);
        let path = data_dir.join(format::snapshot_name(self.zxid));
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(StorageError::io("rename into place", &path, e));
        }
        fsutil::fsync_dir(data_dir)?;
        Ok(path)
    }
}

impl Drop for ReceivedSnapshot {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A writer that checksums and counts what passes through it.
/// Bytes of a snapshot written between writeback steps.
const WRITEBACK_BYTES: u64 = 1 << 20;

/// A file written with paced writeback: every [`WRITEBACK_BYTES`], the
/// window just written is sent to disk (asynchronously) and the one before
/// it waited for, so a snapshot never holds more than a few MiB of dirty
/// pages. Without it the final fsync floods the disk with the whole tree
/// at once (150 MB at a million nodes) and the transaction log's fsyncs,
/// queued behind it, stall every write for tens of milliseconds.
#[derive(Debug)]
struct PacedFile {
    file: File,
    /// false: plain writes, all left to the final fsync.
    paced: bool,
    written: u64,
    /// Start of the window being written back.
    started: u64,
    /// Everything before this was waited for.
    waited: u64,
}

impl PacedFile {
    fn new(file: File, paced: bool) -> PacedFile {
        PacedFile {
            file,
            paced,
            written: 0,
            started: 0,
            waited: 0,
        }
    }

    /// Starts writeback of `[from, to)`; with `wait`, returns once it is on
    /// disk. Advisory: errors are left for the final fsync to report.
    #[cfg(target_os = "linux")]
    fn range(&self, from: u64, to: u64, wait: bool) {
        use std::os::fd::AsRawFd;
        let flags = if wait {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        } else {
            libc::SYNC_FILE_RANGE_WRITE
        };
        let (Ok(off), Ok(len)) = (
            libc::off64_t::try_from(from),
            libc::off64_t::try_from(to - from),
        ) else {
            return;
        };
        // SAFETY: a valid open descriptor and plain integers.
        unsafe {
            libc::sync_file_range(self.file.as_raw_fd(), off, len, flags);
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn range(&self, _from: u64, _to: u64, _wait: bool) {}
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.paced && self.written - self.started >= WRITEBACK_BYTES {
            // Waiting took the disk for about as long as it did: leave it
            // that long to the log's fsyncs (half the disk, at most).
            let t = Instant::now();
            self.range(self.waited, self.started, true);
            std::thread::sleep(t.elapsed().min(Duration::from_millis(50)));
            self.range(self.started, self.written, false);
            self.waited = self.started;
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

struct CrcWriter<'a, W: Write> {
    inner: &'a mut W,
    crc: u32,
    len: u64,
}

impl<W: Write> Write for CrcWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streams a snapshot body, checking its checksum when the body ends: the
/// final `read` returns an [`io::ErrorKind::InvalidData`] error instead of
/// end-of-file if the body does not match its trailer.
#[derive(Debug)]
pub struct SnapshotReader {
    zxid: i64,
    path: PathBuf,
    /// Unbuffered: the decoders buffer for themselves (the tree's loader
    /// reads 256 KiB at a time; `load_with` puts a 64 KiB buffer in front
    /// of other decoders), and a buffer here copied every byte once more.
    inner: io::Take<File>,
    body_len: u64,
    expected_crc: u32,
    crc: u32,
    /// Log progress as the body is read (streaming loads).
    report_progress: bool,
    read_bytes: u64,
    started: Instant,
    last_report: Instant,
}

impl SnapshotReader {
    /// Opens `path`, checks the header, the trailer and the file length.
    /// The body checksum is checked as the body is read.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |reason: String| StorageError::BadSnapshot {
            path: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(|e| StorageError::io("open", path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| StorageError::io("stat", path, e))?
            .len();
        let min_len = (HEADER_LEN + TRAILER_LEN) as u64;
        if file_len < min_len {
            return Err(bad(format!("the file is {file_len} bytes long, shorter than header and trailer ({min_len} bytes)")));
        }
        let mut header = [0u8; HEADER_LEN];
        let mut trailer = [0u8; TRAILER_LEN];
        read_at(&mut file, 0, &mut header).map_err(|e| StorageError::io("read", path, e))?;
        read_at(&mut file, file_len - TRAILER_LEN as u64, &mut trailer)
            .map_err(|e| StorageError::io("read", path, e))?;
        let zxid = format::decode_header(SNAPSHOT_MAGIC, &header).map_err(bad)?;
        let (body_len, expected_crc) = format::decode_trailer(&trailer).map_err(bad)?;
        if body_len != file_len - min_len {
            return Err(bad(format!(
                "the trailer says the body is {body_len} bytes but the file holds {}",
                file_len - min_len
            )));
        }
        file.seek(SeekFrom::Start(HEADER_LEN as u64))
            .map_err(|e| StorageError::io("seek", path, e))?;
        Ok(SnapshotReader {
            zxid,
            path: path.to_path_buf(),
            inner: file.take(body_len),
            body_len,
            expected_crc,
            crc: 0,
            report_progress: false,
            read_bytes: 0,
            started: Instant::now(),
            last_report: Instant::now(),
        })
    }

    /// The last zxid the snapshot covers.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// The body length in bytes.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Logs a streaming load's progress, at most once per interval.
    fn report(&mut self) {
        if self.last_report.elapsed() >= PROGRESS_INTERVAL {
            self.last_report = Instant::now();
            tracing::info!(path = %self.path.display(), loaded_mib = self.read_bytes >> 20, total_mib = self.body_len >> 20, "loading snapshot");
        }
    }

    /// Logs the end of a long streaming load.
    fn report_done(&self) {
        if self.started.elapsed() >= PROGRESS_INTERVAL {
            tracing::info!(path = %self.path.display(), mib = self.body_len >> 20, elapsed_ms = self.started.elapsed().as_millis() as u64, "loaded snapshot");
        }
    }

    fn load_err(&self, e: io::Error) -> StorageError {
        if e.kind() == io::ErrorKind::InvalidData {
            StorageError::BadSnapshot {
                path: self.path.clone(),
                reason: e.to_string(),
            }
        } else {
            StorageError::io("read", &self.path, e)
        }
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.read_bytes += n as u64;
        if self.report_progress {
            self.report();
        }
        if n == 0 && !buf.is_empty() {
            if self.inner.limit() != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the snapshot body ended early",
                ));
            }
            if self.crc != self.expected_crc {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the body checksum does not match the trailer",
                ));
            }
        }
        Ok(n)
    }
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

/// Snapshot files in `data_dir` (complete names only, no `.tmp`), oldest first.
pub fn list_snapshots(data_dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    fsutil::list_by_zxid(data_dir, format::parse_snapshot_name)
}

/// A snapshot decoded by the caller while it was read.
#[derive(Debug)]
pub struct LoadedSnapshot<T> {
    /// The last zxid the snapshot covers.
    pub zxid: i64,
    /// The file it came from.
    pub path: PathBuf,
    /// What the caller's decoder made of the body.
    pub value: T,
}

/// Loads the newest snapshot that verifies, streaming its body into
/// `decode` (never holding it in memory: a million-node snapshot is
/// ~180 MB). A body is accepted only if `decode` succeeds, consumes all of
/// it and the checksum matches; otherwise (as ZooKeeper does) the next
/// older snapshot is tried, with a warning. `None` if there is none.
pub fn load_newest_valid_with<T, E: std::fmt::Display>(
    data_dir: &Path,
    decode: &mut dyn FnMut(&mut (dyn Read + Send)) -> std::result::Result<T, E>,
) -> Result<Option<LoadedSnapshot<T>>> {
    for (name_zxid, path) in list_snapshots(data_dir)?.into_iter().rev() {
        match load_with(&path, name_zxid, decode) {
            Ok(loaded) => return Ok(Some(loaded)),
            Err(e @ (StorageError::BadSnapshot { .. } | StorageError::BadHeader { .. })) => {
                tracing::warn!(error = %e, "skipping an invalid snapshot; trying the previous one");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Opens a snapshot whose header must agree with its name's zxid.
fn open_named(path: &Path, name_zxid: i64) -> Result<SnapshotReader> {
    let reader = SnapshotReader::open(path)?;
    if reader.zxid() != name_zxid {
        return Err(StorageError::BadSnapshot {
            path: path.to_path_buf(),
            reason: format!(
                "the header says zxid {:#x} but the name says {name_zxid:#x}",
                reader.zxid()
            ),
        });
    }
    Ok(reader)
}

fn load_with<T, E: std::fmt::Display>(
    path: &Path,
    name_zxid: i64,
    decode: &mut dyn FnMut(&mut (dyn Read + Send)) -> std::result::Result<T, E>,
) -> Result<LoadedSnapshot<T>> {
    let mut reader = open_named(path, name_zxid)?;
    reader.report_progress = true;
    let zxid = reader.zxid();
    // Small reads for the decoder, large ones (checksummed) underneath.
    let mut buffered = BufReader::with_capacity(1 << 16, &mut reader);
    let value = decode(&mut buffered);
    // Whatever the decoder made of it, the body must check out to its end.
    let mut rest = [0u8; 1];
    let tail = buffered.read(&mut rest);
    drop(buffered);
    let bad = |reason: String| StorageError::BadSnapshot {
        path: path.to_path_buf(),
        reason,
    };
    match (value, tail) {
        (_, Err(e)) => Err(reader.load_err(e)),
        (Err(e), Ok(_)) => Err(bad(format!("its body does not decode: {e}"))),
        (Ok(_), Ok(n)) if n > 0 => Err(bad("bytes follow the end of its body".into())),
        (Ok(value), Ok(_)) => {
            reader.report_done();
            Ok(LoadedSnapshot {
                zxid,
                path: path.to_path_buf(),
                value,
            })
        }
    }
}

/// True if `path` has a valid header and trailer and the right length
/// (the body checksum is not read). Used by purge to count snapshots.
pub fn looks_complete(path: &Path) -> bool {
    SnapshotReader::open(path).is_ok()
}

/// Removes leftover `snapshot.*.tmp` files (snapshots interrupted by a stop).
/// Call only when no snapshot is being written.
pub fn remove_stale_temp_files(data_dir: &Path) -> Result<()> {
    let tmp_zxid = |name: &str| {
        name.strip_suffix(".tmp")
            .and_then(format::parse_snapshot_name)
    };
    for (_, path) in fsutil::list_by_zxid(data_dir, tmp_zxid)? {
        tracing::info!(path = %path.display(), "removing an unfinished snapshot");
        fsutil::remove_file(&path)?;
    }
    Ok(())
}
