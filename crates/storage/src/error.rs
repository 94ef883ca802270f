//! Typed errors. Every message reads as a sentence and names the file (and the
//! byte offset, where one applies) so an operator can find the damage.

use std::io;
use std::path::PathBuf;

/// An error from the storage layer.
///
/// I/O errors and corruption stop the node: the caller must not carry on
/// appending after an error from [`crate::Storage::append_batch`] (the
/// [`crate::Storage`] refuses further appends once one failed).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call on a file or directory failed.
    #[error("I/O error while trying to {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "open" or "fsync".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A file's header is missing, has the wrong magic, version or checksum.
    #[error("{path} has an invalid header: {reason}")]
    BadHeader {
        /// The file concerned.
        path: PathBuf,
        /// Why the header was rejected.
        reason: String,
    },

    /// A log record could not be read back intact, and valid data follows it,
    /// or it is not in the last segment: committed records would be lost by
    /// skipping it, so recovery refuses to go on.
    #[error("{path} is corrupt at byte offset {offset}: {reason}")]
    Corrupt {
        /// The segment file concerned.
        path: PathBuf,
        /// Byte offset of the damaged record from the start of the file.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },

    /// Records that recovery needs are missing (a deleted segment, or a log
    /// that does not reach back to the snapshot).
    #[error("the transaction log is missing records: {reason} (first record after the gap is in {path} at byte offset {offset})")]
    Gap {
        /// The file holding the first record after the gap.
        path: PathBuf,
        /// Byte offset of that record.
        offset: u64,
        /// Which zxids are missing.
        reason: String,
    },

    /// A snapshot file is truncated or fails its checksum.
    #[error("snapshot {path} is invalid: {reason}")]
    BadSnapshot {
        /// The snapshot file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An epoch file does not hold a decimal integer.
    #[error("epoch file {path} is invalid: {reason}")]
    BadEpoch {
        /// The epoch file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The caller broke the append contract (zxids not increasing, an empty
    /// or oversized payload). Nothing was written.
    #[error("the append was rejected: {reason}")]
    InvalidAppend {
        /// Which rule the batch broke.
        reason: String,
    },

    /// [`crate::Storage::truncate_after`] was asked to truncate past the end
    /// of the log. Nothing was changed.
    #[error("the truncation was rejected: {reason}")]
    InvalidTruncate {
        /// Why.
        reason: String,
    },

    /// Another process (or another [`crate::Storage`] in this one) holds the
    /// lock on the data log dir.
    #[error("{path} is locked by another process using the same data log dir")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// An earlier write or fsync failed, so the log's state on disk is unknown
    /// and no further appends are accepted. Restart the node to recover.
    #[error("the transaction log failed earlier and accepts no more writes; restart to recover")]
    Poisoned,
}

impl StorageError {
    /// Wraps an [`io::Error`] with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
