//! Deleting old snapshots and the log segments only they needed.
//!
//! Keeps the newest `retain_count` complete snapshots (header, trailer and
//! length check; the body is not re-read) and every segment that may hold a
//! zxid above the oldest kept one. Segment `i` holds zxids below segment
//! `i + 1`'s first zxid, so it is deleted only if that first zxid is at most
//! `oldest_kept + 1`. The last segment is never deleted, so purging can run
//! on a background thread while the log is appended.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsutil;
use crate::recovery;
use crate::snapshot;

/// What [`purge`] deleted and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Snapshot files deleted.
    pub removed_snapshots: Vec<PathBuf>,
    /// Segment files deleted.
    pub removed_segments: Vec<PathBuf>,
    /// Zxid of the oldest snapshot kept (None: no complete snapshot, nothing deleted).
    pub oldest_kept_zxid: Option<i64>,
}

/// Keeps the newest `retain_count` (at least 1) complete snapshots in
/// `data_dir` and the segments in `data_log_dir` needed to replay from the
/// oldest of them; deletes the rest. Snapshots that fail the completeness
/// check are not counted; those older than the oldest kept one are deleted.
pub fn purge(data_dir: &Path, data_log_dir: &Path, retain_count: usize) -> Result<PurgeReport> {
    let retain_count = retain_count.max(1);
    let snapshots = snapshot::list_snapshots(data_dir)?;
    let complete: Vec<i64> = snapshots
        .iter()
        .rev()
        .filter(|(_, p)| snapshot::looks_complete(p))
        .map(|(z, _)| *z)
        .take(retain_count)
        .collect();
    let mut report = PurgeReport::default();
    let Some(&oldest_kept) = complete.last() else {
        return Ok(report);
    };
    report.oldest_kept_zxid = Some(oldest_kept);
    for (zxid, path) in snapshots.into_iter().filter(|(z, _)| *z < oldest_kept) {
        tracing::info!(path = %path.display(), zxid, "purging an old snapshot");
        fsutil::remove_file(&path)?;
        report.removed_snapshots.push(path);
    }
    let segments = recovery::segment_paths(data_log_dir)?;
    for pair in segments.windows(2) {
        let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
        if *next_first <= oldest_kept.saturating_add(1) {
            tracing::info!(path = %path.display(), "purging an old log segment");
            fsutil::remove_file(path)?;
            report.removed_segments.push(path.clone());
        }
    }
    if !report.removed_snapshots.is_empty() {
        fsutil::fsync_dir(data_dir)?;
    }
    if !report.removed_segments.is_empty() {
        fsutil::fsync_dir(data_log_dir)?;
    }
    Ok(report)
}
