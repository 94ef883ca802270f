//! [`Storage`]: opening (with recovery) and appending to the transaction log.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};
use crate::format::{self, HEADER_LEN, MAX_PAYLOAD_BYTES, RECORD_HEADER_LEN, SEGMENT_MAGIC};
use crate::fsutil;
use crate::recovery;
use crate::snapshot::{self, ReceivedSnapshot, SnapshotData};
use crate::spare::{self, SpareMaker};
use crate::truncate;

/// Largest encoded batch [`Storage::append_batch`] accepts (256 MiB).
pub const MAX_BATCH_BYTES: usize = 256 << 20;
/// Capacity of the encode buffer kept between batches.
const RETAINED_BUFFER_BYTES: usize = 16 << 20;

/// Largest zero buffer written at once when preallocating.
const ZERO_FILL_PIECE_BYTES: u64 = 1 << 20;
/// Preallocation of a segment created on the append path (no spare was
/// ready: the first write after start-up, mostly). That write waits for the
/// creation's fsync, which for a full 4 MiB chunk of zeros took 13 ms of a
/// 17 ms first write on a rotational disk; the segment grows by the usual
/// chunks once this is full.
const COLD_FIRST_CHUNK_BYTES: u64 = 64 << 10;

/// Where and how the storage keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOptions {
    /// Directory for snapshots and epoch files.
    pub data_dir: PathBuf,
    /// Directory for transaction log segments (may equal `data_dir`; a
    /// separate device keeps log fsyncs fast).
    pub data_log_dir: PathBuf,
    /// fdatasync after every batch. `false` is for tests and benchmarks only:
    /// acknowledged writes may be lost on a machine crash.
    pub force_sync: bool,
    /// A new segment is started before a batch that would take the current
    /// one past this size (a single larger batch still goes in one segment).
    pub segment_size_bytes: u64,
    /// Segments are grown in chunks of this size, zero-filled, so most
    /// appends neither change the file size nor allocate blocks. Once a
    /// segment holds this much, the next one is prepared in the background
    /// (a spare of `segment_size_bytes` zeros, see [`crate::spare`]) and
    /// taken instead of growing or creating a segment on the append path.
    pub preallocate_bytes: u64,
}

impl StorageOptions {
    /// Default segment size (64 MiB, as ZooKeeper's preallocation).
    pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 64 << 20;
    /// Default preallocation chunk (4 MiB: a short zero-fill every ~25,000
    /// records of 150 bytes).
    pub const DEFAULT_PREALLOCATE_BYTES: u64 = 4 << 20;

    /// Options with fsync on, 64 MiB segments and 4 MiB preallocation.
    pub fn new(data_dir: impl Into<PathBuf>, data_log_dir: impl Into<PathBuf>) -> Self {
        StorageOptions {
            data_dir: data_dir.into(),
            data_log_dir: data_log_dir.into(),
            force_sync: true,
            segment_size_bytes: Self::DEFAULT_SEGMENT_SIZE_BYTES,
            preallocate_bytes: Self::DEFAULT_PREALLOCATE_BYTES,
        }
    }
}

/// What [`Storage::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The newest valid snapshot, if any.
    pub snapshot: Option<SnapshotData>,
    /// Log records with zxid above the snapshot's, in order, to apply on top.
    pub txns: Vec<(i64, Vec<u8>)>,
    /// The highest durable zxid: max of the snapshot zxid and the last logged
    /// zxid (0 for an empty data dir).
    pub last_zxid: i64,
}

/// Applies one logged txn (zxid, payload) to the state being recovered.
pub type Apply<'a, T, E> = dyn FnMut(&mut T, i64, Vec<u8>) -> std::result::Result<(), E> + 'a;

/// What [`Storage::open_with`] recovered.
#[derive(Debug)]
pub struct Replayed<T> {
    /// The state: the snapshot decoded (or `empty()`), every txn after it
    /// applied.
    pub state: T,
    /// The snapshot it started from: its zxid and file.
    pub snapshot: Option<(i64, PathBuf)>,
    /// Log records applied on top of it.
    pub replayed: u64,
    /// The highest durable zxid (as [`Recovered::last_zxid`]).
    pub last_zxid: i64,
}

/// The transaction log writer. One per data log dir; not shared between threads
/// (snapshots and purges run on their own via the free functions).
#[derive(Debug)]
pub struct Storage {
    opts: StorageOptions,
    /// The next segment, made ahead of need. Declared before `_lock`:
    /// fields drop in order, and its thread must be stopped (and an
    /// untaken spare removed) before another process may lock the dir.
    spare: SpareMaker,
    /// Held open for its `flock` on the data log dir.
    _lock: File,
    active: Option<ActiveSegment>,
    last_zxid: i64,
    buf: Vec<u8>,
    poisoned: bool,
    stats: LogStats,
}

/// Counters since [`Storage::open`], for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Batches appended.
    pub batches: u64,
    /// Records appended.
    pub records: u64,
    /// Bytes written to segments (records only, not headers).
    pub bytes: u64,
    /// fdatasync calls made for batches.
    pub fsyncs: u64,
    /// Segments created.
    pub segments_created: u64,
    /// Of those, segments that were a spare made ahead (the rest were
    /// created and zero-filled on the append path).
    pub segments_from_spare: u64,
}

/// The segment currently appended to.
#[derive(Debug)]
struct ActiveSegment {
    file: File,
    path: PathBuf,
    /// Where the next record goes.
    write_offset: u64,
    /// Current file length (written data plus preallocated zeros).
    allocated_len: u64,
}

impl Storage {
    /// Opens the data dirs (creating them if missing), locks the data log dir
    /// ([`StorageError::Locked`] if another process has it), loads the newest valid
    /// snapshot and replays the log after it. Appends then go to a new
    /// segment. Fails, naming the file and byte offset, if committed records
    /// are damaged or missing; truncates a torn tail with a warning.
    pub fn open(opts: StorageOptions) -> Result<(Storage, Recovered)> {
        type Bytes = (Option<Vec<u8>>, Vec<(i64, Vec<u8>)>);
        let (storage, r) = Self::open_with(
            opts,
            &mut |r: &mut (dyn std::io::Read + Send)| -> std::io::Result<Bytes> {
                let mut body = Vec::new();
                r.read_to_end(&mut body)?;
                Ok((Some(body), Vec::new()))
            },
            &mut || (None, Vec::new()),
            &mut |state: &mut Bytes, zxid, payload| {
                state.1.push((zxid, payload));
                Ok(())
            },
        )?;
        let (body, txns) = r.state;
        let snapshot = r
            .snapshot
            .zip(body)
            .map(|((zxid, path), body)| SnapshotData { zxid, path, body });
        let recovered = Recovered {
            snapshot,
            txns,
            last_zxid: r.last_zxid,
        };
        Ok((storage, recovered))
    }

    /// Like [`Storage::open`], but never holds the recovered data in
    /// memory as bytes: the newest valid snapshot's body is streamed into
    /// `decode` (see [`snapshot::load_newest_valid_with`]; `empty` stands
    /// in when there is none), then each logged txn after it is handed to
    /// `apply` as it is read. An `apply` error stops recovery as
    /// corruption at that record.
    pub fn open_with<T, E: std::fmt::Display>(
        opts: StorageOptions,
        decode: &mut dyn FnMut(&mut (dyn std::io::Read + Send)) -> std::result::Result<T, E>,
        empty: &mut dyn FnMut() -> T,
        apply: &mut Apply<'_, T, E>,
    ) -> Result<(Storage, Replayed<T>)> {
        let lock = Self::prepare(&opts)?;
        let snap = snapshot::load_newest_valid_with(&opts.data_dir, decode)?;
        let (mut state, snapshot) = match snap {
            Some(s) => (s.value, Some((s.zxid, s.path))),
            None => (empty(), None),
        };
        let snap_zxid = snapshot.as_ref().map_or(0, |s| s.0);
        let summary = recovery::recover_log_with(&opts.data_log_dir, snap_zxid, &mut |z, p| {
            apply(&mut state, z, p).map_err(|e| e.to_string())
        })?;
        let last_zxid = snap_zxid.max(summary.last_log_zxid.unwrap_or(0));
        let replayed = Replayed {
            state,
            snapshot,
            replayed: summary.replayed,
            last_zxid,
        };
        Ok((Self::finish_open(opts, lock, last_zxid), replayed))
    }

    /// Checks the options, makes and locks the dirs, removes stale temp
    /// files.
    fn prepare(opts: &StorageOptions) -> Result<File> {
        assert!(
            opts.segment_size_bytes > 0 && opts.preallocate_bytes > 0,
            "sizes must be positive"
        );
        fsutil::ensure_dir(&opts.data_dir)?;
        fsutil::ensure_dir(&opts.data_log_dir)?;
        let lock = fsutil::lock_dir(&opts.data_log_dir)?;
        if !opts.force_sync {
            tracing::warn!(
                data_log_dir = %opts.data_log_dir.display(),
                "force_sync is off: the transaction log is never fsynced, so acknowledged writes may be lost if the machine crashes"
            );
        }
        snapshot::remove_stale_temp_files(&opts.data_dir)?;
        SpareMaker::remove_leftover(&opts.data_log_dir)?;
        Ok(lock)
    }

    fn finish_open(opts: StorageOptions, lock: File, last_zxid: i64) -> Storage {
        let spare_len = opts
            .segment_size_bytes
            .div_ceil(opts.preallocate_bytes)
            .saturating_mul(opts.preallocate_bytes);
        let spare = SpareMaker::new(&opts.data_log_dir, spare_len, opts.force_sync);
        Storage {
            spare,
            opts,
            _lock: lock,
            active: None,
            last_zxid,
            buf: Vec::new(),
            poisoned: false,
            stats: LogStats::default(),
        }
    }

    /// The highest zxid appended or recovered.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The options this storage was opened with.
    pub fn options(&self) -> &StorageOptions {
        &self.opts
    }

    /// Appends `records` (zxids strictly increasing and above
    /// [`Storage::last_zxid`], payloads non-empty and at most
    /// [`MAX_PAYLOAD_BYTES`], the whole batch at most [`MAX_BATCH_BYTES`]
    /// encoded) with one write and, if `force_sync`, one
    /// fdatasync. Returns only when the records are durable. An empty batch is
    /// a no-op. After an I/O error every later call fails with
    /// [`StorageError::Poisoned`].
    pub fn append_batch(&mut self, records: &[(i64, &[u8])]) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let Some(&(first_zxid, _)) = records.first() else {
            return Ok(());
        };
        self.validate(records)?;
        self.encode(records);
        let result = self.write_encoded(first_zxid);
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        self.last_zxid = records[records.len() - 1].0;
        self.stats.batches += 1;
        self.stats.records += records.len() as u64;
        self.stats.bytes += self.buf.len() as u64;
        Ok(())
    }

    fn validate(&self, records: &[(i64, &[u8])]) -> Result<()> {
        let mut prev = self.last_zxid;
        for (zxid, payload) in records {
            let reason = if *zxid <= prev {
                format!("zxid {zxid:#x} is not above {prev:#x}")
            } else if payload.is_empty() {
                format!("the payload of zxid {zxid:#x} is empty")
            } else if payload.len() > MAX_PAYLOAD_BYTES {
                format!("the payload of zxid {zxid:#x} is {} bytes, above the {MAX_PAYLOAD_BYTES}-byte limit", payload.len())
            } else {
                prev = *zxid;
                continue;
            };
            return Err(StorageError::InvalidAppend { reason });
        }
        let total: usize = records
            .iter()
            .map(|(_, p)| RECORD_HEADER_LEN + p.len())
            .sum();
        if total > MAX_BATCH_BYTES {
            let reason = format!(
                "the batch encodes to {total} bytes, above the {MAX_BATCH_BYTES}-byte limit"
            );
            return Err(StorageError::InvalidAppend { reason });
        }
        Ok(())
    }

    fn encode(&mut self, records: &[(i64, &[u8])]) {
        self.buf.clear();
        if self.buf.capacity() > RETAINED_BUFFER_BYTES {
            // Do not keep the memory of one huge batch forever.
            self.buf = Vec::new();
        }
        let total: usize = records
            .iter()
            .map(|(_, p)| RECORD_HEADER_LEN + p.len())
            .sum();
        self.buf.reserve(total);
        for (i, (zxid, payload)) in records.iter().enumerate() {
            format::encode_record(&mut self.buf, *zxid, payload, i == 0);
        }
    }

    /// Writes `self.buf` to the active segment (rolling or growing it first)
    /// and syncs.
    fn write_encoded(&mut self, first_zxid: i64) -> Result<()> {
        let len = self.buf.len() as u64;
        let needs_roll = self.active.as_ref().is_none_or(|a| {
            a.write_offset > HEADER_LEN as u64
                && a.write_offset + len > self.opts.segment_size_bytes
        });
        // A ready spare is better than growing this segment by zero-fill.
        let needs_growth = self
            .active
            .as_ref()
            .is_some_and(|a| a.write_offset + len > a.allocated_len);
        if needs_roll || (needs_growth && self.spare.is_ready()) {
            self.roll()?;
        }
        let active = match self.active.take() {
            Some(active) => active,
            None => self.new_segment(first_zxid)?,
        };
        let chunk = self.opts.preallocate_bytes;
        let active = self.active.insert(active);
        active.grow_to(active.write_offset + len, chunk)?;
        active
            .file
            .write_all_at(&self.buf, active.write_offset)
            .map_err(|e| StorageError::io("write", &active.path, e))?;
        if self.opts.force_sync {
            active
                .file
                .sync_data()
                .map_err(|e| StorageError::io("fdatasync", &active.path, e))?;
            self.stats.fsyncs += 1;
        }
        active.write_offset += len;
        self.spare.note_appended(len);
        if active.write_offset
            >= self
                .opts
                .preallocate_bytes
                .min(self.opts.segment_size_bytes / 4)
        {
            self.spare.request();
        }
        Ok(())
    }

    /// Starts segment `log.<first_zxid>`: the spare if one is ready, else a
    /// file created and zero-filled here.
    fn new_segment(&mut self, first_zxid: i64) -> Result<ActiveSegment> {
        self.stats.segments_created += 1;
        let Some(file) = self.spare.take() else {
            return create_segment(&self.opts, first_zxid);
        };
        let path = self
            .opts
            .data_log_dir
            .join(format::segment_name(first_zxid));
        let header = format::encode_header(SEGMENT_MAGIC, first_zxid);
        spare::adopt(
            &file,
            &self.spare.path(),
            &path,
            &header,
            self.opts.force_sync,
        )?;
        let allocated_len = file
            .metadata()
            .map_err(|e| StorageError::io("stat", &path, e))?
            .len();
        self.stats.segments_from_spare += 1;
        Ok(ActiveSegment {
            file,
            path,
            write_offset: HEADER_LEN as u64,
            allocated_len,
        })
    }

    /// Waits up to `timeout` for the spare segment being prepared in the
    /// background (see [`StorageOptions::preallocate_bytes`]); true if one
    /// is ready for the next segment. For tests and tools: appends never
    /// wait for it.
    pub fn wait_for_spare(&mut self, timeout: std::time::Duration) -> bool {
        self.spare.wait_ready(timeout)
    }

    /// Closes the current segment (trimming its preallocated tail) so the next
    /// append starts a new one named by its first zxid. Appends roll by
    /// themselves at [`StorageOptions::segment_size_bytes`]; an explicit
    /// roll makes the segments before it purgeable sooner, at the cost of a
    /// segment's worth of zeros for the next one.
    pub fn roll(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        if let Some(active) = self.active.take() {
            // Trimming zeros is cosmetic (they read as end of data), so it is
            // not fsynced.
            active
                .file
                .set_len(active.write_offset)
                .map_err(|e| StorageError::io("trim", &active.path, e))?;
        }
        self.spare.retry();
        Ok(())
    }

    /// Removes every log record and snapshot with zxid above `zxid` (ZAB's
    /// TRUNC), durably, and makes `zxid` the last zxid. `zxid` must be at
    /// most [`Storage::last_zxid`] and should be one the log or a kept
    /// snapshot holds (the next open checks the log still reaches it). After
    /// a failure the storage is poisoned.
    pub fn truncate_after(&mut self, zxid: i64) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        if zxid > self.last_zxid || zxid < 0 {
            let reason = format!(
                "cannot truncate after zxid {zxid:#x}: the last zxid is {:#x}",
                self.last_zxid
            );
            return Err(StorageError::InvalidTruncate { reason });
        }
        self.active = None;
        let result = truncate::truncate_after(&self.opts.data_dir, &self.opts.data_log_dir, zxid);
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        self.last_zxid = zxid;
        Ok(())
    }

    /// Replaces everything with a snapshot of `zxid` received from a ZAB
    /// leader (its SNAP sync): log records above `zxid` go first (they are
    /// not in the leader's history), then the snapshot is written (temp
    /// file, fsync, rename), then every log segment goes (the snapshot
    /// holds their effect and more; records at or below `zxid` may come
    /// from a history the leader does not share). The next append starts
    /// a new segment after `zxid`. A crash midway leaves either the old
    /// state cut at `zxid` or the new snapshot. After a failure the
    /// storage is poisoned.
    pub fn install_snapshot(&mut self, zxid: i64, body: &[u8]) -> Result<PathBuf> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let result = self.install_snapshot_inner(zxid, body);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// [`Storage::install_snapshot`] for a snapshot already written to disk
    /// as it was received ([`crate::IncomingSnapshot`]): it is renamed into place
    /// instead of written.
    pub fn install_received(&mut self, snapshot: ReceivedSnapshot) -> Result<PathBuf> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let zxid = snapshot.zxid();
        let dir = self.opts.data_dir.clone();
        let result = self.install_inner(zxid, || snapshot.place(&dir));
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn install_snapshot_inner(&mut self, zxid: i64, body: &[u8]) -> Result<PathBuf> {
        let dir = self.opts.data_dir.clone();
        self.install_inner(zxid, || {
            snapshot::write_snapshot(&dir, zxid, |w| w.write_all(body))
        })
    }

    /// Drops the log after `zxid`, puts the snapshot of `zxid` in place
    /// (`place`), then removes every log segment.
    fn install_inner(
        &mut self,
        zxid: i64,
        place: impl FnOnce() -> Result<PathBuf>,
    ) -> Result<PathBuf> {
        self.active = None;
        if self.last_zxid > zxid {
            truncate::truncate_after(&self.opts.data_dir, &self.opts.data_log_dir, zxid)?;
        }
        let path = place()?;
        let segments = recovery::segment_paths(&self.opts.data_log_dir)?;
        for (_, seg) in &segments {
            fsutil::remove_file(seg)?;
        }
        if !segments.is_empty() {
            fsutil::fsync_dir(&self.opts.data_log_dir)?;
        }
        self.last_zxid = zxid;
        Ok(path)
    }

    /// Counters since open.
    pub fn stats(&self) -> LogStats {
        self.stats
    }

    /// The segment being appended to, if any.
    pub fn active_segment(&self) -> Option<&Path> {
        self.active.as_ref().map(|a| a.path.as_path())
    }
}

impl ActiveSegment {
    /// Makes the file at least `needed` bytes long, in whole `chunk`s, by
    /// writing zeros (made durable by the next fdatasync). Real zeros rather
    /// than a sparse `set_len` mean later appends overwrite allocated blocks,
    /// so their fdatasync flushes data, not block allocations.
    fn grow_to(&mut self, needed: u64, chunk: u64) -> Result<()> {
        if needed <= self.allocated_len {
            return Ok(());
        }
        let new_len = needed.div_ceil(chunk) * chunk;
        let zeros = vec![0u8; (new_len - self.allocated_len).min(ZERO_FILL_PIECE_BYTES) as usize];
        let mut at = self.allocated_len;
        while at < new_len {
            let n = (new_len - at).min(zeros.len() as u64) as usize;
            self.file
                .write_all_at(&zeros[..n], at)
                .map_err(|e| StorageError::io("preallocate", &self.path, e))?;
            at += n as u64;
        }
        self.allocated_len = new_len;
        Ok(())
    }
}

/// Creates `log.<first_zxid>` with its header, preallocates it, and makes
/// both the header and the directory entry durable before any record is
/// written (so recovery can tell an unfinished creation from corruption).
fn create_segment(opts: &StorageOptions, first_zxid: i64) -> Result<ActiveSegment> {
    let path = opts.data_log_dir.join(format::segment_name(first_zxid));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StorageError::io("create", &path, e))?;
    let header = format::encode_header(SEGMENT_MAGIC, first_zxid);
    file.write_all_at(&header, 0)
        .map_err(|e| StorageError::io("write", &path, e))?;
    let mut active = ActiveSegment {
        file,
        path,
        write_offset: HEADER_LEN as u64,
        allocated_len: HEADER_LEN as u64,
    };
    // Preallocate a first (small) chunk now, so the first batch's
    // fdatasync does not also have to change the file size.
    active.grow_to(
        HEADER_LEN as u64 + 1,
        opts.preallocate_bytes.min(COLD_FIRST_CHUNK_BYTES),
    )?;
    if opts.force_sync {
        active
            .file
            .sync_all()
            .map_err(|e| StorageError::io("fsync", &active.path, e))?;
        fsutil::fsync_dir(&opts.data_log_dir)?;
    }
    Ok(active)
}
