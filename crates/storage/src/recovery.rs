//! Replays the transaction log after a snapshot, repairing a torn tail and
//! refusing to go on when committed records would be lost.
//!
//! Rules, applied to the segments that may hold zxids above the snapshot:
//! - zxids strictly increase across the whole log, and a segment's first
//!   record carries the zxid in its name and header;
//! - the first record above the snapshot zxid, and each one after it,
//!   [`follows`](crate::format::follows) its predecessor (else: [`StorageError::Gap`]);
//! - damage (a partial record, an impossible size, a checksum mismatch) in the
//!   **last** segment is a torn tail, truncated with a warning, unless a valid
//!   record starting a later batch follows it; anywhere else it is
//!   [`StorageError::Corrupt`] naming the file and byte offset;
//! - a valid batch-start record after an end-of-data marker is corruption too;
//! - a last segment left without records (header never made durable, or only
//!   a torn batch) is deleted so the next append can reuse its name.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};
use crate::format::{self, follows};
use crate::fsutil;
use crate::segment::{SegmentReader, Step};

/// How often replay reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// What a streaming replay found.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Records above the snapshot zxid handed to the sink.
    pub replayed: u64,
    /// The highest zxid of any record read (None if no record was read).
    pub last_log_zxid: Option<i64>,
}

/// Takes each record above the snapshot, in order, as it is read; an
/// error stops recovery (as corruption at that record).
pub type ReplaySink<'a> = dyn FnMut(i64, Vec<u8>) -> std::result::Result<(), String> + 'a;

/// Replay state carried across segments.
struct Replay<'a> {
    snap_zxid: i64,
    prev_zxid: Option<i64>,
    /// The last record handed to the sink.
    last_kept: Option<i64>,
    summary: ReplaySummary,
    sink: &'a mut ReplaySink<'a>,
    bytes: u64,
    started: Instant,
    last_report: Instant,
}

/// Reads every record above `snap_zxid` from the segments in `log_dir`,
/// handing each to `sink` as it is read. Records reach the sink before the
/// rest of the log has been checked: if recovery then fails, whatever the
/// sink built must be thrown away.
pub fn recover_log_with<'a>(
    log_dir: &Path,
    snap_zxid: i64,
    sink: &'a mut ReplaySink<'a>,
) -> Result<ReplaySummary> {
    let segments = fsutil::list_by_zxid(log_dir, format::parse_segment_name)?;
    // Segment i holds zxids below the next segment's first zxid, so it is
    // needed only if that first zxid is above snap_zxid + 1.
    let start = segments
        .iter()
        .rposition(|(first, _)| *first <= snap_zxid.saturating_add(1))
        .unwrap_or(0);
    let now = Instant::now();
    let mut replay = Replay {
        snap_zxid,
        prev_zxid: None,
        last_kept: None,
        summary: ReplaySummary::default(),
        sink,
        bytes: 0,
        started: now,
        last_report: now,
    };
    let needed = segments.get(start..).unwrap_or(&[]);
    for (i, (name_zxid, path)) in needed.iter().enumerate() {
        let is_last = i + 1 == needed.len();
        replay.segment(path, *name_zxid, is_last)?;
    }
    if replay.summary.replayed > 100_000 || replay.started.elapsed() >= PROGRESS_INTERVAL {
        tracing::info!(
            records = replay.summary.replayed,
            mib = replay.bytes >> 20,
            elapsed_ms = replay.started.elapsed().as_millis() as u64,
            "replayed the transaction log"
        );
    }
    Ok(replay.summary)
}

impl Replay<'_> {
    fn segment(&mut self, path: &Path, name_zxid: i64, is_last: bool) -> Result<()> {
        let mut reader = match SegmentReader::open(path) {
            Ok(r) => r,
            Err(StorageError::BadHeader { reason, .. }) if is_last => {
                return discard_headless_segment(path, reason)
            }
            Err(e) => return Err(e),
        };
        if reader.first_zxid() != name_zxid {
            return Err(StorageError::BadHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "the header says the first zxid is {:#x} but the name says {name_zxid:#x}",
                    reader.first_zxid()
                ),
            });
        }
        let mut records = 0u64;
        loop {
            match reader.step()? {
                Step::Record {
                    zxid,
                    offset,
                    payload,
                    ..
                } => {
                    self.record(path, name_zxid, records == 0, zxid, offset, payload)?;
                    records += 1;
                }
                Step::End { offset } => {
                    self.check_nothing_after(&mut reader, offset, "an end-of-data marker")?;
                    break;
                }
                Step::Damaged { offset, reason } if is_last => {
                    self.check_nothing_after(&mut reader, offset, &reason)?;
                    truncate_torn_tail(path, offset, &reason)?;
                    break;
                }
                Step::Damaged { offset, reason } => {
                    let reason = format!("{reason}, and this is not the last segment");
                    return Err(corrupt(path, offset, reason));
                }
            }
        }
        if is_last && records == 0 {
            tracing::warn!(path = %path.display(), "removing the last log segment: it holds no complete record");
            fsutil::remove_file(path)?;
            fsutil::fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        path: &Path,
        name_zxid: i64,
        first: bool,
        zxid: i64,
        offset: u64,
        payload: Vec<u8>,
    ) -> Result<()> {
        if first && zxid != name_zxid {
            let reason = format!(
                "the first record has zxid {zxid:#x} but the segment name says {name_zxid:#x}"
            );
            return Err(corrupt(path, offset, reason));
        }
        if let Some(prev) = self.prev_zxid.filter(|p| zxid <= *p) {
            let reason = format!("zxid {zxid:#x} does not increase after {prev:#x}");
            return Err(corrupt(path, offset, reason));
        }
        self.prev_zxid = Some(zxid);
        self.summary.last_log_zxid = Some(zxid);
        if zxid <= self.snap_zxid {
            return Ok(());
        }
        let base = self.last_kept.unwrap_or(self.snap_zxid);
        if !follows(base, zxid) {
            return Err(StorageError::Gap {
                path: path.to_path_buf(),
                offset,
                reason: format!("zxid {zxid:#x} does not follow {base:#x} (a segment file is missing, or the log does not reach back to the snapshot)"),
            });
        }
        self.bytes += payload.len() as u64 + format::RECORD_HEADER_LEN as u64;
        (self.sink)(zxid, payload).map_err(|e| {
            corrupt(
                path,
                offset,
                format!("the record of zxid {zxid:#x} cannot be applied: {e}"),
            )
        })?;
        self.last_kept = Some(zxid);
        self.summary.replayed += 1;
        self.maybe_report(path);
        Ok(())
    }

    fn maybe_report(&mut self, path: &Path) {
        if self.summary.replayed % 65_536 != 0 || self.last_report.elapsed() < PROGRESS_INTERVAL {
            return;
        }
        self.last_report = Instant::now();
        tracing::info!(
            records = self.summary.replayed,
            mib = self.bytes >> 20,
            path = %path.display(),
            "replaying the transaction log"
        );
    }

    /// Fails if a valid record starting a later batch lies after `offset`.
    fn check_nothing_after(
        &self,
        reader: &mut SegmentReader,
        offset: u64,
        what: &str,
    ) -> Result<()> {
        let after = self.prev_zxid.unwrap_or(-1);
        match reader.find_later_batch(offset, after)? {
            None => Ok(()),
            Some((at, zxid)) => {
                let reason = format!("{what}, but a valid batch starting with zxid {zxid:#x} follows at byte offset {at}");
                Err(corrupt(reader.path(), offset, reason))
            }
        }
    }
}

fn corrupt(path: &Path, offset: u64, reason: String) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Cuts the last segment at `offset` and makes the cut durable.
fn truncate_torn_tail(path: &Path, offset: u64, reason: &str) -> Result<()> {
    tracing::warn!(
        path = %path.display(),
        offset,
        reason,
        "truncating a torn write at the end of the transaction log (it was never acknowledged)"
    );
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open for truncation", path, e))?;
    f.set_len(offset)
        .map_err(|e| StorageError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| StorageError::io("fsync", path, e))
}

/// Deletes a last segment whose header is invalid, if it holds no valid
/// batch: it was being created when the node stopped. Otherwise it is corrupt.
fn discard_headless_segment(path: &Path, reason: String) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
    if let Some((at, zxid)) = format::find_later_batch(&bytes, -1) {
        let reason =
            format!("{reason}, yet a valid batch with zxid {zxid:#x} is at byte offset {at}");
        return Err(StorageError::BadHeader {
            path: path.to_path_buf(),
            reason,
        });
    }
    tracing::warn!(path = %path.display(), reason, "removing a log segment whose creation never completed");
    fsutil::remove_file(path)?;
    fsutil::fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Paths of the log segments in `log_dir`, oldest first.
pub fn segment_paths(log_dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    fsutil::list_by_zxid(log_dir, format::parse_segment_name)
}
