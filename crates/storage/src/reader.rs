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
        LogReader {
            pending: VecDeque::from([path.to_path_buf()]),
            current: None,
            failed: false,
        }
    }

    /// Reads every `log.<hex>` segment in `dir`, in zxid order.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let pending = recovery::segment_paths(dir)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        Ok(LogReader {
            pending,
            current: None,
            failed: false,
        })
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
