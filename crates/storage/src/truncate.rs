//! Removing every txn above a zxid (ZAB's TRUNC: a follower drops proposals
//! the new leader never committed).
//!
//! Order matters for crash safety: snapshots above the zxid go first (a
//! snapshot that includes dropped txns must never be loaded), then segments
//! from the newest down, then the one segment holding the zxid is cut right
//! after it. Each step is made durable before the next; a crash midway leaves
//! a state that the next truncation (or recovery) handles.

use std::fs::OpenOptions;
use std::path::Path;

use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::recovery;
use crate::segment::{SegmentReader, Step};
use crate::snapshot;

/// Removes snapshots and log records with zxid above `zxid`.
pub fn truncate_after(data_dir: &Path, log_dir: &Path, zxid: i64) -> Result<()> {
    let snapshots = snapshot::list_snapshots(data_dir)?;
    let newer_snapshots: Vec<_> = snapshots.iter().filter(|(z, _)| *z > zxid).collect();
    for (z, path) in newer_snapshots.iter().rev() {
        tracing::info!(path = %path.display(), zxid = z, "truncation removes a snapshot past the truncation point");
        fsutil::remove_file(path)?;
    }
    if !newer_snapshots.is_empty() {
        fsutil::fsync_dir(data_dir)?;
    }
    for (first, path) in recovery::segment_paths(log_dir)?.iter().rev() {
        if *first > zxid {
            tracing::info!(path = %path.display(), "truncation removes a log segment");
            fsutil::remove_file(path)?;
            fsutil::fsync_dir(log_dir)?;
            continue;
        }
        cut_segment_after(path, zxid)?;
        break;
    }
    Ok(())
}

/// Cuts `path` right before its first record above `zxid`, if it has one.
fn cut_segment_after(path: &Path, zxid: i64) -> Result<()> {
    let mut reader = SegmentReader::open(path)?;
    let cut = loop {
        match reader.step()? {
            Step::Record {
                zxid: z, offset, ..
            } if z > zxid => break offset,
            Step::Record { .. } => {}
            Step::End { .. } => return Ok(()),
            Step::Damaged { offset, reason } => {
                return Err(StorageError::Corrupt {
                    path: path.to_path_buf(),
                    offset,
                    reason,
                })
            }
        }
    };
    tracing::info!(path = %path.display(), offset = cut, "truncation cuts a log segment");
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open for truncation", path, e))?;
    f.set_len(cut)
        .map_err(|e| StorageError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| StorageError::io("fsync", path, e))
}
