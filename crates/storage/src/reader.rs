//! [`LogReader`]: read-only iteration over log records for tools
//! (`paddock data inspect`, `paddock data verify`). It repairs nothing: a
//! torn tail is reported as an error like any other damage.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::recovery;
use crate::segment::{SegmentReader, Step};

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The record's zxid.
    pub zxid: i64,
    /// The payload, exactly as appended.
    pub payload: Vec<u8>,
    /// True if the record was the first of an appended batch.
    pub batch_start: bool,
    /// The segment file holding it.
    pub file: Arc<Path>,
    /// Byte offset of the record in that file.
    pub offset: u64,
}

/// Iterates over the records of one segment or of every segment in a
/// directory, oldest first. Yields an error (then stops) at the first damaged
/// record or invalid header. It does not check zxid order or gaps.
#[derive(Debug)]
pub struct LogReader {
    pending: VecDeque<PathBuf>,
    current: Option<(SegmentReader, Arc<Path>)>,
    failed: bool,
}

impl LogReader {
    /// Reads a single segment file.
    pub fn open_segment(path: &Path) -> Self {
        Self::of_segments(vec![path.to_path_buf()])
    }

    /// Reads every `log.<hex>` segment in `dir`, in zxid order.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let paths = recovery::segment_paths(dir)?;
        Ok(Self::of_segments(
            paths.into_iter().map(|(_, p)| p).collect(),
        ))
    }

    /// Reads these segment files, in this order.
    fn of_segments(paths: Vec<PathBuf>) -> Self {
        LogReader {
            pending: VecDeque::from(paths),
            current: None,
            failed: false,
        }
    }

    fn next_inner(&mut self) -> Result<Option<LogRecord>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.pending.pop_front() else {
                    return Ok(None);
                };
                let reader = SegmentReader::open(&path)?;
                self.current = Some((reader, Arc::from(path.as_path())));
            }
            let Some((reader, file)) = self.current.as_mut() else {
                continue;
            };
            match reader.step()? {
                Step::Record {
                    zxid,
                    batch_start,
                    offset,
                    payload,
                } => {
                    let file = Arc::clone(file);
                    return Ok(Some(LogRecord {
                        zxid,
                        payload,
                        batch_start,
                        file,
                        offset,
                    }));
                }
                Step::End { .. } => self.current = None,
                Step::Damaged { offset, reason } => {
                    return Err(StorageError::Corrupt {
                        path: file.to_path_buf(),
                        offset,
                        reason,
                    })
                }
            }
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<LogRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_inner();
        if item.is_err() {
            self.failed = true;
        }
        item.transpose()
    }
}

/// Logged txns as (zxid, payload), in order.
pub type LogTxns = Vec<(i64, Vec<u8>)>;

/// The records after `after` up to and including `upto`, read from the
/// segments in `dir`, for a ZAB leader syncing a follower by diff from its
/// log: `Ok(None)` unless the log holds a record with zxid `after` and every
/// record after it up to one with zxid `upto`, in at most `max_bytes` of
/// payload. The records after `after` are then exactly this server's
/// history since it (a log only ever continues its own history: installing
/// a leader's snapshot removes every segment). Damage or a missing segment
/// before `upto` (a purge, or a record not yet written) is `Ok(None)` too;
/// the caller falls back to a snapshot.
pub fn read_log_range(
    dir: &Path,
    after: i64,
    upto: i64,
    max_bytes: usize,
) -> Result<Option<LogTxns>> {
    if upto <= after {
        return Ok(None);
    }
    let segments = recovery::segment_paths(dir)?;
    // The segment holding `after` is the last one starting at or before it.
    let Some(first) = segments.iter().rposition(|(z, _)| *z <= after) else {
        return Ok(None);
    };
    let mut reader =
        LogReader::of_segments(segments.into_iter().skip(first).map(|(_, p)| p).collect());
    let mut found = false;
    let mut bytes = 0usize;
    let mut out = Vec::new();
    for record in &mut reader {
        let Ok(r) = record else {
            return Ok(None);
        };
        if !found {
            if r.zxid == after {
                found = true;
            } else if r.zxid > after {
                return Ok(None);
            }
            continue;
        }
        if r.zxid > upto {
            return Ok(None);
        }
        bytes += r.payload.len();
        if bytes > max_bytes {
            return Ok(None);
        }
        let last = r.zxid == upto;
        out.push((r.zxid, r.payload));
        if last {
            return Ok(Some(out));
        }
    }
    Ok(None)
}
